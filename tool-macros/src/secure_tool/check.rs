//! Every refusal of `#[secure_tool]`: what makes a tool unsafe or unusable, each reported at
//! the token the author must change, with the fix.

use darling::Error;
use heck::ToUpperCamelCase;
use proc_macro2::Span;
use quote::format_ident;
use syn::ItemFn;
use syn::Type;
use syn::ext::IdentExt;
use syn::spanned::Spanned;

use super::attr::{RoleRef, ToolAttr};
use super::model::{Access, Arg, Gate, Hints, Tool};
use super::parse::{Param, ParsedArg, ParsedFn};
use crate::shape::{Shape, classify};
use crate::validate_rules;

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

/// Applies every rule to the attribute and the function as written, and returns the checked
/// tool; `func` is the function as it stays callable.
pub fn check(attr: ToolAttr, parsed: ParsedFn, func: ItemFn) -> darling::Result<Tool> {
    let mut errors = Error::accumulator();
    let sig = &func.sig;

    let description = match parsed.description {
        Some(d) => d,
        None => {
            errors.push(
                Error::custom(format!(
                    "tool `{}` has no doc comment: the model reads it as the tool's description; add `/// What this tool does.` above the function",
                    sig.ident
                ))
                .with_span(&sig.ident),
            );
            String::new()
        }
    };

    let name = match &attr.name {
        Some(lit) => {
            let name = lit.value();
            if !tool_rules::is_valid_tool_name(&name) {
                errors.push(
                    Error::custom(format!(
                        "invalid tool name `{name}`: {}",
                        tool_rules::TOOL_NAME_RULE
                    ))
                    .with_span(lit),
                );
            }
            name
        }
        None => {
            let name = sig.ident.unraw().to_string();
            if !tool_rules::is_valid_tool_name(&name) {
                errors.push(
                    Error::custom(format!(
                        "`{name}` cannot be a tool name: {}; rename the function, or set `name = \"...\"`",
                        tool_rules::TOOL_NAME_RULE
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
    let gate = match (attr.confirm, destructive) {
        (Some(confirm), is_destructive) => {
            if !is_destructive {
                errors.push(
                    Error::custom("`confirm` only applies to destructive tools: add `destructive`, or remove `confirm`")
                        .with_span(&confirm),
                );
            }
            if confirm.value().trim().is_empty() {
                errors.push(
                    Error::custom("`confirm` needs the exact text the call must carry, such as `confirm = \"delete everything\"`")
                        .with_span(&confirm),
                );
            }
            let args = parsed.params.iter().filter_map(|p| match p {
                Param::Arg(a) => Some(a),
                _ => None,
            });
            if args.into_iter().any(|a| a.ident == "confirmation") {
                errors.push(
                    Error::custom("with `confirm`, the tool's `confirmation` argument is generated: rename this argument")
                        .with_span(&confirm),
                );
            }
            Gate::Confirm(confirm)
        }
        (None, true) => Gate::HumanApproval,
        (None, false) => Gate::None,
    };
    if attr.read_only.is_present() && destructive {
        errors.push(
            Error::custom("a tool cannot be both `read_only` and `destructive`: remove one")
                .with_span(&attr.read_only.span()),
        );
    }

    let access = match (attr.public.is_present(), attr.role) {
        (true, Some(_)) => {
            errors.push(
                Error::custom("`public` and `role` contradict each other: a public tool needs no role; remove one")
                    .with_span(&attr.public.span()),
            );
            Access::Public
        }
        (true, None) => Access::Public,
        (false, Some(RoleRef::Name(lit))) => Access::RoleName(lit),
        (false, Some(RoleRef::Path(path))) => Access::RolePath(path),
        (false, None) => Access::Authenticated,
    };

    let rate = attr.rate_limit.as_ref().and_then(|lit| {
        tool_rules::parse_rate(&lit.value())
            .map_err(|e| errors.push(Error::custom(e).with_span(lit)))
            .ok()
    });
    let timeout = attr.timeout.as_ref().and_then(|lit| {
        tool_rules::parse_timeout(&lit.value())
            .map_err(|e| errors.push(Error::custom(e).with_span(lit)))
            .ok()
    });
    let max_items = attr.max_items.map(|max| {
        if *max == 0 {
            errors.push(Error::custom("`max_items` must be at least 1").with_span(&max.span()));
        }
        (*max, max.span())
    });

    let mut params = Vec::with_capacity(parsed.params.len());
    for param in parsed.params {
        params.push(match param {
            Param::Session => Param::Session,
            Param::State(ty) => Param::State(ty),
            Param::Arg(arg) => match errors.handle(check_arg(arg)) {
                Some(arg) => Param::Arg(arg),
                None => continue,
            },
        });
    }

    errors.finish()?;
    let camel = sig.ident.unraw().to_string().to_upper_camel_case();
    Ok(Tool {
        tool_ty: format_ident!("{}", camel, span = sig.ident.span()),
        args_ty: format_ident!("{}Args", camel, span = sig.ident.span()),
        name,
        description,
        access,
        hints: Hints {
            read_only: attr.read_only.is_present(),
            destructive,
            idempotent: attr.idempotent.is_present(),
            open_world: attr.open_world.is_present(),
        },
        gate,
        rate,
        timeout,
        max_items,
        returns: attr.returns,
        output: parsed.output,
        params,
        func,
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

fn check_arg(arg: ParsedArg) -> darling::Result<Arg> {
    let mut errors = Error::accumulator();
    let name = arg.ident.unraw().to_string();
    let lower = name.to_ascii_lowercase();
    let path_named = lower.split('_').any(|w| PATH_WORDS.contains(&w));
    let rules = validate_rules::rules(&arg.validate);
    let bounded = validate_rules::bounds_length(&rules);
    errors.handle(check_type(&name, &arg.ty, bounded, path_named, false));
    for attr in &arg.schemars {
        errors.push(
            Error::custom(
                "`#[schemars(...)]` on a tool argument only changes the schema the model reads, and nothing would enforce it: write the constraint as `#[validate(...)]`, which is enforced and shown in the schema",
            )
            .with_span(attr),
        );
    }
    errors.finish()?;
    Ok(Arg {
        nested_rule: validate_rules::has_nested(&rules),
        ident: arg.ident,
        ty: arg.ty,
        doc: arg.doc,
        validate: arg.validate,
        secret: arg.secret,
    })
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
    match classify(ty) {
        Shape::Optional(inner) | Shape::Pointer(inner) => {
            check_type(name, inner, bounded, path_named, in_list)
        }
        Shape::Untyped(head_name) => Err(Error::custom(format!(
            "argument `{name}` holds an untyped `{head_name}`: tools take typed input; declare a struct (with #[derive(Deserialize, JsonSchema, Validate)]) or an enum for it"
        ))
        .with_span(&span)),
        Shape::Path => Err(path_error(name, span)),
        Shape::Text | Shape::BoundedText if path_named => Err(path_error(name, span)),
        Shape::Text if in_list => Err(Error::custom(format!(
            "the items of `{name}` are unbounded strings: `length(max = N)` bounds the list, not its items; make them `BoundedString<N>` (at most N characters) or an enum"
        ))
        .with_span(&span)),
        Shape::Text if !bounded => Err(Error::custom(format!(
            "argument `{name}` is an unbounded string: add `#[validate(length(max = N))]`, or use an enum or a validated newtype"
        ))
        .with_span(&span)),
        Shape::List(_) if !bounded || in_list => Err(Error::custom(format!(
            "argument `{name}` is an unbounded list: add `#[validate(length(max = N))]`, or use an enum or a validated newtype"
        ))
        .with_span(&span)),
        Shape::List(Some(item)) | Shape::Array(item) => {
            check_type(name, item, false, path_named, true)
        }
        Shape::Text | Shape::BoundedText | Shape::List(None) | Shape::Other => Ok(()),
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
