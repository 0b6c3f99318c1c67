//! Cleaning up old data: `delete_data`.

use tool_runtime::prelude::*;

use crate::app::App;
use crate::model::{DataDeletion, DeleteScope};
use crate::role::Role;

/// What a cleanup removed.
#[derive(SafeOutput)]
#[safe_output(from = DataDeletion)]
pub struct SafeDataDeletion {
    pub scope: DeleteScope,
    pub rows_deleted: u64,
}

/// Delete expired sessions, log lines older than 90 days, or staged uploads older than a day.
/// Needs a human's approval.
#[secure_tool(role = "admin", returns = SafeDataDeletion, destructive)]
pub fn delete_data(
    State(app): State<App>,
    /// What to clean up.
    scope: DeleteScope,
) -> Result<DataDeletion, ToolError> {
    app.db().delete_data(scope)
}
