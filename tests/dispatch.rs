//! Dispatch, as an attacker and as an honest model would drive it: every error code, each
//! reachable; nothing leaked; nothing run that should not run.

use std::time::{Duration, SystemTime};

use serde_json::{Value, json};
use tool_runtime::audit::MemorySink;
use tool_runtime::{ErrorCode, Session, ToolReply};
use tool_tests::{App, Role, toolbox, toolbox_with};

fn agent() -> Session {
    Session::authenticated("carol", Role::SupportAgent)
}
fn user() -> Session {
    Session::authenticated("alice", Role::User)
}
fn admin() -> Session {
    Session::authenticated("dave", Role::Admin)
}

fn code(reply: &ToolReply) -> Option<&'static str> {
    reply.code().map(ErrorCode::as_str)
}

/// The ticket of an `approval_required` reply.
fn ticket_of(reply: &ToolReply) -> String {
    let host = reply
        .host()
        .expect("an approval_required reply with a host part");
    host.ticket.clone()
}

/// Every record the sink holds, as one JSON text to search.
fn records_text(sink: &MemorySink) -> String {
    let records: Vec<Value> = sink
        .records()
        .iter()
        .map(|r| serde_json::to_value(r).unwrap())
        .collect();
    serde_json::to_string(&records).unwrap()
}

fn fields(reply: &ToolReply) -> Value {
    reply.to_value()["error"]["fields"].clone()
}

#[tokio::test]
async fn a_valid_call_returns_the_projection_only() {
    let tb = toolbox(App::seeded());
    let reply = tb
        .call_json(
            &agent(),
            "get_customer_details",
            r#"{"customer_id":"C001"}"#,
        )
        .await;
    assert_eq!(
        reply.to_value(),
        json!({"ok": true, "result": {
            "id": "C001", "name": "Alice Anders", "email": "a***@example.com", "phone": "***-***-1234"
        }})
    );
    let text = reply.to_json();
    assert!(!text.contains("123-45"), "ssn leaked: {text}");
    assert!(!text.contains("tok_secret"), "payment token leaked: {text}");
}

#[tokio::test]
async fn arguments_as_a_json_string_are_accepted() {
    let tb = toolbox(App::seeded());
    let line = r#"{"name":"get_customer_details","arguments":"{\"customer_id\":\"C002\"}"}"#;
    let reply = tb.handle_line(&agent(), line).await;
    assert_eq!(reply.result().unwrap()["name"], "Bob Brown");
}

#[tokio::test]
async fn malformed_lines_are_invalid_requests_and_the_host_goes_on() {
    let tb = toolbox(App::seeded());
    for line in [
        "not json",
        "",
        "[]",
        r#"{"arguments":{}}"#,
        r#"{"name":"ping","arguments":{},"extra":1}"#,
        r#"{"name": 5}"#,
        r#"{"name":"ping"}{"name":"ping"}"#,
    ] {
        let reply = tb.handle_line(&agent(), line).await;
        assert_eq!(code(&reply), Some("invalid_request"), "line {line:?}");
    }
}

#[tokio::test]
async fn duplicate_keys_anywhere_are_refused_not_resolved() {
    let tb = toolbox(App::seeded());
    for line in [
        r#"{"name":"get_customer_details","arguments":{"customer_id":"C001","customer_id":"C002"}}"#,
        r#"{"name":"get_customer_details","name":"ping","arguments":{}}"#,
        r#"{"name":"get_customer_details","arguments":{"customer_id":"C001","\u0063ustomer_id":"C002"}}"#,
        r#"{"approve":"a","approve":"b"}"#,
    ] {
        let reply = tb.handle_line(&agent(), line).await;
        assert_eq!(code(&reply), Some("invalid_request"), "line {line}");
    }
    // Duplicates inside a string-encoded arguments object are caught too.
    let line = r#"{"name":"get_customer_details","arguments":"{\"customer_id\":\"C001\",\"customer_id\":\"C002\"}"}"#;
    assert_eq!(
        code(&tb.handle_line(&agent(), line).await),
        Some("invalid_request")
    );
    let reply = tb
        .call_json(
            &agent(),
            "get_customer_details",
            r#"{"customer_id":"C001","customer_id":"C002"}"#,
        )
        .await;
    assert_eq!(code(&reply), Some("invalid_request"));
}

