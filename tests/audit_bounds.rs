//! What a refused call leaves in the audit log is bounded: its arguments up to a size, then only
//! their size; and a caller whose calls keep being refused is answered `rate_limited`, its
//! further refusals recorded without arguments. Refused calls cannot fill the disk at will.

use serde_json::{Value, json};
use tool_runtime::audit::MemorySink;
use tool_runtime::prelude::*;
use tool_tests::{App, Role, toolbox_with};

fn toolbox(sink: &MemorySink) -> Toolbox<App> {
    toolbox_with(App::seeded(), |b| b.audit(sink.clone()))
}

fn last_arguments(sink: &MemorySink) -> Value {
    sink.records().last().unwrap().arguments.value().clone()
}

#[tokio::test]
async fn a_refused_calls_arguments_are_kept_only_up_to_a_size() {
    let sink = MemorySink::new();
    let tb = toolbox(&sink);
    let alice = Session::authenticated("alice", Role::User);

    let small = r#"{"whatever": "a few bytes"}"#;
    let reply = tb.call_json(&alice, "no_such_tool", small).await;
    assert_eq!(reply.code(), Some(ErrorCode::NotFound));
    assert_eq!(last_arguments(&sink), json!({"whatever": "a few bytes"}));

    // Just under the request limit: refused, and never stored.
    let big = format!(r#"{{"padding": "{}"}}"#, "x".repeat(1024 * 1024 - 100));
    for tool in ["no_such_tool", "get_customer_details", "pick"] {
        let reply = tb.call_json(&alice, tool, &big).await;
        assert!(reply.code().is_some(), "{tool}");
        let kept = last_arguments(&sink);
        assert_eq!(kept, json!({"omitted_bytes": big.len()}), "{tool}");
    }
    // The same through the host protocol, as a whole line.
    let line = format!(r#"{{"name": "no_such_tool", "arguments": {big}}}"#);
    let reply = tb.handle_line(&alice, &line).await;
    assert_eq!(reply.code(), Some(ErrorCode::NotFound));
    assert_eq!(last_arguments(&sink), json!({"omitted_bytes": big.len()}));
    let stored: usize = sink
        .records()
        .iter()
        .map(|r| serde_json::to_string(r).unwrap().len())
        .sum();
    assert!(
        stored < 5 * 1024,
        "{stored} bytes of audit for five refused calls"
    );
}

#[tokio::test]
async fn a_caller_whose_calls_keep_being_refused_is_rate_limited() {
    let sink = MemorySink::new();
    let tb = toolbox(&sink);
    let mallory = Session::anonymous().with_client("198.51.100.7");
    let args = r#"{"probe":"AAAA"}"#;
    for i in 0..60 {
        let reply = tb.call_json(&mallory, "no_such_tool", args).await;
        assert_eq!(reply.code(), Some(ErrorCode::NotFound), "refusal {i}");
    }
    for _ in 0..3 {
        let reply = tb.call_json(&mallory, "no_such_tool", args).await;
        assert_eq!(reply.code(), Some(ErrorCode::RateLimited));
        assert!(
            reply.to_value()["error"]["retry_after_secs"]
                .as_u64()
                .unwrap()
                >= 1
        );
        let record = sink.records().last().unwrap().clone();
        assert_eq!(record.outcome, "rate_limited");
        assert_eq!(record.detail["refused"], json!("not_found"));
        assert_eq!(record.arguments, json!({"omitted_bytes": args.len()}));
    }
    // Malformed lines count too, and are answered the same.
    let reply = tb.handle_line(&mallory, "not json").await;
    assert_eq!(reply.code(), Some(ErrorCode::RateLimited));
    // Every call still has its record.
    assert_eq!(sink.records().len(), 64);

    // Another caller's budget is its own; calls that succeed are not refusals.
    let other = Session::anonymous().with_client("203.0.113.9");
    let reply = tb.call_json(&other, "no_such_tool", args).await;
    assert_eq!(reply.code(), Some(ErrorCode::NotFound));
    let reply = tb.call_json(&mallory, "ping", "{}").await;
    assert!(reply.is_ok(), "{}", reply.to_json());
}

#[tokio::test]
async fn a_refusal_budget_of_zero_is_refused_at_build() {
    let limits = tool_runtime::Limits {
        refusals_per_minute: 0,
        ..Default::default()
    };
    let err = Toolbox::builder(App::seeded())
        .limits(limits)
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("refusals_per_minute"), "{err}");
}
