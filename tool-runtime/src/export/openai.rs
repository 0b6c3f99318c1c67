//! OpenAI function tools in strict mode (Structured Outputs), for Chat Completions and the
//! Responses API.
//!
//! Strict mode constrains the model's decoding to the schema, but accepts only a subset of JSON
//! Schema. [`strict_parameters`] rewrites the canonical schema into it:
//!
//! - every object gets `"additionalProperties": false` and lists all its properties in
//!   `required`; a property that was optional becomes nullable (`["T", "null"]`, `null` added to
//!   its `enum`, or an `anyOf` with `{"type": "null"}`), so the model writes `null` where it
//!   would leave the property out ([`drop_null_optionals`](super::drop_null_optionals) turns
//!   that back into "absent" before the runtime deserializes);
//! - `oneOf` becomes `anyOf`, `const` a one-value `enum`, `allOf` is merged into its node, and a
//!   union of string literals (a unit enum with documented variants) a single `enum`, the
//!   variants' docs going into the description;
//! - a `$ref` with sibling keywords (a documented field of a struct type) is replaced by the
//!   definition it names, merged with the siblings, because strict mode refuses siblings beside
//!   `$ref`; a plain `$ref` stays, and so does `$defs`;
//! - kept as keywords: `type`, `properties`, `required`, `additionalProperties`, `items`, `enum`,
//!   `anyOf`, `description`, `pattern`, `format` (only `date-time`, `time`, `date`, `duration`,
//!   `email`, `hostname`, `ipv4`, `ipv6`, `uuid`), `minimum`, `maximum`, `exclusiveMinimum`,
//!   `exclusiveMaximum`, `multipleOf`, `minItems`, `maxItems`, `$ref`, `$defs`;
//! - an integer `format` that schemars writes for Rust types (`uint8`, `int32`, `uint32`, ...)
//!   becomes `minimum`/`maximum` bounds, the tighter of the two kept; `uint64` becomes
//!   `"minimum": 0`; `int64`, `float` and `double` are dropped: in 2020-12 `format` is an
//!   annotation, and any number a model writes fits them;
//! - every other constraint is moved into the description, in words: `minLength`/`maxLength`
//!   as "(1 to 16 characters)", other formats as "(format: uri)", `default` as
//!   "(default: 25)", `examples`, `uniqueItems`, `deprecated`, `minProperties`, ...;
//! - `title`, `$schema`, `$id`, `$comment` and `$anchor` are dropped: they constrain nothing;
//! - refused: a boolean schema or a node without a type (strict mode needs one), a map of
//!   arbitrary keys (`additionalProperties` holding a schema), keywords whose value is a schema
//!   and that strict mode lacks (`not`, `if`, `prefixItems` for tuples, ...), and objects nested
//!   more than [`MAX_NESTING`] levels deep.

use serde_json::{Map, Value, json};

use super::normalise;
use super::schema::{
    ANNOTATIONS_ONLY, Defs, Notes, apply_integer_bounds, integer_format_bounds, is_null_schema,
    overlay,
};
use super::{ToolDefinition, Unrepresentable};

/// The string formats strict mode accepts.
pub const SUPPORTED_FORMATS: &[&str] = &[
    "date-time",
    "time",
    "date",
    "duration",
    "email",
    "hostname",
    "ipv4",
    "ipv6",
    "uuid",
];

/// The keywords strict mode accepts, as written by [`strict_parameters`].
pub const SUPPORTED_KEYWORDS: &[&str] = &[
    "type",
    "properties",
    "required",
    "additionalProperties",
    "items",
    "enum",
    "anyOf",
    "description",
    "pattern",
    "format",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
    "minItems",
    "maxItems",
    "$ref",
    "$defs",
];

/// How many levels of objects strict mode allows, the root object being the first.
pub const MAX_NESTING: usize = 10;

/// One entry of the Chat Completions `tools` array.
pub fn chat_tool(definition: &ToolDefinition, parameters: &Value) -> Value {
    json!({
        "type": "function",
        "function": {
            "name": definition.name,
            "description": definition.description,
            "parameters": parameters,
            "strict": true,
        }
    })
}

/// One entry of the Responses API `tools` array: the same, flat.
pub fn responses_tool(definition: &ToolDefinition, parameters: &Value) -> Value {
    json!({
        "type": "function",
        "name": definition.name,
        "description": definition.description,
        "parameters": parameters,
        "strict": true,
    })
}

