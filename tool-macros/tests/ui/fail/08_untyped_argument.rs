use tool_runtime::prelude::*;

#[derive(Role, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    User,
    SupportAgent,
    Admin,
}

/// Do anything.
#[secure_tool(role = "user")]
async fn run_anything(
    /// Whatever.
    payload: serde_json::Value,
) -> Result<bool, ToolError> {
    Ok(payload.is_null())
}

/// Do anything else.
#[secure_tool(role = "user")]
async fn run_map(
    /// Whatever.
    options: std::collections::HashMap<String, String>,
) -> Result<bool, ToolError> {
    Ok(options.is_empty())
}

fn main() {}
