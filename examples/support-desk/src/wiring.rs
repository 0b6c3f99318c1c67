//! PLACEHOLDERS: the commands that need the toolbox (`#[secure_tool]` wrappers over the data
//! layer), which is being wired next. Each function below is the one place its command hands
//! over to the toolbox; everything before it (argument parsing, database and data folder,
//! user lookup) is done by `main`.

use std::path::Path;

use support_desk::db::Db;
use support_desk::model::User;

use crate::{Failure, Provider};

fn not_wired(command: &str) -> Result<(), Failure> {
    Err(Failure::Failed(format!("`{command}` is not wired yet")))
}

/// PLACEHOLDER(demo): replay the built-in transcript against `db` (freshly seeded in a
/// temporary folder) and print the table and summary.
pub fn replay_demo(_db: &Db, _data_dir: &Path) -> Result<(), Failure> {
    not_wired("demo")
}

/// PLACEHOLDER(schemas): print the tool definitions `user` may see (anonymous when `None`) in
/// `provider`'s shape, as one JSON document on stdout.
pub fn print_schemas(_db: &Db, _provider: Provider, _user: Option<&User>) -> Result<(), Failure> {
    not_wired("schemas")
}

/// PLACEHOLDER(session): the JSON-lines host loop on stdin/stdout for `user` (anonymous when
/// `None`).
pub fn run_session(_db: &Db, _data_dir: &Path, _user: Option<&User>) -> Result<(), Failure> {
    not_wired("session")
}

/// PLACEHOLDER(serve): the MCP server on stdio for `user`.
pub fn serve_mcp(_db: &Db, _data_dir: &Path, _user: &User) -> Result<(), Failure> {
    not_wired("serve")
}

/// PLACEHOLDER(audit): print the audit log of `db` as JSON lines, oldest first.
pub fn print_audit(_db: &Db) -> Result<(), Failure> {
    not_wired("audit")
}
