use tool_runtime::prelude::*;

#[derive(Role, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    User,
    SupportAgent,
    Admin,
}

/// Get an order: the o in its name is Cyrillic.
#[secure_tool(role = "user")]
async fn get_оrder() -> Result<bool, ToolError> {
    Ok(true)
}

fn main() {}
