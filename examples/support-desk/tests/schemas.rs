//! `support-desk schemas`: what each user's model is shown, in each provider's shape.

mod common;

use common::{Desk, success_stdout};
use serde_json::Value;

const PROVIDERS: [&str; 5] = ["openai", "openai-responses", "anthropic", "gemini", "mcp"];

const USER_TOOLS: &[&str] = &["get_my_profile", "get_my_orders", "get_order"];
const AGENT_TOOLS: &[&str] = &[
    "search_customers",
    "get_customer_details",
    "update_customer_email",
    "add_internal_note",
    "update_order_status",
    "query_records",
    "read_export",
];
const ADMIN_TOOLS: &[&str] = &["get_all_orders", "delete_data", "execute_code"];
const SUPER_ADMIN_TOOLS: &[&str] = &["delete_customer"];

fn schemas(desk: &Desk, provider: &str, user: Option<&str>) -> Value {
    let mut args = vec!["schemas", "--provider", provider, "--db", "desk.db"];
    if let Some(user) = user {
        args.extend(["--user", user]);
    }
    let out = desk.run(&args);
    let text = success_stdout(out);
    for column in ["ssn", "payment_token", "password_hash", "internal_notes"] {
        assert!(
            !text.contains(column),
            "{provider} schemas mention {column}"
        );
    }
    serde_json::from_str(&text).expect("one JSON document")
}

/// The tool names of a provider's array, whichever shape it has.
fn names(provider: &str, document: &Value) -> Vec<String> {
    let array = document.as_array().expect("an array");
    array
        .iter()
        .map(|tool| {
            let name = match provider {
                "openai" => {
                    assert_eq!(tool["type"], "function");
                    assert!(tool["function"]["parameters"].is_object());
                    &tool["function"]["name"]
                }
                "openai-responses" => {
                    assert_eq!(tool["type"], "function");
                    assert!(tool["parameters"].is_object());
                    &tool["name"]
                }
                "anthropic" => {
                    assert!(tool["input_schema"].is_object());
                    &tool["name"]
                }
                "gemini" => {
                    // Gemini leaves out the parameters of a tool that takes none.
                    assert!(tool["parameters"].is_object() || tool.get("parameters").is_none());
                    &tool["name"]
                }
                "mcp" => {
                    assert!(tool["inputSchema"].is_object());
                    &tool["name"]
                }
                other => panic!("{other}"),
            };
            name.as_str().unwrap().to_owned()
        })
        .collect()
}

fn sorted(groups: &[&[&str]]) -> Vec<String> {
    let mut all: Vec<String> = groups.concat().into_iter().map(str::to_owned).collect();
    all.sort();
    all
}

#[test]
fn each_user_sees_exactly_the_tools_of_their_role_in_every_shape() {
    let desk = Desk::new();
    let expected: [(Option<&str>, Vec<String>); 6] = [
        (None, vec![]),
        (Some("alice"), sorted(&[USER_TOOLS])),
        (Some("bob"), sorted(&[USER_TOOLS])),
        (Some("carol"), sorted(&[USER_TOOLS, AGENT_TOOLS])),
        (
            Some("dave"),
            sorted(&[USER_TOOLS, AGENT_TOOLS, ADMIN_TOOLS]),
        ),
        (
            Some("erin"),
            sorted(&[USER_TOOLS, AGENT_TOOLS, ADMIN_TOOLS, SUPER_ADMIN_TOOLS]),
        ),
    ];
    for provider in PROVIDERS {
        for (user, tools) in &expected {
            let mut seen = names(provider, &schemas(&desk, provider, *user));
            seen.sort();
            assert_eq!(&seen, tools, "{provider} for {user:?}");
        }
    }
}

#[test]
fn mcp_carries_the_hints_and_the_argument_bounds() {
    let desk = Desk::new();
    let tools = schemas(&desk, "mcp", Some("erin"));
    let tool = |name: &str| -> Value {
        tools
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == name)
            .unwrap_or_else(|| panic!("{name} missing"))
            .clone()
    };
    for name in tools
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
    {
        let hints = &tool(name)["annotations"];
        let read_only = name.starts_with("get_")
            || ["search_customers", "query_records", "read_export"].contains(&name);
        assert_eq!(hints["readOnlyHint"], read_only, "{name}");
        assert_eq!(
            hints["destructiveHint"],
            name.starts_with("delete_"),
            "{name}"
        );
    }

    let query = &tool("search_customers")["inputSchema"]["properties"]["query"];
    assert_eq!(
        (query["minLength"].clone(), query["maxLength"].clone()),
        (2.into(), 100.into())
    );
    let email = &tool("update_customer_email")["inputSchema"]["properties"]["new_email"];
    assert_eq!(email["maxLength"], 254);
    let note = &tool("add_internal_note")["inputSchema"]["properties"]["note"];
    assert_eq!(
        (note["minLength"].clone(), note["maxLength"].clone()),
        (1.into(), 2000.into())
    );
    let code = &tool("execute_code")["inputSchema"]["properties"]["code"];
    assert_eq!(code["maxLength"], 10_000);
    let path = &tool("read_export")["inputSchema"]["properties"]["path"];
    assert!(
        path["pattern"]
            .as_str()
            .unwrap()
            .contains("exports|reports")
    );

    let statuses = tool("update_order_status")["inputSchema"].to_string();
    for allowed in ["processing", "shipped", "delivered"] {
        assert!(statuses.contains(&format!("\"{allowed}\"")), "{statuses}");
    }
    for refused in ["cancelled", "pending"] {
        assert!(!statuses.contains(&format!("\"{refused}\"")), "{statuses}");
    }
}

#[test]
fn outputs_are_described_without_secrets() {
    let desk = Desk::new();
    let tools = schemas(&desk, "mcp", Some("carol"));
    let details = tools
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "get_customer_details")
        .unwrap();
    let mut fields: Vec<&str> = details["outputSchema"]["properties"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    fields.sort();
    assert_eq!(
        fields,
        [
            "email",
            "id",
            "member_since",
            "name",
            "phone",
            "status",
            "subscription_tier",
            "total_orders"
        ]
    );
}