/// The canonical argument schema rewritten for strict mode (see the module docs).
pub fn strict_parameters(schema: &Value) -> Result<Value, Unrepresentable> {
    if schema.get("type") != Some(&json!("object")) {
        return Err(Unrepresentable::new(
            "",
            "strict mode needs an object at the root",
        ));
    }
    let mut strict = Strict {
        defs: Defs::of(schema),
        inlining: Vec::new(),
    };
    let mut root = strict.node(schema, "")?;
    if let Some(defs) = schema.get("$defs").and_then(Value::as_object) {
        let mut transformed = Map::new();
        for (name, def) in defs {
            let at = format!("/$defs/{}", escape(name));
            transformed.insert(name.clone(), Value::Object(strict.node(def, &at)?));
        }
        root.insert("$defs".into(), Value::Object(transformed));
    }
    let root = Value::Object(root);
    let depth = nesting(&root, &Defs::of(&root), &mut Vec::new());
    if depth > MAX_NESTING {
        return Err(Unrepresentable::new(
            "",
            format!("objects nest {depth} levels deep; strict mode allows at most {MAX_NESTING}"),
        ));
    }
    Ok(root)
}

struct Strict<'a> {
    defs: Defs<'a>,
    /// The definitions being inlined, outermost first: a recursive type stops here.
    inlining: Vec<String>,
}

impl Strict<'_> {
    fn node(&mut self, schema: &Value, at: &str) -> Result<Map<String, Value>, Unrepresentable> {
        let mut node = normalise::object(schema, at, "strict mode")?;
        if let Some(reference) = node.get("$ref").and_then(Value::as_str) {
            return self.reference(reference.to_owned(), node, at);
        }
        let mut notes = Notes::default();
        normalise::unify(&mut node, at, &mut notes)?;

        let properties = node.remove("properties");
        let required = node.remove("required");
        let additional = node.remove("additionalProperties");
        let is_object = properties.is_some() || has_type(&node, "object");

        let mut out = Map::new();
        let mut format_bounds = None;
        for (key, value) in node {
            match key.as_str() {
                "type" | "enum" | "description" | "pattern" | "minimum" | "maximum"
                | "exclusiveMinimum" | "exclusiveMaximum" | "multipleOf" | "minItems"
                | "maxItems" => {
                    out.insert(key, value);
                }
                "items" => {
                    let items = self.node(&value, &format!("{at}/items"))?;
                    out.insert(key, Value::Object(items));
                }
                "anyOf" => {
                    let Value::Array(branches) = value else {
                        return Err(Unrepresentable::new(at, "`anyOf` is not an array"));
                    };
                    let rewritten = normalise::branches(&branches, at, |b, at| self.node(b, at))?;
                    out.insert(key, rewritten);
                }
                "format" => match value.as_str() {
                    Some(format) if SUPPORTED_FORMATS.contains(&format) => {
                        out.insert(key, value);
                    }
                    Some(format) if integer_format_bounds(format).is_some() => {
                        format_bounds = integer_format_bounds(format);
                    }
                    Some("int64" | "int" | "int128" | "float" | "double") => {}
                    _ => notes.keyword(&key, value),
                },
                _ => normalise::unread_keyword(key, value, at, "strict mode", &mut notes)?,
            }
        }
        if let Some((min, max)) = format_bounds {
            apply_integer_bounds(&mut out, min, max);
        }

        if is_object {
            if let Some(Value::Object(_)) = additional {
                return Err(Unrepresentable::new(
                    at,
                    "a map of arbitrary keys (`additionalProperties` with a schema): strict mode \
                     needs every key named",
                ));
            }
            let originally_required: Vec<&str> = required
                .as_ref()
                .and_then(Value::as_array)
                .map(|names| names.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let mut strict_properties = Map::new();
            for (name, property) in properties
                .as_ref()
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
            {
                let at = format!("{at}/properties/{}", escape(name));
                let mut property = Value::Object(self.node(property, &at)?);
                if !originally_required.contains(&name.as_str()) {
                    property = nullable(property);
                }
                strict_properties.insert(name.clone(), property);
            }
            let all: Vec<Value> = strict_properties
                .keys()
                .cloned()
                .map(Value::String)
                .collect();
            out.insert("type".into(), json!("object"));
            out.insert("properties".into(), Value::Object(strict_properties));
            out.insert("required".into(), Value::Array(all));
            out.insert("additionalProperties".into(), json!(false));
        }

        if !out.contains_key("type") && !out.contains_key("anyOf") && !out.contains_key("enum") {
            return Err(Unrepresentable::new(
                at,
                "a schema without a type accepts any value; strict mode needs one",
            ));
        }
        notes.write_into(&mut out);
        Ok(out)
    }

    fn reference(
        &mut self,
        reference: String,
        node: Map<String, Value>,
        at: &str,
    ) -> Result<Map<String, Value>, Unrepresentable> {
        let has_siblings = node
            .keys()
            .any(|k| k != "$ref" && !ANNOTATIONS_ONLY.contains(&k.as_str()));
        if !has_siblings {
            let mut plain = Map::new();
            plain.insert("$ref".into(), Value::String(reference));
            return Ok(plain);
        }
        let (name, def) = self
            .defs
            .resolve(&reference)
            .map_err(|reason| Unrepresentable::new(at, reason))?;
        if self.inlining.iter().any(|n| n == name) {
            // Inlining a type inside itself never ends: keep the reference, and carry the
            // siblings on an `anyOf` of one branch, which strict mode accepts.
            let mut wrapper = node;
            wrapper.remove("$ref");
            wrapper.insert("anyOf".into(), json!([{ "$ref": reference }]));
            return self.node(&Value::Object(wrapper), at);
        }
        self.inlining.push(name.to_owned());
        let merged = Value::Object(overlay(def, &node));
        let inlined = self.node(&merged, at);
        self.inlining.pop();
        inlined
    }
}