#[tokio::test]
async fn bad_arguments_are_invalid_input_with_per_field_messages() {
    let tb = toolbox(App::seeded());
    let cases: &[(&str, &str, &str)] = &[
        ("get_customer_details", r#"{}"#, "customer_id"),
        (
            "get_customer_details",
            r#"{"customer_id":""}"#,
            "customer_id",
        ),
        (
            "get_customer_details",
            r#"{"customer_id":"C0000000000000001"}"#,
            "customer_id",
        ),
        (
            "get_customer_details",
            r#"{"customer_id":123}"#,
            "customer_id",
        ),
        (
            "get_customer_details",
            r#"{"customer_id":["C001"]}"#,
            "customer_id",
        ),
        (
            "get_customer_details",
            r#"{"customer_id":{"$gt":""}}"#,
            "customer_id",
        ),
        (
            "get_customer_details",
            r#"{"customer_id":null}"#,
            "customer_id",
        ),
        (
            "get_customer_details",
            r#"{"customer_id":"C001","approved":true}"#,
            "approved",
        ),
        (
            "get_customer_details",
            r#"{"customer_id":"C001","ticket":"x"}"#,
            "ticket",
        ),
        (
            "update_customer_email",
            r#"{"customer_id":"C001","new_email":"not-an-address"}"#,
            "new_email",
        ),
        ("pick", r#"{"limit":0}"#, "limit"),
        ("pick", r#"{"limit":101}"#, "limit"),
        ("pick", r#"{"limit":-1}"#, "limit"),
        ("pick", r#"{"limit":1.5}"#, "limit"),
        ("pick", r#"{"limit":"5"}"#, "limit"),
        ("pick", r#"{"limit":5,"tag":"waytoolongtag"}"#, "tag"),
    ];
    for (tool, args, field) in cases {
        let reply = tb.call_json(&admin(), tool, args).await;
        assert_eq!(
            code(&reply),
            Some("invalid_input"),
            "{tool} {args}: {}",
            reply.to_json()
        );
        let f = fields(&reply);
        assert!(
            f.get(field).is_some(),
            "{tool} {args}: no message for {field} in {f}"
        );
        let text = reply.to_json();
        assert!(
            !text.contains("line 1 column"),
            "parser positions leak: {text}"
        );
    }
}

#[tokio::test]
async fn arguments_that_are_not_an_object_are_invalid_input() {
    let tb = toolbox(App::seeded());
    for args in [
        "[]",
        r#"["C001"]"#,
        "5",
        "\"C001\"",
        "null",
        "{",
        "{\"customer_id\":\"C001\"} trailing",
    ] {
        let reply = tb.call_json(&agent(), "get_customer_details", args).await;
        assert_eq!(code(&reply), Some("invalid_input"), "args {args}");
    }
    // Positional arguments through the value entry point too.
    let reply = tb
        .call(&agent(), "get_customer_details", json!(["C001"]))
        .await;
    assert_eq!(code(&reply), Some("invalid_input"));
}

#[tokio::test]
async fn deeply_nested_input_is_refused_without_a_crash() {
    let tb = toolbox(App::seeded());
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let args = format!(r#"{{"customer_id":{deep}}}"#);
    let reply = tb.call_json(&agent(), "get_customer_details", &args).await;
    assert_eq!(code(&reply), Some("invalid_input"));
    let line = format!(r#"{{"name":"ping","arguments":{{"x":{deep}}}}}"#);
    let reply = tb.handle_line(&agent(), &line).await;
    assert!(matches!(
        code(&reply),
        Some("invalid_request" | "invalid_input")
    ));
}

#[tokio::test]
async fn unknown_and_above_role_tools_read_the_same() {
    let tb = toolbox(App::seeded());
    let hidden = tb
        .call_json(&user(), "get_customer_details", r#"{"customer_id":"C001"}"#)
        .await;
    let unknown = tb
        .call_json(&user(), "get_customr_details", r#"{"customer_id":"C001"}"#)
        .await;
    assert_eq!(code(&hidden), Some("not_found"));
    assert_eq!(hidden.to_json(), unknown.to_json());
    // A record that does not exist is not_found too.
    let missing = tb
        .call_json(
            &agent(),
            "get_customer_details",
            r#"{"customer_id":"C999"}"#,
        )
        .await;
    assert_eq!(code(&missing), Some("not_found"));
}

#[tokio::test]
async fn anonymous_and_expired_sessions_are_unauthenticated() {
    let tb = toolbox(App::seeded());
    assert_eq!(
        code(&tb.call_json(&Session::anonymous(), "whoami", "{}").await),
        Some("unauthenticated")
    );
    let expired = Session::authenticated("alice", Role::User)
        .expires_at(SystemTime::now() - Duration::from_secs(1));
    assert_eq!(
        code(&tb.call_json(&expired, "whoami", "{}").await),
        Some("unauthenticated")
    );
    // Public tools need nobody.
    assert!(
        tb.call_json(&Session::anonymous(), "ping", "{}")
            .await
            .is_ok()
    );
    let live = Session::authenticated("alice", Role::User)
        .expires_at(SystemTime::now() + Duration::from_secs(60));
    assert_eq!(
        tb.call_json(&live, "whoami", "{}").await.result(),
        Some(json!("alice"))
    );
}

#[tokio::test]
async fn a_role_of_another_hierarchy_never_satisfies_a_tool() {
    #[derive(tool_runtime::prelude::Role, Clone, Copy, Debug, PartialEq, Eq)]
    enum Other {
        Root,
    }
    let tb = toolbox(App::seeded());
    let stranger = Session::authenticated("mallory", Other::Root);
    let reply = tb
        .call_json(
            &stranger,
            "get_customer_details",
            r#"{"customer_id":"C001"}"#,
        )
        .await;
    assert_eq!(code(&reply), Some("not_found"));
}

#[tokio::test]
async fn the_eleventh_call_in_a_minute_is_rate_limited() {
    let tb = toolbox(App::seeded());
    for i in 0..10 {
        let reply = tb
            .call_json(
                &agent(),
                "get_customer_details",
                r#"{"customer_id":"C001"}"#,
            )
            .await;
        assert!(reply.is_ok(), "call {i}: {}", reply.to_json());
    }
    let reply = tb
        .call_json(
            &agent(),
            "get_customer_details",
            r#"{"customer_id":"C001"}"#,
        )
        .await;
    assert_eq!(code(&reply), Some("rate_limited"));
    assert!(
        reply.to_value()["error"]["retry_after_secs"]
            .as_u64()
            .unwrap()
            >= 1
    );
    // Another user's budget is their own.
    let other = Session::authenticated("erin", Role::SupportAgent);
    assert!(
        tb.call_json(&other, "get_customer_details", r#"{"customer_id":"C001"}"#)
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn destructive_calls_wait_for_the_humans_approval() {
    let app = App::seeded();
    let tb = toolbox(app.clone());
    let reply = tb
        .call_json(&admin(), "delete_customer", r#"{"customer_id":"C003"}"#)
        .await;
    assert_eq!(code(&reply), Some("approval_required"));
    let ticket = ticket_of(&reply);
    assert_eq!(ticket.len(), 32, "128 bits as hex");
    // The ticket is for the host alone: beside `error`, never in it, and gone from what the
    // model gets.
    let envelope = reply.to_value();
    assert_eq!(envelope["error"]["code"], "approval_required");
    assert!(envelope["error"].get("ticket").is_none(), "{envelope}");
    assert_eq!(envelope["host"]["ticket"], ticket.as_str());
    assert_eq!(envelope["host"]["tool"], "delete_customer");
    assert_eq!(
        envelope["host"]["arguments"],
        json!({"customer_id": "C003"})
    );
    let expires = envelope["host"]["expires_at"].as_str().unwrap();
    assert!(
        expires.len() == 24 && expires.ends_with('Z') && expires.as_bytes()[10] == b'T',
        "RFC 3339 in UTC: {expires}"
    );
    let for_model = reply.for_model().to_value();
    assert!(for_model.get("host").is_none(), "{for_model}");
    assert!(!reply.for_model().to_json().contains(&ticket));
    assert_eq!(for_model["error"], envelope["error"]);
    assert!(
        app.customers.lock().unwrap().contains_key("C003"),
        "nothing ran yet"
    );

    // Another user, even a higher one, cannot use the ticket; a forged one fails.
    let erin = Session::authenticated("erin", Role::SuperAdmin);
    assert_eq!(
        code(&tb.approve(&erin, &ticket).await),
        Some("approval_denied")
    );
    assert_eq!(
        code(
            &tb.approve(&admin(), "0123456789abcdef0123456789abcdef")
                .await
        ),
        Some("approval_denied")
    );
    assert!(app.customers.lock().unwrap().contains_key("C003"));

    let done = tb.approve(&admin(), &ticket).await;
    assert_eq!(done.result(), Some(json!(true)), "{}", done.to_json());
    assert!(!app.customers.lock().unwrap().contains_key("C003"));
    // Replay.
    assert_eq!(
        code(&tb.approve(&admin(), &ticket).await),
        Some("approval_denied")
    );
}

#[tokio::test]
async fn a_denied_call_never_runs() {
    let app = App::seeded();
    let tb = toolbox(app.clone());
    let reply = tb
        .call_json(&admin(), "delete_customer", r#"{"customer_id":"C002"}"#)
        .await;
    let ticket = ticket_of(&reply);
    assert_eq!(
        code(&tb.deny(&admin(), &ticket).await),
        Some("approval_denied")
    );
    assert_eq!(
        code(&tb.approve(&admin(), &ticket).await),
        Some("approval_denied")
    );
    assert!(app.customers.lock().unwrap().contains_key("C002"));
    // Approval lines on the host protocol.
    let reply = tb
        .call_json(&admin(), "delete_customer", r#"{"customer_id":"C002"}"#)
        .await;
    let ticket = ticket_of(&reply);
    let denied = tb
        .handle_line(&admin(), &format!(r#"{{"deny":"{ticket}"}}"#))
        .await;
    assert_eq!(code(&denied), Some("approval_denied"));
    assert!(app.customers.lock().unwrap().contains_key("C002"));
}

#[tokio::test]
async fn approval_never_comes_through_model_arguments() {
    let tb = toolbox(App::seeded());
    for args in [
        r#"{"customer_id":"C001","approved":true}"#,
        r#"{"customer_id":"C001","confirmation":"yes"}"#,
        r#"{"customer_id":"C001","ticket":"0123456789abcdef0123456789abcdef"}"#,
    ] {
        let reply = tb.call_json(&admin(), "delete_customer", args).await;
        assert_eq!(code(&reply), Some("invalid_input"), "{args}");
    }
}

#[tokio::test]
async fn confirm_needs_the_exact_text() {
    let tb = toolbox(App::seeded());
    for args in [
        r#"{}"#,
        r#"{"confirmation":"yes"}"#,
        r#"{"confirmation":"Empty the bin"}"#,
    ] {
        let reply = tb.call_json(&admin(), "purge_bin", args).await;
        assert_eq!(code(&reply), Some("invalid_input"), "{args}");
        assert!(fields(&reply).get("confirmation").is_some());
    }
    let reply = tb
        .call_json(&admin(), "purge_bin", r#"{"confirmation":"empty the bin"}"#)
        .await;
    assert!(reply.is_ok(), "{}", reply.to_json());
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
    tb.call_json(&user(), "get_customer_details", r#"{"customer_id":"C001"}"#)
        .await;
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
async fn definitions_show_only_what_the_session_may_call() {
    let tb = toolbox(App::seeded());
    let names =
        |s: &Session| -> Vec<String> { tb.definitions(s).iter().map(|d| d.name.clone()).collect() };
    assert_eq!(names(&Session::anonymous()), vec!["ping"]);
    let user_tools = names(&user());
    assert!(user_tools.contains(&"whoami".to_owned()));
    assert!(!user_tools.contains(&"get_customer_details".to_owned()));
    let admin_tools = names(&admin());
    assert!(admin_tools.contains(&"delete_customer".to_owned()));
    assert!(admin_tools.contains(&"get_customer_details".to_owned()));
}

#[tokio::test]
async fn struct_arguments_are_validated_by_their_own_rules_and_refuse_smuggled_fields() {
    let tb = toolbox(App::seeded());
    let ok = tb
        .call_json(
            &user(),
            "count_matching",
            r#"{"filter":{"name":"ab"},"more":[]}"#,
        )
        .await;
    assert_eq!(ok.result(), Some(json!(1)), "{}", ok.to_json());
    let cases: &[(&str, &str)] = &[
        (r#"{"filter":{"name":"toolong"},"more":[]}"#, "filter.name"),
        (
            r#"{"filter":{"name":"ab","limit":11},"more":[]}"#,
            "filter.limit",
        ),
        (
            r#"{"filter":{"name":"ab"},"alternative":{"name":""},"more":[]}"#,
            "alternative.name",
        ),
        (
            r#"{"filter":{"name":"ab"},"more":[{"name":"ok"},{"name":"toolong"}]}"#,
            "more[1].name",
        ),
        (
            r#"{"filter":{"name":"ab"},"more":[],"extra":[{"name":"toolong"}]}"#,
            "extra[0].name",
        ),
        (
            r#"{"filter":{"name":"ab"},"more":[],"boxed":{"name":"toolong"}}"#,
            "boxed.name",
        ),
    ];
    for (args, field) in cases {
        let reply = tb.call_json(&user(), "count_matching", args).await;
        assert_eq!(code(&reply), Some("invalid_input"), "{args}");
        assert!(
            fields(&reply).get(*field).is_some(),
            "{args}: {}",
            reply.to_json()
        );
    }
    let smuggled = tb
        .call_json(
            &user(),
            "count_matching",
            r#"{"filter":{"name":"ab","role":"admin"},"more":[]}"#,
        )
        .await;
    assert_eq!(code(&smuggled), Some("invalid_input"));
}

#[test]
fn an_argument_type_that_ignores_unknown_fields_is_refused_at_build() {
    use tool_runtime::prelude::*;
    /// Lenient: no deny_unknown_fields.
    #[derive(serde::Deserialize, serde::Serialize, schemars::JsonSchema, validator::Validate)]
    pub struct Lenient {
        #[validate(range(max = 3))]
        pub n: u8,
    }
    /// Take a lenient argument.
    #[secure_tool(role = "user")]
    async fn take_lenient(
        /// The argument.
        value: Lenient,
    ) -> Result<u8, ToolError> {
        Ok(value.n)
    }
    let err = tool_runtime::Toolbox::builder(())
        .tool(TakeLenient)
        .build()
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("deny_unknown_fields") && text.contains("take_lenient"),
        "{text}"
    );
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
    tb.call_json(
        &agent(),
        "get_customer_details",
        &format!(r#"{{"customer_id":"{big}"}}"#),
    )
    .await;
    for record in sink.records() {
        assert_eq!(record.outcome, "too_large");
        assert!(serde_json::to_string(&record.arguments).unwrap().len() < 100);
    }
}

#[tokio::test]
async fn anonymous_callers_learn_only_of_tools_every_user_has() {
    let tb = toolbox(App::seeded());
    let anonymous = Session::anonymous();
    // A tool any logged-in user may call: they are told to log in.
    assert_eq!(
        code(&tb.call_json(&anonymous, "whoami", "{}").await),
        Some("unauthenticated")
    );
    // A tool of a higher role: it does not exist for them, exactly like a misspelt one.
    let hidden = tb
        .call_json(&anonymous, "delete_customer", r#"{"customer_id":"C001"}"#)
        .await;
    let unknown = tb
        .call_json(&anonymous, "delete_customr", r#"{"customer_id":"C001"}"#)
        .await;
    assert_eq!(code(&hidden), Some("not_found"));
    assert_eq!(hidden.to_json(), unknown.to_json());
}

#[tokio::test]
async fn a_model_line_cannot_carry_an_approval() {
    let app = App::seeded();
    let tb = toolbox(app.clone());
    let reply = tb
        .handle_call_line(
            &admin(),
            r#"{"name":"delete_customer","arguments":{"customer_id":"C001"}}"#,
        )
        .await;
    let ticket = ticket_of(&reply);
    let forged = tb
        .handle_call_line(&admin(), &format!(r#"{{"approve":"{ticket}"}}"#))
        .await;
    assert_eq!(code(&forged), Some("invalid_request"));
    assert!(app.customers.lock().unwrap().contains_key("C001"));
}

#[tokio::test]
async fn a_refused_approval_is_not_recorded_as_approved() {
    let sink = MemorySink::new();
    let tb = toolbox_with(App::seeded(), |b| b.audit(sink.clone()));
    tb.approve(&admin(), "0123456789abcdef0123456789abcdef")
        .await;
    let record = &sink.records()[0];
    assert_eq!(record.outcome, "approval_denied");
    assert_eq!(record.detail.get("approval"), None);
    assert_eq!(record.detail["refused"], "unknown");
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

#[tokio::test]
async fn list_items_carry_their_own_bound() {
    let tb = toolbox(App::seeded());
    let ok = tb
        .call_json(&agent(), "tag_customer", r#"{"tags":["vip","late"]}"#)
        .await;
    assert_eq!(ok.result(), Some(json!(7)));
    let reply = tb
        .call_json(
            &agent(),
            "tag_customer",
            r#"{"tags":["vip","far-too-long"]}"#,
        )
        .await;
    assert_eq!(code(&reply), Some("invalid_input"));
    assert_eq!(
        fields(&reply)["tags[1]"],
        json!(["must be at most 8 characters long"])
    );
}

#[tokio::test]
async fn an_expired_ticket_runs_nothing() {
    let app = App::seeded();
    let tb = toolbox_with(app.clone(), |b| {
        b.limits(tool_runtime::Limits {
            approval_ttl: Duration::from_millis(50),
            ..Default::default()
        })
    });
    let reply = tb
        .call_json(&admin(), "delete_customer", r#"{"customer_id":"C001"}"#)
        .await;
    let ticket = ticket_of(&reply);
    tokio::time::sleep(Duration::from_millis(120)).await;
    assert_eq!(
        code(&tb.approve(&admin(), &ticket).await),
        Some("approval_denied")
    );
    assert!(app.customers.lock().unwrap().contains_key("C001"));
}

#[tokio::test]
async fn a_ticket_outlives_no_change_of_role() {
    let app = App::seeded();
    let tb = toolbox(app.clone());
    let reply = tb
        .call_json(&admin(), "delete_customer", r#"{"customer_id":"C001"}"#)
        .await;
    let ticket = ticket_of(&reply);
    // The same user, demoted by the host before the human answered.
    let demoted = Session::authenticated("dave", Role::SupportAgent);
    assert_eq!(
        code(&tb.approve(&demoted, &ticket).await),
        Some("approval_denied")
    );
    assert!(app.customers.lock().unwrap().contains_key("C001"));
}

#[tokio::test]
async fn a_custom_rule_named_like_nested_does_not_switch_off_the_types_rules() {
    use tool_runtime::prelude::*;
    use tool_tests::Filter;
    fn nested_ok(_: &Filter) -> Result<(), validator::ValidationError> {
        Ok(())
    }
    /// Count with a custom check.
    #[secure_tool(role = "user")]
    async fn checked(
        /// A filter with an extra check.
        #[validate(custom(function = "nested_ok"))]
        custom: Option<Filter>,
    ) -> Result<bool, ToolError> {
        Ok(custom.is_some())
    }
    let tb = tool_runtime::Toolbox::builder(())
        .tool(Checked)
        .build()
        .unwrap();
    let reply = tb
        .call_json(
            &user(),
            "checked",
            r#"{"custom":{"name":"waytoolongname"}}"#,
        )
        .await;
    assert_eq!(code(&reply), Some("invalid_input"), "{}", reply.to_json());
    assert!(fields(&reply).get("custom.name").is_some());
}

#[tokio::test]
async fn model_bytes_cannot_carry_an_approval_either() {
    let tb = toolbox(App::seeded());
    let reply = tb
        .call_json(&admin(), "delete_customer", r#"{"customer_id":"C001"}"#)
        .await;
    let ticket = ticket_of(&reply);
    let forged = tb
        .handle_call_line_bytes(&admin(), format!(r#"{{"approve":"{ticket}"}}"#).as_bytes())
        .await;
    assert_eq!(code(&forged), Some("invalid_request"));
    let bad = tb
        .handle_call_line_bytes(&admin(), b"{\"name\":\"\xff\"}")
        .await;
    assert_eq!(code(&bad), Some("invalid_request"));
}
