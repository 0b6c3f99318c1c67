//! The audit log: one record per tool call, allowed or refused, and per approval answer.
//!
//! The toolbox builds an [`AuditRecord`] for every call and hands it to its [`AuditSink`] before
//! the reply goes back. A sink that cannot keep the record returns an error, and the toolbox
//! then fails the call closed (`internal`): a call nobody can account for does not happen.

use std::borrow::Cow;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Map, Value};

pub use crate::store::StoreFuture;

mod arguments;
mod detail;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod group_commit;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod row;
#[cfg(feature = "sqlite")]
mod sqlite;
pub(crate) mod timestamp;

pub use arguments::Arguments;
pub use detail::{DetailScope, detail};
#[cfg(feature = "postgres")]
pub use postgres::{PostgresOptions, PostgresSink};
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteSink;

/// What happened in one tool call (or one approval answer).
///
/// Serialises as `{"ts", "user", "role", "tool", "outcome", "arguments", "duration_ms"}`, plus
/// `"incident"`, `"cause"` and `"detail"` when there are any. `ts` is RFC 3339 in UTC with
/// milliseconds; `user` and `role` are `null` for an anonymous session.
#[derive(Clone, Debug, PartialEq)]
pub struct AuditRecord {
    /// When the call arrived.
    pub ts: SystemTime,
    /// The session's user, `None` when anonymous.
    pub user: Option<String>,
    /// The session's role, by its snake_case name.
    pub role: Option<Cow<'static, str>>,
    /// The tool the model asked for, as it asked (it may not exist).
    pub tool: Cow<'static, str>,
    /// `"ok"` or the error code of the reply.
    pub outcome: Cow<'static, str>,
    /// The arguments as received, `#[secret]` arguments already redacted.
    pub arguments: Arguments,
    /// Time from arrival to reply.
    pub duration_ms: u64,
    /// For `internal`: the id the model was given, which finds this record.
    pub incident: Option<String>,
    /// For `internal`: what actually went wrong. For operators only; never shown to the model.
    pub cause: Option<String>,
    /// What the handler added with [`detail`], such as an old and a new value.
    pub detail: Map<String, Value>,
}

impl Serialize for AuditRecord {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("ts", &timestamp::rfc3339_millis(self.ts))?;
        map.serialize_entry("user", &self.user)?;
        map.serialize_entry("role", &self.role)?;
        map.serialize_entry("tool", &self.tool)?;
        map.serialize_entry("outcome", &self.outcome)?;
        map.serialize_entry("arguments", &self.arguments)?;
        map.serialize_entry("duration_ms", &self.duration_ms)?;
        if let Some(incident) = &self.incident {
            map.serialize_entry("incident", incident)?;
        }
        if let Some(cause) = &self.cause {
            map.serialize_entry("cause", cause)?;
        }
        if !self.detail.is_empty() {
            map.serialize_entry("detail", &self.detail)?;
        }
        map.end()
    }
}

/// Why a sink could not keep a record.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuditError {
    /// Writing or syncing the log failed.
    #[error("could not write the audit log: {0}")]
    Io(#[from] io::Error),
    /// A record could not be encoded, or a stored one decoded.
    #[error("could not encode or decode an audit record: {0}")]
    Json(#[from] serde_json::Error),
    /// The SQLite database failed.
    #[cfg(feature = "sqlite")]
    #[error("the audit database failed: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The PostgreSQL database failed.
    #[cfg(feature = "postgres")]
    #[error("the audit database failed: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    /// Any other failure, such as a store that did not answer in time.
    #[error("the audit sink failed: {0}")]
    Other(Box<dyn std::error::Error + Send + Sync>),
}

impl AuditError {
    /// Wraps the error of a sink outside this crate.
    pub fn other(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        AuditError::Other(error.into())
    }
}

/// Where audit records go.
///
/// [`record`](Self::record) answers only once the record is kept as well as the sink can keep
/// it; an Err makes the toolbox fail the call, so never drop a record and answer `Ok`. A sink
/// that keeps records in memory answers with [`StoreFuture::ready`]; one that waits on a disk or
/// the network answers with [`StoreFuture::new`] around its `async` block, so that no runtime
/// thread is blocked while it waits.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an audit sink",
    label = "this type does not implement `tool_runtime::AuditSink`",
    note = "use one of the sinks in `tool_runtime::audit` (`SqliteSink`, `PostgresSink`, \
            `JsonLinesSink`, `TracingSink`, `MemorySink`), or implement `AuditSink` for your type: \
            `fn record<'a>(&'a self, record: &'a AuditRecord) -> StoreFuture<'a, Result<(), AuditError>>` \
            (`StoreFuture::ready(..)` for an answer known at once, `StoreFuture::new(async move ...)` otherwise)"
)]
pub trait AuditSink: Send + Sync + 'static {
    /// Keeps one record, or says why it could not.
    fn record<'a>(&'a self, record: &'a AuditRecord) -> StoreFuture<'a, Result<(), AuditError>>;

    /// Whether the sink can keep records now: for a health check. A local sink always can.
    fn health(&self) -> StoreFuture<'_, Result<(), crate::store::StoreUnreachable>> {
        StoreFuture::ready(Ok(()))
    }
}

