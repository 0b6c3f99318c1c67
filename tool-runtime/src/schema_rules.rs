//! The rules a tool's argument schema must keep before the toolbox serves it: what the model is
//! told must be what the runtime enforces, and nothing the model may send is unbounded.
//!
//! The macro checks what it can see, the types written in the tool's own signature. These
//! rules run at [`Toolbox::build`](crate::Toolbox) on the whole schema, so they also reach the
//! fields of struct and enum arguments, wherever those are declared.

use regex_syntax::ast::{self, Ast, ClassSetItem, GroupKind};
use serde_json::Value;

/// Where an argument schema breaks a rule, and which.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Violation {
    /// A JSON pointer into the tool's input schema.
    pub at: String,
    pub rule: Rule,
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Rule {
    /// An object that lists properties but does not refuse others.
    OpenObject,
    /// A string with no `maxLength`, `enum` or `const`.
    UnboundedString,
    /// A list with no `maxItems`.
    UnboundedList,
    /// A `pattern` that reads differently in JSON Schema's dialect and in Rust's, or that one
    /// of them cannot read; the text says which part and what to write instead.
    Pattern(String),
}

/// The first violation in `schema`, depth first.
pub(crate) fn check(schema: &Value) -> Option<Violation> {
    walk(schema, String::new())
}

fn walk(schema: &Value, at: String) -> Option<Violation> {
    let Value::Object(node) = schema else {
        return None;
    };
    let here = |rule| {
        Some(Violation {
            at: if at.is_empty() {
                "/".to_owned()
            } else {
                at.clone()
            },
            rule,
        })
    };
    let has_properties = node
        .get("properties")
        .and_then(Value::as_object)
        .is_some_and(|p| !p.is_empty());
    if has_properties && node.get("additionalProperties") != Some(&Value::Bool(false)) {
        return here(Rule::OpenObject);
    }
    let bounded_by_value = node.contains_key("enum") || node.contains_key("const");
    if has_type(node, "string") && !node.contains_key("maxLength") && !bounded_by_value {
        return here(Rule::UnboundedString);
    }
    if has_type(node, "array") && !node.contains_key("maxItems") && !bounded_by_value {
        return here(Rule::UnboundedList);
    }
    if let Some(Value::String(pattern)) = node.get("pattern")
        && let Err(why) = same_in_both_dialects(pattern)
    {
        return here(Rule::Pattern(why));
    }
    for key in ["properties", "$defs", "definitions"] {
        if let Some(Value::Object(children)) = node.get(key) {
            for (name, child) in children {
                if let Some(found) = walk(child, format!("{at}/{key}/{}", escape(name))) {
                    return Some(found);
                }
            }
        }
    }
    for key in ["items", "additionalProperties", "not"] {
        if let Some(child) = node.get(key)
            && let Some(found) = walk(child, format!("{at}/{key}"))
        {
            return Some(found);
        }
    }
    for key in ["anyOf", "oneOf", "allOf", "prefixItems"] {
        if let Some(Value::Array(children)) = node.get(key) {
            for (i, child) in children.iter().enumerate() {
                if let Some(found) = walk(child, format!("{at}/{key}/{i}")) {
                    return Some(found);
                }
            }
        }
    }
    None
}

/// `"type": "string"` or `"type": ["string", "null"]`.
fn has_type(node: &serde_json::Map<String, Value>, name: &str) -> bool {
    match node.get("type") {
        Some(Value::String(t)) => t == name,
        Some(Value::Array(types)) => types.iter().any(|t| t == name),
        _ => false,
    }
}

/// A property name as a JSON pointer segment (RFC 6901).
fn escape(name: &str) -> String {
    name.replace('~', "~0").replace('/', "~1")
}

/// Whether a `pattern` means the same to a JSON Schema validator (ECMA-262) as to the Rust
/// `regex` the runtime checks it with. Rather than translate between the two, the pattern must
/// stay within what both read alike: literals, bracket classes of literals and ranges, groups,
/// alternation, repetition, `^` and `$`. The rest differs: `\d`, `\w`, `\s` and `\b` are ASCII in
/// one and Unicode in the other, `.` differs on `\r` and the line separators, and inline flags,
/// `\p{..}` and `[[:alpha:]]` exist in one only.
pub(crate) fn same_in_both_dialects(pattern: &str) -> Result<(), String> {
    let ast = ast::parse::Parser::new().parse(pattern).map_err(|e| {
        format!(
            "the pattern `{pattern}` is not a regular expression: {}",
            e.kind()
        )
    })?;
    let mut problem = None;
    visit(&ast, &mut problem);
    match problem {
        None => Ok(()),
        Some(why) => Err(format!("in the pattern `{pattern}`, {why}")),
    }
}

