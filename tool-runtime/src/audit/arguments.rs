//! The arguments a record keeps: the request's own JSON text when nothing in it had to be
//! redacted, or a JSON value.

use std::fmt;
use std::ops::Index;
use std::sync::OnceLock;

use serde::ser::{Serialize, Serializer};
use serde_json::Value;
use serde_json::value::RawValue;

/// A call's arguments as its [`AuditRecord`](super::AuditRecord) keeps them.
///
/// Most calls' arguments are kept as the text they arrived in: reading it again into a JSON
/// value for every record would cost a call more than the rest of its record. That text is
/// valid JSON (the call's arguments were read from it) and holds no line break, so a record still
/// serialises as one line. Arguments that had to be changed (`#[secret]` ones redacted, a refused
/// request cut to its size) are kept as a value.
///
/// [`value`](Self::value) reads the text on first use; serialising writes it as it is.
#[derive(Clone, Default)]
pub struct Arguments(Repr);

#[derive(Clone)]
enum Repr {
    Text {
        text: Box<str>,
        parsed: OnceLock<Value>,
    },
    Value(Value),
}

impl Default for Repr {
    fn default() -> Self {
        Repr::Value(Value::Null)
    }
}

impl Arguments {
    /// The arguments as JSON text, kept as they are: `None` unless `text` is one JSON value
    /// without a line break.
    pub fn from_json_text(text: &str) -> Option<Arguments> {
        // Checked rather than trusted: a record's `arguments` must be JSON for every reader.
        let raw: &RawValue = serde_json::from_str(text).ok()?;
        Self::from_read_text(raw.get())
    }

    /// Text the caller has already read as JSON (arguments parsed from it): kept unless it holds
    /// a line break.
    pub(crate) fn from_read_text(text: &str) -> Option<Arguments> {
        // JSON's own whitespace around the value: a line break there is not worth a parse.
        let text = text.trim_matches([' ', '\t', '\n', '\r']);
        let one_line = !text.bytes().any(|b| b == b'\n' || b == b'\r');
        one_line.then(|| {
            Arguments(Repr::Text {
                text: text.into(),
                parsed: OnceLock::new(),
            })
        })
    }

    /// The length of the arguments as JSON text.
    pub(crate) fn json_len(&self) -> usize {
        match &self.0 {
            Repr::Text { text, .. } => text.len(),
            Repr::Value(value) => crate::call::json_len(value),
        }
    }

    /// The arguments as a JSON value.
    pub fn value(&self) -> &Value {
        match &self.0 {
            Repr::Value(value) => value,
            // The text was checked to be JSON when it was kept.
            Repr::Text { text, parsed } => {
                parsed.get_or_init(|| serde_json::from_str(text).unwrap_or(Value::Null))
            }
        }
    }

    /// The arguments as a JSON value, owned.
    pub fn into_value(self) -> Value {
        match self.0 {
            Repr::Value(value) => value,
            Repr::Text { text, parsed } => parsed
                .into_inner()
                .unwrap_or_else(|| serde_json::from_str(&text).unwrap_or(Value::Null)),
        }
    }

    /// Whether there are none (JSON `null`).
    pub fn is_null(&self) -> bool {
        matches!(&self.0, Repr::Value(Value::Null))
    }

    /// The arguments as compact or as-received JSON text.
    pub fn to_json(&self) -> String {
        match &self.0 {
            Repr::Text { text, .. } => text.to_string(),
            Repr::Value(value) => value.to_string(),
        }
    }
}

impl From<Value> for Arguments {
    fn from(value: Value) -> Self {
        Arguments(Repr::Value(value))
    }
}

impl Serialize for Arguments {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match &self.0 {
            Repr::Value(value) => value.serialize(serializer),
            Repr::Text { text, parsed } => match RawValue::from_string(text.to_string()) {
                Ok(raw) => raw.serialize(serializer),
                // Not reached: the text was checked when it was kept. A serialiser that cannot
                // take raw JSON still gets the value.
                Err(_) => parsed.get().unwrap_or(&Value::Null).serialize(serializer),
            },
        }
    }
}

impl PartialEq for Arguments {
    fn eq(&self, other: &Self) -> bool {
        self.value() == other.value()
    }
}

impl PartialEq<Value> for Arguments {
    fn eq(&self, other: &Value) -> bool {
        self.value() == other
    }
}

impl<'a> Index<&'a str> for Arguments {
    type Output = Value;

    fn index(&self, key: &'a str) -> &Value {
        &self.value()[key]
    }
}

impl fmt::Debug for Arguments {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.value(), f)
    }
}

impl fmt::Display for Arguments {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_json())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn text_is_kept_as_it_came_and_read_on_demand() {
        let text = r#"{"customer_id": "C001", "n": [1, 2.50]}"#;
        let kept = Arguments::from_json_text(text).unwrap();
        assert_eq!(serde_json::to_string(&kept).unwrap(), text);
        assert_eq!(kept["customer_id"], "C001");
        assert_eq!(kept, json!({"customer_id": "C001", "n": [1, 2.5]}));
        assert_eq!(kept.clone().into_value()["n"][1], 2.5);
        assert!(!kept.is_null());
    }

    #[test]
    fn text_that_is_not_one_json_value_on_one_line_is_not_kept_as_text() {
        for text in ["{\"a\":\n1}", "[1,\r2]", "{\"a\":", "{} {}", "", "nul"] {
            assert!(Arguments::from_json_text(text).is_none(), "{text:?}");
        }
        // Line breaks around the value are dropped with the rest of the whitespace there.
        let padded = Arguments::from_json_text("\r\n {\"a\":1}\n").unwrap();
        assert_eq!(serde_json::to_string(&padded).unwrap(), "{\"a\":1}");
        // A record holding it still serialises as one JSON line.
        let record = serde_json::to_string(&Arguments::from(json!({"a": "x\ny"}))).unwrap();
        assert!(!record.contains('\n'));
    }

    #[test]
    fn a_value_compares_and_serialises_as_itself() {
        let value = Arguments::from(json!({"pin": "[redacted]"}));
        assert_eq!(
            serde_json::to_value(&value).unwrap(),
            json!({"pin": "[redacted]"})
        );
        assert_eq!(
            value,
            Arguments::from_json_text(r#"{"pin":"[redacted]"}"#).unwrap()
        );
        assert!(Arguments::default().is_null());
    }
}
