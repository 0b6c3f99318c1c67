//! Calls per second through the toolbox with a durable audit sink, at 1, 8 and 64 concurrent
//! callers, beside what the same disk or server does with the same rows written directly: one
//! flushed transaction per record (the floor a sink without group commit is held to) and 64
//! records to a transaction (the ceiling). Then the Redis rate limiter's added latency per
//! call beside the in-memory one's.
//!
//! `cargo bench -p tool-tests --bench stores`; PostgreSQL and Redis are measured when
//! `DATABASE_URL` and `TOOL_RUNTIME_REDIS_URL` are set, as for the tests. Every reply waits for
//! its own record to be committed, as in production: the sinks are the production ones.
//!
//! A bench binary rather than criterion: each figure is one timed run of many concurrent calls,
//! which criterion's per-iteration model does not fit.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tool_runtime::audit::{AuditSink, PostgresOptions, PostgresSink, SqliteSink};
use tool_runtime::prelude::*;
use tool_runtime::rate_limit::{RateLimiter, RedisOptions, RedisRateLimiter};
use tool_runtime::{InMemoryRateLimiter, Quota, Toolbox};

/// Records written directly for the floor, and for the ceiling.
const FLOOR_RECORDS: usize = 600;
const CEILING_RECORDS: usize = 19_200;
/// Calls through the toolbox at each level of concurrency.
const CALLS: usize = 6_400;
const CALLERS: [usize; 3] = [1, 8, 64];
const BATCH: usize = 64;

/// Echoes its argument back, as cheap a tool as there is: what is measured is the record.
#[secure_tool(public, read_only)]
async fn echo(
    /// Any short text.
    #[validate(length(max = 32))]
    text: String,
) -> Result<String, ToolError> {
    Ok(text)
}

/// One row as the sinks write it: what `echo`'s call leaves.
struct Sample {
    ts: &'static str,
    tool: &'static str,
    outcome: &'static str,
    arguments: String,
}

