use tool_runtime::prelude::*;

#[derive(Role, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    User,
    SupportAgent,
    Admin,
}

#[secure_tool(role = "user")]
async fn get_weather() -> Result<String, ToolError> {
    Ok("sunny".into())
}

fn main() {}
