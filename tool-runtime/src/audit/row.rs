//! A record as the database sinks store it: one column per field, each stored once; read back
//! into the JSON `audit` prints.

use serde_json::{Map, Value};

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
        })
    }

    /// The record as JSON, with the fields and in the shape [`AuditRecord`] serialises to.
    pub(super) fn into_json(self) -> Result<Value, AuditError> {
        let mut record = Map::new();
        record.insert("ts".into(), Value::from(self.ts));
        record.insert("user".into(), self.user.map_or(Value::Null, Value::from));
        record.insert("role".into(), self.role.map_or(Value::Null, Value::from));
        record.insert("tool".into(), Value::from(self.tool));
        record.insert("outcome".into(), Value::from(self.outcome));
        record.insert("arguments".into(), serde_json::from_str(&self.arguments)?);
        record.insert("duration_ms".into(), Value::from(self.duration_ms));
        if let Some(incident) = self.incident {
            record.insert("incident".into(), Value::from(incident));
        }
        if let Some(cause) = self.cause {
            record.insert("cause".into(), Value::from(cause));
        }
        if let Some(detail) = self.detail {
            record.insert("detail".into(), serde_json::from_str(&detail)?);
        }
        Ok(Value::Object(record))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::tests::sample;

    #[test]
    fn a_row_reads_back_as_the_record_serialises() {
        let mut record = sample(7);
        record.incident = Some("inc-1".into());
        record.cause = Some("disk full".into());
        record
            .detail
            .insert("old_email".into(), Value::from("a@example.com"));
        let row = Row::new(&record).unwrap();
        assert_eq!(
            row.into_json().unwrap(),
            serde_json::to_value(&record).unwrap()
        );
        let plain = sample(8);
        assert_eq!(
            Row::new(&plain).unwrap().into_json().unwrap(),
            serde_json::to_value(&plain).unwrap()
        );
    }
}
