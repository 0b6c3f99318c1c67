//! The SQLite audit sink.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, params};
use serde_json::Value;

use super::group_commit::{self, Batches, Queue, Waiting};
use super::row::Row;
use super::{AuditError, AuditRecord, AuditSink, StoreFuture};

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
    detail      TEXT
)";

const INSERT: &str = "INSERT INTO audit_log
    (ts, user, role, tool, outcome, arguments, duration_ms, incident, cause, detail)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";

const SELECT: &str =
    "SELECT ts, user, role, tool, outcome, arguments, duration_ms, incident, cause, detail
    FROM audit_log ORDER BY id";

/// How long a write waits for another connection (the application's own, or a reader) to
/// release the database before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Writes each record as one row of the table `audit_log` in a SQLite database.
///
/// The database is put in WAL mode with `synchronous=FULL`: when [`record`](AuditSink::record)
/// answers, the row is committed and survives the process being killed and the machine losing
/// power. Records of concurrent calls share one transaction and one flush (group commit): a
/// writer thread commits everything queued at once, then answers each call; a batch that fails
/// fails each of its calls. The table may live in the application's own database. The columns
/// are the record's fields, `arguments` and `detail` as JSON text; each is stored once.
#[derive(Debug)]
pub struct SqliteSink {
    queue: Queue<Row>,
}

impl SqliteSink {
    /// Opens (creating if missing) the database at `path` and its `audit_log` table, and starts
    /// the writer thread, which ends when the sink is dropped.
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
        drop_whole_record_column(&conn)?;
        let (queue, batches) = group_commit::queue();
        std::thread::Builder::new()
            .name("sqlite-audit".into())
            .spawn(move || write_batches(conn, batches))?;
        Ok(SqliteSink { queue })
    }

    /// How many transactions have committed records, and how many records they held: with
    /// many concurrent calls, far fewer transactions than records.
    pub fn commits(&self) -> (u64, u64) {
        let stats = self.queue.stats();
        (stats.commits(), stats.rows())
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
        let mut statement = conn.prepare(SELECT)?;
        let rows = statement.query_map([], |row| {
            Ok(Row {
                ts: row.get(0)?,
                user: row.get(1)?,
                role: row.get(2)?,
                tool: row.get(3)?,
                outcome: row.get(4)?,
                arguments: row.get(5)?,
                duration_ms: row.get(6)?,
                incident: row.get(7)?,
                cause: row.get(8)?,
                detail: row.get(9)?,
            })
        })?;
        rows.map(|row| row?.into_json()).collect()
    }
}

impl AuditSink for SqliteSink {
    fn record<'a>(&'a self, record: &'a AuditRecord) -> StoreFuture<'a, Result<(), AuditError>> {
        match Row::new(record) {
            Ok(row) => StoreFuture::new(self.queue.submit(row)),
            Err(e) => StoreFuture::ready(Err(e)),
        }
    }
}

/// Tables made by earlier versions also kept the whole record as JSON in a column `record`,
/// which doubled what each call left on disk; the other columns hold all of it.
fn drop_whole_record_column(conn: &Connection) -> rusqlite::Result<()> {
    let has_record: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM pragma_table_info('audit_log') WHERE name = 'record')",
        [],
        |row| row.get(0),
    )?;
    if has_record {
        conn.execute("ALTER TABLE audit_log DROP COLUMN record", [])?;
    }
    Ok(())
}

fn write_batches(mut conn: Connection, mut batches: Batches<Row>) {
    while let Some(batch) = batches.next_blocking() {
        if batch.is_empty() {
            continue;
        }
        let written = write(&mut conn, &batch);
        batches.finish(batch, written);
    }
}

