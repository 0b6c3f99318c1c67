//! `#[secure_tool(...)]`: parse the attribute and the function, check them into one model of
//! the tool, emit the code from that model.

mod attr;
mod check;
mod emit;
mod model;
mod parse;

use darling::FromMeta;
use darling::ast::NestedMeta;
use proc_macro2::TokenStream;
use syn::ItemFn;

pub fn expand(attr: TokenStream, func: ItemFn) -> TokenStream {
    let mut callable = func.clone();
    for input in &mut callable.sig.inputs {
        if let syn::FnArg::Typed(t) = input {
            t.attrs
                .retain(|a| !parse::ARG_ATTRS.iter().any(|k| a.path().is_ident(k)));
        }
    }
    match build(attr, &func, callable.clone()) {
        Ok(tool) => emit::emit(&tool),
        // The function itself is still emitted, so one mistake gives one error and the IDE
        // keeps working on the body.
        Err(errors) => {
            let errors = errors.write_errors();
            quote::quote!(#callable #errors)
        }
    }
}

/// Parse, then check. The attribute and the function are both read before either is reported,
/// so the author sees the errors of both at once.
fn build(attr: TokenStream, func: &ItemFn, callable: ItemFn) -> darling::Result<model::Tool> {
    let items = NestedMeta::parse_meta_list(attr)?;
    match (attr::ToolAttr::from_list(&items), parse::read(func)) {
        (Ok(tool_attr), Ok(parsed)) => check::check(tool_attr, parsed, callable),
        (Err(e), Ok(_)) | (Ok(_), Err(e)) => Err(e),
        (Err(a), Err(p)) => Err(darling::Error::multiple(vec![a, p])),
    }
}
