//! Every refusal of `#[secure_tool]`: what makes a tool unsafe or unusable, each reported at
//! the token the author must change, with the fix.

use darling::Error;
use proc_macro2::Span;
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::{Attribute, Type};

use super::attr::{RoleRef, ToolAttr, parse_rate, parse_timeout, valid_tool_name};
use super::model::{Arg, ToolFn};
use crate::types::head;

/// What the checks established, ready for expansion.
pub struct Checked {
    pub name: String,
    pub access: Access,
    pub rate: Option<(u32, u64)>,
    pub timeout_ms: Option<u64>,
}

pub enum Access {
    Public,
    Authenticated,
    Role(RoleRef),
}

/// Words that say a tool destroys something, wherever they stand in its name.
const DESTRUCTIVE_WORDS: &[&str] = &[
    "delete", "remove", "drop", "purge", "destroy", "wipe", "erase", "reset", "clear", "truncate",
];
/// Words of an argument's name (split on `_`) that make a string argument a path.
const PATH_WORDS: &[&str] = &[
    "path",
    "file",
    "dir",
    "folder",
    "directory",
    "filename",
    "filepath",
    "pathname",
    "dirname",
];
const UNTYPED: &[&str] = &["Value", "HashMap", "BTreeMap", "Map", "IndexMap"];

pub fn check(tool: &ToolFn<'_>, attr: &mut ToolAttr) -> darling::Result<Checked> {
    let mut errors = Error::accumulator();
    let sig = &tool.func.sig;

    if tool.description.is_none() {
        errors.push(
            Error::custom(format!(
                "tool `{}` has no doc comment: the model reads it as the tool's description; add `/// What this tool does.` above the function",
                sig.ident
            ))
            .with_span(&sig.ident),
        );
    }

    let name = match &attr.name {
        Some(lit) => {
            let name = lit.value();
            if !valid_tool_name(&name) {
                errors.push(
                    Error::custom(format!(
                        "invalid tool name `{name}`: providers accept 1 to 64 letters, digits, `_` or `-`"
                    ))
                    .with_span(lit),
                );
            }
            name
        }
        None => {
            let name = sig.ident.unraw().to_string();
            if !valid_tool_name(&name) {
                errors.push(
                    Error::custom(format!(
                        "`{name}` cannot be a tool name: providers accept 1 to 64 ASCII letters, digits, `_` or `-`; rename the function, or set `name = \"...\"`"
                    ))
                    .with_span(&sig.ident),
                );
            }
            name
        }
    };

    let destructive = attr.destructive.is_present();
    // Both the model-facing name and the function's own: renaming must not hide what it does.
    let fn_name = sig.ident.unraw().to_string();
    let named = attr.name.as_ref().map(|l| (name.clone(), l.span()));
    for (name, span) in named.into_iter().chain([(fn_name, sig.ident.span())]) {
        if !destructive && let Some(word) = destructive_word(&name) {
            errors.push(
                Error::custom(format!(
                    "tool `{name}` says `{word}` but is not marked destructive: add `destructive` to #[secure_tool(...)] so a human approves each call (or `destructive, confirm = \"...\"` for the lighter gate)"
                ))
                .with_span(&span),
            );
            break;
        }
    }
    if let Some(confirm) = &attr.confirm {
        if !destructive {
            errors.push(
                Error::custom("`confirm` only applies to destructive tools: add `destructive`, or remove `confirm`")
                    .with_span(confirm),
            );
        }
        if confirm.value().trim().is_empty() {
            errors.push(
                Error::custom("`confirm` needs the exact text the call must carry, such as `confirm = \"delete everything\"`")
                    .with_span(confirm),
            );
        }
        if tool.args().any(|a| a.ident == "confirmation") {
            errors.push(
                Error::custom("with `confirm`, the tool's `confirmation` argument is generated: rename this argument")
                    .with_span(confirm),
            );
        }
    }
    if attr.read_only.is_present() && destructive {
        errors.push(
            Error::custom("a tool cannot be both `read_only` and `destructive`: remove one")
                .with_span(&attr.read_only.span()),
        );
    }

    let access = match (attr.public.is_present(), attr.role.take()) {
        (true, Some(_)) => {
            errors.push(
                Error::custom("`public` and `role` contradict each other: a public tool needs no role; remove one")
                    .with_span(&attr.public.span()),
            );
            Access::Public
        }
        (true, None) => Access::Public,
        (false, Some(role)) => Access::Role(role),
        (false, None) => Access::Authenticated,
    };

    let rate = attr.rate_limit.as_ref().and_then(|lit| {
        parse_rate(&lit.value())
            .map_err(|e| errors.push(Error::custom(e).with_span(lit)))
            .ok()
    });
    let timeout_ms = attr.timeout.as_ref().and_then(|lit| {
        parse_timeout(&lit.value())
            .map_err(|e| errors.push(Error::custom(e).with_span(lit)))
            .ok()
    });
    if let Some(max) = &attr.max_items
        && **max == 0
    {
        errors.push(Error::custom("`max_items` must be at least 1").with_span(&max.span()));
    }

    for arg in tool.args() {
        if let Err(e) = check_arg(arg) {
            errors.push(e);
        }
        for attr in &arg.schemars {
            errors.push(
                Error::custom(
                    "`#[schemars(...)]` on a tool argument only changes the schema the model reads, and nothing would enforce it: write the constraint as `#[validate(...)]`, which is enforced and shown in the schema",
                )
                .with_span(attr),
            );
        }
    }

    errors.finish()?;
    Ok(Checked {
        name,
        access,
        rate,
        timeout_ms,
    })
}

