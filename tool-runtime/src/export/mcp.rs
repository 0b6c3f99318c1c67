//! MCP `tools/list` entries (protocol revision 2025-06-18):
//! `{name, title?, description, inputSchema, outputSchema?, annotations}`.
//!
//! MCP takes full JSON Schema, so `inputSchema` is the canonical schema. The annotations carry
//! all four hints explicitly, because MCP's defaults assume the worst (`destructiveHint` and
//! `openWorldHint` default to true).
//!
//! MCP wants `outputSchema` to describe an object, and a result's `structuredContent` to be an
//! object that matches it. A tool whose output is not an object (a list, an `Option`, a string)
//! gets its output schema wrapped as `{"result": <schema>}`, and the server must wrap the value
//! the same way: [`structured_content`] does both halves of that agreement, so a server calls it
//! rather than deciding for itself. `result` is the key the reply envelope uses too.

use serde_json::{Map, Value, json};

use super::{ToolDefinition, Unrepresentable};

/// The property a non-object output is wrapped in.
pub const RESULT_KEY: &str = "result";

/// One entry of the `tools` array.
pub fn tool(definition: &ToolDefinition) -> Result<Value, Unrepresentable> {
    if definition.input_schema.get("type") != Some(&json!("object")) {
        return Err(Unrepresentable::new(
            "",
            "MCP wants `inputSchema` to be an object schema",
        ));
    }
    let hints = definition.hints;
    let mut annotations = json!({
        "readOnlyHint": hints.read_only,
        "destructiveHint": hints.destructive,
        "idempotentHint": hints.idempotent,
        "openWorldHint": hints.open_world,
    });
    let mut tool = json!({
        "name": definition.name,
        "description": definition.description,
        "inputSchema": definition.input_schema,
    });
    if let Some(title) = &definition.title {
        tool["title"] = json!(title);
        annotations["title"] = json!(title);
    }
    if let Some(output) = &definition.output_schema {
        tool["outputSchema"] = output_schema(output);
    }
    tool["annotations"] = annotations;
    Ok(tool)
}

/// Whether a canonical output schema is wrapped under [`RESULT_KEY`] for MCP: when its root is
/// not `"type": "object"` (a nullable object, `["object", "null"]`, is wrapped too, since
/// `structuredContent` cannot be null).
pub fn wraps_output(canonical: &Value) -> bool {
    canonical.get("type") != Some(&json!("object"))
}

/// The `outputSchema` for a canonical output schema: itself when it describes an object,
/// otherwise `{"type": "object", "properties": {"result": ...}, "required": ["result"]}` with
/// `$defs` and `$schema` moved to the new root so every `$ref` still resolves.
pub fn output_schema(canonical: &Value) -> Value {
    if !wraps_output(canonical) {
        return canonical.clone();
    }
    let mut inner = canonical.as_object().cloned().unwrap_or_default();
    let mut wrapper = Map::new();
    if let Some(dialect) = inner.remove("$schema") {
        wrapper.insert("$schema".into(), dialect);
    }
    let defs = inner.remove("$defs");
    wrapper.insert("type".into(), json!("object"));
    wrapper.insert("properties".into(), json!({ RESULT_KEY: inner }));
    wrapper.insert("required".into(), json!([RESULT_KEY]));
    if let Some(defs) = defs {
        wrapper.insert("$defs".into(), defs);
    }
    Value::Object(wrapper)
}

/// The `structuredContent` of a successful call: the output itself when its canonical schema
/// describes an object, otherwise `{"result": output}`, matching [`output_schema`].
pub fn structured_content(canonical_output_schema: &Value, output: Value) -> Value {
    if wraps_output(canonical_output_schema) {
        json!({ RESULT_KEY: output })
    } else {
        output
    }
}
