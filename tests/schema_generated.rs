//! Schema agreement on generated arguments: for every fixture tool, argument objects generated
//! from its own canonical schema (valid values, values at each bound and one past it, wrong
//! types, missing and extra fields, nested objects and lists) are checked against each
//! provider's exported schema with `jsonschema` and against the runtime's `check_arguments`.
//!
//! - Anthropic and MCP export the canonical schema: accept/refuse agree exactly.
//! - OpenAI strict mode shows a subset (constraints it cannot say are in the description, so it
//!   accepts more), and every field is required, optionals as nullable: whatever the runtime
//!   accepts, with absent optionals sent as `null` the way a strict model sends them, the strict
//!   schema accepts and the runtime still accepts.
//!
//! Gemini's schema is an OpenAPI subset (`"type": "STRING"`), not JSON Schema: no validator
//! reads it, so it is not part of this test.
//!
//! Cases per tool: `PROPTEST_CASES` (2,000 when unset).

use proptest::prelude::*;
use proptest::strategy::BoxedStrategy;
use serde_json::{Map, Value, json};
use tool_runtime::Session;
use tool_tests::{App, Role, toolbox};

/// A value the schema node may or may not accept, biased towards its bounds.
fn around(node: &Value, root: &Value, depth: usize) -> BoxedStrategy<Value> {
    let wrong = prop_oneof![
        Just(Value::Null),
        Just(json!(5)),
        Just(json!(-1)),
        Just(json!(1.5)),
        Just(json!("x")),
        Just(json!(true)),
        Just(json!([])),
        Just(json!({})),
    ];
    if let Some(reference) = node.get("$ref").and_then(Value::as_str) {
        let target = root
            .pointer(reference.trim_start_matches('#'))
            .cloned()
            .unwrap_or(Value::Null);
        return around(&target, root, depth);
    }
    let branches: Vec<Value> = ["anyOf", "oneOf"]
        .iter()
        .filter_map(|k| node.get(*k).and_then(Value::as_array))
        .flatten()
        .cloned()
        .collect();
    let types: Vec<String> = match node.get("type") {
        Some(Value::String(t)) => vec![t.clone()],
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(|t| t.as_str().map(str::to_owned))
            .collect(),
        _ => vec![],
    };
    let mut options: Vec<BoxedStrategy<Value>> = vec![wrong.boxed()];
    for branch in &branches {
        options.push(around(branch, root, depth));
    }
    if let Some(values) = node.get("enum").and_then(Value::as_array) {
        options.push(proptest::sample::select(values.clone()).boxed());
    }
    if let Some(value) = node.get("const") {
        options.push(Just(value.clone()).boxed());
        options.push(Just(json!(format!("{} ", value.as_str().unwrap_or("")))).boxed());
    }
    let num = |k: &str| node.get(k).and_then(Value::as_i64);
    for t in &types {
        match t.as_str() {
            "string" => options.push(string(node, num("minLength"), num("maxLength"))),
            "integer" | "number" => {
                let mut edges = vec![0i64, 1, -1, i64::from(u32::MAX) + 1];
                for bound in [num("minimum"), num("maximum")].into_iter().flatten() {
                    edges.extend([bound - 1, bound, bound + 1]);
                }
                let lo = num("minimum").unwrap_or(0);
                let hi = num("maximum").unwrap_or(1000).max(lo);
                options.push(
                    prop_oneof![
                        proptest::sample::select(edges).prop_map(Value::from),
                        (lo..=hi).prop_map(Value::from),
                        Just(json!(2.5)),
                    ]
                    .boxed(),
                );
            }
            "array" if depth < 4 => {
                let items = node.get("items").cloned().unwrap_or(json!({}));
                let min = num("minItems").unwrap_or(0).max(0) as usize;
                let max = num("maxItems").unwrap_or(4) as usize + 1;
                let item = around(&items, root, depth + 1);
                options.push(
                    proptest::collection::vec(item, min.saturating_sub(1)..=max)
                        .prop_map(Value::Array)
                        .boxed(),
                );
            }
            "object" if depth < 4 => options.push(object(node, root, depth)),
            "boolean" => options.push(any::<bool>().prop_map(Value::from).boxed()),
            "null" => options.push(Just(Value::Null).boxed()),
            _ => {}
        }
    }
    // The node's own kinds of value four times out of five; a wrong type otherwise.
    let own = options.split_off(1);
    if own.is_empty() {
        return options.remove(0);
    }
    prop_oneof![1 => options.remove(0), 4 => proptest::strategy::Union::new(own)].boxed()
}

/// Strings at, just inside and just past each length bound, in 1-, 2- and 4-byte characters,
/// and strings of the node's pattern when it has one.
fn string(node: &Value, min: Option<i64>, max: Option<i64>) -> BoxedStrategy<Value> {
    let mut lengths = vec![0usize, 1, 5];
    for bound in [min, max].into_iter().flatten() {
        let bound = bound.max(0) as usize;
        lengths.extend([bound.saturating_sub(1), bound, bound + 1]);
    }
    let by_length = (
        proptest::sample::select(lengths),
        proptest::sample::select(vec!['x', 'é', '😀', '1', '@']),
    )
        .prop_map(|(n, c)| Value::from(c.to_string().repeat(n)));
    let mut options = vec![by_length.boxed()];
    if let Some(pattern) = node.get("pattern").and_then(Value::as_str)
        && let Ok(s) = proptest::string::string_regex(pattern)
    {
        options.push(s.prop_map(Value::from).boxed());
    }
    if node.get("format").and_then(Value::as_str) == Some("email") {
        options.push(
            proptest::sample::select(vec!["a@example.com", "a@b", "@x.com", "a b@c.de", "a@"])
                .prop_map(Value::from)
                .boxed(),
        );
    }
    proptest::strategy::Union::new(options).boxed()
}