/// The first destructive word of a name, its words split at `_`, `-` and case changes:
/// `bulk_delete_orders`, `hardDeleteUser` and `Erase-All` each have one.
fn destructive_word(name: &str) -> Option<&'static str> {
    words(name).find_map(|w| DESTRUCTIVE_WORDS.iter().copied().find(|d| w == *d))
}

/// The lower-case words of an identifier: `getHTTPResponse_code` is get, http, response, code.
fn words(name: &str) -> impl Iterator<Item = String> + '_ {
    let chars: Vec<char> = name.chars().collect();
    let mut words = Vec::new();
    let mut current = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if c == '_' || c == '-' {
            words.push(std::mem::take(&mut current));
            continue;
        }
        let prev = i.checked_sub(1).map(|p| chars[p]);
        let next = chars.get(i + 1);
        let boundary = c.is_uppercase()
            && prev.is_some_and(|p| {
                p.is_lowercase()
                    || p.is_ascii_digit()
                    || (p.is_uppercase() && next.is_some_and(|n| n.is_lowercase()))
            });
        if boundary {
            words.push(std::mem::take(&mut current));
        }
        current.extend(c.to_lowercase());
    }
    words.push(current);
    words.into_iter().filter(|w| !w.is_empty())
}

fn check_arg(arg: &Arg<'_>) -> darling::Result<()> {
    let name = arg.ident.unraw().to_string();
    let lower = name.to_ascii_lowercase();
    let path_named = lower.split('_').any(|w| PATH_WORDS.contains(&w));
    check_type(
        &name,
        arg.ty,
        has_length_max(&arg.validate),
        path_named,
        false,
    )
}

