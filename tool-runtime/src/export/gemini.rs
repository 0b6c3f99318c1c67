//! Gemini `functionDeclarations`: `{name, description, parameters}`, where `parameters` is
//! Gemini's `Schema`, a subset of OpenAPI 3.0.
//!
//! Google's SDK models reject keys they do not know, so [`parameters`] writes only the keys in
//! [`SUPPORTED_KEYWORDS`] and rewrites the canonical schema into them:
//!
//! - every `$ref` is replaced by the definition it names (Gemini has no references), and
//!   `$defs` goes; a type that contains itself cannot be inlined and is refused;
//! - `type` is one upper-case name (`STRING`, `INTEGER`, `NUMBER`, `BOOLEAN`, `ARRAY`,
//!   `OBJECT`); `["T", "null"]`, `anyOf [T, {"type": "null"}]` and `null` in an `enum` become
//!   `T` with `"nullable": true`; several non-null types are refused;
//! - `oneOf` becomes `anyOf`, `allOf` is merged into its node, `const` a one-value `enum`, a union
//!   of string literals (a unit enum with documented variants) a single `enum`, the variants'
//!   docs going into the description;
//! - `enum` is kept only when every value is a string; a numeric enum is written into the
//!   description as "(one of: 1, 2, 3)" and the type stays;
//! - `format` is kept where Gemini knows it (`date-time` for strings, `int32`/`int64` for
//!   integers, `float`/`double` for numbers); the Rust integer formats (`uint8`, `uint32`, ...)
//!   become `minimum`/`maximum` plus `int32` or `int64`; any other format goes into the
//!   description as "(format: email)";
//! - `additionalProperties` is dropped when it is a boolean (the runtime still rejects unknown
//!   fields), and refused when it holds a schema (a map of arbitrary keys);
//! - `exclusiveMinimum`, `exclusiveMaximum`, `multipleOf`, `default`, `examples`, `uniqueItems`,
//!   `deprecated` and any other keyword go into the description in words;
//!   `title`, `$schema`, `$id`, `$comment` and `$anchor` are dropped: they constrain nothing;
//!   keywords whose value is a schema (`not`, `if`, `prefixItems`, ...) are refused;
//! - a tool without arguments has no `parameters` at all, since Gemini refuses an `OBJECT`
//!   with no properties.
//!
//! Gemini also wants a function name that starts with a letter or an underscore, and parameter
//! names of letters, digits and underscores; other names are refused.

use serde_json::{Map, Value, json};

use super::normalise;
use super::openai::escape;
use super::schema::{
    Defs, Notes, apply_integer_bounds, integer_format_bounds, is_null_schema, literal_union,
    overlay,
};
use super::{ToolDefinition, Unrepresentable};

/// Every key [`parameters`] may write.
pub const SUPPORTED_KEYWORDS: &[&str] = &[
    "type",
    "format",
    "description",
    "nullable",
    "enum",
    "properties",
    "required",
    "items",
    "minItems",
    "maxItems",
    "minLength",
    "maxLength",
    "pattern",
    "minimum",
    "maximum",
    "minProperties",
    "maxProperties",
    "anyOf",
];

/// The type names Gemini's `Schema` takes.
pub const TYPES: &[&str] = &["STRING", "INTEGER", "NUMBER", "BOOLEAN", "ARRAY", "OBJECT"];

/// One entry of the `functionDeclarations` array.
pub fn function_declaration(definition: &ToolDefinition) -> Result<Value, Unrepresentable> {
    if !definition
        .name
        .starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
    {
        return Err(Unrepresentable::new(
            "",
            format!(
                "Gemini wants a function name that starts with a letter or `_`, not `{}`",
                definition.name
            ),
        ));
    }
    let mut declaration = json!({
        "name": definition.name,
        "description": definition.description,
    });
    if let Some(parameters) = parameters(&definition.input_schema)? {
        declaration["parameters"] = parameters;
    }
    Ok(declaration)
}