/// Each property present (some value around its schema) or absent, sometimes an extra one.
fn object(node: &Value, root: &Value, depth: usize) -> BoxedStrategy<Value> {
    let properties: Vec<(String, Value)> = node
        .get("properties")
        .and_then(Value::as_object)
        .map(|p| p.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    let fields: Vec<BoxedStrategy<Option<(String, Value)>>> = properties
        .into_iter()
        .map(|(name, schema)| {
            proptest::option::weighted(0.85, around(&schema, root, depth + 1))
                .prop_map(move |v| v.map(|v| (name.clone(), v)))
                .boxed()
        })
        .collect();
    let extra = proptest::option::weighted(0.1, prop_oneof![Just("extra"), Just("approved")]);
    (fields, extra)
        .prop_map(|(fields, extra)| {
            let mut map: Map<String, Value> = fields.into_iter().flatten().collect();
            if let Some(name) = extra {
                map.insert(name.into(), json!(true));
            }
            Value::Object(map)
        })
        .boxed()
}

/// What a strict-mode model sends: every property present, absent optionals as `null`, at
/// every level the strict schema describes.
fn as_strict(args: &Value, strict: &Value, root: &Value) -> Value {
    let node = resolve(strict, root);
    match args {
        Value::Object(map) => {
            let mut out = map.clone();
            if let Some(props) = node.get("properties").and_then(Value::as_object) {
                for (name, schema) in props {
                    let filled = match map.get(name) {
                        Some(v) => as_strict(v, schema, root),
                        None => Value::Null,
                    };
                    out.insert(name.clone(), filled);
                }
            }
            Value::Object(out)
        }
        Value::Array(items) => {
            let item = node.get("items").cloned().unwrap_or(json!({}));
            Value::Array(items.iter().map(|v| as_strict(v, &item, root)).collect())
        }
        _ => args.clone(),
    }
}

/// The schema a non-null value meets: through `$ref`, and past the `null` branch of a nullable.
fn resolve<'a>(node: &'a Value, root: &'a Value) -> &'a Value {
    if let Some(r) = node.get("$ref").and_then(Value::as_str)
        && let Some(target) = root.pointer(r.trim_start_matches('#'))
    {
        return resolve(target, root);
    }
    if let Some(branch) = node
        .get("anyOf")
        .and_then(Value::as_array)
        .and_then(|b| b.iter().find(|b| b.get("type") != Some(&json!("null"))))
    {
        return resolve(branch, root);
    }
    node
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(2_000)
}

#[test]
fn generated_arguments_get_the_same_answer_from_every_schema_and_the_runtime() {
    let tb = toolbox(App::seeded());
    let everyone = Session::authenticated("erin", Role::SuperAdmin);
    let definitions = tb.definitions(&everyone);
    let anthropic = definitions.anthropic();
    let mcp = definitions.mcp();
    let openai = definitions.openai();
    let compile = |schema: &Value| {
        jsonschema::options()
            .should_validate_formats(true)
            .build(schema)
            .unwrap_or_else(|e| panic!("an exported schema does not compile: {e}\n{schema}"))
    };
    let accepted = std::cell::Cell::new(0u32);
    let refused = std::cell::Cell::new(0u32);
    for definition in definitions.iter() {
        let name = definition.name.as_str();
        let find = |export: &Value, key: &str| -> Value {
            let entry = export
                .as_array()
                .unwrap()
                .iter()
                .find(|t| t["name"] == name || t["function"]["name"] == name)
                .unwrap_or_else(|| panic!("{name} missing from an export"));
            entry.pointer(key).cloned().unwrap()
        };
        let canonical = find(&anthropic, "/input_schema");
        let by_anthropic = compile(&canonical);
        let by_mcp = compile(&find(&mcp, "/inputSchema"));
        let strict = find(&openai, "/function/parameters");
        let by_openai = compile(&strict);

        let config = ProptestConfig {
            cases: cases(),
            failure_persistence: None,
            ..ProptestConfig::default()
        };
        let mut runner = proptest::test_runner::TestRunner::new(config);
        runner
            .run(&around(&canonical, &canonical, 0), |args| {
                let text = args.to_string();
                let by_runtime = tb.check_arguments(&everyone, name, &text).is_ok();
                if by_runtime {
                    accepted.set(accepted.get() + 1);
                } else {
                    refused.set(refused.get() + 1);
                }
                prop_assert_eq!(
                    by_anthropic.is_valid(&args),
                    by_runtime,
                    "anthropic, {} {}",
                    name,
                    text
                );
                prop_assert_eq!(by_mcp.is_valid(&args), by_runtime, "mcp, {} {}", name, text);
                if by_runtime {
                    let filled = as_strict(&args, &strict, &strict);
                    prop_assert!(
                        by_openai.is_valid(&filled),
                        "openai refuses {} {}",
                        name,
                        filled
                    );
                    prop_assert!(
                        tb.check_arguments(&everyone, name, &filled.to_string())
                            .is_ok(),
                        "the runtime refuses the strict form {} {}",
                        name,
                        filled
                    );
                }
                Ok(())
            })
            .unwrap_or_else(|e| panic!("{e}"));
    }
    // Generation that only ever hits one side would prove nothing.
    let (accepted, refused) = (accepted.get(), refused.get());
    assert!(
        accepted > 1000 && refused > 1000,
        "accepted {accepted}, refused {refused}"
    );
}
