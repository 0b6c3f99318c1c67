use tool_runtime::prelude::*;

#[derive(Role, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    User,
    SupportAgent,
    Admin,
}

/// Do many things.
#[secure_tool(role = "user")]
async fn run_many(
    /// Whatever.
    #[validate(length(max = 4))]
    payloads: Vec<serde_json::Value>,
) -> Result<u32, ToolError> {
    Ok(payloads.len() as u32)
}

fn main() {}
