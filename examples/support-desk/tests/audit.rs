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

/// `audit --audit-db`: the log many instances share, printed as `audit --db` prints its own.
mod postgres {
    use super::common::{binary, success_stdout};
    use std::time::{Duration, UNIX_EPOCH};
    use tool_runtime::AuditRecord;
    use tool_runtime::audit::{AuditSink, PostgresOptions, PostgresSink};

    fn record(n: u64, tool: &'static str) -> AuditRecord {
        AuditRecord {
            ts: UNIX_EPOCH + Duration::from_millis(1_709_210_096_789 + n),
            user: Some("carol".into()),
            role: Some("support_agent".into()),
            tool: tool.into(),
            outcome: "ok".into(),
            arguments: serde_json::json!({"customer_id": format!("C00{n}")}).into(),
            duration_ms: n,
            incident: None,
            cause: None,
            detail: serde_json::Map::new(),
        }
    }

    #[tokio::test]
    #[ignore = "needs PostgreSQL: set DATABASE_URL"]
    async fn prints_the_postgres_log_oldest_first_as_json_lines() {
        let url = std::env::var("DATABASE_URL")
            .expect("this test needs DATABASE_URL, such as postgres://postgres@127.0.0.1/test");
        // A schema of this run's own, which the command finds through the URL's search_path.
        let schema = format!(
            "desk_audit_{}_{}",
            std::process::id(),
            UNIX_EPOCH.elapsed().unwrap().as_nanos()
        );
        let options = PostgresOptions {
            schema: Some(schema.clone()),
            ..PostgresOptions::default()
        };
        let sink = PostgresSink::connect(&url, options).await.unwrap();
        let written = [
            record(1, "get_customer_details"),
            record(2, "search_customers"),
            record(3, "update_customer_email"),
        ];
        for r in &written {
            sink.record(r).await.unwrap();
        }
        let separator = if url.contains('?') { '&' } else { '?' };
        let url = format!("{url}{separator}options=-csearch_path%3D{schema}");
        let out = tokio::task::spawn_blocking(move || {
            binary()
                .args(["audit", "--audit-db", &url])
                .output()
                .unwrap()
        })
        .await
        .unwrap();
        let text = success_stdout(out);
        assert!(text.ends_with('\n'));
        let printed: Vec<serde_json::Value> = text
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
        let expected: Vec<serde_json::Value> = written
            .iter()
            .map(|r| serde_json::to_value(r).unwrap())
            .collect();
        assert_eq!(printed, expected);
    }

    #[test]
    fn a_url_that_is_not_postgres_is_refused() {
        let out = binary()
            .args(["audit", "--audit-db", "mysql://root:hunter2@db/x"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("postgres://"), "{stderr}");
        assert!(!stderr.contains("hunter2"), "{stderr}");
    }

    #[test]
    fn an_unreachable_database_fails_in_bounded_time_without_echoing_the_password() {
        let started = std::time::Instant::now();
        let out = binary()
            .args(["audit", "--audit-db", "postgres://u:hunter2@127.0.0.1:1/x"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1));
        assert!(started.elapsed() < Duration::from_secs(10));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("cannot read the audit log"), "{stderr}");
        assert!(!stderr.contains("hunter2"), "{stderr}");
        assert!(out.stdout.is_empty());
    }
}
