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
    /// The tags: the list is bounded, its items are not.
    #[validate(length(max = 2))]
    tags: Vec<String>,
) -> Result<u32, ToolError> {
    Ok(tags.len() as u32)
}

/// Name things.
#[secure_tool(role = "user")]
async fn name_it(
    /// A boxed string is a string.
    label: Box<str>,
) -> Result<u32, ToolError> {
    Ok(label.len() as u32)
}

/// Maybe name things.
#[secure_tool(role = "user")]
async fn maybe_name(
    /// Nested options are looked through.
    label: Option<Option<String>>,
) -> Result<bool, ToolError> {
    Ok(label.is_some())
}

fn main() {}
