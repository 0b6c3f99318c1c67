use tool_runtime::prelude::*;

#[derive(Role, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    User,
    SupportAgent,
    Admin,
}

/// Clean up customers.
#[secure_tool(role = "admin", name = "customer_cleanup")]
async fn delete_everything() -> Result<bool, ToolError> {
    Ok(true)
}

fn main() {}