impl<T: AuditSink + ?Sized> AuditSink for Arc<T> {
    fn record<'a>(&'a self, record: &'a AuditRecord) -> StoreFuture<'a, Result<(), AuditError>> {
        (**self).record(record)
    }

    fn health(&self) -> StoreFuture<'_, Result<(), crate::store::StoreUnreachable>> {
        (**self).health()
    }
}

impl<T: AuditSink + ?Sized> AuditSink for Box<T> {
    fn record<'a>(&'a self, record: &'a AuditRecord) -> StoreFuture<'a, Result<(), AuditError>> {
        (**self).record(record)
    }

    fn health(&self) -> StoreFuture<'_, Result<(), crate::store::StoreUnreachable>> {
        (**self).health()
    }
}

/// Emits each record as one `tracing` event with target `tool_runtime::audit`.
///
/// Level `WARN` for `internal` outcomes, `INFO` otherwise. The record is only as durable as the
/// subscriber makes it, and with no subscriber it goes nowhere: pair it with a durable sink
/// where the log matters.
#[derive(Clone, Copy, Debug, Default)]
pub struct TracingSink;

impl AuditSink for TracingSink {
    fn record<'a>(&'a self, record: &'a AuditRecord) -> StoreFuture<'a, Result<(), AuditError>> {
        StoreFuture::ready(emit(record))
    }
}

fn emit(record: &AuditRecord) -> Result<(), AuditError> {
    let arguments = serde_json::to_string(&record.arguments)?;
    let detail = serde_json::to_string(&record.detail)?;
    let ts = timestamp::rfc3339_millis(record.ts);
    macro_rules! emit {
            ($level:expr) => {
                tracing::event!(
                    target: "tool_runtime::audit",
                    $level,
                    ts = %ts,
                    user = record.user.as_deref(),
                    role = record.role.as_deref(),
                    tool = %record.tool,
                    outcome = %record.outcome,
                    arguments = %arguments,
                    duration_ms = record.duration_ms,
                    incident = record.incident.as_deref(),
                    cause = record.cause.as_deref(),
                    detail = %detail,
                    "tool call"
                )
            };
        }
    if record.outcome == "internal" {
        emit!(tracing::Level::WARN);
    } else {
        emit!(tracing::Level::INFO);
    }
    Ok(())
}

/// Appends each record as one line of JSON to a file, synced to disk before returning.
#[derive(Debug)]
pub struct JsonLinesSink {
    file: Mutex<LogFile>,
}

#[derive(Debug)]
struct LogFile {
    file: File,
    /// A failed write may have left part of a line; the next record starts on a new line so
    /// that only the torn one is lost to a reader.
    torn: bool,
}

