use tool_runtime::prelude::*;

#[derive(Role, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    User,
    SupportAgent,
    Admin,
}

/// Search customers.
#[secure_tool(role = "user")]
async fn search(
    /// The query.
    query: String,
) -> Result<u32, ToolError> {
    Ok(query.len() as u32)
}

fn main() {}
