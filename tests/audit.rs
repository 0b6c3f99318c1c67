//! The audit log: one record per call, secrets redacted even in refused calls, an oversized
//! request kept by its size only, panics and errors as `internal` with an incident id, and
//! records durable under concurrency.

use serde_json::json;
use tool_runtime::Session;
use tool_runtime::audit::MemorySink;
use tool_tests::{App, Role, toolbox_with};

#[path = "common/calls.rs"]
mod calls;
use calls::*;

#[tokio::test]
async fn panics_and_errors_become_internal_with_an_incident_and_no_internals() {
    let sink = MemorySink::new();
    let tb = toolbox_with(App::seeded(), |b| b.audit(sink.clone()));
    for tool in ["buggy", "failing"] {
        let reply = tb.call_json(&user(), tool, "{}").await;
        assert_eq!(code(&reply), Some("internal"), "{tool}");
        let text = reply.to_json();
        let incident = reply.error().unwrap().incident().unwrap().to_owned();
        assert!(text.contains(&incident));
        for leak in ["/srv", "secret", "nonexistent", "panicked", "No such file"] {
            assert!(!text.contains(leak), "{tool} leaks {leak}: {text}");
        }
        let record = sink
            .records()
            .into_iter()
            .find(|r| r.incident.as_deref() == Some(incident.as_str()))
            .expect("the incident is in the audit log");
        assert!(record.cause.is_some(), "the cause is kept for operators");
    }
}

#[tokio::test]
async fn every_call_is_audited_with_secrets_redacted_and_handler_detail() {
    let sink = MemorySink::new();
    let tb = toolbox_with(App::seeded(), |b| b.audit(sink.clone()));
    tb.call_json(
        &user(),
        "set_password",
        r#"{"password":"hunter22hunter22"}"#,
    )
    .await;
    tb.call_json(&user(), "set_password", r#"{"password":"short"}"#)
        .await;
    customer_details(&tb, &user(), "C001").await;
    tb.handle_line(&user(), "garbage").await;
    tb.call_json(
        &agent(),
        "update_customer_email",
        r#"{"customer_id":"C001","new_email":"new@example.com"}"#,
    )
    .await;
    let records = sink.records();
    assert_eq!(records.len(), 5);
    let all = serde_json::to_string(
        &records
            .iter()
            .map(|r| serde_json::to_value(r).unwrap())
            .collect::<Vec<_>>(),
    )
    .unwrap();
    assert!(
        !all.contains("hunter22"),
        "a secret argument reached the audit log"
    );
    assert!(
        !all.contains("\"short\""),
        "a refused secret argument reached the audit log"
    );
    assert_eq!(records[0].outcome, "ok");
    assert_eq!(records[0].arguments["password"], "[redacted]");
    assert_eq!(records[1].outcome, "invalid_input");
    assert_eq!(records[2].outcome, "not_found");
    assert_eq!(records[3].outcome, "invalid_request");
    assert_eq!(records[4].detail["old_email"], "alice@example.com");
    assert_eq!(records[4].detail["new_email"], "new@example.com");
    assert_eq!(records[4].user.as_deref(), Some("carol"));
}

#[tokio::test]
async fn refused_calls_never_put_secret_arguments_in_the_audit_log() {
    let sink = MemorySink::new();
    let tb = toolbox_with(App::seeded(), |b| b.audit(sink.clone()));
    let secret = "hunter2-correct-horse";
    let anonymous = Session::anonymous();
    // Truncated JSON, as a model cut off mid-call sends it.
    tb.call_json(
        &user(),
        "set_password",
        &format!(r#"{{"password":"{secret}""#),
    )
    .await;
    // Not allowed to call it at all.
    tb.call_json(
        &anonymous,
        "set_password",
        &format!(r#"{{"password":"{secret}"}}"#),
    )
    .await;
    // Positional.
    tb.call_json(&user(), "set_password", &format!(r#"["{secret}"]"#))
        .await;
    tb.call(&user(), "set_password", json!([secret])).await;
    let all = records_text(&sink);
    assert_eq!(sink.records().len(), 4);
    assert!(
        !all.contains(secret),
        "a secret argument reached the audit log: {all}"
    );
}

#[tokio::test]
async fn an_oversized_request_is_not_stored_in_the_audit_log() {
    let sink = MemorySink::new();
    let tb = toolbox_with(App::seeded(), |b| b.audit(sink.clone()));
    let big = "x".repeat(2 * 1024 * 1024);
    tb.call(
        &agent(),
        "get_customer_details",
        json!({"customer_id": big}),
    )
    .await;
    customer_details(&tb, &agent(), &big).await;
    for record in sink.records() {
        assert_eq!(record.outcome, "too_large");
        assert!(serde_json::to_string(&record.arguments).unwrap().len() < 100);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_call_of_eight_concurrent_tasks_has_its_durable_record() {
    use tool_runtime::audit::SqliteSink;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("audit.db");
    // Every refusal counted as such: no refusal budget runs out here.
    let limits = tool_runtime::Limits {
        refusals_per_minute: 1000,
        ..Default::default()
    };
    let tb = toolbox_with(App::seeded(), |b| {
        b.audit(SqliteSink::open(&db).unwrap()).limits(limits)
    });
    let mut tasks = Vec::new();
    for t in 0..8 {
        let tb = tb.clone();
        tasks.push(tokio::spawn(async move {
            let session = Session::authenticated(format!("user{t}"), Role::User);
            for i in 0..1000 {
                // Allowed and refused calls alike.
                let args = if i % 3 == 0 {
                    r#"{"limit":0}"#
                } else {
                    r#"{"limit":7}"#
                };
                tb.call_json(&session, "pick", args).await;
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let records = SqliteSink::read_all(&db).unwrap();
    assert_eq!(records.len(), 8000);
    let refused = records
        .iter()
        .filter(|r| r["outcome"] == "invalid_input")
        .count();
    assert_eq!(refused, 8 * 334);
}
