use tool_runtime::prelude::*;

#[derive(Role, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    User,
    SupportAgent,
    Admin,
}

/// Set a discount.
#[secure_tool(role = "admin")]
async fn set_discount(
    /// The discount in percent.
    #[schemars(range(max = 50))]
    percent: u32,
) -> Result<u32, ToolError> {
    Ok(percent)
}

fn main() {}
