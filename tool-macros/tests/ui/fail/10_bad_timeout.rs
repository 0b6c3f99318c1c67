use tool_runtime::prelude::*;

#[derive(Role, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    User,
    SupportAgent,
    Admin,
}

/// Get the weather.
#[secure_tool(role = "user", timeout = "ten seconds")]
async fn get_weather() -> Result<String, ToolError> {
    Ok("sunny".into())
}

fn main() {}
