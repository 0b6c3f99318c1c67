//! Anthropic Messages API tools: `{name, description, input_schema}`.
//!
//! Anthropic takes a full JSON Schema 2020-12 document, so the canonical schema goes out as it
//! is, `$defs` and all. Its one rule on the schema is that the root describes an object.

use serde_json::{Value, json};

use super::{ToolDefinition, Unrepresentable};

/// One entry of the `tools` array.
pub fn tool(definition: &ToolDefinition) -> Value {
    json!({
        "name": definition.name,
        "description": definition.description,
        "input_schema": definition.input_schema,
    })
}

/// Refuses a schema whose root is not an object: Anthropic wants `"type": "object"` there.
pub fn check(definition: &ToolDefinition) -> Result<(), Unrepresentable> {
    if definition.input_schema.get("type") == Some(&json!("object")) {
        Ok(())
    } else {
        Err(Unrepresentable::new(
            "",
            "the root of `input_schema` must be `\"type\": \"object\"`",
        ))
    }
}
