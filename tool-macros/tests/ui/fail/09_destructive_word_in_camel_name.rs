use tool_runtime::prelude::*;

#[derive(Role, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    User,
    SupportAgent,
    Admin,
}

/// Tidy up.
#[secure_tool(role = "admin", name = "eraseAllNotes")]
async fn tidy_up() -> Result<bool, ToolError> {
    Ok(true)
}

fn main() {}
