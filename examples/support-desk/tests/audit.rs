//! `support-desk audit`: one record per line the session received, durable before the reply.

mod common;

use common::{Desk, outcome};
use serde_json::{Value, json};

#[test]
fn every_line_is_one_record_in_order_with_the_contracts_fields() {
    let desk = Desk::new();
    let lines = [
        r#"{"name":"get_customer_details","arguments":{"customer_id":"C001"}}"#,
        r#"{"name":"update_customer_email","arguments":{"customer_id":"C001","new_email":"alice@new.example"}}"#,
        r#"{"name":"search_customers","arguments":{"query":"a"}}"#,
        r#"{"name":"delete_customer","arguments":{"customer_id":"C002"}}"#,
        "not json",
        r#"{"deny":"0123456789abcdef"}"#,
    ];
    let replies = desk.session(Some("carol"), &lines);
    let anonymous = desk.session(None, &[r#"{"name":"get_my_profile"}"#]);

    let records = desk.audit();
    assert_eq!(records.len(), lines.len() + 1);
    for (record, reply) in records.iter().zip(replies.iter().chain(&anonymous)) {
        for field in ["ts", "user", "tool", "outcome", "arguments", "duration_ms"] {
            assert!(record.get(field).is_some(), "{field} missing: {record}");
        }
        assert_eq!(record["outcome"], outcome(reply), "{record}");
        assert!(record["duration_ms"].is_u64());
        let ts = record["ts"].as_str().unwrap();
        assert!(ts.ends_with('Z') && ts.contains('T'), "{ts}");
    }
    let tools: Vec<&str> = records
        .iter()
        .map(|r| r["tool"].as_str().unwrap())
        .collect();
    assert_eq!(
        tools[..4],
        [
            "get_customer_details",
            "update_customer_email",
            "search_customers",
            "delete_customer"
        ]
    );
    assert!(records[..6].iter().all(|r| r["user"] == "carol"));
    assert_eq!(records[6]["user"], Value::Null);
    assert_eq!(records[6]["outcome"], "unauthenticated");
    assert_eq!(records[0]["arguments"], json!({"customer_id": "C001"}));
    // Refused arguments are kept too, for whoever investigates.
    assert_eq!(records[2]["arguments"], json!({"query": "a"}));
    assert_eq!(records[3]["outcome"], "not_found");

    let change = &records[1];
    assert_eq!(change["detail"]["old_email"], "alice@example.com");
    assert_eq!(change["detail"]["new_email"], "alice@new.example");
}

#[test]
fn approvals_are_recorded_with_the_call_they_answer() {
    let desk = Desk::new();
    let mut dave = desk.live("dave");
    let asked = dave.call("delete_data", json!({"scope": "temp_files"}));
    let ticket = asked["host"]["ticket"].as_str().unwrap().to_owned();
    let done = dave.send(&json!({"approve": ticket}).to_string());
    assert_eq!(outcome(&done), "ok");
    dave.finish();

    let records = desk.audit();
    let outcomes: Vec<(&str, &str)> = records
        .iter()
        .map(|r| (r["tool"].as_str().unwrap(), r["outcome"].as_str().unwrap()))
        .collect();
    assert_eq!(
        outcomes,
        [("delete_data", "approval_required"), ("delete_data", "ok")]
    );
    assert_eq!(records[1]["arguments"], json!({"scope": "temp_files"}));
    assert_eq!(records[1]["detail"]["approval"], "approved");
}

#[test]
fn a_record_survives_the_process_being_killed() {
    let desk = Desk::new();
    let mut carol = desk.live("carol");
    let reply = carol.call("search_customers", json!({"query": "Brown"}));
    assert_eq!(outcome(&reply), "ok");
    // The reply was printed, so its record was already committed: SIGKILL cannot undo it.
    carol.kill();
    let records = desk.audit();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0]["tool"], "search_customers");
}
