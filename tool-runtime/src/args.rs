//! Turning the model's raw arguments into a tool's typed, validated arguments, and every way
//! that can fail into a message the model can act on.

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;

use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use validator::{ValidationErrors, ValidationErrorsKind};

use crate::error::{FieldErrors, ToolError};
use crate::tool::ToolArgs;

/// Arguments as they reach the toolbox.
#[derive(Clone, Copy, Debug)]
pub enum ArgsSource<'a> {
    /// The raw JSON text a provider sent: the only form in which duplicate keys are visible.
    Text(&'a str),
    /// An already parsed value, from host code.
    Value(&'a Value),
}

/// The longest field name or message echoed back to the model: input is untrusted and a
/// message is not the place to reflect a megabyte of it.
const MAX_ECHO: usize = 200;

/// Parses and validates `A` from `source`. Generic, so compiled once per tool: only what
/// depends on the type is here; the rest is in the functions it calls.
pub(crate) fn parse<A: ToolArgs>(source: ArgsSource<'_>) -> Result<A, ToolError> {
    let text = object_text(source)?;
    let args = serde_json::from_str::<A>(&text).map_err(|e| read_error(&text, &e))?;
    let mut fields = match args.validate() {
        Ok(()) => FieldErrors::new(),
        Err(e) => validation_messages(&e),
    };
    args.validate_nested(&mut fields);
    refuse_fields(fields)?;
    Ok(args)
}

/// The arguments as JSON text, if they are an object. serde's derived structs also accept an
/// array of the fields in order; the schema the model sees says object, and positional
/// arguments would slip past anything keyed by field name. A value is read as its text: one
/// way of deserialising per tool, not two, keeps the code compiled for each tool small.
fn object_text(source: ArgsSource<'_>) -> Result<Cow<'_, str>, ToolError> {
    let is_object = match source {
        ArgsSource::Text(text) => text.trim_start().starts_with('{'),
        ArgsSource::Value(value) => value.is_object(),
    };
    if !is_object {
        return Err(ToolError::invalid_input(
            "The arguments must be a JSON object.",
        ));
    }
    Ok(match source {
        ArgsSource::Text(text) => Cow::Borrowed(text),
        ArgsSource::Value(value) => Cow::Owned(value.to_string()),
    })
}

/// The rules' messages per field, if any rule was broken.
fn refuse_fields(fields: FieldErrors) -> Result<(), ToolError> {
    if fields.is_empty() {
        Ok(())
    } else {
        Err(ToolError::invalid_fields(fields))
    }
}

/// Why `text` could not be read as a tool's arguments, with the field where that happened.
/// Not generic: the field's path is found by walking the text to where serde stopped, rather
/// than by deserialising a second time, which would be generated again for every tool.
fn read_error(text: &str, error: &serde_json::Error) -> ToolError {
    if let Some(dup) = find_duplicate_key(text) {
        return duplicate_key_error(&dup);
    }
    let path = if error.is_syntax() || error.is_eof() {
        String::new()
    } else {
        path_at(text, byte_offset(text, error.line(), error.column()))
    };
    deserialize_error(path, &error.to_string())
}

/// The byte offset of serde_json's one-based line and column (counted in bytes).
fn byte_offset(text: &str, line: usize, column: usize) -> usize {
    let line_start = text
        .match_indices('\n')
        .nth(line.saturating_sub(2))
        .map_or(0, |(at, _)| at + 1);
    let start = if line <= 1 { 0 } else { line_start };
    (start + column).min(text.len())
}

/// The path (`filter.name`, `more[1]`) of what was being read at `offset` bytes into `text`,
/// a JSON document read that far without a syntax error.
///
/// serde_json places an error that a type's own `Deserialize` raises after reading its value
/// (a `SafePath` refused, say) after the object holding it, once that object is closed: when
/// `offset` follows a closing bracket, the path is that of the last value inside it.
fn path_at(text: &str, offset: usize) -> String {
    enum Frame {
        Object { key: Option<String>, at_key: bool },
        Array { index: usize },
    }
    fn path_of(stack: &[Frame]) -> String {
        let mut path = String::new();
        for frame in stack {
            match frame {
                Frame::Object { key: Some(key), .. } => {
                    if !path.is_empty() {
                        path.push('.');
                    }
                    path.push_str(key);
                }
                Frame::Object { key: None, .. } => {}
                Frame::Array { index } => path.push_str(&format!("[{index}]")),
            }
        }
        path
    }
    let bytes = text.as_bytes();
    let mut stack: Vec<Frame> = Vec::new();
    // The path inside the container closed last, while nothing but white space follows it.
    let mut just_closed: Option<String> = None;
    let mut i = 0;
    while i < offset.min(bytes.len()) {
        let byte = bytes[i];
        if !byte.is_ascii_whitespace() {
            just_closed = None;
        }
        match byte {
            b'{' => stack.push(Frame::Object {
                key: None,
                at_key: true,
            }),
            b'[' => stack.push(Frame::Array { index: 0 }),
            b'}' | b']' => {
                just_closed = Some(path_of(&stack));
                stack.pop();
            }
            b',' => match stack.last_mut() {
                Some(Frame::Array { index }) => *index += 1,
                Some(Frame::Object { at_key, .. }) => *at_key = true,
                None => {}
            },
            b'"' => {
                let end = string_end(bytes, i);
                if let Some(Frame::Object { key, at_key }) = stack.last_mut()
                    && *at_key
                {
                    *key = serde_json::from_str::<String>(&text[i..end.min(text.len())]).ok();
                    *at_key = false;
                }
                i = end;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    just_closed.unwrap_or_else(|| path_of(&stack))
}

/// The offset just past the string that opens at `start` (a `"`), escapes skipped.
fn string_end(bytes: &[u8], start: usize) -> usize {
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return i + 1,
            _ => i += 1,
        }
    }
    bytes.len()
}

/// The refusal of a request with a key twice in one object.
pub(crate) fn duplicate_key_error(key: &str) -> ToolError {
    ToolError::invalid_request(format!(
        "The key `{}` appears twice in one object; send each key once.",
        clip(key)
    ))
}

/// Reads serde's error into a field and a message, without the parser's positions.
fn deserialize_error(path: String, message: &str) -> ToolError {
    let message = message
        .rsplit_once(" at line ")
        .map_or(message, |(m, _)| m)
        .to_owned();
    if let Some(rest) = message.strip_prefix("unknown field `") {
        let (field, _) = rest.split_once('`').unwrap_or((rest, ""));
        let expected = message
            .split_once(", expected ")
            .map(|(_, e)| format!("; expected {e}"))
            .or_else(|| {
                message
                    .contains("there are no fields")
                    .then(|| "; this tool takes no arguments".to_owned())
            })
            .unwrap_or_default();
        return ToolError::invalid_field(clip(field), clip(&format!("unknown field{expected}")));
    }
    if let Some(rest) = message.strip_prefix("missing field `") {
        let (field, _) = rest.split_once('`').unwrap_or((rest, ""));
        return ToolError::invalid_field(clip(field), "is required");
    }
    if path.is_empty() {
        if message.contains("expected struct") || message.starts_with("invalid type") {
            return ToolError::invalid_input("The arguments must be a JSON object.");
        }
        return ToolError::invalid_input(format!(
            "The arguments could not be read: {}.",
            clip(&message)
        ));
    }
    ToolError::invalid_field(clip(&path), clip(&message))
}

fn clip(s: &str) -> String {
    if s.len() <= MAX_ECHO {
        return s.to_owned();
    }
    let mut end = MAX_ECHO;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// Messages per field, nested fields and list items with dotted paths (`items[2].name`).
pub(crate) fn validation_messages(errors: &ValidationErrors) -> FieldErrors {
    let mut out = FieldErrors::new();
    collect(errors, String::new(), &mut out);
    out
}

fn collect(errors: &ValidationErrors, prefix: String, out: &mut FieldErrors) {
    for (field, kind) in errors.errors() {
        // validator names the inner value of some wrappers `_tmp_validator`: not the model's.
        let path = if field == "_tmp_validator" {
            prefix.clone()
        } else if prefix.is_empty() {
            field.to_string()
        } else {
            format!("{prefix}.{field}")
        };
        match kind {
            ValidationErrorsKind::Field(list) => {
                let messages = out.entry(path).or_default();
                messages.extend(list.iter().map(describe));
            }
            ValidationErrorsKind::Struct(inner) => collect(inner, path, out),
            ValidationErrorsKind::List(items) => {
                for (index, inner) in items {
                    collect(inner, format!("{path}[{index}]"), out);
                }
            }
        }
    }
}

fn describe(err: &validator::ValidationError) -> String {
    if let Some(message) = &err.message {
        return message.to_string();
    }
    let param = |k: &str| err.params.get(k).map(|v| v.to_string());
    match err.code.as_ref() {
        "length" => match (param("min"), param("max"), param("equal")) {
            (_, _, Some(eq)) => format!("length must be exactly {eq}"),
            (Some(min), Some(max), _) => format!("length must be between {min} and {max}"),
            (None, Some(max), _) => format!("length must be at most {max}"),
            (Some(min), None, _) => format!("length must be at least {min}"),
            _ => "has the wrong length".to_owned(),
        },
        "range" => match (param("min"), param("max")) {
            (Some(min), Some(max)) => format!("must be between {min} and {max}"),
            (None, Some(max)) => format!("must be at most {max}"),
            (Some(min), None) => format!("must be at least {min}"),
            _ => "is out of range".to_owned(),
        },
        "email" => "must be a valid email address".to_owned(),
        "url" => "must be a valid URL".to_owned(),
        "regex" => "has an invalid format".to_owned(),
        "required" => "is required".to_owned(),
        "contains" => "is missing a required part".to_owned(),
        "does_not_contain" => "contains text that is not allowed".to_owned(),
        "non_control_character" => "must not contain control characters".to_owned(),
        "ip" | "ipv4" | "ipv6" => "must be a valid IP address".to_owned(),
        _ => "is invalid".to_owned(),
    }
}

/// The first key that appears twice in one object of `text`, if `text` is JSON.
///
/// serde_json keeps the last of two duplicate keys once input has become a `Value`, and parsers
/// disagree on which one wins; so a request with one is refused outright.
pub fn find_duplicate_key(text: &str) -> Option<String> {
    let mut found = None;
    let mut de = serde_json::Deserializer::from_str(text);
    let _ = DupSeed { found: &mut found }.deserialize(&mut de);
    found
}

struct DupSeed<'f> {
    found: &'f mut Option<String>,
}

impl<'de> DeserializeSeed<'de> for DupSeed<'_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for DupSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq
            .next_element_seed(DupSeed {
                found: &mut *self.found,
            })?
            .is_some()
        {
            if self.found.is_some() {
                return Err(serde::de::Error::custom("duplicate key"));
            }
        }
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut keys = HashSet::new();
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            if !keys.insert(key.clone()) {
                *self.found = Some(key.into_owned());
                let _ = map.next_value::<IgnoredAny>();
                return Err(serde::de::Error::custom("duplicate key"));
            }
            map.next_value_seed(DupSeed {
                found: &mut *self.found,
            })?;
            if self.found.is_some() {
                return Err(serde::de::Error::custom("duplicate key"));
            }
        }
        Ok(())
    }
}

