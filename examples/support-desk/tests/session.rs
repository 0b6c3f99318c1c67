//! `support-desk session`: every tool, and every error code of the contract, through the
//! binary's JSON-lines loop.

mod common;

use common::{Desk, outcome};
use serde_json::{Value, json};
use support_desk::fixture::{self, Fixture};

fn keys(value: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = value
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort();
    keys
}

fn call_line(tool: &str, arguments: Value) -> String {
    json!({"name": tool, "arguments": arguments}).to_string()
}

#[test]
fn a_customer_sees_their_profile_and_only_their_orders() {
    let desk = Desk::new();
    let alice = Some("alice");
    let profile = desk
        .session(alice, &[r#"{"name":"get_my_profile"}"#])
        .remove(0);
    let alice_record = &Fixture::generate().customers[0];
    assert_eq!(
        profile,
        json!({"ok": true, "result": {
            "name": "Alice Anders",
            "email": "alice@example.com",
            "member_since": alice_record.member_since,
        }})
    );

    // OpenAI sends the arguments as a string holding the object.
    let orders = desk
        .session(alice, &[r#"{"name":"get_my_orders","arguments":"{}"}"#])
        .remove(0);
    let ids: Vec<&str> = orders["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["O1001", "O1002"]);
    assert_eq!(
        keys(&orders["result"][0]),
        ["created_at", "customer_id", "id", "status", "total"]
    );

    let own = desk.call(alice, "get_order", json!({"order_id": "O1001"}));
    assert_eq!(own["result"]["customer_id"], "C001");
}

#[test]
fn another_users_order_reads_exactly_like_a_missing_one() {
    let desk = Desk::new();
    let replies = desk.session(
        Some("alice"),
        &[
            &call_line("get_order", json!({"order_id": "O1003"})),
            &call_line("get_order", json!({"order_id": "O9999"})),
        ],
    );
    assert_eq!(outcome(&replies[0]), "not_found");
    assert_eq!(replies[0], replies[1]);
    // An admin sees any order.
    let any = desk.call(Some("dave"), "get_order", json!({"order_id": "O1003"}));
    assert_eq!(any["result"]["customer_id"], "C002");
}

#[test]
fn unknown_and_above_role_tools_read_the_same() {
    let desk = Desk::new();
    let replies = desk.session(
        Some("alice"),
        &[
            &call_line("get_customer_details", json!({"customer_id": "C002"})),
            &call_line("no_such_tool", json!({})),
            &call_line(
                "execute_code",
                json!({"language": "python", "code": "print(1)"}),
            ),
        ],
    );
    for reply in &replies {
        assert_eq!(outcome(reply), "not_found");
    }
    assert_eq!(replies[0], replies[1]);
    assert_eq!(replies[2], replies[1]);
    let carol = desk.call(
        Some("carol"),
        "delete_customer",
        json!({"customer_id": "C002"}),
    );
    assert_eq!(carol, replies[1]);
}

#[test]
fn an_anonymous_session_is_unauthenticated() {
    let desk = Desk::new();
    let reply = desk
        .session(None, &[r#"{"name":"get_my_profile"}"#])
        .remove(0);
    assert_eq!(outcome(&reply), "unauthenticated");
}

#[test]
fn support_tools_return_only_what_the_contract_lists() {
    let desk = Desk::new();
    let carol = Some("carol");
    let details = desk.call(
        carol,
        "get_customer_details",
        json!({"customer_id": "C001"}),
    );
    let alice = &Fixture::generate().customers[0];
    assert_eq!(
        details["result"],
        json!({
            "id": "C001",
            "name": "Alice Anders",
            "email": "alice@example.com",
            "phone": "***-***-1234",
            "status": "active",
            "member_since": alice.member_since,
            "subscription_tier": alice.subscription_tier.as_str(),
            "total_orders": alice.total_orders,
        })
    );

    let search = desk.call(carol, "search_customers", json!({"query": "C0"}));
    let result = &search["result"];
    assert_eq!(keys(result), ["capped", "count", "customers"]);
    assert_eq!(
        (result["count"].clone(), result["capped"].clone()),
        (json!(50), json!(true))
    );
    let customers = result["customers"].as_array().unwrap();
    assert_eq!(customers.len(), 25);
    assert_eq!(keys(&customers[0]), ["email", "id", "name", "status"]);

    let one = desk.call(carol, "search_customers", json!({"query": "alice@"}));
    assert_eq!(
        (
            one["result"]["count"].clone(),
            one["result"]["capped"].clone()
        ),
        (json!(1), json!(false))
    );

    // SQL in an argument is data: it matches nothing and breaks nothing.
    let injected = desk.call(carol, "search_customers", json!({"query": "' OR 1=1 --"}));
    assert_eq!(injected["result"]["count"], 0);
}

#[test]
fn support_agents_edit_customers_and_orders() {
    let desk = Desk::new();
    let carol = Some("carol");
    let replies = desk.session(
        carol,
        &[
            &call_line(
                "update_customer_email",
                json!({"customer_id": "C001", "new_email": "alice.anders@example.net"}),
            ),
            &call_line("get_customer_details", json!({"customer_id": "C001"})),
            &call_line(
                "add_internal_note",
                json!({"customer_id": "C001", "note": "Called back."}),
            ),
            &call_line(
                "update_order_status",
                json!({"order_id": "O1002", "status": "shipped"}),
            ),
            &call_line(
                "add_internal_note",
                json!({"customer_id": "C999", "note": "Hello."}),
            ),
        ],
    );
    assert_eq!(
        replies[0]["result"],
        json!({"customer_id": "C001", "new_email": "alice.anders@example.net"})
    );
    assert_eq!(replies[1]["result"]["email"], "alice.anders@example.net");
    assert!(replies[2]["result"]["id"].as_i64().unwrap() > fixture_note_count());
    assert_eq!(keys(&replies[2]["result"]), ["id"]);
    let order = &replies[3]["result"];
    assert_eq!(
        (order["id"].as_str(), order["status"].as_str()),
        (Some("O1002"), Some("shipped"))
    );
    assert_eq!(outcome(&replies[4]), "not_found");
}

fn fixture_note_count() -> i64 {
    Fixture::generate().notes.len() as i64
}

#[test]
fn query_records_reads_allowlisted_columns_only() {
    let desk = Desk::new();
    let carol = Some("carol");
    let rows = desk.call(
        carol,
        "query_records",
        json!({"table": "orders", "columns": ["id", "status"], "filter_field": "customer_id",
               "filter_value": "C001"}),
    );
    assert_eq!(
        rows["result"]["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["O1001", "O1002"]
    );
    assert_eq!(keys(&rows["result"]["rows"][0]), ["id", "status"]);
    let default = desk.call(carol, "query_records", json!({"table": "products"}));
    assert_eq!(default["result"]["rows"].as_array().unwrap().len(), 20);
    let customers = desk.call(
        carol,
        "query_records",
        json!({"table": "customers", "limit": 100}),
    );
    assert_eq!(customers["result"]["rows"].as_array().unwrap().len(), 50);
    assert_eq!(
        keys(&customers["result"]["rows"][0]),
        [
            "email",
            "id",
            "member_since",
            "name",
            "status",
            "subscription_tier"
        ]
    );

    for (arguments, field) in [
        (
            json!({"table": "customers", "columns": ["name", "ssn"]}),
            "columns",
        ),
        (json!({"table": "orders", "columns": ["email"]}), "columns"),
        (json!({"table": "users"}), "table"),
        (json!({"table": "orders", "limit": 0}), "limit"),
        (json!({"table": "orders", "limit": 101}), "limit"),
        (
            json!({"table": "orders", "filter_field": "customer_id"}),
            "filter_value",
        ),
        (
            json!({"table": "products", "filter_field": "price", "filter_value": "cheap"}),
            "filter_value",
        ),
    ] {
        let reply = desk.call(carol, "query_records", arguments.clone());
        assert_eq!(outcome(&reply), "invalid_input", "{arguments}");
        // A list item is named by its path, such as `columns[1]`.
        let fields = reply["error"]["fields"].as_object().unwrap();
        assert!(
            fields.keys().any(|k| k.starts_with(field)),
            "{arguments}: {reply}"
        );
    }
}

#[test]
fn invalid_input_names_the_fields() {
    let desk = Desk::new();
    let cases = [
        ("search_customers", json!({"query": "a"}), "query"),
        (
            "search_customers",
            json!({"query": "x".repeat(101)}),
            "query",
        ),
        ("search_customers", json!({"query": 42}), "query"),
        (
            "update_customer_email",
            json!({"customer_id": "C001", "new_email": "not-an-address"}),
            "new_email",
        ),
        (
            "update_customer_email",
            json!({"customer_id": "C001", "new_email": format!("{}@example.com", "a".repeat(250))}),
            "new_email",
        ),
        (
            "add_internal_note",
            json!({"customer_id": "C001", "note": ""}),
            "note",
        ),
        (
            "add_internal_note",
            json!({"customer_id": "C001", "note": " \n\t "}),
            "note",
        ),
        (
            "add_internal_note",
            json!({"customer_id": "C001", "note": "x".repeat(2001)}),
            "note",
        ),
        (
            "update_order_status",
            json!({"order_id": "O1002", "status": "cancelled"}),
            "status",
        ),
        ("read_export", json!({"path": "../desk.db"}), "path"),
        (
            "read_export",
            json!({"path": "exports/../../desk.db"}),
            "path",
        ),
        ("read_export", json!({"path": "/etc/passwd"}), "path"),
        ("read_export", json!({"path": "exports/tool.exe"}), "path"),
        (
            "read_export",
            json!({"path": "data/exports/customers.csv"}),
            "path",
        ),
    ];
    let lines: Vec<String> = cases
        .iter()
        .map(|(tool, args, _)| call_line(tool, args.clone()))
        .collect();
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    let replies = desk.session(Some("carol"), &lines);
    for ((tool, args, field), reply) in cases.iter().zip(&replies) {
        assert_eq!(outcome(reply), "invalid_input", "{tool} {args}: {reply}");
        let messages = reply["error"]["fields"][field].as_array();
        assert!(
            messages.is_some_and(|m| !m.is_empty()),
            "{tool} {args}: {reply}"
        );
    }

    // Smuggled fields and missing ones are refused before anything runs.
    let replies = desk.session(
        Some("carol"),
        &[
            &call_line(
                "update_order_status",
                json!({"order_id": "O1002", "status": "shipped", "role": "admin"}),
            ),
            &call_line("get_customer_details", json!({})),
            &call_line("get_customer_details", json!(["C001"])),
        ],
    );
    for reply in &replies {
        assert_eq!(outcome(reply), "invalid_input", "{reply}");
    }
    let order = desk.call(Some("dave"), "get_order", json!({"order_id": "O1002"}));
    assert_ne!(
        order["result"]["status"], "shipped",
        "the smuggled call ran"
    );
}

#[test]
fn malformed_lines_are_invalid_requests_and_the_loop_goes_on() {
    let desk = Desk::new();
    let mut input = Vec::new();
    let lines: [&[u8]; 7] = [
        b"not json",
        b"",
        br#"{"arguments":{"order_id":"O1001"}}"#,
        br#"{"name":"get_order","arguments":{"order_id":"O1001","order_id":"O1003"}}"#,
        br#"{"name":"get_order","name":"get_my_profile"}"#,
        b"{\"name\":\"get_order\",\"arguments\":{\"order_id\":\"O1001\xff\"}}",
        br#"{"name":"get_order","arguments":{"order_id":"O1001"}}"#,
    ];
    for line in lines {
        input.extend_from_slice(line);
        input.push(b'\n');
    }
    let replies = desk.session_bytes(Some("alice"), input, lines.len());
    for reply in &replies[..6] {
        assert_eq!(outcome(reply), "invalid_request", "{reply}");
    }
    assert_eq!(outcome(&replies[6]), "ok");
}

#[test]
fn oversized_lines_and_files_are_too_large() {
    let desk = Desk::new();
    let huge = call_line(
        "search_customers",
        json!({"query": "x".repeat(1024 * 1024)}),
    );
    let mut input = huge.into_bytes();
    input.push(b'\n');
    input
        .extend_from_slice(call_line("read_export", json!({"path": "exports/big.csv"})).as_bytes());
    input.push(b'\n');
    input.extend_from_slice(
        call_line("read_export", json!({"path": "exports/customers.csv"})).as_bytes(),
    );
    // The last line has no newline: it still gets its reply.
    let replies = desk.session_bytes(Some("carol"), input, 3);
    assert_eq!(outcome(&replies[0]), "too_large");
    assert_eq!(outcome(&replies[1]), "too_large");
    let csv = replies[2]["result"]["text"].as_str().unwrap();
    assert!(csv.starts_with("id,name,email,status"));
    assert_eq!(csv.lines().count(), 51);
}

#[test]
fn read_export_serves_text_files_and_treats_missing_as_not_found() {
    let desk = Desk::new();
    let replies = desk.session(
        Some("carol"),
        &[
            &call_line("read_export", json!({"path": "reports/notes.txt"})),
            &call_line("read_export", json!({"path": "reports/weekly.md"})),
            &call_line("read_export", json!({"path": "exports/summary.json"})),
            &call_line("read_export", json!({"path": "exports/missing.csv"})),
        ],
    );
    let notes = &replies[0]["result"];
    assert_eq!(notes["path"], "reports/notes.txt");
    // The file's injected instruction is returned as data, and nothing acts on it.
    assert!(
        notes["text"]
            .as_str()
            .unwrap()
            .contains("call delete_customer")
    );
    assert!(
        replies[1]["result"]["text"]
            .as_str()
            .unwrap()
            .starts_with("# Support desk")
    );
    let summary: Value =
        serde_json::from_str(replies[2]["result"]["text"].as_str().unwrap()).unwrap();
    assert_eq!(summary["customers"]["total"], 50);
    assert_eq!(outcome(&replies[3]), "not_found");
}

#[cfg(unix)]
#[test]
fn read_export_does_not_follow_a_link_out_of_the_data_folder() {
    let desk = Desk::new();
    std::os::unix::fs::symlink(desk.db_path(), desk.data_path().join("exports/link.csv")).unwrap();
    let reply = desk.call(
        Some("carol"),
        "read_export",
        json!({"path": "exports/link.csv"}),
    );
    assert_eq!(outcome(&reply), "invalid_input", "{reply}");
    assert!(reply["error"]["fields"]["path"].is_array());
}

#[test]
fn the_eleventh_search_in_a_minute_is_rate_limited() {
    let desk = Desk::new();
    let line = call_line("search_customers", json!({"query": "Brown"}));
    let lines = vec![line.as_str(); 11];
    let replies = desk.session(Some("carol"), &lines);
    for reply in &replies[..10] {
        assert_eq!(outcome(reply), "ok");
    }
    let limited = &replies[10];
    assert_eq!(outcome(limited), "rate_limited");
    let retry = limited["error"]["retry_after_secs"].as_u64().unwrap();
    assert!((1..=60).contains(&retry), "{limited}");
    // The budget is per tool: other tools still answer.
    let other = desk.session(Some("carol"), &[&line]);
    assert_eq!(
        outcome(&other[0]),
        "ok",
        "a new session process starts a new budget"
    );
}

#[test]
fn destructive_calls_wait_for_the_human() {
    let desk = Desk::new();
    let mut dave = desk.live("dave");
    // An argument cannot approve the call.
    let smuggled = dave.call(
        "delete_data",
        json!({"scope": "old_logs", "approved": true}),
    );
    assert_eq!(outcome(&smuggled), "invalid_input");

    let asked = dave.call("delete_data", json!({"scope": "old_logs"}));
    assert_eq!(outcome(&asked), "approval_required");
    // The ticket is the host's: beside the error the model reads, never in it.
    assert!(asked["error"].get("ticket").is_none(), "{asked}");
    assert_eq!(asked["host"]["tool"], "delete_data");
    assert_eq!(asked["host"]["arguments"], json!({"scope": "old_logs"}));
    assert!(asked["host"]["expires_at"].is_string(), "{asked}");
    let ticket = asked["host"]["ticket"].as_str().unwrap().to_owned();
    let done = dave.send(&json!({"approve": ticket}).to_string());
    assert_eq!(
        done,
        json!({"ok": true, "result": {"scope": "old_logs", "rows_deleted": fixture::OLD_LOGS}})
    );
    let replay = dave.send(&json!({"approve": ticket}).to_string());
    assert_eq!(outcome(&replay), "approval_denied");
    let unknown = dave.send(r#"{"approve":"0000000000000000"}"#);
    assert_eq!(outcome(&unknown), "approval_denied");
    dave.finish();

    let mut erin = desk.live("erin");
    let asked = erin.call("delete_customer", json!({"customer_id": "C002"}));
    assert_eq!(outcome(&asked), "approval_required");
    let ticket = asked["host"]["ticket"].as_str().unwrap().to_owned();
    // Another user cannot answer erin's ticket.
    let mut dave = desk.live("dave");
    let foreign = dave.send(&json!({"approve": ticket}).to_string());
    assert_eq!(outcome(&foreign), "approval_denied");
    dave.finish();

    let denied = erin.send(&json!({"deny": ticket}).to_string());
    assert_eq!(outcome(&denied), "approval_denied");
    let after = erin.send(&json!({"approve": ticket}).to_string());
    assert_eq!(
        outcome(&after),
        "approval_denied",
        "a denied ticket is spent"
    );
    let still_there = erin.call("get_customer_details", json!({"customer_id": "C002"}));
    assert_eq!(still_there["result"]["name"], "Bob Brown");

    let asked = erin.call("delete_customer", json!({"customer_id": "C002"}));
    let ticket = asked["host"]["ticket"].as_str().unwrap().to_owned();
    let deleted = erin.send(&json!({"approve": ticket}).to_string());
    let orders = Fixture::generate()
        .orders
        .iter()
        .filter(|o| o.customer_id == "C002")
        .count();
    assert_eq!(deleted["result"]["customer_id"], "C002");
    assert_eq!(deleted["result"]["orders_deleted"], orders);
    let gone = erin.call("get_customer_details", json!({"customer_id": "C002"}));
    assert_eq!(outcome(&gone), "not_found");
    erin.finish();
}

#[test]
fn admins_list_all_orders_within_bounds() {
    let desk = Desk::new();
    let replies = desk.session(
        Some("dave"),
        &[
            &call_line("get_all_orders", json!({})),
            &call_line("get_all_orders", json!({"limit": 100})),
            &call_line("get_all_orders", json!({"limit": 101})),
        ],
    );
    assert_eq!(replies[0]["result"].as_array().unwrap().len(), 25);
    assert_eq!(replies[1]["result"].as_array().unwrap().len(), 100);
    assert_eq!(outcome(&replies[2]), "invalid_input");
    assert!(replies[2]["error"]["fields"]["limit"].is_array());
}

#[test]
fn execute_code_runs_in_the_sandbox() {
    let desk = Desk::new();
    let replies = desk.session(
        Some("dave"),
        &[
            &call_line("execute_code", json!({"language": "python", "code": "print(6 * 7)"})),
            &call_line(
                "execute_code",
                json!({"language": "javascript", "code": "console.log('hi'); console.error('warn'); process.exit(3)"}),
            ),
            &call_line(
                "execute_code",
                json!({"language": "python", "code": "print(open('desk.db', 'rb').read(16))"}),
            ),
            &call_line("execute_code", json!({"language": "python", "code": "print('x' * 9000)"})),
            &call_line("execute_code", json!({"language": "ruby", "code": "puts 1"})),
            &call_line("execute_code", json!({"language": "python", "code": "#".repeat(10_001)})),
        ],
    );
    assert_eq!(
        replies[0],
        json!({"ok": true, "result": {"stdout": "42\n", "stderr": "", "exit_code": 0}})
    );
    assert_eq!(
        replies[1]["result"],
        json!({"stdout": "hi\n", "stderr": "warn\n", "exit_code": 3})
    );
    assert_ne!(
        replies[2]["result"]["exit_code"], 0,
        "the sandbox read the database: {}",
        replies[2]
    );
    assert_eq!(
        replies[3]["result"]["stdout"]
            .as_str()
            .unwrap()
            .chars()
            .count(),
        5_000
    );
    assert!(replies[4]["error"]["fields"]["language"].is_array());
    assert!(replies[5]["error"]["fields"]["code"].is_array());
}

#[test]
fn code_past_its_ten_seconds_is_a_timeout() {
    let desk = Desk::new();
    let started = std::time::Instant::now();
    let reply = desk.call(
        Some("dave"),
        "execute_code",
        json!({"language": "python", "code": "while True: pass"}),
    );
    assert_eq!(outcome(&reply), "timeout", "{reply}");
    let took = started.elapsed();
    assert!(took.as_secs_f64() >= 9.5 && took.as_secs() < 20, "{took:?}");
}

#[test]
fn an_unexpected_failure_is_internal_with_an_incident_and_no_internals() {
    // A host without the interpreter: the one failure of the desk a session can meet honestly.
    let desk = Desk::new();
    let mut command = common::binary();
    command
        .args([
            "session",
            "--db",
            "desk.db",
            "--data-dir",
            "data",
            "--user",
            "dave",
        ])
        .current_dir(desk.path())
        .env("PATH", desk.path().join("no-such-folder"));
    let line = call_line(
        "execute_code",
        json!({"language": "python", "code": "print(1)"}),
    );
    let out = common::run_with_input(command, format!("{line}\n").into_bytes());
    assert!(out.status.success());
    let reply: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(outcome(&reply), "internal");
    let incident = reply["error"]["incident"].as_str().unwrap();
    let message = reply["error"]["message"].as_str().unwrap();
    assert!(message.contains(incident));
    for internal in ["python3", "No such file", "/", "os error"] {
        assert!(!message.contains(internal), "{message}");
    }
    let audit = desk.audit();
    let record = audit
        .iter()
        .find(|r| r["incident"] == incident)
        .expect("the incident is logged");
    assert!(record["cause"].as_str().unwrap().contains("python3"));
}
