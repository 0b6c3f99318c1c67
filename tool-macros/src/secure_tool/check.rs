//! Every refusal of `#[secure_tool]`: what makes a tool unsafe or unusable, each reported at
//! the token the author must change, with the fix.

use darling::Error;
use syn::{Attribute, Type};

use super::attr::{RoleRef, ToolAttr, parse_rate, parse_timeout, valid_tool_name};
use super::model::{Arg, ToolFn};
use crate::types::{head, is_named, unwrap_option, unwrap_ref};

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

const DESTRUCTIVE_PREFIXES: &[&str] = &["delete", "remove", "drop", "purge", "destroy", "wipe"];
const PATH_WORDS: &[&str] = &["path", "file", "dir", "folder", "directory"];
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
        None => sig.ident.to_string(),
    };

    let destructive = attr.destructive.is_present();
    let lower = name.to_ascii_lowercase();
    if !destructive
        && let Some(prefix) = DESTRUCTIVE_PREFIXES.iter().find(|p| lower.starts_with(**p))
    {
        let span = attr.name.as_ref().map_or(sig.ident.span(), |l| l.span());
        errors.push(
            Error::custom(format!(
                "tool `{name}` starts with `{prefix}` but is not marked destructive: add `destructive` to #[secure_tool(...)] so a human approves each call"
            ))
            .with_span(&span),
        );
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
    }

    errors.finish()?;
    Ok(Checked {
        name,
        access,
        rate,
        timeout_ms,
    })
}

fn check_arg(arg: &Arg<'_>) -> darling::Result<()> {
    let name = arg.ident.to_string();
    let ty = unwrap_option(arg.ty);
    let bare = unwrap_ref(ty);

    if let Some((head_name, _)) = head(bare)
        && UNTYPED.contains(&head_name.as_str())
    {
        return Err(Error::custom(format!(
            "argument `{name}` is an untyped `{head_name}`: tools take typed input; declare a struct (with #[derive(Deserialize, JsonSchema, Validate)]) or an enum for it"
        ))
        .with_span(arg.ty));
    }

    if is_named(bare, "PathBuf") || is_named(bare, "Path") {
        return Err(path_error(&name, arg.ty));
    }

    let is_string =
        is_named(bare, "String") || matches!(ty, Type::Reference(r) if is_named(&r.elem, "str"));
    let lower = name.to_ascii_lowercase();
    if is_string && PATH_WORDS.iter().any(|w| lower.contains(w)) {
        return Err(path_error(&name, arg.ty));
    }

    let is_list = is_named(bare, "Vec");
    if (is_string || is_list) && !has_length_max(&arg.validate) {
        let what = if is_list { "list" } else { "string" };
        return Err(Error::custom(format!(
            "argument `{name}` is an unbounded {what}: add `#[validate(length(max = N))]`, or use an enum or a validated newtype"
        ))
        .with_span(arg.ty));
    }
    Ok(())
}

fn path_error(name: &str, ty: &Type) -> Error {
    Error::custom(format!(
        "argument `{name}` is a path with no path policy: use `SafePath<YourPolicy>`, which keeps it inside the policy's folders"
    ))
    .with_span(ty)
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
