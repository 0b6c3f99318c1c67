//! `find_duplicate_key` against a count: a JSON document has a duplicate key exactly when
//! parsing it into a map-backed `Value` loses entries.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use tool_runtime::find_duplicate_key;

/// Counts every object entry of a document, duplicates included.
struct Entries(usize);

impl<'de> Deserialize<'de> for Entries {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Entries;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("JSON")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Entries, A::Error> {
                let mut n = 0;
                while let Some((_, value)) = map.next_entry::<IgnoredAny, Entries>()? {
                    n += 1 + value.0;
                }
                Ok(Entries(n))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Entries, A::Error> {
                let mut n = 0;
                while let Some(value) = seq.next_element::<Entries>()? {
                    n += value.0;
                }
                Ok(Entries(n))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Entries, E> {
                Ok(Entries(0))
            }
            fn visit_i64<E>(self, _: i64) -> Result<Entries, E> {
                Ok(Entries(0))
            }
            fn visit_u64<E>(self, _: u64) -> Result<Entries, E> {
                Ok(Entries(0))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Entries, E> {
                Ok(Entries(0))
            }
            fn visit_str<E>(self, _: &str) -> Result<Entries, E> {
                Ok(Entries(0))
            }
            fn visit_unit<E>(self) -> Result<Entries, E> {
                Ok(Entries(0))
            }
        }
        d.deserialize_any(V)
    }
}

fn value_entries(v: &serde_json::Value) -> usize {
    match v {
        serde_json::Value::Object(m) => m.values().map(|v| 1 + value_entries(v)).sum(),
        serde_json::Value::Array(a) => a.iter().map(value_entries).sum(),
        _ => 0,
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let found = find_duplicate_key(text);
    let (Ok(value), Ok(entries)) = (
        serde_json::from_str::<serde_json::Value>(text),
        serde_json::from_str::<Entries>(text),
    ) else {
        return;
    };
    let has_duplicate = value_entries(&value) < entries.0;
    assert_eq!(found.is_some(), has_duplicate, "{text:?} -> {found:?}");
});
