//! A record as the database sinks store it: one column per field, and the whole record.

use super::{AuditError, AuditRecord, timestamp};

/// Encoded on the caller's task, so that the writer only writes.
#[derive(Debug)]
pub(super) struct Row {
    pub(super) ts: String,
    pub(super) user: Option<String>,
    pub(super) role: Option<String>,
    pub(super) tool: String,
    pub(super) outcome: String,
    /// JSON text.
    pub(super) arguments: String,
    pub(super) duration_ms: i64,
    pub(super) incident: Option<String>,
    pub(super) cause: Option<String>,
    /// JSON text; `None` when the handler added nothing.
    pub(super) detail: Option<String>,
    /// The whole record as JSON text, exactly as `audit` prints it.
    pub(super) record: String,
}

impl Row {
    pub(super) fn new(record: &AuditRecord) -> Result<Row, AuditError> {
        Ok(Row {
            ts: timestamp::rfc3339_millis(record.ts),
            user: record.user.clone(),
            role: record.role.as_deref().map(str::to_owned),
            tool: record.tool.to_string(),
            outcome: record.outcome.to_string(),
            arguments: serde_json::to_string(&record.arguments)?,
            duration_ms: i64::try_from(record.duration_ms).unwrap_or(i64::MAX),
            incident: record.incident.clone(),
            cause: record.cause.clone(),
            detail: if record.detail.is_empty() {
                None
            } else {
                Some(serde_json::to_string(&record.detail)?)
            },
            record: serde_json::to_string(record)?,
        })
    }
}
