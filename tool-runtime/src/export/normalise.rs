//! The rewriting both providers with a JSON Schema dialect of their own need first (OpenAI's
//! strict mode, Gemini): one walk's common steps, each provider applying only its own rules on
//! top (what to do with a `$ref`, which keywords it keeps, how it writes `null`).

use serde_json::{Map, Value, json};

use super::Unrepresentable;
use super::schema::{ANNOTATIONS_ONLY, Notes, SCHEMA_VALUED, literal_union, merge_all_of};

/// A schema node as an object to rewrite, its `$defs` taken out (each provider decides what
/// becomes of definitions); a boolean schema is refused: it accepts any value, and `provider`
/// needs a type.
pub(super) fn object(
    schema: &Value,
    at: &str,
    provider: &str,
) -> Result<Map<String, Value>, Unrepresentable> {
    let Some(original) = schema.as_object() else {
        return Err(Unrepresentable::new(
            at,
            format!("a boolean schema accepts any value; {provider} needs a type"),
        ));
    };
    let mut node = original.clone();
    node.remove("$defs");
    Ok(node)
}

/// `allOf` merged into the node, `oneOf` renamed `anyOf` (both providers read it so), a union
/// of string literals (a unit enum with documented variants) made one string `enum` with the
/// variants' docs in `notes`, and `const` a one-value `enum`.
pub(super) fn unify(
    node: &mut Map<String, Value>,
    at: &str,
    notes: &mut Notes,
) -> Result<(), Unrepresentable> {
    merge_all_of(node, at)?;
    if let Some(one_of) = node.remove("oneOf") {
        if node.contains_key("anyOf") {
            return Err(Unrepresentable::new(at, "both `oneOf` and `anyOf`"));
        }
        node.insert("anyOf".into(), one_of);
    }
    // JSON Schema wants at least one branch; none would accept no value at all, which no
    // provider can write (and no tool can be called with).
    if node
        .get("anyOf")
        .and_then(Value::as_array)
        .is_some_and(Vec::is_empty)
    {
        return Err(Unrepresentable::new(
            at,
            "an empty `anyOf` or `oneOf` accepts no value",
        ));
    }
    if let Some(Value::Array(branches)) = node.get("anyOf")
        && let Some((values, variant_notes)) = literal_union(branches)
    {
        node.remove("anyOf");
        node.insert("type".into(), json!("string"));
        node.insert("enum".into(), Value::Array(values));
        variant_notes.into_iter().for_each(|n| notes.phrase(n));
    }
    if let Some(value) = node.remove("const") {
        node.insert("enum".into(), json!([value]));
    }
    Ok(())
}

/// Each branch of an `anyOf` rewritten by `node`, the provider's own walk, where it stands.
pub(super) fn branches(
    branches: &[Value],
    at: &str,
    mut node: impl FnMut(&Value, &str) -> Result<Map<String, Value>, Unrepresentable>,
) -> Result<Value, Unrepresentable> {
    let mut rewritten = Vec::with_capacity(branches.len());
    for (i, branch) in branches.iter().enumerate() {
        rewritten.push(Value::Object(node(branch, &format!("{at}/anyOf/{i}"))?));
    }
    Ok(Value::Array(rewritten))
}

