//! The shared stores: rate limits in Redis, the audit log in PostgreSQL and SQLite with group
//! commit, each failing closed and recovering by itself.
//!
//! Tests that need a service are ignored unless asked for, and then need its URL:
//! `TOOL_RUNTIME_REDIS_URL=redis://127.0.0.1:6379 DATABASE_URL=postgres://postgres@127.0.0.1/test
//! cargo test -p tool-tests --test stores -- --include-ignored`. Each run uses its own key prefix
//! and schema, so runs do not collide.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tool_runtime::prelude::*;
use tool_runtime::rate_limit::{RateLimitError, RateLimiter, RedisOptions, RedisRateLimiter};
use tool_runtime::{InMemoryRateLimiter, Quota, Toolbox};

fn redis_url() -> String {
    std::env::var("TOOL_RUNTIME_REDIS_URL")
        .expect("this test needs TOOL_RUNTIME_REDIS_URL, such as redis://127.0.0.1:6379")
}

/// A prefix no other run uses.
fn unique(what: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{what}_{}_{nanos}", std::process::id())
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

/// A `redis-server` of the test's own, on a free port, stopped on drop.
struct OwnRedis {
    port: u16,
    child: Option<Child>,
}

impl OwnRedis {
    fn start(port: Option<u16>) -> OwnRedis {
        let port = port.unwrap_or_else(|| {
            TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port()
        });
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
            ])
            .args(["--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is installed");
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "redis-server did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        OwnRedis {
            port,
            child: Some(child),
        }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.stop();
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
    for _ in 0..3 {
        let started = Instant::now();
        let reply = toolbox.call(&session, "counted", json!({})).await;
        assert_eq!(
            reply.code(),
            Some(ErrorCode::Internal),
            "{:?}",
            reply.to_value()
        );
        // Connect and command timeouts, with room for a loaded machine.
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        let message = reply.to_value()["error"]["message"].to_string();
        assert!(!message.to_lowercase().contains("redis"), "{message}");
    }
    assert_eq!(runs.0.load(Ordering::SeqCst), 1, "a refused call ran");

    let _server = OwnRedis::start(Some(server.port));
    let started = Instant::now();
    loop {
        let reply = toolbox.call(&session, "counted", json!({})).await;
        if reply.is_ok() {
            break;
        }
        assert_eq!(reply.code(), Some(ErrorCode::Internal));
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "the limiter did not recover once Redis was back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
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
