//! Human approval of destructive calls: the ticket only the host holds, denial, exact
//! confirmations, expiry, a role taken away meanwhile, and no approval through anything the
//! model writes.

use std::time::Duration;

use serde_json::json;
use tool_runtime::Session;
use tool_runtime::audit::MemorySink;
use tool_tests::{App, Role, toolbox, toolbox_with};

#[path = "common/calls.rs"]
mod calls;
use calls::*;

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