/// A keyword the provider's schema does not have: an annotation is dropped (it constrains
/// nothing), a schema-valued one refused (it cannot be put into words), and any other kept as
/// words in the description so the model still reads the rule. `dialect` names the provider's
/// schema in the refusal.
pub(super) fn unread_keyword(
    key: String,
    value: Value,
    at: &str,
    dialect: &str,
    notes: &mut Notes,
) -> Result<(), Unrepresentable> {
    if SCHEMA_VALUED.contains(&key.as_str()) {
        return Err(Unrepresentable::new(
            at,
            format!("`{key}` has no equivalent in {dialect}"),
        ));
    }
    if !ANNOTATIONS_ONLY.contains(&key.as_str()) {
        notes.keyword(&key, value);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unified(schema: Value) -> Result<(Value, Vec<String>), Unrepresentable> {
        let mut node = object(&schema, "", "the provider")?;
        let mut notes = Notes::default();
        unify(&mut node, "", &mut notes)?;
        let mut described = Map::new();
        notes.write_into(&mut described);
        let description = described
            .get("description")
            .and_then(Value::as_str)
            .map(str::to_owned);
        Ok((Value::Object(node), description.into_iter().collect()))
    }

    #[test]
    fn one_of_const_and_all_of_become_what_both_providers_read() {
        let (node, _) = unified(json!({
            "oneOf": [{"type": "integer"}, {"type": "string"}],
            "$defs": {"X": {"type": "string"}},
        }))
        .unwrap();
        assert_eq!(
            node,
            json!({"anyOf": [{"type": "integer"}, {"type": "string"}]})
        );
        let (node, _) = unified(json!({"const": 3})).unwrap();
        assert_eq!(node, json!({"enum": [3]}));
        let (node, _) = unified(json!({
            "allOf": [{"type": "object", "properties": {"a": {"type": "string"}}}],
            "description": "kept",
        }))
        .unwrap();
        assert_eq!(node["type"], "object");
        assert_eq!(node["description"], "kept");
        assert!(node.get("allOf").is_none());
    }

    #[test]
    fn a_union_of_documented_string_literals_becomes_one_enum() {
        let (node, notes) = unified(json!({"oneOf": [
            {"const": "open", "description": "Still being worked on."},
            {"const": "closed", "description": "Done."},
        ]}))
        .unwrap();
        assert_eq!(node, json!({"type": "string", "enum": ["open", "closed"]}));
        let notes = notes.join(" ");
        assert!(notes.contains("Still being worked on."), "{notes}");
    }

    #[test]
    fn an_unread_keyword_is_dropped_refused_or_put_into_words() {
        let mut notes = Notes::default();
        unread_keyword("title".into(), json!("T"), "/a", "the dialect", &mut notes).unwrap();
        unread_keyword(
            "maxLength".into(),
            json!(5),
            "/a",
            "the dialect",
            &mut notes,
        )
        .unwrap();
        let err =
            unread_keyword("not".into(), json!({}), "/a", "the dialect", &mut notes).unwrap_err();
        assert!(
            err.to_string()
                .contains("`not` has no equivalent in the dialect"),
            "{err}"
        );
        assert!(err.to_string().contains("/a"), "{err}");
        let mut described = Map::new();
        notes.write_into(&mut described);
        let description = described["description"].as_str().unwrap();
        assert!(description.contains('5'), "{description}");
        assert!(!description.contains('T'), "{description}");
    }

    #[test]
    fn each_branch_is_rewritten_at_its_own_place() {
        let mut seen = Vec::new();
        let rewritten = branches(
            &[json!({"type": "string"}), json!({"type": "null"})],
            "/x",
            |b, at| {
                seen.push(at.to_owned());
                Ok(b.as_object().unwrap().clone())
            },
        )
        .unwrap();
        assert_eq!(seen, ["/x/anyOf/0", "/x/anyOf/1"]);
        assert_eq!(rewritten, json!([{"type": "string"}, {"type": "null"}]));
        let err = branches(&[json!({})], "/x", |_, at| {
            Err(Unrepresentable::new(at, "no"))
        })
        .unwrap_err();
        assert!(err.to_string().contains("/x/anyOf/0"), "{err}");
    }

    #[test]
    fn an_empty_union_is_refused_not_read_as_an_empty_enum() {
        // Found by the schema_export fuzz target: an empty `oneOf` was taken for a union of
        // no string literals and replaced the root object's type by `string`.
        for union in ["oneOf", "anyOf"] {
            let schema = json!({"type": "object", union: []});
            let err = unified(schema.clone()).unwrap_err();
            assert!(err.to_string().contains("accepts no value"), "{err}");
            assert!(super::super::openai::strict_parameters(&schema).is_err());
            assert!(super::super::gemini::parameters(&schema).is_err());
        }
    }

    #[test]
    fn what_no_provider_can_read_is_refused_where_it_is() {
        let err = unified(json!(true)).unwrap_err();
        assert!(
            err.to_string().contains("the provider needs a type"),
            "{err}"
        );
        let err = unified(json!({"oneOf": [{}], "anyOf": [{}]})).unwrap_err();
        assert!(
            err.to_string().contains("both `oneOf` and `anyOf`"),
            "{err}"
        );
    }
}
