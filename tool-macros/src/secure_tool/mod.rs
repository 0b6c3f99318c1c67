//! `#[secure_tool(...)]`: read the function, check it, generate the tool.

mod attr;
mod check;
mod expand;
mod model;

use darling::FromMeta;
use darling::ast::NestedMeta;
use proc_macro2::TokenStream;
use syn::ItemFn;

pub fn expand(attr: TokenStream, func: ItemFn) -> TokenStream {
    let mut callable = func.clone();
    for input in &mut callable.sig.inputs {
        if let syn::FnArg::Typed(t) = input {
            t.attrs
                .retain(|a| !model::ARG_ATTRS.iter().any(|k| a.path().is_ident(k)));
        }
    }
    match run(attr, &func, callable.clone()) {
        Ok(tokens) => tokens,
        // The function itself is still emitted, so one mistake gives one error and the IDE
        // keeps working on the body.
        Err(errors) => {
            let errors = errors.write_errors();
            quote::quote!(#callable #errors)
        }
    }
}

fn run(attr: TokenStream, func: &ItemFn, callable: ItemFn) -> darling::Result<TokenStream> {
    let items = NestedMeta::parse_meta_list(attr)?;
    let mut errors = darling::Error::accumulator();
    let mut tool_attr = errors
        .handle(attr::ToolAttr::from_list(&items))
        .unwrap_or_default();
    let tool = errors.handle(model::read(func));
    let checked = tool
        .as_ref()
        .and_then(|t| errors.handle(check::check(t, &mut tool_attr)));
    errors.finish()?;
    let (Some(mut tool), Some(checked)) = (tool, checked) else {
        unreachable!("errors.finish() returned on every missing part")
    };
    tool.func = &callable;
    expand::generate(&tool, &tool_attr, checked)
}
