//! Reading `#[validate(...)]`: which rules an argument carries, and which keys each rule has.

use syn::Attribute;
use syn::parse::Parser;

/// One rule of `#[validate(...)]`: `length(min = 1, max = 5)` is `length` with keys `min`, `max`.
pub struct Rule {
    pub name: String,
    pub keys: Vec<String>,
}

/// The rules among `attrs`, in order. What cannot be read is skipped: the `validator` derive
/// reports malformed rules itself.
pub fn rules(attrs: &[Attribute]) -> Vec<Rule> {
    let mut rules = Vec::new();
    for attr in attrs.iter().filter(|a| a.path().is_ident("validate")) {
        let _ = attr.parse_nested_meta(|meta| {
            let name = meta
                .path
                .get_ident()
                .map(ToString::to_string)
                .unwrap_or_default();
            let mut keys = Vec::new();
            if meta.input.peek(syn::Token![=]) {
                let _: syn::Expr = meta.value()?.parse()?;
            } else if meta.input.peek(syn::token::Paren) {
                let group: proc_macro2::Group = meta.input.parse()?;
                let _ = syn::meta::parser(|inner| {
                    if let Some(key) = inner.path.get_ident() {
                        keys.push(key.to_string());
                    }
                    if inner.input.peek(syn::Token![=]) {
                        let _: syn::Expr = inner.value()?.parse()?;
                    } else if inner.input.peek(syn::token::Paren) {
                        let _: proc_macro2::Group = inner.input.parse()?;
                    }
                    Ok(())
                })
                .parse2(group.stream());
            }
            rules.push(Rule { name, keys });
            Ok(())
        });
    }
    rules
}

/// Whether the rules bound the length from above: `length(max = N)` or `length(equal = N)`.
pub fn bounds_length(rules: &[Rule]) -> bool {
    rules
        .iter()
        .any(|r| r.name == "length" && r.keys.iter().any(|k| k == "max" || k == "equal"))
}

/// Whether the rules hold `nested` itself (not a word in a message or a function's name).
pub fn has_nested(rules: &[Rule]) -> bool {
    rules.iter().any(|r| r.name == "nested")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(attr: &str) -> Vec<Rule> {
        let item: syn::ItemStruct = syn::parse_str(&format!("{attr} struct S;")).unwrap();
        rules(&item.attrs)
    }

    #[test]
    fn rules_and_their_keys() {
        let r = read(
            r#"#[validate(length(min = 1, max = 5), email, custom(function = "nested_check", message = "nested"))]"#,
        );
        let names: Vec<_> = r.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["length", "email", "custom"]);
        assert_eq!(r[0].keys, ["min", "max"]);
        assert!(bounds_length(&r));
        assert!(!has_nested(&r));
    }

    #[test]
    fn nested_and_equal() {
        let r = read("#[validate(nested)] #[validate(length(equal = 4))]");
        assert!(has_nested(&r));
        assert!(bounds_length(&r));
        assert!(!bounds_length(&read("#[validate(length(min = 4))]")));
        assert!(!bounds_length(&read("#[validate(range(max = 4))]")));
    }

    #[test]
    fn an_unreadable_rule_does_not_hide_the_others() {
        let r = read("#[validate(regex(path = *RE), length(max = 3))]");
        assert!(bounds_length(&r));
    }
}