impl JsonLinesSink {
    /// Opens `path` for appending, creating it (readable by its owner only, on Unix) if missing.
    pub fn open(path: impl AsRef<Path>) -> io::Result<Self> {
        let mut options = OpenOptions::new();
        options.append(true).create(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        Ok(JsonLinesSink {
            file: Mutex::new(LogFile {
                file: options.open(path)?,
                torn: false,
            }),
        })
    }
}

impl AuditSink for JsonLinesSink {
    fn record<'a>(&'a self, record: &'a AuditRecord) -> StoreFuture<'a, Result<(), AuditError>> {
        StoreFuture::ready(self.append(record))
    }
}

impl JsonLinesSink {
    /// Blocks for the write and the sync: the line is small and the file local, and one
    /// `sync_data` is what a durable record costs on this sink.
    fn append(&self, record: &AuditRecord) -> Result<(), AuditError> {
        let mut line = serde_json::to_vec(record)?;
        line.push(b'\n');
        let mut log = lock(&self.file);
        if log.torn {
            line.insert(0, b'\n');
        }
        // One `write_all` of the whole line: with O_APPEND, lines from other processes appending
        // to the same file do not interleave with it.
        let written = log
            .file
            .write_all(&line)
            .and_then(|()| log.file.sync_data());
        log.torn = written.is_err();
        Ok(written?)
    }
}

/// Keeps records in memory, for tests and for hosts that ship them elsewhere.
///
/// Clones share the records: keep one clone, give the other to the toolbox.
#[derive(Clone, Debug, Default)]
pub struct MemorySink {
    records: Arc<Mutex<Vec<AuditRecord>>>,
}

impl MemorySink {
    /// An empty sink.
    pub fn new() -> Self {
        Self::default()
    }

    /// A copy of every record so far, oldest first.
    pub fn records(&self) -> Vec<AuditRecord> {
        lock(&self.records).clone()
    }
}

impl AuditSink for MemorySink {
    fn record<'a>(&'a self, record: &'a AuditRecord) -> StoreFuture<'a, Result<(), AuditError>> {
        lock(&self.records).push(record.clone());
        StoreFuture::ready(Ok(()))
    }
}

/// Nothing that holds these locks can panic half-way through changing what they guard, so a
/// poisoned lock still guards consistent data; refusing every later record would instead stop
/// every tool call.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;
    use std::time::{Duration, UNIX_EPOCH};

    /// The answer of an in-memory sink, which never waits.
    pub(crate) fn now<T: Unpin>(future: StoreFuture<'_, T>) -> T {
        futures_util::FutureExt::now_or_never(future).expect("an in-memory sink answers at once")
    }

    pub(crate) fn sample(n: u64) -> AuditRecord {
        AuditRecord {
            ts: UNIX_EPOCH + Duration::from_millis(1_709_210_096_789 + n),
            user: Some("carol".into()),
            role: Some("support_agent".into()),
            tool: "get_order".into(),
            outcome: "ok".into(),
            arguments: json!({"order_id": format!("O{n}")}).into(),
            duration_ms: n,
            incident: None,
            cause: None,
            detail: Map::new(),
        }
    }

    #[test]
    fn serialises_the_documented_shape() {
        let value = serde_json::to_value(sample(0)).unwrap();
        assert_eq!(
            value,
            json!({
                "ts": "2024-02-29T12:34:56.789Z",
                "user": "carol",
                "role": "support_agent",
                "tool": "get_order",
                "outcome": "ok",
                "arguments": {"order_id": "O0"},
                "duration_ms": 0,
            })
        );
    }

    #[test]
    fn serialises_anonymous_internal_with_detail() {
        let mut detail = Map::new();
        detail.insert("old_email".into(), json!("a@example.com"));
        let record = AuditRecord {
            user: None,
            role: None,
            outcome: "internal".into(),
            incident: Some("inc-1".into()),
            cause: Some("disk full".into()),
            detail,
            ..sample(1)
        };
        let value = serde_json::to_value(record).unwrap();
        assert_eq!(value["user"], Value::Null);
        assert_eq!(value["role"], Value::Null);
        assert_eq!(value["incident"], json!("inc-1"));
        assert_eq!(value["cause"], json!("disk full"));
        assert_eq!(value["detail"], json!({"old_email": "a@example.com"}));
    }

    #[test]
    fn memory_sink_clones_share_records() {
        let sink = MemorySink::new();
        let handle = sink.clone();
        now(sink.record(&sample(1))).unwrap();
        now(sink.record(&sample(2))).unwrap();
        assert_eq!(handle.records(), vec![sample(1), sample(2)]);
    }