fn visit(ast: &Ast, problem: &mut Option<String>) {
    if problem.is_some() {
        return;
    }
    let found = match ast {
        Ast::Empty(_) => None,
        Ast::Flags(_) => Some(
            "inline flags such as `(?i)` exist in Rust only: spell both cases out, `[Aa]`".to_owned(),
        ),
        Ast::Literal(lit) => literal(lit),
        Ast::Dot(_) => Some(
            "`.` matches `\\r` and the Unicode line separators in Rust and not in JSON Schema: write a class such as `[^\\n]` or, better, the characters you expect".to_owned(),
        ),
        Ast::Assertion(a) => match a.kind {
            ast::AssertionKind::StartLine | ast::AssertionKind::EndLine => None,
            ast::AssertionKind::WordBoundary | ast::AssertionKind::NotWordBoundary => Some(
                "`\\b` and `\\B` follow Unicode words in Rust and ASCII words in JSON Schema: anchor with `^` and `$`, or spell the boundary out".to_owned(),
            ),
            _ => Some("only `^` and `$` anchor alike in both dialects".to_owned()),
        },
        Ast::ClassUnicode(_) => Some(
            "`\\p{..}` classes need JSON Schema's Unicode mode, which validators do not share: list the characters or ranges".to_owned(),
        ),
        Ast::ClassPerl(class) => Some(perl_class(class)),
        Ast::ClassBracketed(class) => class_set(&class.kind),
        Ast::Repetition(rep) => {
            visit(&rep.ast, problem);
            None
        }
        Ast::Group(group) => match &group.kind {
            GroupKind::CaptureIndex(_) => {
                visit(&group.ast, problem);
                None
            }
            GroupKind::CaptureName { starts_with_p: false, .. } => {
                visit(&group.ast, problem);
                None
            }
            GroupKind::CaptureName { .. } => {
                Some("write a named group as `(?<name>...)`; `(?P<name>...)` is Rust's only".to_owned())
            }
            GroupKind::NonCapturing(flags) if flags.items.is_empty() => {
                visit(&group.ast, problem);
                None
            }
            GroupKind::NonCapturing(_) => Some(
                "inline flags such as `(?i:...)` exist in Rust only: spell both cases out, `[Aa]`".to_owned(),
            ),
        },
        Ast::Alternation(alt) => {
            alt.asts.iter().for_each(|a| visit(a, problem));
            None
        }
        Ast::Concat(concat) => {
            concat.asts.iter().for_each(|a| visit(a, problem));
            None
        }
    };
    if problem.is_none() {
        *problem = found;
    }
}

fn perl_class(class: &ast::ClassPerl) -> String {
    let (name, ascii) = match class.kind {
        ast::ClassPerlKind::Digit => ("\\d", "[0-9]"),
        ast::ClassPerlKind::Space => ("\\s", "[ \\t\\n\\r\\f\\v]"),
        ast::ClassPerlKind::Word => ("\\w", "[A-Za-z0-9_]"),
    };
    format!(
        "`{name}` is Unicode in Rust and ASCII in JSON Schema (`١٢٣` are digits to one and not the other): write `{ascii}`"
    )
}

fn literal(lit: &ast::Literal) -> Option<String> {
    use ast::{HexLiteralKind, LiteralKind, SpecialLiteralKind};
    match &lit.kind {
        LiteralKind::Verbatim | LiteralKind::Meta | LiteralKind::Superfluous => None,
        LiteralKind::HexFixed(HexLiteralKind::X | HexLiteralKind::UnicodeShort) => None,
        LiteralKind::Special(
            SpecialLiteralKind::LineFeed
            | SpecialLiteralKind::CarriageReturn
            | SpecialLiteralKind::Tab
            | SpecialLiteralKind::FormFeed
            | SpecialLiteralKind::VerticalTab,
        ) => None,
        _ => Some(format!(
            "the escape for `{}` is read differently by the two dialects: write the character itself, or `\\xHH` / `\\uHHHH`",
            lit.c.escape_default()
        )),
    }
}

fn class_set(set: &ast::ClassSet) -> Option<String> {
    match set {
        ast::ClassSet::Item(item) => class_item(item),
        ast::ClassSet::BinaryOp(_) => {
            Some("class set operations (`&&`, `--`, `~~`) exist in Rust only".to_owned())
        }
    }
}

