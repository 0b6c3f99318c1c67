//! The guards: rate limits (per user, per anonymous client), time limits for async and sync
//! handlers, request and output size caps, list caps, and limits the clock cannot hold.

use std::time::Duration;

use serde_json::{Value, json};
use tool_runtime::Session;
use tool_runtime::audit::MemorySink;
use tool_tests::{App, Role, toolbox, toolbox_with};

#[path = "common/calls.rs"]
mod calls;
use calls::*;

#[tokio::test]
async fn the_eleventh_call_in_a_minute_is_rate_limited() {
    let tb = toolbox(App::seeded());
    for i in 0..10 {
        let reply = customer_details(&tb, &agent(), "C001").await;
        assert!(reply.is_ok(), "call {i}: {}", reply.to_json());
    }
    let reply = customer_details(&tb, &agent(), "C001").await;
    assert_eq!(code(&reply), Some("rate_limited"));
    assert!(
        reply.to_value()["error"]["retry_after_secs"]
            .as_u64()
            .unwrap()
            >= 1
    );
    // Another user's budget is their own.
    let other = Session::authenticated("erin", Role::SupportAgent);
    assert!(customer_details(&tb, &other, "C001").await.is_ok());
}

#[tokio::test]
async fn a_slow_handler_is_stopped_at_its_timeout() {
    let tb = toolbox(App::seeded());
    let started = std::time::Instant::now();
    let reply = tb.call_json(&user(), "slow", "{}").await;
    assert_eq!(code(&reply), Some("timeout"));
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "the handler was not stopped"
    );
}

