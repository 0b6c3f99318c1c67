//! A string argument type with its bound in the type, for where `#[validate(length(max))]`
//! cannot reach: the items of a list.

use std::borrow::Cow;
use std::fmt;
use std::ops::Deref;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A string of at most `MAX` characters (Unicode scalar values, as JSON Schema's `maxLength`
/// counts them). Refused while parsing when longer; `{"type": "string", "maxLength": MAX}` in
/// the schema.
///
/// ```
/// use tool_runtime::BoundedString;
///
/// let ok: Vec<BoundedString<4>> = serde_json::from_str(r#"["ab", "abcd"]"#).unwrap();
/// assert_eq!(&*ok[1], "abcd");
/// assert!(serde_json::from_str::<Vec<BoundedString<4>>>(r#"["abcde"]"#).is_err());
/// ```
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BoundedString<const MAX: usize>(String);

impl<const MAX: usize> BoundedString<MAX> {
    /// The string, if it is at most `MAX` characters.
    pub fn new(text: impl Into<String>) -> Option<Self> {
        let text = text.into();
        (text.chars().count() <= MAX).then_some(BoundedString(text))
    }

    /// The string.
    pub fn into_inner(self) -> String {
        self.0
    }

    /// The string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<const MAX: usize> Deref for BoundedString<MAX> {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl<const MAX: usize> AsRef<str> for BoundedString<MAX> {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl<const MAX: usize> fmt::Display for BoundedString<MAX> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<const MAX: usize> fmt::Debug for BoundedString<MAX> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl<'de, const MAX: usize> Deserialize<'de> for BoundedString<MAX> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // Borrowed where the input allows, so an oversized string is refused before a copy.
        let text = Cow::<'de, str>::deserialize(deserializer)?;
        if text.chars().count() > MAX {
            return Err(serde::de::Error::custom(format_args!(
                "must be at most {MAX} characters long"
            )));
        }
        Ok(BoundedString(text.into_owned()))
    }
}

impl<const MAX: usize> Serialize for BoundedString<MAX> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<const MAX: usize> schemars::JsonSchema for BoundedString<MAX> {
    fn schema_name() -> Cow<'static, str> {
        Cow::Owned(format!("BoundedString{MAX}"))
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({ "type": "string", "maxLength": MAX })
    }
}
