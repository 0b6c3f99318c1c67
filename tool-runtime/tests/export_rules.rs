//! Rule checks: walk every exported schema and assert each provider's rules, and check that
//! what a provider cannot represent is refused with a clear error, never dropped.

mod export_fixtures;

use std::collections::HashMap;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};
use tool_runtime::export::{
    ExportError, drop_null_optionals, gemini, input_schema_of, is_valid_tool_name, mcp, openai,
};
use tool_runtime::{Definitions, Hints, ToolDefinition};

fn definitions() -> Definitions {
    Definitions::new(export_fixtures::tools()).expect("the fixture tools export")
}

fn tool(name: &str, input_schema: Value) -> ToolDefinition {
    ToolDefinition {
        name: name.to_owned(),
        title: None,
        description: "A test tool.".to_owned(),
        input_schema,
        output_schema: None,
        hints: Hints::default(),
    }
}

/// Calls `check` on every schema node under `schema`: properties, items, anyOf, $defs.
fn walk(schema: &Value, at: &str, check: &mut dyn FnMut(&serde_json::Map<String, Value>, &str)) {
    let node = schema
        .as_object()
        .unwrap_or_else(|| panic!("{at}: a schema node must be an object, got {schema}"));
    check(node, at);
    for keyword in ["properties", "$defs"] {
        if let Some(children) = node.get(keyword).and_then(Value::as_object) {
            for (name, child) in children {
                walk(child, &format!("{at}/{keyword}/{name}"), check);
            }
        }
    }
    if let Some(items) = node.get("items") {
        walk(items, &format!("{at}/items"), check);
    }
    if let Some(branches) = node.get("anyOf").and_then(Value::as_array) {
        for (i, branch) in branches.iter().enumerate() {
            walk(branch, &format!("{at}/anyOf/{i}"), check);
        }
    }
}

fn object_depth(schema: &Value, defs: &Value, seen: &mut Vec<String>) -> usize {
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        let name = reference.trim_start_matches("#/$defs/").to_owned();
        if seen.contains(&name) {
            return 0;
        }
        seen.push(name.clone());
        let depth = object_depth(&defs[&name], defs, seen);
        seen.pop();
        return depth;
    }
    let own = usize::from(schema.get("properties").is_some());
    let mut children: Vec<&Value> = Vec::new();
    if let Some(p) = schema.get("properties").and_then(Value::as_object) {
        children.extend(p.values());
    }
    if let Some(b) = schema.get("anyOf").and_then(Value::as_array) {
        children.extend(b);
    }
    children.extend(schema.get("items"));
    own + children
        .into_iter()
        .map(|c| object_depth(c, defs, seen))
        .max()
        .unwrap_or(0)
}

fn check_openai_strict(parameters: &Value, tool: &str) {
    assert_eq!(
        parameters["type"], "object",
        "{tool}: the root must be an object"
    );
    walk(parameters, tool, &mut |node, at| {
        for key in node.keys() {
            assert!(
                openai::SUPPORTED_KEYWORDS.contains(&key.as_str()),
                "{at}: `{key}` is not a strict-mode keyword"
            );
        }
        if node.contains_key("$ref") {
            assert_eq!(
                node.len(),
                1,
                "{at}: strict mode refuses keywords beside `$ref`"
            );
        }
        if let Some(properties) = node.get("properties").and_then(Value::as_object) {
            assert_eq!(node["additionalProperties"], json!(false), "{at}");
            let mut required: Vec<&str> = node["required"]
                .as_array()
                .unwrap_or_else(|| panic!("{at}: no `required`"))
                .iter()
                .map(|v| v.as_str().unwrap())
                .collect();
            required.sort_unstable();
            let mut names: Vec<&str> = properties.keys().map(String::as_str).collect();
            names.sort_unstable();
            assert_eq!(required, names, "{at}: every property must be required");
        }
        if let Some(format) = node.get("format").and_then(Value::as_str) {
            assert!(
                openai::SUPPORTED_FORMATS.contains(&format),
                "{at}: format `{format}`"
            );
        }
        assert!(
            node.contains_key("type") || node.contains_key("anyOf") || node.contains_key("$ref"),
            "{at}: no type"
        );
    });
    let depth = object_depth(parameters, &parameters["$defs"], &mut Vec::new());
    assert!(
        depth <= openai::MAX_NESTING,
        "{tool}: {depth} levels of objects"
    );
}

