//! Who may call what: the projection a permitted call returns, unknown and above-role tools
//! alike `not_found`, sessions anonymous, expired or of another application, and the tool list
//! each session sees.

use std::time::{Duration, SystemTime};

use serde_json::json;
use tool_runtime::Session;
use tool_tests::{App, Role, toolbox};

#[path = "common/calls.rs"]
mod calls;
use calls::*;

#[tokio::test]
async fn a_valid_call_returns_the_projection_only() {
    let tb = toolbox(App::seeded());
    let reply = customer_details(&tb, &agent(), "C001").await;
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
async fn unknown_and_above_role_tools_read_the_same() {
    let tb = toolbox(App::seeded());
    let hidden = customer_details(&tb, &user(), "C001").await;
    let unknown = tb
        .call_json(&user(), "get_customr_details", r#"{"customer_id":"C001"}"#)
        .await;
    assert_eq!(code(&hidden), Some("not_found"));
    assert_eq!(hidden.to_json(), unknown.to_json());
    // A record that does not exist is not_found too.
    let missing = customer_details(&tb, &agent(), "C999").await;
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
    let reply = customer_details(&tb, &stranger, "C001").await;
    assert_eq!(code(&reply), Some("not_found"));
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
