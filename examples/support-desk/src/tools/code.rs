//! `execute_code`: a snippet of Python or JavaScript run in the sandbox.

use serde::{Deserialize, Serialize};
use tool_runtime::prelude::*;
use tool_runtime::sandbox::{self, Language, Limits};

use crate::role::Role;

/// A language the sandbox runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum CodeLanguage {
    /// Python 3.
    Python,
    /// JavaScript, on Node.js.
    Javascript,
}

impl From<CodeLanguage> for Language {
    fn from(language: CodeLanguage) -> Self {
        match language {
            CodeLanguage::Python => Language::Python,
            CodeLanguage::Javascript => Language::JavaScript,
        }
    }
}

/// What a run printed and how it ended.
#[derive(SafeOutput)]
pub struct CodeOutput {
    /// Standard output, at most 5,000 characters.
    pub stdout: String,
    /// Standard error, at most 2,000 characters.
    pub stderr: String,
    /// The exit code; null when the process was killed (out of memory or CPU time).
    pub exit_code: Option<i32>,
}

/// The sandbox's limits for a model's code: those of the contract, 10 s and capped output.
fn limits() -> Limits {
    Limits {
        time: std::time::Duration::from_secs(10),
        max_stdout: 5_000,
        max_stderr: 2_000,
        ..Limits::default()
    }
}

/// Run a short Python or JavaScript program in a sandbox (no network, no files outside its
/// scratch folder, 10 seconds) and return what it printed.
// The toolbox's own limit is a backstop above the sandbox's 10 s, which kills the process and
// reports it: starting and cleaning up the sandbox take time of their own.
#[secure_tool(role = "admin", timeout = "15s")]
pub async fn execute_code(
    /// The language of the code.
    language: CodeLanguage,
    /// The program, at most 10,000 characters.
    #[validate(length(min = 1, max = 10000))]
    code: String,
) -> Result<CodeOutput, ToolError> {
    let output = sandbox::run(language.into(), &code, &limits())
        .await
        .map_err(ToolError::internal)?;
    if output.timed_out {
        return Err(ToolError::timeout());
    }
    Ok(CodeOutput {
        stdout: output.stdout,
        stderr: output.stderr,
        exit_code: output.exit_code,
    })
}