fn check_gemini(parameters: &Value, tool: &str) {
    walk(parameters, tool, &mut |node, at| {
        for key in node.keys() {
            assert!(
                gemini::SUPPORTED_KEYWORDS.contains(&key.as_str()),
                "{at}: `{key}` is not a key of Gemini's Schema"
            );
        }
        match node.get("type") {
            Some(Value::String(ty)) => assert!(gemini::TYPES.contains(&ty.as_str()), "{at}: {ty}"),
            None => assert!(node.contains_key("anyOf"), "{at}: no type"),
            Some(other) => panic!("{at}: `type` must be one string, got {other}"),
        }
        if let Some(values) = node.get("enum") {
            assert!(
                values.as_array().unwrap().iter().all(Value::is_string),
                "{at}: enum values must be strings"
            );
            assert_eq!(node["type"], "STRING", "{at}: an enum is a STRING");
        }
        if let Some(nullable) = node.get("nullable") {
            assert!(nullable.is_boolean(), "{at}");
        }
        if node.get("type") == Some(&json!("OBJECT")) {
            let properties = node.get("properties").and_then(Value::as_object);
            assert!(
                properties.is_none_or(|p| !p.is_empty()),
                "{at}: empty properties"
            );
        }
    });
}

#[test]
fn names_are_valid_everywhere() {
    let definitions = definitions();
    let exports = [
        definitions
            .openai()
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["function"]["name"].clone())
            .collect::<Vec<_>>(),
        definitions
            .openai_responses()
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].clone())
            .collect(),
        definitions
            .anthropic()
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].clone())
            .collect(),
        definitions
            .gemini()
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].clone())
            .collect(),
        definitions
            .mcp()
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].clone())
            .collect(),
    ];
    for names in exports {
        assert_eq!(names.len(), definitions.len());
        for name in names {
            assert!(is_valid_tool_name(name.as_str().unwrap()), "{name}");
        }
    }
}

#[test]
fn openai_exports_follow_strict_mode() {
    for entry in definitions().openai().as_array().unwrap() {
        assert_eq!(entry["type"], "function");
        let function = &entry["function"];
        assert_eq!(function["strict"], true);
        check_openai_strict(&function["parameters"], function["name"].as_str().unwrap());
    }
    for entry in definitions().openai_responses().as_array().unwrap() {
        assert_eq!(entry["type"], "function");
        assert_eq!(entry["strict"], true);
        check_openai_strict(&entry["parameters"], entry["name"].as_str().unwrap());
    }
}

#[test]
fn gemini_exports_use_only_its_schema_keys() {
    for declaration in definitions().gemini().as_array().unwrap() {
        let keys: Vec<&String> = declaration.as_object().unwrap().keys().collect();
        assert!(
            keys.iter()
                .all(|k| ["name", "description", "parameters"].contains(&k.as_str()))
        );
        if let Some(parameters) = declaration.get("parameters") {
            assert_eq!(parameters["type"], "OBJECT");
            check_gemini(parameters, declaration["name"].as_str().unwrap());
        }
    }
}

#[test]
fn anthropic_and_generic_carry_the_canonical_schema() {
    let definitions = definitions();
    for (definition, entry) in definitions
        .iter()
        .zip(definitions.anthropic().as_array().unwrap())
    {
        assert_eq!(entry["input_schema"], definition.input_schema);
        assert_eq!(entry["input_schema"]["type"], "object");
        assert_eq!(entry.as_object().unwrap().len(), 3);
    }
    assert_eq!(definitions.generic(), definitions.anthropic());
}

#[test]
fn mcp_exports_carry_hints_and_object_output_schemas() {
    let definitions = definitions();
    for (definition, entry) in definitions
        .iter()
        .zip(definitions.mcp().as_array().unwrap())
    {
        let annotations = &entry["annotations"];
        assert_eq!(annotations["readOnlyHint"], definition.hints.read_only);
        assert_eq!(annotations["destructiveHint"], definition.hints.destructive);
        assert_eq!(annotations["idempotentHint"], definition.hints.idempotent);
        assert_eq!(annotations["openWorldHint"], definition.hints.open_world);
        assert_eq!(entry["inputSchema"]["type"], "object");
        if let Some(output) = entry.get("outputSchema") {
            assert_eq!(output["type"], "object", "{}", definition.name);
        }
        assert_eq!(
            entry.get("title"),
            definition.title.as_ref().map(|t| json!(t)).as_ref()
        );
    }
    let delete = &definitions.mcp()[6];
    assert_eq!(delete["name"], "delete_customer");
    assert_eq!(delete["annotations"]["destructiveHint"], true);
}