/// One transaction for the whole batch: on any error it rolls back, and no row of it is kept.
fn write(conn: &mut Connection, batch: &[Waiting<Row>]) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    {
        let mut insert = tx.prepare_cached(INSERT)?;
        for waiting in batch {
            let row = &waiting.row;
            insert.execute(params![
                row.ts,
                row.user,
                row.role,
                row.tool,
                row.outcome,
                row.arguments,
                row.duration_ms,
                row.incident,
                row.cause,
                row.detail,
            ])?;
        }
    }
    tx.commit()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::tests::sample;
    use serde_json::json;
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    use std::sync::Arc;

    /// Waits for a record on a thread of its own, as a blocking caller would.
    fn block_on<T>(future: impl std::future::Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(future)
    }

    #[tokio::test]
    async fn a_log_of_an_earlier_version_keeps_its_records_and_stores_each_field_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.db");
        let old = Connection::open(&path).unwrap();
        old.execute_batch(
            "CREATE TABLE audit_log (
                id INTEGER PRIMARY KEY AUTOINCREMENT, ts TEXT NOT NULL, user TEXT, role TEXT,
                tool TEXT NOT NULL, outcome TEXT NOT NULL, arguments TEXT NOT NULL,
                duration_ms INTEGER NOT NULL, incident TEXT, cause TEXT, detail TEXT,
                record TEXT NOT NULL);
             INSERT INTO audit_log (ts, user, role, tool, outcome, arguments, duration_ms, record)
             VALUES ('2024-02-29T12:34:56.789Z', 'carol', 'support_agent', 'get_order', 'ok',
                     '{\"order_id\":\"O1\"}', 3, '{}');",
        )
        .unwrap();
        drop(old);
        let sink = SqliteSink::open(&path).unwrap();
        sink.record(&sample(4)).await.unwrap();
        let all = SqliteSink::read_all(&path).unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0]["arguments"], json!({"order_id": "O1"}));
        assert_eq!(all[0]["ts"], "2024-02-29T12:34:56.789Z");
        assert_eq!(all[1], serde_json::to_value(sample(4)).unwrap());
        let columns: Vec<String> = Connection::open(&path)
            .unwrap()
            .prepare("SELECT name FROM pragma_table_info('audit_log')")
            .unwrap()
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(!columns.iter().any(|c| c == "record"), "{columns:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_records_share_transactions() {
        const CALLERS: u64 = 64;
        const PER_CALLER: u64 = 20;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.db");
        let sink = Arc::new(SqliteSink::open(&path).unwrap());
        let callers: Vec<_> = (0..CALLERS)
            .map(|c| {
                let sink = Arc::clone(&sink);
                tokio::spawn(async move {
                    for n in 0..PER_CALLER {
                        sink.record(&sample(c * PER_CALLER + n)).await.unwrap();
                    }
                })
            })
            .collect();
        for caller in callers {
            caller.await.unwrap();
        }
        let (commits, rows) = sink.commits();
        assert_eq!(rows, CALLERS * PER_CALLER);
        // Each caller waits for its own commit, so at most one record per caller per
        // transaction: 64 callers need at least 20 transactions, and one per record would be
        // 1,280.
        assert!(
            commits < rows / 4,
            "{commits} transactions for {rows} records"
        );
        let mut seen: Vec<u64> = SqliteSink::read_all(&path)
            .unwrap()
            .iter()
            .map(|r| r["duration_ms"].as_u64().unwrap())
            .collect();
        seen.sort_unstable();
        assert!(seen.into_iter().eq(0..CALLERS * PER_CALLER));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failed_batch_fails_each_of_its_calls_and_the_next_one_succeeds() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.db");
        let sink = Arc::new(SqliteSink::open(&path).unwrap());
        // Another connection swaps the table for one that refuses every row.
        let other = Connection::open(&path).unwrap();
        other
            .execute_batch(
                "ALTER TABLE audit_log RENAME TO kept;
                 CREATE TABLE audit_log (id INTEGER PRIMARY KEY, ts TEXT, user TEXT, role TEXT,
                   tool TEXT, outcome TEXT, arguments TEXT, duration_ms INTEGER, incident TEXT,
                   cause TEXT, detail TEXT CHECK (detail IS NOT NULL));",
            )
            .unwrap();
        let callers: Vec<_> = (0..16)
            .map(|n| {
                let sink = Arc::clone(&sink);
                tokio::spawn(async move { sink.record(&sample(n)).await })
            })
            .collect();
        for caller in callers {
            let err = caller.await.unwrap().unwrap_err();
            assert!(err.to_string().contains("CHECK"), "{err}");
        }
        other
            .execute_batch("DROP TABLE audit_log; ALTER TABLE kept RENAME TO audit_log;")
            .unwrap();
        sink.record(&sample(99)).await.unwrap();
        let all = SqliteSink::read_all(&path).unwrap();
        assert_eq!(all, vec![serde_json::to_value(sample(99)).unwrap()]);
    }

    #[test]
    fn writes_each_record_as_a_row_with_its_columns() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.db");
        let sink = SqliteSink::open(&path).unwrap();
        let mut with_detail = sample(2);
        with_detail
            .detail
            .insert("new_email".into(), json!("b@example.com"));
        block_on(sink.record(&sample(1))).unwrap();
        block_on(sink.record(&with_detail)).unwrap();

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
        block_on(SqliteSink::open(&path).unwrap().record(&sample(1))).unwrap();
        block_on(SqliteSink::open(&path).unwrap().record(&sample(2))).unwrap();
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
                        block_on(sink.record(&sample(t * PER_THREAD + n))).unwrap();
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
            block_on(sink.record(&sample(42))).unwrap();
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