fn has_type(node: &Map<String, Value>, wanted: &str) -> bool {
    match node.get("type") {
        Some(Value::String(t)) => t == wanted,
        Some(Value::Array(types)) => types.iter().any(|t| t == wanted),
        _ => false,
    }
}

fn accepts_null(node: &Map<String, Value>) -> bool {
    has_type(node, "null")
        || node
            .get("anyOf")
            .and_then(Value::as_array)
            .is_some_and(|branches| branches.iter().any(is_null_schema))
}

/// The schema made to accept `null` too, for a property strict mode makes required.
fn nullable(schema: Value) -> Value {
    let Value::Object(mut node) = schema else {
        return schema;
    };
    if accepts_null(&node) {
        return Value::Object(node);
    }
    let typed = match node.get_mut("type") {
        Some(Value::String(t)) => {
            let t = std::mem::take(t);
            node.insert("type".into(), json!([t, "null"]));
            true
        }
        Some(Value::Array(types)) => {
            types.push(json!("null"));
            true
        }
        _ => false,
    };
    if typed {
        if let Some(Value::Array(values)) = node.get_mut("enum") {
            values.push(Value::Null);
        }
        return Value::Object(node);
    }
    if let Some(Value::Array(branches)) = node.get_mut("anyOf") {
        branches.push(json!({ "type": "null" }));
        return Value::Object(node);
    }
    json!({ "anyOf": [node, { "type": "null" }] })
}

/// Levels of objects along the deepest path, following `$ref`s; a recursive reference counts
/// once, as strict mode allows recursion.
fn nesting(schema: &Value, defs: &Defs, seen: &mut Vec<String>) -> usize {
    let Some(node) = schema.as_object() else {
        return 0;
    };
    if let Some(reference) = node.get("$ref").and_then(Value::as_str) {
        let Ok((name, def)) = defs.resolve(reference) else {
            return 0;
        };
        if seen.iter().any(|n| n == name) {
            return 0;
        }
        seen.push(name.to_owned());
        let depth = nesting(def, defs, seen);
        seen.pop();
        return depth;
    }
    let own = usize::from(node.contains_key("properties"));
    let properties = node
        .get("properties")
        .and_then(Value::as_object)
        .into_iter()
        .flat_map(|p| p.values());
    let branches = node
        .get("anyOf")
        .and_then(Value::as_array)
        .into_iter()
        .flatten();
    let children = properties.chain(branches).chain(node.get("items"));
    own + children.map(|c| nesting(c, defs, seen)).max().unwrap_or(0)
}

/// A JSON pointer segment (RFC 6901).
pub(crate) fn escape(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}
