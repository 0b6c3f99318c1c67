//! The model's arguments, as an attacker writes them: JSON text or a string of it, malformed
//! lines, duplicate keys, wrong types, smuggled fields, deep nesting, each refused with a message
//! that names the field and nothing more.

use serde_json::json;
use tool_tests::{App, Role, toolbox};

#[path = "common/calls.rs"]
mod calls;
use calls::*;

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