#[tokio::test]
async fn oversized_requests_and_outputs_are_too_large() {
    let tb = toolbox(App::seeded());
    let big = format!(r#"{{"customer_id":"{}"}}"#, "x".repeat(1024 * 1024 + 1));
    assert_eq!(
        code(&tb.call_json(&agent(), "get_customer_details", &big).await),
        Some("too_large")
    );
    let line = format!(r#"{{"name":"ping","arguments":{big}}}"#);
    assert_eq!(
        code(&tb.handle_line(&agent(), &line).await),
        Some("too_large")
    );
    let value: Value = serde_json::from_str(&big).unwrap();
    assert_eq!(
        code(&tb.call(&agent(), "get_customer_details", value).await),
        Some("too_large")
    );
    let reply = tb.call_json(&user(), "huge", r#"{"kib":300}"#).await;
    assert_eq!(code(&reply), Some("too_large"));
    assert!(
        tb.call_json(&user(), "huge", r#"{"kib":100}"#)
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn byte_lines_refuse_bad_utf8_and_oversize_and_are_audited() {
    let sink = MemorySink::new();
    let tb = toolbox_with(App::seeded(), |b| b.audit(sink.clone()));
    let good = br#"{"name":"get_customer_details","arguments":{"customer_id":"C001"}}"#;
    assert!(tb.handle_line_bytes(&agent(), good).await.is_ok());
    // Lossy decoding would make this a valid call for `C\u{FFFD}01`.
    let bad = b"{\"name\":\"get_customer_details\",\"arguments\":{\"customer_id\":\"C\xff01\"}}";
    let reply = tb.handle_line_bytes(&agent(), bad).await;
    assert_eq!(code(&reply), Some("invalid_request"));
    let prefix = vec![b'{'; 1024 * 1024 + 1];
    assert_eq!(
        code(&tb.handle_line_bytes(&agent(), &prefix).await),
        Some("too_large")
    );
    let outcomes: Vec<_> = sink.records().into_iter().map(|r| r.outcome).collect();
    assert_eq!(outcomes, ["ok", "invalid_request", "too_large"]);
}

#[tokio::test]
async fn lists_are_cut_to_max_items_and_the_reply_says_so() {
    let tb = toolbox(App::seeded());
    let reply = tb
        .call_json(&agent(), "search_customers", r#"{"query":""}"#)
        .await;
    assert_eq!(code(&reply), Some("invalid_input"));
    let reply = tb
        .call_json(&agent(), "search_customers", r#"{"query":"ow"}"#)
        .await;
    assert_eq!(reply.result().unwrap().as_array().unwrap().len(), 1);
    assert_eq!(reply.capped(), None);
    // All three names contain an "r"; the tool declares max_items = 2.
    let reply = tb
        .call_json(&agent(), "search_customers", r#"{"query":"r"}"#)
        .await;
    assert_eq!(reply.result().unwrap().as_array().unwrap().len(), 2);
    let capped = reply.capped().expect("the reply says it was capped");
    assert_eq!((capped.returned, capped.total), (2, 3));
    assert_eq!(
        reply.to_value()["capped"],
        json!({"returned": 2, "total": 3})
    );
}

#[test]
fn limits_that_overflow_the_clock_are_refused_or_harmless() {
    let err = tool_runtime::Toolbox::builder(App::seeded())
        .limits(tool_runtime::Limits {
            approval_ttl: Duration::MAX,
            ..Default::default()
        })
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("approval_ttl"));
    let tb = toolbox_with(App::seeded(), |b| b.default_timeout(Duration::MAX));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let reply = rt.block_on(tb.call_json(&user(), "whoami", "{}"));
    assert!(reply.is_ok(), "{}", reply.to_json());
}

#[tokio::test]
async fn anonymous_clients_have_budgets_of_their_own_when_the_host_names_them() {
    use tool_runtime::prelude::*;
    /// Say hello to anyone, twice a minute.
    #[secure_tool(public, rate_limit = "2/min")]
    async fn hello() -> Result<String, ToolError> {
        Ok("hello".to_owned())
    }
    let tb = tool_runtime::Toolbox::builder(())
        .tool(Hello)
        .build()
        .unwrap();
    let a = Session::anonymous().with_client("10.0.0.1");
    let b = Session::anonymous().with_client("10.0.0.2");
    assert!(tb.call_json(&a, "hello", "{}").await.is_ok());
    assert!(tb.call_json(&a, "hello", "{}").await.is_ok());
    assert_eq!(
        code(&tb.call_json(&a, "hello", "{}").await),
        Some("rate_limited")
    );
    assert!(
        tb.call_json(&b, "hello", "{}").await.is_ok(),
        "another client's budget is its own"
    );
    // Unnamed anonymous callers share one budget: spent by two calls of anyone.
    let anon = Session::anonymous();
    assert!(tb.call_json(&anon, "hello", "{}").await.is_ok());
    assert!(
        tb.call_json(&Session::anonymous(), "hello", "{}")
            .await
            .is_ok()
    );
    assert_eq!(
        code(&tb.call_json(&anon, "hello", "{}").await),
        Some("rate_limited")
    );
}

#[tokio::test]
async fn a_sync_handler_past_its_limit_is_answered_on_time() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use tool_runtime::prelude::*;
    /// Work slowly, blocking.
    #[secure_tool(role = "user", timeout = "50ms")]
    fn slow_sync(State(done): State<Arc<AtomicBool>>) -> Result<bool, ToolError> {
        std::thread::sleep(Duration::from_millis(1500));
        done.store(true, Ordering::SeqCst);
        Ok(true)
    }
    let done = Arc::new(AtomicBool::new(false));
    let tb = tool_runtime::Toolbox::builder(Arc::clone(&done))
        .tool(SlowSync)
        .build()
        .unwrap();
    let started = std::time::Instant::now();
    let reply = tb.call_json(&user(), "slow_sync", "{}").await;
    assert_eq!(code(&reply), Some("timeout"));
    assert!(!done.load(Ordering::SeqCst));
    assert!(
        started.elapsed() < Duration::from_millis(1000),
        "answered at {:?}",
        started.elapsed()
    );
    // A blocking thread cannot be interrupted: what it does still happens (and is logged).
    for _ in 0..100 {
        if done.load(Ordering::SeqCst) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the abandoned handler never finished");
}
