//! The audit log survives a crash: a child process (`audit_crash_child`) makes 8 × 1,000
//! concurrent calls through a durable sink and is killed with SIGKILL at a random moment; the
//! log, reopened, must hold a complete, parseable record of every call whose reply the child had
//! already handed out, and no torn record. Several kill points per sink.
//!
//! `AUDIT_CRASH_KILLS` sets how many kill points per sink (3 when unset).

use std::collections::HashSet;
use std::hash::{BuildHasher, RandomState};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tool_runtime::audit::SqliteSink;

/// A random number below `n`, from the standard library's per-process random keys.
fn random_below(n: u64) -> u64 {
    RandomState::new().hash_one(Instant::now()) % n
}

/// Runs the child until it has acknowledged `kill_after` calls (or a time cap passes), kills it,
/// and returns the calls it acknowledged, as `THREAD-CALL` tags.
fn run_and_kill(kind: &str, log: &std::path::Path, kill_after: u64) -> HashSet<String> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_audit_crash_child"))
        .args([kind, log.to_str().expect("a UTF-8 path")])
        .stdout(Stdio::piped())
        .spawn()
        .expect("the child starts");
    let stdout = child.stdout.take().expect("a pipe");
    let started = Instant::now();
    let mut acknowledged = HashSet::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("the child writes text");
        let (thread, call) = line.split_once(' ').expect("THREAD CALL");
        acknowledged.insert(format!("{thread}-{call}"));
        if acknowledged.len() as u64 >= kill_after || started.elapsed() > Duration::from_secs(20) {
            break;
        }
    }
    // SIGKILL: no destructor, no flush, no chance to finish a write the sink has begun.
    child.kill().expect("the child is killed");
    child.wait().expect("the child is reaped");
    acknowledged
}

/// The records of a JSON-lines log; panics on a torn (unparseable or partial) line.
fn jsonl_records(log: &std::path::Path) -> Vec<Value> {
    let text = std::fs::read_to_string(log).expect("the log reads as UTF-8");
    assert!(
        text.is_empty() || text.ends_with('\n'),
        "the last record is torn"
    );
    text.lines()
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|e| panic!("a torn record: {e}: {line:?}"))
        })
        .collect()
}

/// Every acknowledged call has its complete record; every record is complete.
fn check(records: &[Value], acknowledged: &HashSet<String>, kind: &str, kill_after: u64) {
    let mut logged = HashSet::new();
    for record in records {
        for field in [
            "ts",
            "user",
            "role",
            "tool",
            "outcome",
            "arguments",
            "duration_ms",
        ] {
            assert!(
                record.get(field).is_some(),
                "{kind}: no `{field}` in {record}"
            );
        }
        assert_eq!(record["tool"], "pick", "{kind}: {record}");
        assert_eq!(record["outcome"], "ok", "{kind}: {record}");
        let tag = record["arguments"]["tag"].as_str().expect("the call's tag");
        assert!(
            logged.insert(tag.to_owned()),
            "{kind}: {tag} recorded twice"
        );
    }
    let missing: Vec<_> = acknowledged.difference(&logged).collect();
    assert!(
        missing.is_empty(),
        "{kind}, killed after {kill_after}: replies without records: {missing:?}"
    );
}

fn kill_points() -> u64 {
    std::env::var("AUDIT_CRASH_KILLS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(3)
}

#[test]
fn a_killed_process_leaves_a_record_of_every_answered_call_in_a_json_lines_log() {
    for _ in 0..kill_points() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let log = dir.path().join("audit.jsonl");
        let kill_after = 1 + random_below(1500);
        let acknowledged = run_and_kill("jsonl", &log, kill_after);
        assert!(!acknowledged.is_empty(), "the child answered nothing");
        check(&jsonl_records(&log), &acknowledged, "jsonl", kill_after);
    }
}

#[test]
fn a_killed_process_leaves_a_record_of_every_answered_call_in_a_sqlite_log() {
    for _ in 0..kill_points() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let log = dir.path().join("audit.db");
        let kill_after = 1 + random_below(1500);
        let acknowledged = run_and_kill("sqlite", &log, kill_after);
        assert!(!acknowledged.is_empty(), "the child answered nothing");
        // Reopening for writing replays the WAL the killed process left, as an operator's
        // next start of the application would.
        drop(SqliteSink::open(&log).expect("the database reopens"));
        let records = SqliteSink::read_all(&log).expect("every stored record parses");
        check(&records, &acknowledged, "sqlite", kill_after);
    }
}