/// An argument of a type that may implement `Validate` (a struct of the author's), for the
/// validation `#[secure_tool]` generates: such a type's own rules run, whether or not the author
/// remembered `#[validate(nested)]`. Which impl applies is settled per type at compile time.
#[doc(hidden)]
pub struct Nested<'a, T>(pub &'a T);

/// The rules of an argument's own type, where it has them.
#[doc(hidden)]
pub trait NestedValidate {
    fn nested_validate(&self, field: &str, errors: &mut FieldErrors);
}

impl<T: validator::Validate> NestedValidate for &Nested<'_, T> {
    fn nested_validate(&self, field: &str, errors: &mut FieldErrors) {
        if let Err(e) = self.0.validate() {
            for (path, messages) in validation_messages(&e) {
                errors
                    .entry(format!("{field}.{path}"))
                    .or_default()
                    .extend(messages);
            }
        }
    }
}

/// Types without rules of their own: nothing to do.
#[doc(hidden)]
pub trait NestedSkip {
    fn nested_validate(&self, _field: &str, _errors: &mut FieldErrors) {}
}

impl<T> NestedSkip for Nested<'_, T> {}

/// The rule `confirm = "text"` generates: the call's `confirmation` must be exactly the text.
#[doc(hidden)]
pub fn confirmation_matches(
    value: &str,
    expected: &'static str,
) -> Result<(), validator::ValidationError> {
    if value == expected {
        return Ok(());
    }
    let mut err = validator::ValidationError::new("confirmation");
    err.message = Some(std::borrow::Cow::Owned(format!(
        "must be exactly: {expected}"
    )));
    Err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_path_where_reading_stopped() {
        let at = |text: &str, after: &str| path_at(text, text.find(after).unwrap() + after.len());
        assert_eq!(at(r#"{"a": 5}"#, "5"), "a");
        assert_eq!(at(r#"{"filter": {"name": 5}}"#, "5"), "filter.name");
        assert_eq!(
            at(r#"{"more": [{"name": "x"}, {"name": 5}]}"#, "5"),
            "more[1].name"
        );
        assert_eq!(at(r#"{"a\"b,[{": [1, 2, true]}"#, "true"), "a\"b,[{[2]");
        assert_eq!(at(r#"{"x": "a,b]}", "y": 1}"#, "1"), "y");
        // After a closing bracket: the last value inside it.
        assert_eq!(at(r#"{"path": "../x"}"#, "}"), "path");
        assert_eq!(at(r#"{"filter": {"name": "x"} }"#, "} "), "filter.name");
        assert_eq!(at(r#"{"filter": {"name": "x"}}"#, "}}"), "filter");
        assert_eq!(at(r#"{"a": [1, 2]}"#, "]"), "a[1]");
        assert_eq!(at("[1]", "1"), "[0]");
    }

    #[test]
    fn offsets_count_lines_and_bytes() {
        let text = "{\n  \"a\": 1,\n  \"b\": 2\n}";
        assert_eq!(byte_offset(text, 1, 1), 1);
        assert_eq!(
            &text[..byte_offset(text, 3, 8)],
            "{\n  \"a\": 1,\n  \"b\": 2"
        );
        assert_eq!(byte_offset(text, 99, 99), text.len());
    }

    #[test]
    fn duplicate_keys_are_found_at_any_depth() {
        assert_eq!(find_duplicate_key(r#"{"a":1,"a":2}"#).as_deref(), Some("a"));
        assert_eq!(
            find_duplicate_key(r#"{"x":{"b":1,"b":2}}"#).as_deref(),
            Some("b")
        );
        assert_eq!(
            find_duplicate_key(r#"[{"c":1},{"c":1,"c":3}]"#).as_deref(),
            Some("c")
        );
        assert_eq!(
            find_duplicate_key(r#"{"d":"\u0064","\u0064":1}"#).as_deref(),
            Some("d")
        );
    }

    #[test]
    fn escaped_duplicates_are_duplicates() {
        assert_eq!(
            find_duplicate_key(r#"{"id":1,"\u0069d":2}"#).as_deref(),
            Some("id")
        );
    }

    #[test]
    fn distinct_keys_and_non_json_find_nothing() {
        assert_eq!(find_duplicate_key(r#"{"a":1,"b":{"a":2}}"#), None);
        assert_eq!(find_duplicate_key(r#"[{"a":1},{"a":2}]"#), None);
        assert_eq!(find_duplicate_key("not json"), None);
    }

    #[test]
    fn long_field_names_are_clipped() {
        let long = "x".repeat(10_000);
        assert!(clip(&long).len() < 300);
    }
}