/// What an argument's type is, for the checks: looked through references, `Option`, and the
/// smart pointers that change nothing about what the model can send.
enum Kind<'a> {
    Text,
    /// `BoundedString<N>`: bounded by its type.
    BoundedText,
    /// `[T; N]`: bounded by its type.
    Array(&'a Type),
    List(Option<&'a Type>),
    Optional(&'a Type),
    Path,
    Untyped(String),
    Other,
}

fn kind(ty: &Type) -> Kind<'_> {
    match ty {
        Type::Reference(r) => return kind(&r.elem),
        Type::Array(a) => return Kind::Array(&a.elem),
        Type::Slice(s) => return Kind::List(Some(&s.elem)),
        Type::Group(g) => return kind(&g.elem),
        Type::Paren(p) => return kind(&p.elem),
        _ => {}
    }
    let Some((head_name, args)) = head(ty) else {
        return Kind::Other;
    };
    match head_name.as_str() {
        "String" | "str" => Kind::Text,
        "BoundedString" => Kind::BoundedText,
        "Box" | "Cow" | "Arc" | "Rc" => match args.first() {
            Some(inner) => kind(inner),
            None => Kind::Other,
        },
        "Option" => args
            .first()
            .map_or(Kind::Other, |inner| Kind::Optional(inner)),
        "Vec" | "VecDeque" | "HashSet" | "BTreeSet" | "BinaryHeap" | "LinkedList" => {
            Kind::List(args.first().copied())
        }
        "PathBuf" | "Path" | "OsString" | "OsStr" => Kind::Path,
        untyped if UNTYPED.contains(&untyped) => Kind::Untyped(head_name),
        _ => Kind::Other,
    }
}

/// `bounded`: the argument's own `length(max)`, which bounds the outermost string or list only.
fn check_type(
    name: &str,
    ty: &Type,
    bounded: bool,
    path_named: bool,
    in_list: bool,
) -> darling::Result<()> {
    let span = last_segment_span(ty);
    match kind(ty) {
        Kind::Optional(inner) => check_type(name, inner, bounded, path_named, in_list),
        Kind::Untyped(head_name) => Err(Error::custom(format!(
            "argument `{name}` holds an untyped `{head_name}`: tools take typed input; declare a struct (with #[derive(Deserialize, JsonSchema, Validate)]) or an enum for it"
        ))
        .with_span(&span)),
        Kind::Path => Err(path_error(name, span)),
        Kind::Text | Kind::BoundedText if path_named => Err(path_error(name, span)),
        Kind::Text if in_list => Err(Error::custom(format!(
            "the items of `{name}` are unbounded strings: `length(max = N)` bounds the list, not its items; make them `BoundedString<N>` (at most N characters) or an enum"
        ))
        .with_span(&span)),
        Kind::Text if !bounded => Err(Error::custom(format!(
            "argument `{name}` is an unbounded string: add `#[validate(length(max = N))]`, or use an enum or a validated newtype"
        ))
        .with_span(&span)),
        Kind::List(_) if !bounded || in_list => Err(Error::custom(format!(
            "argument `{name}` is an unbounded list: add `#[validate(length(max = N))]`, or use an enum or a validated newtype"
        ))
        .with_span(&span)),
        Kind::List(Some(item)) | Kind::Array(item) => {
            check_type(name, item, false, path_named, true)
        }
        Kind::Text | Kind::BoundedText | Kind::List(None) | Kind::Other => Ok(()),
    }
}

/// The span of a path type's last segment, `PathBuf` in `std::path::PathBuf`: the name the
/// author must change. Stable Rust cannot join spans, so a whole path would point at `std`.
fn last_segment_span(ty: &Type) -> Span {
    match ty {
        Type::Path(p) => p
            .path
            .segments
            .last()
            .map_or_else(|| ty.span(), |s| s.ident.span()),
        Type::Reference(r) => last_segment_span(&r.elem),
        _ => ty.span(),
    }
}

fn path_error(name: &str, span: Span) -> Error {
    Error::custom(format!(
        "argument `{name}` is a path with no path policy: use `SafePath<YourPolicy>`, which keeps it inside the policy's folders"
    ))
    .with_span(&span)
}

/// Whether a `#[validate(...)]` among `attrs` bounds the length from above.
fn has_length_max(attrs: &[&Attribute]) -> bool {
    let mut found = false;
    for attr in attrs {
        let _ = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("length") {
                meta.parse_nested_meta(|inner| {
                    if inner.path.is_ident("max") || inner.path.is_ident("equal") {
                        found = true;
                    }
                    // Skip the value, whatever it is.
                    if inner.input.peek(syn::Token![=]) {
                        let _: syn::Expr = inner.value()?.parse()?;
                    }
                    Ok(())
                })?;
            } else if meta.input.peek(syn::Token![=]) {
                let _: syn::Expr = meta.value()?.parse()?;
            } else if meta.input.peek(syn::token::Paren) {
                let _group: proc_macro2::Group = meta.input.parse()?;
            }
            Ok(())
        });
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destructive_words_anywhere_in_the_name() {
        for name in [
            "delete_customer",
            "bulk_delete_orders",
            "hard_delete_user",
            "hardDeleteUser",
            "HardDeleteUser",
            "erase_all",
            "Erase-All",
            "reset_password",
            "clear_cache",
            "purgeHTTPCache",
            "drop",
        ] {
            assert!(destructive_word(name).is_some(), "{name}");
        }
        for name in [
            "get_clearance",
            "deleted_items_count",
            "removal_status",
            "get_order",
            "dropbox_link",
            "preset_list",
        ] {
            assert_eq!(destructive_word(name), None, "{name}");
        }
    }

    #[test]
    fn words_split_at_case_and_separators() {
        let split = |s| words(s).collect::<Vec<_>>();
        assert_eq!(
            split("getHTTPResponse_code"),
            ["get", "http", "response", "code"]
        );
        assert_eq!(split("a--b__c"), ["a", "b", "c"]);
        assert_eq!(split("v2Delete"), ["v2", "delete"]);
    }
}
