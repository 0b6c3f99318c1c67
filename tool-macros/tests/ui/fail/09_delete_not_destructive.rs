use tool_runtime::prelude::*;

#[derive(Role, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    User,
    SupportAgent,
    Admin,
}

/// Delete a customer.
#[secure_tool(role = "admin")]
async fn delete_customer(
    /// The id.
    #[validate(length(max = 16))]
    id: String,
) -> Result<bool, ToolError> {
    Ok(id.is_empty())
}

fn main() {}