    #[test]
    fn json_lines_sink_writes_one_line_per_record() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let sink = JsonLinesSink::open(&path).unwrap();
        for n in 0..3 {
            now(sink.record(&sample(n))).unwrap();
        }
        drop(sink);
        // Reopening appends rather than truncating.
        now(JsonLinesSink::open(&path).unwrap().record(&sample(3))).unwrap();

        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.ends_with('\n'));
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let expected: Vec<Value> = (0..4)
            .map(|n| serde_json::to_value(sample(n)).unwrap())
            .collect();
        assert_eq!(lines, expected);
    }

    #[cfg(unix)]
    #[test]
    fn json_lines_file_is_private_to_its_owner() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        JsonLinesSink::open(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "mode {mode:o}");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn json_lines_sink_reports_a_failed_write() {
        // /dev/full accepts the open and fails every write with ENOSPC.
        let sink = JsonLinesSink::open("/dev/full").unwrap();
        assert!(matches!(
            now(sink.record(&sample(0))),
            Err(AuditError::Io(_))
        ));
    }

    #[test]
    fn arc_and_box_of_a_sink_are_sinks() {
        let memory = MemorySink::new();
        let shared: Arc<dyn AuditSink> = Arc::new(memory.clone());
        let boxed: Box<dyn AuditSink> = Box::new(memory.clone());
        now(shared.record(&sample(1))).unwrap();
        now(boxed.record(&sample(2))).unwrap();
        assert_eq!(memory.records().len(), 2);
    }

    mod tracing_capture {
        use std::collections::BTreeMap;
        use std::fmt::Debug;
        use std::sync::{Arc, Mutex};
        use tracing::field::{Field, Visit};
        use tracing::span::{Attributes, Id, Record};
        use tracing::{Event, Level, Metadata, Subscriber};

        #[derive(Debug, Clone)]
        pub(super) struct Captured {
            pub(super) target: String,
            pub(super) level: Level,
            pub(super) fields: BTreeMap<String, String>,
        }

        #[derive(Clone, Default)]
        pub(super) struct Capture(pub(super) Arc<Mutex<Vec<Captured>>>);

        struct Fields<'a>(&'a mut BTreeMap<String, String>);

        impl Visit for Fields<'_> {
            fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
                self.0.insert(field.name().into(), format!("{value:?}"));
            }
            fn record_str(&mut self, field: &Field, value: &str) {
                self.0.insert(field.name().into(), value.into());
            }
        }

        impl Subscriber for Capture {
            fn enabled(&self, _: &Metadata<'_>) -> bool {
                true
            }
            fn new_span(&self, _: &Attributes<'_>) -> Id {
                Id::from_u64(1)
            }
            fn record(&self, _: &Id, _: &Record<'_>) {}
            fn record_follows_from(&self, _: &Id, _: &Id) {}
            fn event(&self, event: &Event<'_>) {
                let mut fields = BTreeMap::new();
                event.record(&mut Fields(&mut fields));
                self.0.lock().unwrap().push(Captured {
                    target: event.metadata().target().into(),
                    level: *event.metadata().level(),
                    fields,
                });
            }
            fn enter(&self, _: &Id) {}
            fn exit(&self, _: &Id) {}
        }
    }

    #[test]
    fn tracing_sink_emits_one_event_per_record() {
        use tracing_capture::Capture;
        let capture = Capture::default();
        let internal = AuditRecord {
            outcome: "internal".into(),
            incident: Some("inc-9".into()),
            cause: Some("db gone".into()),
            ..sample(2)
        };
        tracing::subscriber::with_default(capture.clone(), || {
            now(TracingSink.record(&sample(1))).unwrap();
            now(TracingSink.record(&internal)).unwrap();
        });
        let events = capture.0.lock().unwrap().clone();
        assert_eq!(events.len(), 2);
        assert!(events.iter().all(|e| e.target == "tool_runtime::audit"));

        let ok = &events[0];
        assert_eq!(ok.level, tracing::Level::INFO);
        assert_eq!(ok.fields["user"], "carol");
        assert_eq!(ok.fields["tool"], "get_order");
        assert_eq!(ok.fields["outcome"], "ok");
        assert_eq!(ok.fields["ts"], "2024-02-29T12:34:56.790Z");
        assert_eq!(ok.fields["arguments"], r#"{"order_id":"O1"}"#);
        assert!(!ok.fields.contains_key("incident"));

        let failed = &events[1];
        assert_eq!(failed.level, tracing::Level::WARN);
        assert_eq!(failed.fields["incident"], "inc-9");
        assert_eq!(failed.fields["cause"], "db gone");
    }
}
