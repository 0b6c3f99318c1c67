//! The SQLite audit sink.

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, params};
use serde_json::Value;

use super::{AuditError, AuditRecord, AuditSink, StoreFuture, lock, timestamp};

const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS audit_log (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    ts          TEXT    NOT NULL,
    user        TEXT,
    role        TEXT,
    tool        TEXT    NOT NULL,
    outcome     TEXT    NOT NULL,
    arguments   TEXT    NOT NULL,
    duration_ms INTEGER NOT NULL,
    incident    TEXT,
    cause       TEXT,
    detail      TEXT,
    record      TEXT    NOT NULL
)";

const INSERT: &str = "INSERT INTO audit_log
    (ts, user, role, tool, outcome, arguments, duration_ms, incident, cause, detail, record)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)";

/// How long a write waits for another connection (the application's own, or a reader) to
/// release the database before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Writes each record as one row of the table `audit_log` in a SQLite database.
///
/// The database is put in WAL mode with `synchronous=FULL`, and each record is its own
/// transaction: when [`record`](AuditSink::record) returns, the row survives the process being
/// killed and the machine losing power. The table may live in the application's own database.
/// The columns are the record's fields (JSON text for `arguments` and `detail`) plus `record`,
/// the whole record as JSON.
#[derive(Debug)]
pub struct SqliteSink {
    conn: Mutex<Connection>,
}

impl SqliteSink {
    /// Opens (creating if missing) the database at `path` and its `audit_log` table.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, AuditError> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        let mode: String =
            conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            // An in-memory database, for one, cannot be in WAL mode, and keeps nothing anyway.
            return Err(AuditError::other(format!(
                "the audit database could not be put in WAL mode (it is in {mode} mode)"
            )));
        }
        // Per connection, not stored in the file: it has to be set on every open.
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.execute(CREATE_TABLE, [])?;
        Ok(SqliteSink {
            conn: Mutex::new(conn),
        })
    }

    /// Every record in the database at `path`, oldest first, as JSON.
    ///
    /// A database with no `audit_log` table has no records. Does not create the database.
    pub fn read_all(path: impl AsRef<Path>) -> Result<Vec<Value>, AuditError> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        let has_table: bool = conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'audit_log')",
            [],
            |row| row.get(0),
        )?;
        if !has_table {
            return Ok(Vec::new());
        }
        let mut statement = conn.prepare("SELECT record FROM audit_log ORDER BY id")?;
        let rows = statement.query_map([], |row| row.get::<_, String>(0))?;
        rows.map(|text| Ok(serde_json::from_str(&text?)?)).collect()
    }
}

impl AuditSink for SqliteSink {
    fn record<'a>(&'a self, record: &'a AuditRecord) -> StoreFuture<'a, Result<(), AuditError>> {
        StoreFuture::ready(self.insert(record))
    }
}

impl SqliteSink {
    fn insert(&self, record: &AuditRecord) -> Result<(), AuditError> {
        let arguments = serde_json::to_string(&record.arguments)?;
        let detail = if record.detail.is_empty() {
            None
        } else {
            Some(serde_json::to_string(&record.detail)?)
        };
        let whole = serde_json::to_string(record)?;
        let duration_ms = i64::try_from(record.duration_ms).unwrap_or(i64::MAX);
        let conn = lock(&self.conn);
        let mut insert = conn.prepare_cached(INSERT)?;
        insert.execute(params![
            timestamp::rfc3339_millis(record.ts),
            record.user,
            record.role,
            record.tool,
            record.outcome,
            arguments,
            duration_ms,
            record.incident,
            record.cause,
            detail,
            whole,
        ])?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::tests::{now, sample};
    use serde_json::json;
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    use std::sync::Arc;

    #[test]
    fn writes_each_record_as_a_row_with_its_columns() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.db");
        let sink = SqliteSink::open(&path).unwrap();
        let mut with_detail = sample(2);
        with_detail
            .detail
            .insert("new_email".into(), json!("b@example.com"));
        now(sink.record(&sample(1))).unwrap();
        now(sink.record(&with_detail)).unwrap();

        let all = SqliteSink::read_all(&path).unwrap();
        assert_eq!(
            all,
            vec![
                serde_json::to_value(sample(1)).unwrap(),
                serde_json::to_value(&with_detail).unwrap(),
            ]
        );

        let conn = Connection::open(&path).unwrap();
        let (user, tool, duration, detail): (String, String, i64, Option<String>) = conn
            .query_row(
                "SELECT user, tool, duration_ms, detail FROM audit_log WHERE id = 2",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .unwrap();
        assert_eq!(
            (user.as_str(), tool.as_str(), duration),
            ("carol", "get_order", 2)
        );
        assert_eq!(detail.as_deref(), Some(r#"{"new_email":"b@example.com"}"#));
        let mode: String = conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
    }

    #[test]
    fn reopening_keeps_earlier_records() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.db");
        now(SqliteSink::open(&path).unwrap().record(&sample(1))).unwrap();
        now(SqliteSink::open(&path).unwrap().record(&sample(2))).unwrap();
        let all = SqliteSink::read_all(&path).unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0]["duration_ms"], json!(1));
        assert_eq!(all[1]["duration_ms"], json!(2));
    }

