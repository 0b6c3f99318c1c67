//! The schema the model is shown and the validation the runtime enforces agree: every argument
//! object one accepts, the other accepts, and every one one refuses, the other refuses.

use serde_json::{Value, json};
use tool_runtime::{Session, Toolbox};
use tool_tests::{App, Role, toolbox};

fn canonical_schemas(tb: &Toolbox<App>) -> Vec<(String, Value)> {
    let everyone = Session::authenticated("erin", Role::SuperAdmin);
    tb.definitions(&everyone)
        .anthropic()
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["name"].as_str().unwrap().to_owned(),
                t["input_schema"].clone(),
            )
        })
        .collect()
}

/// Argument objects around every boundary the fixture's tools declare.
fn candidates(tool: &str) -> Vec<Value> {
    let s = |n: usize| "x".repeat(n);
    let wide = |n: usize| "é".repeat(n);
    let emoji = |n: usize| "😀".repeat(n);
    let common = vec![
        json!({}),
        json!({"unknown": 1}),
        json!([]),
        json!(null),
        json!("x"),
    ];
    let specific = match tool {
        "get_customer_details" | "delete_customer" => vec![
            json!({"customer_id": ""}),
            json!({"customer_id": s(1)}),
            json!({"customer_id": s(16)}),
            json!({"customer_id": s(17)}),
            json!({"customer_id": wide(16)}),
            json!({"customer_id": wide(17)}),
            json!({"customer_id": emoji(16)}),
            json!({"customer_id": emoji(17)}),
            json!({"customer_id": 5}),
            json!({"customer_id": null}),
            json!({"customer_id": ["C001"]}),
            json!(["C001"]),
            json!({"customer_id": "C001", "approved": true}),
        ],
        "search_customers" => vec![
            json!({"query": ""}),
            json!({"query": s(1)}),
            json!({"query": s(100)}),
            json!({"query": s(101)}),
            json!({"query": wide(100)}),
            json!({"query": wide(101)}),
        ],
        "update_customer_email" => {
            let mut v = Vec::new();
            for email in [
                "a@example.com",
                "first.last+tag@sub.example.co",
                "no-at-sign",
                "@example.com",
                "a@",
                "a b@example.com",
                "a@b",
                "",
                &format!("{}@example.com", s(64)),
                &format!("{}@example.com", s(65)),
                &format!("a@{}.com", s(250)),
            ] {
                v.push(json!({"customer_id": "C001", "new_email": email}));
            }
            v.push(json!({"customer_id": "C001"}));
            v
        }
        "set_password" => vec![
            json!({"password": s(7)}),
            json!({"password": s(8)}),
            json!({"password": s(128)}),
            json!({"password": s(129)}),
        ],
        "huge" => vec![
            json!({"kib": 0}),
            json!({"kib": 1}),
            json!({"kib": 10000}),
            json!({"kib": 10001}),
            json!({"kib": -1}),
            json!({"kib": 1.5}),
            json!({"kib": "1"}),
            json!({"kib": 4294967296u64}),
        ],
        "pick" => vec![
            json!({"limit": 0}),
            json!({"limit": 1}),
            json!({"limit": 100}),
            json!({"limit": 101}),
            json!({"limit": 50, "tag": null}),
            json!({"limit": 50, "tag": s(8)}),
            json!({"limit": 50, "tag": s(9)}),
            json!({"limit": 50, "tag": 8}),
            json!({"limit": true}),
            json!([50]),
            json!([50, "tag"]),
        ],
        "tag_customer" => vec![
            json!({"tags": []}),
            json!({"tags": ["a"]}),
            json!({"tags": [s(8)]}),
            json!({"tags": [s(9)]}),
            json!({"tags": [wide(8)]}),
            json!({"tags": [wide(9)]}),
            json!({"tags": [emoji(8)]}),
            json!({"tags": [emoji(9)]}),
            json!({"tags": ["a", "b", "c"]}),
            json!({"tags": ["a", "b", "c", "d"]}),
            json!({"tags": [5]}),
            json!({"tags": "a"}),
        ],
        "find_order_code" => vec![
            json!({"code": "O1234"}),
            json!({"code": "O0000"}),
            json!({"code": "O\u{661}\u{662}\u{663}\u{664}"}),
            json!({"code": "O\u{ff11}234"}),
            json!({"code": "O123"}),
            json!({"code": "o1234"}),
            json!({"code": "O12345"}),
            json!({"code": "xO1234"}),
            json!({"code": "O1234\n"}),
            json!({"code": 1234}),
        ],
        "purge_bin" => vec![
            json!({"confirmation": "empty the bin"}),
            json!({"confirmation": "Empty the bin"}),
            json!({"confirmation": "empty the bin "}),
            json!({"confirmation": ""}),
        ],
        _ => vec![],
    };
    common.into_iter().chain(specific).collect()
}

#[test]
fn schema_and_validation_agree_on_every_boundary() {
    let tb = toolbox(App::seeded());
    let everyone = Session::authenticated("erin", Role::SuperAdmin);
    let mut checked = 0;
    let mut disagreements = Vec::new();
    for (tool, schema) in canonical_schemas(&tb) {
        let validator = jsonschema::options()
            .should_validate_formats(true)
            .build(&schema)
            .unwrap_or_else(|e| panic!("{tool}: the exported schema does not compile: {e}"));
        for args in candidates(&tool) {
            let by_schema = validator.is_valid(&args);
            let by_runtime = tb
                .check_arguments(&everyone, &tool, &args.to_string())
                .is_ok();
            checked += 1;
            if by_schema != by_runtime {
                disagreements.push(format!(
                    "{tool} {args}: schema {} but runtime {}",
                    if by_schema { "accepts" } else { "refuses" },
                    if by_runtime { "accepts" } else { "refuses" },
                ));
            }
        }
    }
    assert!(checked > 80, "only {checked} cases ran");
    assert!(disagreements.is_empty(), "{}", disagreements.join("\n"));
}