fn sample(n: usize) -> Sample {
    Sample {
        ts: "2026-12-04T12:00:00.000Z",
        tool: "echo",
        outcome: "ok",
        arguments: format!(r#"{{"text":"call {n}"}}"#),
    }
}

fn per_second(count: usize, took: Duration) -> f64 {
    count as f64 / took.as_secs_f64()
}

/// `calls` calls of `echo` spread over `callers` concurrent tasks; calls per second.
async fn through_toolbox(toolbox: &Toolbox<()>, callers: usize, calls: usize) -> f64 {
    let session = Session::anonymous();
    let started = Instant::now();
    let tasks: Vec<_> = (0..callers)
        .map(|c| {
            let toolbox = toolbox.clone();
            let session = session.clone();
            tokio::spawn(async move {
                for n in 0..calls / callers {
                    let args = format!(r#"{{"text":"call {c}-{n}"}}"#);
                    let reply = toolbox.call_json(&session, "echo", &args).await;
                    assert!(reply.is_ok(), "{}", reply.to_json());
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    per_second(calls - calls % callers, started.elapsed())
}

fn toolbox(sink: impl AuditSink) -> Toolbox<()> {
    Toolbox::builder(()).tool(Echo).audit(sink).build().unwrap()
}

struct Row {
    store: &'static str,
    floor: f64,
    ceiling: f64,
    /// Calls per second, and records per transaction, at each level of [`CALLERS`].
    levels: Vec<(f64, f64)>,
}

fn sqlite(rt: &tokio::runtime::Runtime, dir: &std::path::Path) -> Row {
    let path = dir.join("audit.db");
    // The sink makes the table, WAL mode and all; the direct writes below use the same file,
    // mode and durability.
    drop(SqliteSink::open(&path).unwrap());
    let mut conn = rusqlite::Connection::open(&path).unwrap();
    conn.pragma_update(None, "journal_mode", "WAL").unwrap();
    conn.pragma_update(None, "synchronous", "FULL").unwrap();
    let insert = "INSERT INTO audit_log (ts, user, role, tool, outcome, arguments, duration_ms)
                  VALUES (?1, NULL, NULL, ?2, ?3, ?4, 0)";
    let mut write = |rows: std::ops::Range<usize>| {
        let tx = conn.transaction().unwrap();
        {
            let mut statement = tx.prepare_cached(insert).unwrap();
            for n in rows {
                let s = sample(n);
                statement
                    .execute(rusqlite::params![s.ts, s.tool, s.outcome, s.arguments])
                    .unwrap();
            }
        }
        tx.commit().unwrap();
    };
    let started = Instant::now();
    for n in 0..FLOOR_RECORDS {
        write(n..n + 1);
    }
    let floor = per_second(FLOOR_RECORDS, started.elapsed());
    let started = Instant::now();
    for n in (0..CEILING_RECORDS).step_by(BATCH) {
        write(n..n + BATCH);
    }
    let ceiling = per_second(CEILING_RECORDS, started.elapsed());
    drop(conn);

    let sink = Arc::new(SqliteSink::open(&path).unwrap());
    let toolbox = toolbox(Arc::clone(&sink));
    let levels = CALLERS
        .iter()
        .map(|&callers| {
            let before = sink.commits();
            let rate = rt.block_on(through_toolbox(&toolbox, callers, CALLS));
            let after = sink.commits();
            (
                rate,
                (after.1 - before.1) as f64 / (after.0 - before.0).max(1) as f64,
            )
        })
        .collect();
    Row {
        store: "SQLite (WAL, synchronous=FULL)",
        floor,
        ceiling,
        levels,
    }
}

fn postgres(rt: &tokio::runtime::Runtime, url: &str) -> Row {
    let schema = format!("bench_{}", std::process::id());
    let options = PostgresOptions {
        schema: Some(schema.clone()),
        ..PostgresOptions::default()
    };
    rt.block_on(async {
        // The sink migrates; the direct writes below go to the same table.
        let sink = PostgresSink::connect(url, options.clone()).await.unwrap();
        let (mut client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .unwrap();
        let connection = tokio::spawn(connection);
        let insert = format!(
            "INSERT INTO \"{schema}\".audit_log (ts, tool, outcome, arguments, duration_ms)
             VALUES ($1::text::timestamptz, $2, $3, $4::text::json, 0)"
        );
        let statement = client.prepare(&insert).await.unwrap();
        let started = Instant::now();
        for n in 0..FLOOR_RECORDS {
            let s = sample(n);
            client
                .execute(&statement, &[&s.ts, &s.tool, &s.outcome, &s.arguments])
                .await
                .unwrap();
        }
        let floor = per_second(FLOOR_RECORDS, started.elapsed());
        // The batch as one statement, as the sink writes it: one round trip per transaction.
        let batched = client
            .prepare(&format!(
                "INSERT INTO \"{schema}\".audit_log (ts, tool, outcome, arguments, duration_ms)
                 SELECT ts::timestamptz, t, o, a::json, 0
                 FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[]) AS x(ts, t, o, a)"
            ))
            .await
            .unwrap();
        let started = Instant::now();
        for batch in (0..CEILING_RECORDS).step_by(BATCH) {
            let rows: Vec<Sample> = (batch..batch + BATCH).map(sample).collect();
            let ts: Vec<&str> = rows.iter().map(|s| s.ts).collect();
            let tools: Vec<&str> = rows.iter().map(|s| s.tool).collect();
            let outcomes: Vec<&str> = rows.iter().map(|s| s.outcome).collect();
            let arguments: Vec<&str> = rows.iter().map(|s| s.arguments.as_str()).collect();
            let tx = client.transaction().await.unwrap();
            tx.execute(&batched, &[&ts, &tools, &outcomes, &arguments])
                .await
                .unwrap();
            tx.commit().await.unwrap();
        }
        let ceiling = per_second(CEILING_RECORDS, started.elapsed());

        let sink = Arc::new(sink);
        let toolbox = toolbox(Arc::clone(&sink));
        let mut levels = Vec::new();
        for callers in CALLERS {
            let before = sink.commits();
            let rate = through_toolbox(&toolbox, callers, CALLS).await;
            let after = sink.commits();
            let per_commit = (after.1 - before.1) as f64 / (after.0 - before.0).max(1) as f64;
            levels.push((rate, per_commit));
        }
        client
            .batch_execute(&format!("DROP SCHEMA \"{schema}\" CASCADE"))
            .await
            .unwrap();
        drop(client);
        connection.abort();
        Row {
            store: "PostgreSQL (local, fsync on)",
            floor,
            ceiling,
            levels,
        }
    })
}

/// p50 and p99 of one check, in microseconds.
async fn check_latency(limiter: &dyn RateLimiter, checks: usize) -> (f64, f64) {
    let quota = Quota::new(1_000_000, Duration::from_secs(1));
    let mut took: Vec<Duration> = Vec::with_capacity(checks);
    for n in 0..checks {
        let user = format!("user{}", n % 50);
        let started = Instant::now();
        limiter.check(&user, "echo", quota).await.unwrap();
        took.push(started.elapsed());
    }
    took.sort_unstable();
    let at = |q: f64| took[((took.len() - 1) as f64 * q) as usize].as_secs_f64() * 1e6;
    (at(0.50), at(0.99))
}

fn main() {
    // Only `cargo bench` runs this; `cargo test` builds benches too, and passes no `--bench`.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    // On the disk the build uses, not a tmpfs: a flush must reach the device to mean anything.
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();

    let mut rows = vec![sqlite(&rt, dir.path())];
    match std::env::var("DATABASE_URL") {
        Ok(url) => rows.push(postgres(&rt, &url)),
        Err(_) => println!("(PostgreSQL not measured: set DATABASE_URL)"),
    }
    println!(
        "| store | floor: 1 record per transaction | ceiling: {BATCH} per transaction | toolbox, 1 caller | 8 callers | 64 callers | 64 callers ÷ ceiling |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    for row in &rows {
        let level = |i: usize| {
            let (rate, per_commit) = row.levels[i];
            format!("{rate:.0}/s ({per_commit:.1} per commit)")
        };
        println!(
            "| {} | {:.0}/s | {:.0}/s | {} | {} | {} | {:.2} |",
            row.store,
            row.floor,
            row.ceiling,
            level(0),
            level(1),
            level(2),
            row.levels[2].0 / row.ceiling
        );
    }

    let memory = InMemoryRateLimiter::new();
    let (p50, p99) = rt.block_on(check_latency(&memory, 20_000));
    println!("\n| rate limiter | one check, p50 | p99 |\n| --- | --- | --- |");
    println!("| in memory | {p50:.1} µs | {p99:.1} µs |");
    match std::env::var("TOOL_RUNTIME_REDIS_URL") {
        Ok(url) => {
            let prefix = format!("bench{}", std::process::id());
            let redis = rt
                .block_on(RedisRateLimiter::connect(&url, RedisOptions::new(prefix)))
                .unwrap();
            let (p50, p99) = rt.block_on(check_latency(&redis, 5_000));
            println!("| Redis (loopback) | {p50:.1} µs | {p99:.1} µs |");
        }
        Err(_) => println!("(Redis not measured: set TOOL_RUNTIME_REDIS_URL)"),
    }
}
