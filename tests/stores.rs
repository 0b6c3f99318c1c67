//! The shared stores: rate limits in Redis, the audit log in PostgreSQL and SQLite with group
//! commit, each failing closed and recovering by itself.
//!
//! Tests that need a service are ignored unless asked for, and then need its URL:
//! `TOOL_RUNTIME_REDIS_URL=redis://127.0.0.1:6379 DATABASE_URL=postgres://postgres@127.0.0.1/test
//! cargo test -p tool-tests --test stores -- --include-ignored`. Each run uses its own key prefix
//! and schema, so runs do not collide.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tool_runtime::prelude::*;

#[path = "common/services.rs"]
mod services;
use services::{OwnRedis, redis_url, unique};
use tool_runtime::rate_limit::{RateLimitError, RateLimiter, RedisOptions, RedisRateLimiter};
use tool_runtime::{InMemoryRateLimiter, Quota, Toolbox};

/// With its store gone, three calls of `tool` in a row each fail closed as `internal` within
/// `within`, and say nothing of the store to the model.
async fn fails_closed<S: Send + Sync + 'static>(
    toolbox: &Toolbox<S>,
    session: &Session,
    tool: &str,
    within: Duration,
    store: &str,
) {
    for _ in 0..3 {
        let started = Instant::now();
        let reply = toolbox.call(session, tool, json!({})).await;
        assert_eq!(
            reply.code(),
            Some(ErrorCode::Internal),
            "{:?}",
            reply.to_value()
        );
        assert!(started.elapsed() < within, "{:?}", started.elapsed());
        let message = reply.to_value()["error"]["message"].to_string();
        assert!(!message.to_lowercase().contains(store), "{message}");
    }
}