    #[test]
    fn a_database_without_the_table_has_no_records() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.db");
        Connection::open(&path)
            .unwrap()
            .execute("CREATE TABLE customers (id TEXT)", [])
            .unwrap();
        assert_eq!(SqliteSink::read_all(&path).unwrap(), Vec::<Value>::new());
    }

    #[test]
    fn reading_a_missing_database_is_an_error_and_creates_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing.db");
        assert!(SqliteSink::read_all(&path).is_err());
        assert!(!path.exists());
    }

    #[test]
    fn an_in_memory_database_is_refused() {
        assert!(SqliteSink::open(":memory:").is_err());
    }

    #[test]
    fn every_record_from_many_threads_is_kept() {
        const THREADS: u64 = 8;
        const PER_THREAD: u64 = 1_000;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.db");
        let sink = Arc::new(SqliteSink::open(&path).unwrap());
        let threads: Vec<_> = (0..THREADS)
            .map(|t| {
                let sink = Arc::clone(&sink);
                std::thread::spawn(move || {
                    for n in 0..PER_THREAD {
                        now(sink.record(&sample(t * PER_THREAD + n))).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        drop(sink);

        let all = SqliteSink::read_all(&path).unwrap();
        assert_eq!(all.len() as u64, THREADS * PER_THREAD);
        let mut seen: Vec<u64> = all
            .iter()
            .map(|r| r["duration_ms"].as_u64().unwrap())
            .collect();
        seen.sort_unstable();
        assert!(seen.iter().copied().eq(0..THREADS * PER_THREAD));
    }

    struct KillOnDrop(std::process::Child);

    impl Drop for KillOnDrop {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    /// Set in the child process, to the database it writes to.
    const CHILD_DB: &str = "TOOL_RUNTIME_AUDIT_KILL_CHILD_DB";
    const RECORDED: &str = "audit-record-returned";

    /// Re-runs this test binary, filtered to this very test, as the child that writes the
    /// record; the child then waits to be killed.
    #[test]
    fn a_record_survives_the_process_being_killed_after_record_returns() {
        if let Some(path) = std::env::var_os(CHILD_DB) {
            let sink = SqliteSink::open(path).unwrap();
            now(sink.record(&sample(42))).unwrap();
            println!("{RECORDED}");
            // Waits to be killed; gives up after a while so that a parent which died first does
            // not leave it behind for good.
            std::thread::sleep(Duration::from_secs(120));
            std::process::exit(3);
        }

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.db");
        let test_name = concat!(
            module_path!(),
            "::a_record_survives_the_process_being_killed_after_record_returns"
        );
        // The harness prints names without the crate's own name.
        let test_name = test_name
            .split_once("::")
            .map_or(test_name, |(_, rest)| rest);
        let mut child = KillOnDrop(
            Command::new(std::env::current_exe().unwrap())
                .args([test_name, "--exact", "--nocapture", "--test-threads=1"])
                .env(CHILD_DB, &path)
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .unwrap(),
        );

        let stdout = BufReader::new(child.0.stdout.take().unwrap());
        let mut returned = false;
        for line in stdout.lines() {
            // The harness writes the test's name on the same line, before the marker.
            if line.unwrap().ends_with(RECORDED) {
                returned = true;
                break;
            }
        }
        // SIGKILL on Unix: no destructor, no atexit, nothing of the child's gets to run.
        child.0.kill().unwrap();
        let status = child.0.wait().unwrap();
        assert!(
            returned,
            "the child exited ({status}) without writing its record"
        );
        assert!(!status.success());

        let all = SqliteSink::read_all(&path).unwrap();
        assert_eq!(all, vec![serde_json::to_value(sample(42)).unwrap()]);
    }
}