#[test]
fn schemars_reads_the_validate_attributes() {
    let definitions = definitions();
    let schema = |name: &str| definitions.get(name).unwrap().input_schema.clone();
    let id = &schema("get_customer_details")["properties"]["customer_id"];
    assert_eq!(
        (id["minLength"].clone(), id["maxLength"].clone()),
        (json!(1), json!(16))
    );
    let email = &schema("update_customer_email")["properties"]["new_email"];
    assert_eq!(email["format"], "email");
    assert_eq!(email["maxLength"], 254);
    let limit = &schema("search_customers")["properties"]["limit"];
    assert_eq!(
        (limit["minimum"].clone(), limit["maximum"].clone()),
        (json!(1), json!(100))
    );
    let items = &schema("create_order")["properties"]["items"];
    assert_eq!(
        (items["minItems"].clone(), items["maxItems"].clone()),
        (json!(1), json!(50))
    );
    let min_total = &schema("query_records")["properties"]["min_total"];
    assert_eq!(min_total["minimum"], 0.0);
}

#[test]
fn constraints_strict_mode_lacks_move_into_descriptions() {
    let openai = definitions().openai();
    let parameters = |i: usize| openai[i]["function"]["parameters"].clone();
    let id = &parameters(0)["properties"]["customer_id"];
    assert_eq!(
        id["description"],
        "The customer's id, such as C001. (1 to 16 characters)"
    );
    assert!(id.get("minLength").is_none());
    let email = &parameters(2)["properties"]["new_email"];
    assert_eq!(email["format"], "email");
    assert_eq!(
        email["description"],
        "The new address. (at most 254 characters)"
    );
    let page = &parameters(5)["properties"]["page"];
    assert_eq!(page["description"], "The page, from 1. (default: 1)");
    assert_eq!(
        (page["minimum"].clone(), page["maximum"].clone()),
        (json!(0), json!(u32::MAX))
    );
    assert_eq!(page["type"], json!(["integer", "null"]));
}

#[test]
fn gemini_moves_unsupported_formats_into_descriptions() {
    let gemini = definitions().gemini();
    let email = &gemini[2]["parameters"]["properties"]["new_email"];
    assert_eq!(email["description"], "The new address. (format: email)");
    assert!(email.get("format").is_none());
    assert_eq!(email["maxLength"], 254);
    assert!(
        gemini[4].get("parameters").is_none(),
        "no arguments, no parameters"
    );
}

/// A linked list: it refers to itself.
#[derive(JsonSchema, Deserialize)]
#[allow(dead_code)]
struct Node {
    #[validate(length(max = 10))]
    label: String,
    /// The rest of the list.
    next: Option<Box<Node>>,
}

#[derive(JsonSchema, Deserialize)]
#[allow(dead_code)]
struct RecursiveArgs {
    /// The head of the list.
    head: Node,
}

#[test]
fn gemini_refuses_a_recursive_type_and_openai_keeps_its_reference() {
    let schema = input_schema_of::<RecursiveArgs>();
    let error = Definitions::new(vec![tool("walk_list", schema.clone())]).unwrap_err();
    let ExportError::Unrepresentable {
        tool,
        provider,
        problem,
    } = error
    else {
        panic!("expected a refusal, got {error:?}");
    };
    assert_eq!((tool.as_str(), provider), ("walk_list", "Gemini"));
    assert!(
        problem.reason.contains("`Node` contains itself"),
        "{problem}"
    );

    let strict = openai::strict_parameters(&schema).unwrap();
    check_openai_strict(&strict, "walk_list");
    assert_eq!(
        strict["properties"]["head"]["description"],
        "The head of the list."
    );
    assert_eq!(
        strict["$defs"]["Node"]["properties"]["next"]["anyOf"][0],
        json!({"$ref": "#/$defs/Node"})
    );
}

#[derive(JsonSchema, Deserialize)]
#[allow(dead_code)]
struct MapArgs {
    #[validate(length(max = 10))]
    tags: HashMap<String, String>,
}

#[test]
fn a_map_of_arbitrary_keys_is_refused() {
    let error = Definitions::new(vec![tool("tag", input_schema_of::<MapArgs>())]).unwrap_err();
    assert!(
        matches!(&error, ExportError::Unrepresentable { provider: "OpenAI", problem, .. }
            if problem.at == "/properties/tags" && problem.reason.contains("map of arbitrary keys")),
        "{error}"
    );
}