/// Calls `tool` until its store is back: every reply meanwhile is `internal`, and the first
/// other one, which the caller checks, comes within 15 s.
async fn once_recovered<S: Send + Sync + 'static>(
    toolbox: &Toolbox<S>,
    session: &Session,
    tool: &str,
    arguments: serde_json::Value,
) -> ToolReply {
    let started = Instant::now();
    loop {
        let reply = toolbox.call(session, tool, arguments.clone()).await;
        if reply.code() != Some(ErrorCode::Internal) {
            return reply;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "`{tool}` did not recover once its store was back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn limiter(url: &str, prefix: &str) -> RedisRateLimiter {
    RedisRateLimiter::connect(url, RedisOptions::new(prefix))
        .await
        .expect("Redis is reachable")
}

/// How long a refused check says to wait; `None` when allowed. A store failure fails the test.
fn wait(checked: Result<(), RateLimitError>) -> Option<Duration> {
    match checked {
        Ok(()) => None,
        Err(RateLimitError::Exceeded(retry)) => Some(retry),
        Err(other) => panic!("the limiter failed: {other}"),
    }
}

const TEN_PER_MIN: Quota = Quota::new(10, Duration::from_secs(60));

#[tokio::test]
#[ignore = "needs Redis: set TOOL_RUNTIME_REDIS_URL"]
async fn redis_gives_the_in_memory_limiters_answers() {
    let redis = limiter(&redis_url(), &unique("same")).await;
    let memory = InMemoryRateLimiter::new();
    for call in 1..=10 {
        assert_eq!(
            wait(redis.check("carol", "t", TEN_PER_MIN).await),
            None,
            "call {call}"
        );
        assert_eq!(wait(memory.check("carol", "t", TEN_PER_MIN).await), None);
    }
    let from_redis = wait(redis.check("carol", "t", TEN_PER_MIN).await).unwrap();
    let from_memory = wait(memory.check("carol", "t", TEN_PER_MIN).await).unwrap();
    // Both say "the next call in about 6 s" (one call's worth of a 10/min budget), less what
    // the calls took.
    for retry in [from_redis, from_memory] {
        assert!(retry > Duration::from_secs(5), "{retry:?}");
        assert!(retry <= Duration::from_secs(6), "{retry:?}");
    }
    // Budgets are per user and per tool.
    assert_eq!(wait(redis.check("dave", "t", TEN_PER_MIN).await), None);
    assert_eq!(wait(redis.check("carol", "u", TEN_PER_MIN).await), None);
}

#[tokio::test]
#[ignore = "needs Redis: set TOOL_RUNTIME_REDIS_URL"]
async fn a_spent_budget_comes_back_one_call_per_period_over_n() {
    let redis = limiter(&redis_url(), &unique("refill")).await;
    // One call back every 200 ms.
    let quota = Quota::new(5, Duration::from_secs(1));
    for _ in 0..5 {
        assert_eq!(wait(redis.check("carol", "t", quota).await), None);
    }
    let retry = wait(redis.check("carol", "t", quota).await).unwrap();
    assert!(retry <= Duration::from_millis(200), "{retry:?}");
    tokio::time::sleep(retry + Duration::from_millis(5)).await;
    assert_eq!(wait(redis.check("carol", "t", quota).await), None);
    // Only one came back.
    assert!(wait(redis.check("carol", "t", quota).await).is_some());
}

#[tokio::test]
#[ignore = "needs Redis: set TOOL_RUNTIME_REDIS_URL"]
async fn keys_live_under_the_prefix_and_expire_when_the_budget_is_full_again() {
    let prefix = unique("ttl");
    let redis = limiter(&redis_url(), &prefix).await;
    redis.check("carol", "t", TEN_PER_MIN).await.unwrap();
    let client = redis::Client::open(redis_url()).unwrap();
    let mut raw = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}:*"))
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(keys, vec![format!("{prefix}:rate:t:10/60000000000:carol")]);
    let ttl: i64 = redis::cmd("PTTL")
        .arg(&keys[0])
        .query_async(&mut raw)
        .await
        .unwrap();
    // One call's worth (6 s) after which the budget is full and the key no longer needed.
    assert!((5_000..=6_001).contains(&ttl), "{ttl}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs Redis: set TOOL_RUNTIME_REDIS_URL"]
async fn many_instances_hammering_one_budget_allow_exactly_the_budget() {
    const INSTANCES: usize = 8;
    const TASKS_PER_INSTANCE: usize = 16;
    const CALLS_PER_TASK: usize = 25;
    let url = redis_url();
    let prefix = unique("exact");
    let quota = Quota::new(100, Duration::from_secs(3600));
    let allowed = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..INSTANCES {
        // Each limiter has its own connection, as separate processes would.
        let instance = Arc::new(limiter(&url, &prefix).await);
        for _ in 0..TASKS_PER_INSTANCE {
            let instance = Arc::clone(&instance);
            let allowed = Arc::clone(&allowed);
            tasks.push(tokio::spawn(async move {
                for _ in 0..CALLS_PER_TASK {
                    if wait(instance.check("carol", "search", quota).await).is_none() {
                        allowed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }));
        }
    }
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(allowed.load(Ordering::Relaxed), 100);
}

#[tokio::test]
async fn a_bad_url_or_prefix_is_refused_before_connecting() {
    let bad_url = RedisRateLimiter::connect("http://secret@host", RedisOptions::new("app")).await;
    let err = bad_url.unwrap_err().to_string();
    assert!(!err.contains("secret"), "{err}");
    for prefix in ["", "a:b", "a b"] {
        assert!(
            RedisRateLimiter::connect("redis://127.0.0.1:1", RedisOptions::new(prefix))
                .await
                .is_err()
        );
    }
}

/// A tool whose runs are counted, so a test can see that a refused call ran nothing.
#[derive(Clone, Default)]
struct Runs(Arc<AtomicUsize>);

/// Counts its runs.
#[secure_tool(public, read_only, rate_limit = "10/min")]
async fn counted(State(runs): State<Runs>) -> Result<usize, ToolError> {
    Ok(runs.0.fetch_add(1, Ordering::SeqCst) + 1)
}

/// Counts its runs, with no rate limit.
#[secure_tool(public, read_only)]
async fn noted(State(runs): State<Runs>) -> Result<usize, ToolError> {
    Ok(runs.0.fetch_add(1, Ordering::SeqCst) + 1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server installed, and TOOL_RUNTIME_REDIS_URL set as for the other Redis tests"]
async fn redis_down_fails_the_call_closed_in_bounded_time_and_redis_back_recovers() {
    let _ = redis_url();
    let mut server = OwnRedis::start(None);
    let mut options = RedisOptions::new(unique("outage"));
    options.connect_timeout = Duration::from_millis(300);
    options.command_timeout = Duration::from_millis(300);
    let limiter = RedisRateLimiter::connect(&server.url(), options)
        .await
        .unwrap();
    let runs = Runs::default();
    let toolbox = Toolbox::builder(runs.clone())
        .tool(Counted)
        .rate_limiter(limiter)
        .build()
        .unwrap();
    let session = Session::anonymous();
    assert!(toolbox.call(&session, "counted", json!({})).await.is_ok());

    server.stop();
    // Connect and command timeouts, with room for a loaded machine.
    fails_closed(
        &toolbox,
        &session,
        "counted",
        Duration::from_secs(2),
        "redis",
    )
    .await;
    assert_eq!(runs.0.load(Ordering::SeqCst), 1, "a refused call ran");

    let _server = OwnRedis::start(Some(server.port));
    let back = once_recovered(&toolbox, &session, "counted", json!({})).await;
    assert!(back.is_ok(), "{:?}", back.to_value());
    assert_eq!(runs.0.load(Ordering::SeqCst), 2);
}

#[tokio::test]
#[ignore = "needs Redis: set TOOL_RUNTIME_REDIS_URL"]
async fn through_the_toolbox_the_eleventh_call_is_rate_limited() {
    let limiter = limiter(&redis_url(), &unique("toolbox")).await;
    let runs = Runs::default();
    let toolbox = Toolbox::builder(runs.clone())
        .tool(Counted)
        .rate_limiter(limiter)
        .build()
        .unwrap();
    let session = Session::anonymous();
    let mut codes = Vec::new();
    for _ in 0..12 {
        codes.push(toolbox.call(&session, "counted", json!({})).await.code());
    }
    assert_eq!(codes[..10], [None; 10]);
    assert_eq!(codes[10..], [Some(ErrorCode::RateLimited); 2]);
    assert_eq!(runs.0.load(Ordering::SeqCst), 10);
}

// ---- The audit log on PostgreSQL ----

use tool_runtime::AuditRecord;
use tool_runtime::audit::{AuditSink, PostgresOptions, PostgresSink, SqliteSink};

fn database_url() -> String {
    std::env::var("DATABASE_URL")
        .expect("this test needs DATABASE_URL, such as postgres://postgres@127.0.0.1/test")
}

/// Options for a schema no other run uses.
fn own_schema() -> PostgresOptions {
    PostgresOptions {
        schema: Some(unique("audit_test")),
        ..PostgresOptions::default()
    }
}

fn record(n: u64) -> AuditRecord {
    AuditRecord {
        ts: std::time::UNIX_EPOCH + Duration::from_millis(1_709_210_096_789 + n),
        user: Some("carol".into()),
        role: Some("support_agent".into()),
        tool: "get_order".into(),
        outcome: "ok".into(),
        arguments: json!({"order_id": format!("O{n}")}).into(),
        duration_ms: n,
        incident: None,
        cause: None,
        detail: serde_json::Map::new(),
    }
}

#[tokio::test]
#[ignore = "needs PostgreSQL: set DATABASE_URL"]
async fn postgres_keeps_each_record_in_order_with_its_columns() {
    let url = database_url();
    let options = own_schema();
    let sink = PostgresSink::connect(&url, options.clone()).await.unwrap();
    let mut with_detail = record(2);
    with_detail
        .detail
        .insert("new_email".into(), json!("b@example.com"));
    sink.record(&record(1)).await.unwrap();
    sink.record(&with_detail).await.unwrap();
    let all = PostgresSink::read_all(&url, &options).await.unwrap();
    assert_eq!(
        all,
        vec![
            serde_json::to_value(record(1)).unwrap(),
            serde_json::to_value(&with_detail).unwrap()
        ]
    );
    // Each field once, in a column of its own: no second copy of the whole record.
    let (client, connection) = tokio_postgres_connect(&url).await;
    let schema = options.schema.as_deref().unwrap();
    let row = client
        .query_one(
            &format!(
                "SELECT \"user\", tool, duration_ms, detail::text, arguments::text, ts = '2024-02-29T12:34:56.791Z'::timestamptz
                 FROM \"{schema}\".audit_log ORDER BY id DESC LIMIT 1"
            ),
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, &str>(0), "carol");
    assert_eq!(row.get::<_, &str>(1), "get_order");
    assert_eq!(row.get::<_, i64>(2), 2);
    assert_eq!(row.get::<_, &str>(3), r#"{"new_email":"b@example.com"}"#);
    assert_eq!(row.get::<_, &str>(4), r#"{"order_id":"O2"}"#);
    assert!(row.get::<_, bool>(5));
    let columns: Vec<String> = client
        .query(
            "SELECT column_name::text FROM information_schema.columns
             WHERE table_schema = $1 AND table_name = 'audit_log' ORDER BY ordinal_position",
            &[&schema],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(
        columns,
        [
            "id",
            "ts",
            "user",
            "role",
            "tool",
            "outcome",
            "arguments",
            "duration_ms",
            "incident",
            "cause",
            "detail"
        ]
    );
    drop(client);
    connection.abort();
}

async fn tokio_postgres_connect(
    url: &str,
) -> (tokio_postgres::Client, tokio::task::JoinHandle<()>) {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    let task = tokio::spawn(async move {
        let _ = connection.await;
    });
    (client, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs PostgreSQL: set DATABASE_URL"]
async fn instances_starting_together_migrate_once_and_share_one_log() {
    let url = database_url();
    let options = own_schema();
    let starts: Vec<_> = (0..3)
        .map(|_| {
            let (url, options) = (url.clone(), options.clone());
            tokio::spawn(async move { PostgresSink::connect(&url, options).await })
        })
        .collect();
    let mut sinks = Vec::new();
    for start in starts {
        sinks.push(start.await.unwrap().unwrap());
    }
    for (n, sink) in sinks.iter().enumerate() {
        sink.record(&record(n as u64)).await.unwrap();
    }
    // A restart runs no migration twice.
    drop(PostgresSink::connect(&url, options.clone()).await.unwrap());
    let (client, connection) = tokio_postgres_connect(&url).await;
    let schema = options.schema.as_deref().unwrap();
    let versions: Vec<i32> = client
        .query(
            &format!("SELECT version FROM \"{schema}\".tool_runtime_migrations"),
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(versions, vec![1, 2]);
    connection.abort();
    assert_eq!(
        PostgresSink::read_all(&url, &options).await.unwrap().len(),
        3
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs PostgreSQL: set DATABASE_URL"]
async fn postgres_concurrent_records_share_transactions() {
    const CALLERS: u64 = 64;
    const PER_CALLER: u64 = 10;
    let url = database_url();
    let options = own_schema();
    let sink = Arc::new(PostgresSink::connect(&url, options.clone()).await.unwrap());
    let callers: Vec<_> = (0..CALLERS)
        .map(|c| {
            let sink = Arc::clone(&sink);
            tokio::spawn(async move {
                for n in 0..PER_CALLER {
                    sink.record(&record(c * PER_CALLER + n)).await.unwrap();
                }
            })
        })
        .collect();
    for caller in callers {
        caller.await.unwrap();
    }
    let (commits, rows) = sink.commits();
    assert_eq!(rows, CALLERS * PER_CALLER);
    assert!(
        commits < rows / 4,
        "{commits} transactions for {rows} records"
    );
    let mut seen: Vec<u64> = PostgresSink::read_all(&url, &options)
        .await
        .unwrap()
        .iter()
        .map(|r| r["duration_ms"].as_u64().unwrap())
        .collect();
    seen.sort_unstable();
    assert!(seen.into_iter().eq(0..CALLERS * PER_CALLER));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: set DATABASE_URL"]
async fn a_model_chosen_nul_does_not_fail_its_batch() {
    let url = database_url();
    let options = own_schema();
    let sink = Arc::new(PostgresSink::connect(&url, options.clone()).await.unwrap());
    let poisoned = AuditRecord {
        tool: "get\0order".into(),
        arguments: json!({"order_id": "O\u{0}1", "\u{0}": 1}).into(),
        ..record(1)
    };
    let plain = record(2);
    let (a, b) = tokio::join!(sink.record(&poisoned), sink.record(&plain));
    a.unwrap();
    b.unwrap();
    let all = PostgresSink::read_all(&url, &options).await.unwrap();
    assert_eq!(all.len(), 2);
    assert!(all.iter().any(|r| r["arguments"]["order_id"] == "O\u{0}1"));
}

#[tokio::test]
async fn a_bad_schema_or_url_is_refused_without_echoing_it() {
    for schema in ["", "Audit", "a;drop table x", "1a", "a\"b"] {
        let options = PostgresOptions {
            schema: Some(schema.into()),
            ..PostgresOptions::default()
        };
        assert!(
            PostgresSink::connect("postgres://127.0.0.1:1/x", options)
                .await
                .is_err(),
            "{schema:?}"
        );
    }
    let err = PostgresSink::connect("mysql://root:hunter2@db/x", PostgresOptions::default())
        .await
        .unwrap_err()
        .to_string();
    assert!(!err.contains("hunter2"), "{err}");
}

/// A TCP proxy in front of PostgreSQL that a test can cut (every connection dropped, new ones
/// refused) and restore on the same port: PostgreSQL unreachable, as far as the sink can tell,
/// without stopping the machine's server.
struct Proxy {
    port: u16,
    upstream: String,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Proxy {
    async fn start(upstream: &str) -> Proxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut proxy = Proxy {
            port,
            upstream: upstream.to_owned(),
            task: None,
        };
        proxy.serve(listener);
        proxy
    }

    fn serve(&mut self, listener: tokio::net::TcpListener) {
        let upstream = self.upstream.clone();
        self.task = Some(tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    continue;
                };
                let upstream = upstream.clone();
                connections.spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(&upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
            // Dropping the task drops the JoinSet, which aborts every connection.
        }));
    }

    fn cut(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }

    async fn restore(&mut self) {
        let started = Instant::now();
        let listener = loop {
            match tokio::net::TcpListener::bind(("127.0.0.1", self.port)).await {
                Ok(l) => break l,
                Err(e) => {
                    assert!(started.elapsed() < Duration::from_secs(5), "rebind: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        };
        self.serve(listener);
    }

    /// `url` with its host and port replaced by the proxy's.
    fn url(&self, url: &str) -> String {
        let parsed: tokio_postgres::Config = url.parse().unwrap();
        let user = parsed.get_user().unwrap_or("postgres");
        let db = parsed.get_dbname().unwrap_or("postgres");
        format!("postgres://{user}@127.0.0.1:{}/{db}", self.port)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
    }
}

fn upstream_of(url: &str) -> String {
    let parsed: tokio_postgres::Config = url.parse().unwrap();
    let port = parsed.get_ports().first().copied().unwrap_or(5432);
    format!("127.0.0.1:{port}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: set DATABASE_URL"]
async fn postgres_gone_fails_calls_closed_in_bounded_time_and_back_recovers() {
    let url = database_url();
    let mut proxy = Proxy::start(&upstream_of(&url)).await;
    let options = PostgresOptions {
        connect_timeout: Duration::from_millis(300),
        command_timeout: Duration::from_millis(300),
        ..own_schema()
    };
    let sink = PostgresSink::connect(&proxy.url(&url), options.clone())
        .await
        .unwrap();
    let toolbox = Toolbox::builder(Runs::default())
        .tool(Noted)
        .audit(sink)
        .build()
        .unwrap();
    let session = Session::authenticated("carol", tool_tests::Role::User);
    assert!(toolbox.call(&session, "noted", json!({})).await.is_ok());

    proxy.cut();
    fails_closed(
        &toolbox,
        &session,
        "noted",
        Duration::from_secs(3),
        "postgres",
    )
    .await;

    proxy.restore().await;
    let back = once_recovered(&toolbox, &session, "noted", json!({})).await;
    assert!(back.is_ok(), "{:?}", back.to_value());
    // Every record the log has is of a call that was answered; the refused ones are in the
    // tracing log under their incident.
    let all = PostgresSink::read_all(&url, &options).await.unwrap();
    assert!(all.len() >= 2, "{all:?}");
    assert!(all.iter().all(|r| r["tool"] == "noted"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: set DATABASE_URL"]
async fn a_hung_postgres_fails_calls_within_the_timeouts() {
    let url = database_url();
    let mut proxy = Proxy::start(&upstream_of(&url)).await;
    let options = PostgresOptions {
        connect_timeout: Duration::from_millis(300),
        command_timeout: Duration::from_millis(300),
        ..own_schema()
    };
    let sink = PostgresSink::connect(&proxy.url(&url), options)
        .await
        .unwrap();
    // Cut, and have the proxy's port answered by a listener that never speaks.
    proxy.cut();
    // The proxy's listener closes when its aborted task is next dropped: wait for the port.
    let bound = Instant::now();
    let silent = loop {
        match tokio::net::TcpListener::bind(("127.0.0.1", proxy.port)).await {
            Ok(listener) => break listener,
            Err(e) => {
                assert!(bound.elapsed() < Duration::from_secs(5), "rebind: {e}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
        }
    });
    let started = Instant::now();
    assert!(sink.record(&record(1)).await.is_err());
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    hold.abort();
}

// ---- SQLite through the toolbox, many callers ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_every_concurrent_call_has_its_record_before_its_reply() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.db");
    let toolbox = Arc::new(
        Toolbox::builder(Runs::default())
            .tool(Noted)
            .audit(SqliteSink::open(&path).unwrap())
            .build()
            .unwrap(),
    );
    let callers: Vec<_> = (0..32)
        .map(|n| {
            let toolbox = Arc::clone(&toolbox);
            let path = path.clone();
            tokio::spawn(async move {
                let user = format!("user{n}");
                let session = Session::authenticated(&user, tool_tests::Role::User);
                let reply = toolbox.call(&session, "noted", json!({})).await;
                assert!(reply.is_ok());
                // The reply came after the commit: another connection sees the record now.
                let all = SqliteSink::read_all(&path).unwrap();
                assert!(all.iter().any(|r| r["user"] == user.as_str()));
            })
        })
        .collect();
    for caller in callers {
        caller.await.unwrap();
    }
    assert_eq!(SqliteSink::read_all(&path).unwrap().len(), 32);
}

// ---- Approvals in Redis ----

use std::sync::Mutex;
use tool_runtime::approval::{ApprovalError, ApprovalStore, ParkedCall, Refused};
use tool_runtime::{Limits, RedisApprovals};
use tool_tests::Role;

/// The accounts wiped, with the PIN each wipe was given.
#[derive(Clone, Default)]
struct Wiped(Arc<Mutex<Vec<(String, String)>>>);

impl Wiped {
    fn count(&self) -> usize {
        self.0.lock().unwrap().len()
    }
}

/// Wipe one account, with the operator's PIN.
#[secure_tool(role = "admin", destructive)]
async fn wipe_account(
    State(wiped): State<Wiped>,
    /// The account.
    #[validate(length(min = 1, max = 16))]
    account: String,
    /// The operator's PIN.
    #[secret]
    #[validate(length(min = 4, max = 8))]
    pin: String,
) -> Result<bool, ToolError> {
    wiped.0.lock().unwrap().push((account, pin));
    Ok(true)
}

async fn approvals(url: &str, prefix: &str) -> RedisApprovals {
    RedisApprovals::connect(url, RedisOptions::new(prefix))
        .await
        .expect("Redis is reachable")
}

/// One instance of an application: its own toolbox on the shared approval store.
fn instance(wiped: &Wiped, store: RedisApprovals, ttl: Duration) -> Toolbox<Wiped> {
    Toolbox::builder(wiped.clone())
        .tool(WipeAccount)
        .approvals(store)
        .limits(Limits {
            approval_ttl: ttl,
            ..Limits::default()
        })
        .build()
        .unwrap()
}

fn admin(user: &str) -> Session {
    Session::authenticated(user, Role::Admin)
}

async fn parked_ticket(toolbox: &Toolbox<Wiped>, user: &str, account: &str) -> String {
    let reply = toolbox
        .call(
            &admin(user),
            "wipe_account",
            json!({"account": account, "pin": "4321"}),
        )
        .await;
    assert_eq!(
        reply.code(),
        Some(ErrorCode::ApprovalRequired),
        "{:?}",
        reply.to_value()
    );
    reply
        .host()
        .expect("the host gets the ticket")
        .ticket
        .clone()
}

#[tokio::test]
#[ignore = "needs Redis: set TOOL_RUNTIME_REDIS_URL"]
async fn a_call_parked_on_one_instance_is_approved_on_another_once() {
    let url = redis_url();
    let prefix = unique("approve");
    let wiped = Wiped::default();
    let one = instance(
        &wiped,
        approvals(&url, &prefix).await,
        Duration::from_secs(60),
    );
    let two = instance(
        &wiped,
        approvals(&url, &prefix).await,
        Duration::from_secs(60),
    );

    let ticket = parked_ticket(&one, "dave", "A1").await;
    assert_eq!(wiped.count(), 0, "nothing runs before the approval");
    // The other instance shows the person the call, secret redacted, without taking it.
    let shown = two.pending_call(&admin("dave"), &ticket).await.unwrap();
    assert_eq!(shown.tool, "wipe_account");
    assert_eq!(shown.arguments["account"], "A1");
    assert_ne!(shown.arguments["pin"], "4321");
    assert!(two.pending_call(&admin("erin"), &ticket).await.is_none());

    // Another user cannot use it, and it stays for its owner.
    let stolen = two.approve(&admin("erin"), &ticket).await;
    assert_eq!(stolen.code(), Some(ErrorCode::ApprovalDenied));

    let approved = two.approve(&admin("dave"), &ticket).await;
    assert!(approved.is_ok(), "{:?}", approved.to_value());
    // The call that ran is the one parked, secret argument included.
    assert_eq!(
        *wiped.0.lock().unwrap(),
        [("A1".to_owned(), "4321".to_owned())]
    );

    for toolbox in [&one, &two] {
        let replayed = toolbox.approve(&admin("dave"), &ticket).await;
        assert_eq!(replayed.code(), Some(ErrorCode::ApprovalDenied));
        let denied = toolbox.deny(&admin("dave"), &ticket).await;
        assert_eq!(denied.code(), Some(ErrorCode::ApprovalDenied));
    }
    assert_eq!(wiped.count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs Redis: set TOOL_RUNTIME_REDIS_URL"]
async fn instances_racing_to_approve_one_ticket_run_it_once() {
    let url = redis_url();
    let prefix = unique("race");
    let wiped = Wiped::default();
    let mut instances = Vec::new();
    for _ in 0..3 {
        instances.push(instance(
            &wiped,
            approvals(&url, &prefix).await,
            Duration::from_secs(60),
        ));
    }
    for round in 0..10 {
        let ticket = parked_ticket(&instances[round % 3], "dave", &format!("R{round}")).await;
        let racers: Vec<_> = (0..12)
            .map(|n| {
                let toolbox = instances[n % 3].clone();
                let ticket = ticket.clone();
                tokio::spawn(async move { toolbox.approve(&admin("dave"), &ticket).await.is_ok() })
            })
            .collect();
        let mut ran = 0;
        for racer in racers {
            ran += usize::from(racer.await.unwrap());
        }
        assert_eq!(ran, 1, "round {round}");
    }
    assert_eq!(wiped.count(), 10);
}

#[tokio::test]
#[ignore = "needs Redis: set TOOL_RUNTIME_REDIS_URL"]
async fn a_user_holds_a_bounded_number_of_tickets_across_instances() {
    let url = redis_url();
    let prefix = unique("cap");
    let wiped = Wiped::default();
    let ttl = Duration::from_secs(60);
    let one = instance(
        &wiped,
        approvals(&url, &prefix).await.with_max_per_user(3),
        ttl,
    );
    let two = instance(
        &wiped,
        approvals(&url, &prefix).await.with_max_per_user(3),
        ttl,
    );
    let other = parked_ticket(&one, "erin", "E1").await;
    let mut tickets = Vec::new();
    for n in 0..5 {
        let toolbox = if n % 2 == 0 { &one } else { &two };
        tickets.push(parked_ticket(toolbox, "dave", &format!("D{n}")).await);
    }
    // The two oldest were evicted, whichever instance parked them.
    for ticket in &tickets[..2] {
        assert_eq!(
            two.approve(&admin("dave"), ticket).await.code(),
            Some(ErrorCode::ApprovalDenied)
        );
    }
    for ticket in &tickets[2..] {
        assert!(one.approve(&admin("dave"), ticket).await.is_ok());
    }
    assert!(
        two.approve(&admin("erin"), &other).await.is_ok(),
        "another user's ticket is not evicted"
    );
    assert_eq!(wiped.count(), 4);
}

#[tokio::test]
#[ignore = "needs Redis: set TOOL_RUNTIME_REDIS_URL"]
async fn an_expired_ticket_is_denied_and_gone_from_redis() {
    let url = redis_url();
    let prefix = unique("expiry");
    let wiped = Wiped::default();
    let toolbox = instance(
        &wiped,
        approvals(&url, &prefix).await,
        Duration::from_millis(300),
    );
    let ticket = parked_ticket(&toolbox, "dave", "X1").await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        toolbox.approve(&admin("dave"), &ticket).await.code(),
        Some(ErrorCode::ApprovalDenied)
    );
    assert_eq!(wiped.count(), 0);
    let client = ::redis::Client::open(url.as_str()).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = ::redis::cmd("KEYS")
        .arg(format!("{prefix}:*"))
        .query_async(&mut connection)
        .await
        .unwrap();
    assert!(keys.is_empty(), "left behind: {keys:?}");
}

#[tokio::test]
#[ignore = "needs Redis: set TOOL_RUNTIME_REDIS_URL"]
async fn forged_tickets_are_denied_without_touching_other_keys() {
    let url = redis_url();
    let prefix = unique("forged");
    let store = approvals(&url, &prefix).await;
    let call = ParkedCall {
        user: "dave".into(),
        tool: "wipe_account".into(),
        args_digest: [7; 32],
        sent: json!({"account": "F1", "pin": "1234"}),
        shown: json!({"account": "F1", "pin": "[redacted]"}),
    };
    let real = store
        .park(call.clone(), Duration::from_secs(60))
        .await
        .unwrap();
    let forged = [
        String::new(),
        "*".into(),
        format!("{real}*"),
        real.to_uppercase(),
        format!("../{real}"),
        format!("{}:approvals:dave", prefix),
        "0".repeat(32),
        format!("+{}", &real[1..]),
    ];
    for ticket in &forged {
        match store.take(ticket, "dave").await {
            Err(ApprovalError::Refused(Refused::Unknown)) => {}
            other => panic!("{ticket:?}: {other:?}"),
        }
        assert!(store.peek(ticket, "dave").await.unwrap().is_none());
    }
    // A store shared with an instance that does not serve the tool: denied there, not run.
    let wiped = Wiped::default();
    let bare = Toolbox::builder(wiped.clone())
        .approvals(approvals(&url, &prefix).await)
        .build()
        .unwrap();
    assert_eq!(
        bare.approve(&admin("dave"), &real).await.code(),
        Some(ErrorCode::ApprovalDenied)
    );
    assert!(
        store.take(&real, "dave").await.is_err(),
        "taken once, by the instance that denied it"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server installed, and TOOL_RUNTIME_REDIS_URL set as for the other Redis tests"]
async fn approvals_with_redis_down_fail_closed_and_recover() {
    let _ = redis_url();
    let mut server = OwnRedis::start(None);
    let mut options = RedisOptions::new(unique("approvals_outage"));
    options.connect_timeout = Duration::from_millis(300);
    options.command_timeout = Duration::from_millis(300);
    let wiped = Wiped::default();
    let toolbox = instance(
        &wiped,
        RedisApprovals::connect(&server.url(), options)
            .await
            .unwrap(),
        Duration::from_secs(60),
    );
    let ticket = parked_ticket(&toolbox, "dave", "O1").await;
    assert!(toolbox.health().await.is_ok());

    server.stop();
    let started = Instant::now();
    let parked = toolbox
        .call(
            &admin("dave"),
            "wipe_account",
            json!({"account": "O2", "pin": "4321"}),
        )
        .await;
    assert_eq!(
        parked.code(),
        Some(ErrorCode::Internal),
        "{:?}",
        parked.to_value()
    );
    assert!(parked.host().is_none(), "no ticket when none was parked");
    let approved = toolbox.approve(&admin("dave"), &ticket).await;
    assert_eq!(approved.code(), Some(ErrorCode::Internal));
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    let message = approved.to_value()["error"]["message"]
        .to_string()
        .to_lowercase();
    assert!(!message.contains("redis"), "{message}");
    let unhealthy = toolbox.health().await.unwrap_err();
    assert_eq!(unhealthy.store, "Redis");
    assert_eq!(wiped.count(), 0, "nothing ran");

    // A new Redis on the same port: the old ticket died with the old one (it kept nothing),
    // and new calls are parked and approved again.
    let _server = OwnRedis::start(Some(server.port));
    let parked = once_recovered(
        &toolbox,
        &admin("dave"),
        "wipe_account",
        json!({"account": "O3", "pin": "4321"}),
    )
    .await;
    let ticket = parked
        .host()
        .expect("parked again once Redis is back")
        .ticket
        .clone();
    assert!(toolbox.approve(&admin("dave"), &ticket).await.is_ok());
    assert!(toolbox.health().await.is_ok());
    assert_eq!(
        *wiped.0.lock().unwrap(),
        [("O3".to_owned(), "4321".to_owned())]
    );
}