/// The canonical argument schema rewritten as Gemini's `Schema` (see the module docs), or
/// `None` for a tool without arguments.
pub fn parameters(schema: &Value) -> Result<Option<Value>, Unrepresentable> {
    if schema.get("type") != Some(&json!("object")) {
        return Err(Unrepresentable::new(
            "",
            "Gemini needs an object at the root",
        ));
    }
    let mut gemini = Gemini {
        defs: Defs::of(schema),
        inlining: Vec::new(),
    };
    let root = gemini.node(schema, "")?;
    let Some(Value::Object(properties)) = root.get("properties") else {
        return Ok(None);
    };
    if let Some(bad) = properties.keys().find(|name| !is_parameter_name(name)) {
        return Err(Unrepresentable::new(
            &format!("/properties/{}", escape(bad)),
            "Gemini wants parameter names of letters, digits and `_`, starting with a letter \
             or `_`, at most 64 characters",
        ));
    }
    Ok(Some(Value::Object(root)))
}

fn is_parameter_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

struct Gemini<'a> {
    defs: Defs<'a>,
    /// The definitions being inlined, outermost first: a type met again here contains itself.
    inlining: Vec<String>,
}

impl Gemini<'_> {
    fn node(&mut self, schema: &Value, at: &str) -> Result<Map<String, Value>, Unrepresentable> {
        let mut node = normalise::object(schema, at, "Gemini")?;
        if let Some(reference) = node.get("$ref").and_then(Value::as_str) {
            let (name, def) = self
                .defs
                .resolve(reference)
                .map_err(|reason| Unrepresentable::new(at, reason))?;
            if self.inlining.iter().any(|n| n == name) {
                return Err(Unrepresentable::new(
                    at,
                    format!(
                        "`{name}` contains itself: Gemini has no references, and a recursive \
                         type cannot be inlined"
                    ),
                ));
            }
            self.inlining.push(name.to_owned());
            let merged = Value::Object(overlay(def, &node));
            let inlined = self.node(&merged, at);
            self.inlining.pop();
            return inlined;
        }
        let mut notes = Notes::default();
        normalise::unify(&mut node, at, &mut notes)?;

        let mut nullable = false;
        let mut out = Map::new();

        if let Some(any_of) = node.remove("anyOf") {
            let Value::Array(branches) = any_of else {
                return Err(Unrepresentable::new(at, "`anyOf` is not an array"));
            };
            let (nulls, rest): (Vec<Value>, Vec<Value>) =
                branches.into_iter().partition(is_null_schema);
            nullable = !nulls.is_empty();
            if let Some((values, variant_notes)) = literal_union(&rest) {
                node.insert("type".into(), json!("string"));
                node.insert("enum".into(), Value::Array(values));
                variant_notes.into_iter().for_each(|n| notes.phrase(n));
            } else if let [only] = rest.as_slice() {
                // The one real branch, with this node's own keywords (its description) on top.
                let mut merged = overlay(only, &Map::new());
                merged.extend(node);
                let mut single = self.node(&Value::Object(merged), at)?;
                if nullable {
                    single.insert("nullable".into(), json!(true));
                }
                return Ok(single);
            } else if rest.is_empty() {
                return Err(Unrepresentable::new(at, "a schema that only accepts null"));
            } else {
                let rewritten = normalise::branches(&rest, at, |b, at| self.node(b, at))?;
                out.insert("anyOf".into(), rewritten);
            }
        }

        let mut types: Vec<String> = match node.remove("type") {
            None => Vec::new(),
            Some(Value::String(t)) => vec![t],
            Some(Value::Array(ts)) => ts
                .into_iter()
                .filter_map(|t| t.as_str().map(str::to_owned))
                .collect(),
            Some(other) => {
                return Err(Unrepresentable::new(at, format!("`type` is {other}")));
            }
        };
        if let Some(position) = types.iter().position(|t| t == "null") {
            types.remove(position);
            nullable = true;
        }
        if let Some(Value::Array(values)) = node.get_mut("enum")
            && let Some(position) = values.iter().position(Value::is_null)
        {
            values.remove(position);
            nullable = true;
        }
        let ty = match types.as_slice() {
            [one] => Some(one.clone()),
            [] if node.contains_key("properties") => Some("object".to_owned()),
            [] if node.contains_key("items") => Some("array".to_owned()),
            [] if all_strings(node.get("enum")) => Some("string".to_owned()),
            [] if out.contains_key("anyOf") => None,
            [] => {
                return Err(Unrepresentable::new(
                    at,
                    "a schema without a type accepts any value; Gemini needs one",
                ));
            }
            several => {
                return Err(Unrepresentable::new(
                    at,
                    format!("several types ({}); Gemini takes one", several.join(", ")),
                ));
            }
        };
        if let Some(ty) = &ty {
            let upper = ty.to_ascii_uppercase();
            if !TYPES.contains(&upper.as_str()) {
                return Err(Unrepresentable::new(at, format!("type `{ty}`")));
            }
            out.insert("type".into(), Value::String(upper));
        }

        let mut format_bounds = None;
        let mut property_names = Vec::new();
        for (key, value) in node {
            match key.as_str() {
                "description" | "pattern" | "minimum" | "maximum" | "minItems" | "maxItems"
                | "minLength" | "maxLength" | "minProperties" | "maxProperties" => {
                    out.insert(key, value);
                }
                "enum" if all_strings(Some(&value)) => {
                    out.insert(key, value);
                }
                "items" => {
                    let items = self.node(&value, &format!("{at}/items"))?;
                    out.insert(key, Value::Object(items));
                }
                "properties" => {
                    let Value::Object(properties) = value else {
                        return Err(Unrepresentable::new(at, "`properties` is not an object"));
                    };
                    let mut transformed = Map::new();
                    for (name, property) in &properties {
                        let at = format!("{at}/properties/{}", escape(name));
                        transformed.insert(name.clone(), Value::Object(self.node(property, &at)?));
                    }
                    property_names = properties.keys().cloned().collect();
                    if !transformed.is_empty() {
                        out.insert(key, Value::Object(transformed));
                    }
                }
                "required" => {
                    if value.as_array().is_some_and(|names| !names.is_empty()) {
                        out.insert(key, value);
                    }
                }
                "additionalProperties" => {
                    if value.is_object() {
                        return Err(Unrepresentable::new(
                            at,
                            "a map of arbitrary keys (`additionalProperties` with a schema): \
                             Gemini needs every key named",
                        ));
                    }
                }
                "format" => match (ty.as_deref(), value.as_str()) {
                    (Some("string"), Some("date-time"))
                    | (Some("integer"), Some("int32" | "int64"))
                    | (Some("number"), Some("float" | "double")) => {
                        out.insert(key, value);
                    }
                    (Some("integer"), Some(format)) if integer_format_bounds(format).is_some() => {
                        format_bounds = integer_format_bounds(format);
                        let fits_int32 = matches!(format, "int8" | "int16" | "uint8" | "uint16");
                        let format = if fits_int32 || format == "int32" {
                            "int32"
                        } else {
                            "int64"
                        };
                        out.insert(key, json!(format));
                    }
                    _ => notes.keyword(&key, value),
                },
                _ => normalise::unread_keyword(key, value, at, "Gemini's schema", &mut notes)?,
            }
        }
        if let Some((min, max)) = format_bounds {
            apply_integer_bounds(&mut out, min, max);
        }
        if let Some(Value::Array(required)) = out.get_mut("required") {
            required.retain(|name| {
                name.as_str()
                    .is_some_and(|n| property_names.iter().any(|p| p == n))
            });
            if required.is_empty() {
                out.remove("required");
            }
        }
        if nullable {
            out.insert("nullable".into(), json!(true));
        }
        notes.write_into(&mut out);
        Ok(out)
    }
}

fn all_strings(values: Option<&Value>) -> bool {
    values
        .and_then(Value::as_array)
        .is_some_and(|values| values.iter().all(Value::is_string))
}