#[test]
fn nesting_deeper_than_strict_mode_allows_is_refused() {
    let mut schema = json!({"type": "string"});
    for _ in 0..11 {
        schema = json!({"type": "object", "properties": {"inner": schema}, "required": ["inner"]});
    }
    let error = openai::strict_parameters(&schema).unwrap_err();
    assert!(error.reason.contains("11 levels"), "{error}");
    let mut ten = json!({"type": "string"});
    for _ in 0..10 {
        ten = json!({"type": "object", "properties": {"inner": ten}, "required": ["inner"]});
    }
    check_openai_strict(&openai::strict_parameters(&ten).unwrap(), "ten");
}

#[test]
fn names_are_checked() {
    let schema = input_schema_of::<export_fixtures::GetMyProfileArgs>();
    assert_eq!(
        Definitions::new(vec![tool("get customer", schema.clone())]).unwrap_err(),
        ExportError::InvalidName("get customer".into())
    );
    assert_eq!(
        Definitions::new(vec![tool("a", schema.clone()), tool("a", schema.clone())]).unwrap_err(),
        ExportError::DuplicateName("a".into())
    );
    assert!(!is_valid_tool_name(&"x".repeat(65)));
    let error = Definitions::new(vec![tool("1st_tool", schema)]).unwrap_err();
    assert!(
        matches!(
            error,
            ExportError::Unrepresentable {
                provider: "Gemini",
                ..
            }
        ),
        "{error}"
    );
}

#[test]
fn numeric_enums_and_exclusive_bounds_become_words_for_gemini() {
    let schema = json!({
        "type": "object",
        "properties": {
            "level": {"type": "integer", "enum": [1, 2, 3], "description": "How loud."},
            "ratio": {"type": "number", "exclusiveMinimum": 0, "multipleOf": 0.5},
            "mode": {"const": "fast"},
        },
        "required": ["level"],
    });
    let parameters = gemini::parameters(&schema).unwrap().unwrap();
    check_gemini(&parameters, "numbers");
    let properties = &parameters["properties"];
    assert_eq!(
        properties["level"]["description"],
        "How loud. (one of: 1, 2, 3)"
    );
    assert_eq!(
        properties["ratio"]["description"],
        "(greater than 0; a multiple of 0.5)"
    );
    assert_eq!(
        properties["mode"],
        json!({"type": "STRING", "enum": ["fast"]})
    );
}

#[test]
fn the_runtime_can_read_strict_mode_nulls_as_absent() {
    let schema = input_schema_of::<export_fixtures::QueryRecordsArgs>();
    let mut args = json!({
        "table": "orders", "filter": {"kind": "all"}, "page": null, "limit": null,
        "after_id": null, "min_total": 3.5, "sort_by": null,
    });
    drop_null_optionals(&schema, &mut args);
    assert_eq!(
        args,
        json!({"table": "orders", "filter": {"kind": "all"}, "min_total": 3.5})
    );
    let parsed: export_fixtures::QueryRecordsArgs = serde_json::from_value(args).unwrap();
    assert_eq!((parsed.page, parsed.limit), (1, 25));

    let schema = input_schema_of::<export_fixtures::CreateOrderArgs>();
    let mut args = json!({"shipping_address": {"street": "1 Main", "city": "X", "postcode": "1234"},
        "billing_address": null, "items": [{"product_id": "P1", "quantity": 1}],
        "delivery": "standard", "gift_note": null});
    drop_null_optionals(&schema, &mut args);
    assert!(args.get("billing_address").is_none() && args.get("gift_note").is_none());
}

#[test]
fn mcp_wraps_non_object_outputs_and_the_server_wraps_values_alike() {
    let list = tool_runtime::export::output_schema_of::<Vec<String>>();
    assert!(mcp::wraps_output(&list));
    let wrapped = mcp::output_schema(&list);
    assert_eq!(wrapped["required"], json!(["result"]));
    assert_eq!(wrapped["properties"]["result"]["type"], "array");
    assert_eq!(
        mcp::structured_content(&list, json!(["a"])),
        json!({"result": ["a"]})
    );

    let object = tool_runtime::export::output_schema_of::<export_fixtures::SafeCustomer>();
    assert!(!mcp::wraps_output(&object));
    assert_eq!(
        mcp::structured_content(&object, json!({"id": "C1"})),
        json!({"id": "C1"})
    );
}

#[test]
fn filtered_keeps_order_and_exports() {
    let visible = definitions().filtered(|d| d.hints.read_only);
    let names: Vec<&str> = visible.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "get_customer_details",
            "search_customers",
            "get_my_profile",
            "query_records"
        ]
    );
    assert_eq!(visible.openai().as_array().unwrap().len(), 4);
    assert!(
        Definitions::default()
            .gemini()
            .as_array()
            .unwrap()
            .is_empty()
    );
}
