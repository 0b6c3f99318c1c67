use tool_runtime::prelude::*;

#[derive(Role, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    User,
    SupportAgent,
    Admin,
}

/// Read files.
#[secure_tool(role = "user")]
async fn read_many(
    /// The files.
    #[validate(length(max = 4))]
    targets: Vec<std::path::PathBuf>,
) -> Result<u32, ToolError> {
    Ok(targets.len() as u32)
}

fn main() {}
