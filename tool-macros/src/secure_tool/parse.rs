//! Reading the annotated function, before any rule is applied: its description, its injected
//! parameters and the arguments the model supplies.

use syn::spanned::Spanned;
use syn::{Attribute, FnArg, Ident, ItemFn, Pat, ReturnType, Type};

use crate::docs::doc_text;
use crate::shape::{head, is_named, unwrap_ref};

/// The function as written.
pub struct ParsedFn {
    pub description: Option<String>,
    pub params: Vec<Param<ParsedArg>>,
    /// The declared return type, `Result<T, E>`.
    pub output: Type,
}

/// A parameter: injected, or an argument the model supplies.
// A handful per function, read once: boxing the large variant would buy nothing.
#[allow(clippy::large_enum_variant)]
pub enum Param<A> {
    /// `&Session`: the caller, injected.
    Session,
    /// `State<T>`: the toolbox's state, injected.
    State(Type),
    /// An argument the model supplies.
    Arg(A),
}

/// An argument as written, its attributes not yet read.
pub struct ParsedArg {
    pub ident: Ident,
    pub ty: Type,
    pub doc: Option<String>,
    pub validate: Vec<Attribute>,
    pub schemars: Vec<Attribute>,
    pub secret: bool,
}

/// Whether the type is spelt as a `Result` (`Result<T, E>`, `io::Result<T>`, `ToolResult<T>`).
fn returns_result(ty: &Type) -> bool {
    head(ty).is_some_and(|(name, _)| name.ends_with("Result"))
}

/// Attributes a tool argument may carry; the rest are refused so nothing is silently ignored.
/// rustc accepts none of them on a function parameter, so they are also what is removed from
/// the function that stays callable.
pub const ARG_ATTRS: &[&str] = &["doc", "validate", "schemars", "secret"];

pub fn read(func: &ItemFn) -> darling::Result<ParsedFn> {
    let mut errors = darling::Error::accumulator();
    let sig = &func.sig;
    if !sig.generics.params.is_empty() {
        errors.push(
            darling::Error::custom(
                "a tool function cannot be generic: the model needs one concrete schema; write one tool per type",
            )
            .with_span(&sig.generics),
        );
    }
    let output = match &sig.output {
        ReturnType::Type(_, ty) if !returns_result(ty) => {
            errors.push(
                darling::Error::custom(
                    "a tool handler must return `Result<T, ToolError>` (or another `Result` alias): errors reach the model as the envelope's error",
                )
                .with_span(ty),
            );
            None
        }
        ReturnType::Type(_, ty) => Some((**ty).clone()),
        ReturnType::Default => {
            errors.push(
                darling::Error::custom(
                    "a tool handler must return `Result<T, ToolError>`: add `-> Result<YourValue, ToolError>`",
                )
                .with_span(&sig.ident),
            );
            None
        }
    };

    let mut params = Vec::new();
    for input in &sig.inputs {
        let pat_type = match input {
            FnArg::Receiver(r) => {
                errors.push(
                    darling::Error::custom(
                        "a tool is a free function, not a method: take the application through `State(app): State<App>`",
                    )
                    .with_span(r),
                );
                continue;
            }
            FnArg::Typed(t) => t,
        };
        let ty = &*pat_type.ty;
        if let Type::Reference(_) = ty
            && is_named(unwrap_ref(ty), "Session")
        {
            params.push(Param::Session);
            continue;
        }
        if is_named(ty, "Session") {
            errors.push(
                darling::Error::custom("take the session by reference: `session: &Session`")
                    .with_span(ty),
            );
            continue;
        }
        if let Some((name, targs)) = head(ty)
            && name == "State"
        {
            match targs.as_slice() {
                [inner] => params.push(Param::State((*inner).clone())),
                _ => errors.push(
                    darling::Error::custom("write the state parameter as `State(app): State<App>`")
                        .with_span(ty),
                ),
            }
            continue;
        }
        let ident = match &*pat_type.pat {
            Pat::Ident(p) if p.by_ref.is_none() && p.subpat.is_none() => &p.ident,
            other => {
                errors.push(
                    darling::Error::custom(
                        "a tool argument needs a plain name (it becomes the JSON field the model fills in): write `name: Type`",
                    )
                    .with_span(&other.span()),
                );
                continue;
            }
        };
        for attr in &pat_type.attrs {
            let known = ARG_ATTRS.iter().any(|k| attr.path().is_ident(k));
            if !known {
                errors.push(
                    darling::Error::custom(
                        "unsupported attribute on a tool argument: use `///` for its description, `#[validate(...)]` for its constraints, `#[secret]` to keep it out of the audit log",
                    )
                    .with_span(attr),
                );
            }
        }
        let pick = |name: &str| -> Vec<Attribute> {
            pat_type
                .attrs
                .iter()
                .filter(|a| a.path().is_ident(name))
                .cloned()
                .collect()
        };
        params.push(Param::Arg(ParsedArg {
            ident: ident.clone(),
            ty: ty.clone(),
            doc: doc_text(&pat_type.attrs),
            validate: pick("validate"),
            schemars: pick("schemars"),
            secret: !pick("secret").is_empty(),
        }));
    }

    let description = doc_text(&func.attrs);
    errors.finish()?;
    Ok(ParsedFn {
        description,
        params,
        output: output.expect("a missing return type was reported above"),
    })
}
