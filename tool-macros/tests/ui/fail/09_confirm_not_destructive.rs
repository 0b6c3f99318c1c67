use tool_runtime::prelude::*;

#[derive(Role, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    User,
    SupportAgent,
    Admin,
}

/// Archive old tickets.
#[secure_tool(role = "admin", confirm = "archive them")]
async fn archive_tickets() -> Result<bool, ToolError> {
    Ok(true)
}

fn main() {}
