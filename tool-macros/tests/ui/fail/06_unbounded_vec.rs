use tool_runtime::prelude::*;

#[derive(Role, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    User,
    SupportAgent,
    Admin,
}

/// Tag things.
#[secure_tool(role = "user")]
async fn tag(
    /// The tags.
    #[validate(length(min = 1))]
    tags: Vec<u32>,
) -> Result<u32, ToolError> {
    Ok(tags.len() as u32)
}

fn main() {}
