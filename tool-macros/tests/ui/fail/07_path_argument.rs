use tool_runtime::prelude::*;

#[derive(Role, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    User,
    SupportAgent,
    Admin,
}

/// Read a file.
#[secure_tool(role = "user")]
async fn read_file(
    /// The file.
    #[validate(length(max = 100))]
    file_path: String,
) -> Result<String, ToolError> {
    Ok(file_path)
}

/// Read another file.
#[secure_tool(role = "user")]
async fn read_other(
    /// The file.
    target: std::path::PathBuf,
) -> Result<bool, ToolError> {
    Ok(target.exists())
}

/// Read a third file.
#[secure_tool(role = "user")]
async fn read_third(
    /// A bounded string is still a string: named like a path, it needs a path policy.
    file_path: tool_runtime::BoundedString<200>,
) -> Result<String, ToolError> {
    Ok(file_path.into_inner())
}

fn main() {}