fn class_item(item: &ClassSetItem) -> Option<String> {
    match item {
        ClassSetItem::Empty(_) => None,
        ClassSetItem::Literal(lit) => literal(lit),
        ClassSetItem::Range(range) => literal(&range.start).or_else(|| literal(&range.end)),
        ClassSetItem::Ascii(_) => Some(
            "`[[:name:]]` classes exist in Rust only: list the ranges, such as `[A-Za-z]`".to_owned(),
        ),
        ClassSetItem::Unicode(_) => Some(
            "`\\p{..}` classes need JSON Schema's Unicode mode, which validators do not share: list the characters or ranges".to_owned(),
        ),
        ClassSetItem::Perl(class) => Some(perl_class(class)),
        ClassSetItem::Bracketed(_) => {
            Some("nested classes such as `[a[b]]` exist in Rust only: merge them into one".to_owned())
        }
        ClassSetItem::Union(union) => union.items.iter().find_map(class_item),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rule_at(schema: Value) -> Option<(String, Rule)> {
        check(&schema).map(|v| (v.at, v.rule))
    }

    #[test]
    fn bounded_strings_and_lists_pass() {
        let schema = json!({
            "type": "object", "additionalProperties": false,
            "properties": {
                "id": {"type": "string", "maxLength": 16},
                "kind": {"type": "string", "enum": ["a", "b"]},
                "fixed": {"const": "x", "type": "string"},
                "tags": {"type": "array", "maxItems": 4, "items": {"type": "string", "maxLength": 8}},
                "maybe": {"type": ["string", "null"], "maxLength": 3},
                "n": {"type": "integer"}
            }
        });
        assert_eq!(rule_at(schema), None);
    }

    #[test]
    fn unbounded_text_is_found_at_any_depth() {
        let schema = json!({
            "type": "object", "additionalProperties": false,
            "properties": {"filter": {"$ref": "#/$defs/Filter"}},
            "$defs": {
                "Filter": {
                    "type": "object", "additionalProperties": false,
                    "properties": {"name": {"type": ["string", "null"]}}
                }
            }
        });
        assert_eq!(
            rule_at(schema),
            Some((
                "/$defs/Filter/properties/name".to_owned(),
                Rule::UnboundedString
            ))
        );
        let in_variant = json!({"oneOf": [
            {"type": "string", "enum": ["none"]},
            {"type": "object", "additionalProperties": false, "required": ["name"],
             "properties": {"name": {"type": "string"}}}
        ]});
        assert_eq!(
            rule_at(in_variant),
            Some(("/oneOf/1/properties/name".to_owned(), Rule::UnboundedString))
        );
        let list_of_text = json!({"type": "array", "maxItems": 3, "items": {"type": "string"}});
        assert_eq!(
            rule_at(list_of_text),
            Some(("/items".to_owned(), Rule::UnboundedString))
        );
        let endless_list = json!({"type": "array", "items": {"type": "integer"}});
        assert_eq!(
            rule_at(endless_list),
            Some(("/".to_owned(), Rule::UnboundedList))
        );
    }

    #[test]
    fn open_objects_are_found() {
        let schema = json!({"type": "object", "properties": {"a": {"type": "integer"}}});
        assert_eq!(rule_at(schema), Some(("/".to_owned(), Rule::OpenObject)));
    }

    #[test]
    fn patterns_both_dialects_read_alike_pass() {
        for pattern in [
            "^O[0-9]{4}$",
            "^[A-Za-z0-9_-]+(\\.[A-Za-z0-9_-]+)*$",
            "^(exports|reports)/[a-z]+\\.(csv|json)$",
            "^(?:ab|cd)+?$",
            "^(?<year>[0-9]{4})-[0-9]{2}$",
            "^[^\\n]{1,10}$",
            "^\\x41\\u00e9\\t$",
            "^é+$",
        ] {
            assert_eq!(same_in_both_dialects(pattern), Ok(()), "{pattern}");
        }
    }

    #[test]
    fn patterns_the_dialects_read_differently_are_refused_with_the_fix() {
        for (pattern, fix) in [
            ("^O\\d{4}$", "[0-9]"),
            ("^\\w+$", "[A-Za-z0-9_]"),
            ("^a\\sb$", "[ \\t\\n\\r\\f\\v]"),
            ("^[\\d-]+$", "[0-9]"),
            ("\\bword\\b", "anchor with `^` and `$`"),
            ("^.{1,5}$", "[^\\n]"),
            ("(?i)^abc$", "[Aa]"),
            ("^(?i:abc)$", "[Aa]"),
            ("^\\p{L}+$", "list the characters"),
            ("^[\\p{L}]+$", "list the characters"),
            ("^[[:alpha:]]+$", "[A-Za-z]"),
            ("^(?P<x>a)$", "(?<name>...)"),
            ("^[a-z&&[^q]]$", "Rust only"),
            ("\\Aabc\\z", "only `^` and `$`"),
            ("^\\x{41}$", "\\xHH"),
            ("^[a-", "not a regular expression"),
        ] {
            let why = same_in_both_dialects(pattern).expect_err(pattern);
            assert!(why.contains(fix), "{pattern}: {why}");
        }
    }

    #[test]
    fn a_pattern_in_a_nested_field_is_checked() {
        let schema = json!({
            "type": "object", "additionalProperties": false,
            "properties": {"code": {"type": "string", "maxLength": 5, "pattern": "^\\d+$"}}
        });
        assert!(matches!(
            rule_at(schema),
            Some((at, Rule::Pattern(_))) if at == "/properties/code"
        ));
    }
}
