use tool_runtime::prelude::*;

#[derive(Role, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    User,
    SupportAgent,
    Admin,
}

/// Remove many orders at once.
#[secure_tool(role = "admin")]
async fn bulk_delete_orders() -> Result<bool, ToolError> {
    Ok(true)
}

fn main() {}
