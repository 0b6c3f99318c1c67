//! The procedural macros of `tool-runtime`. Depend on `tool-runtime`, which re-exports them;
//! the documentation with examples lives there.

use proc_macro::TokenStream;
use syn::{DeriveInput, ItemFn, parse_macro_input};

mod docs;
mod record;
mod role;
mod safe_output;
mod secure_tool;
mod types;

/// Turns a function into a tool the model can call; see `tool_runtime::secure_tool`.
#[proc_macro_attribute]
pub fn secure_tool(attr: TokenStream, item: TokenStream) -> TokenStream {
    let func = parse_macro_input!(item as ItemFn);
    secure_tool::expand(attr.into(), func).into()
}

/// Derives `SafeOutput`; see `tool_runtime::SafeOutput`.
#[proc_macro_derive(SafeOutput, attributes(safe_output, mask))]
pub fn derive_safe_output(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    safe_output::expand(input).into()
}

/// Derives `Record`; see `tool_runtime::Record`.
#[proc_macro_derive(Record, attributes(secret))]
pub fn derive_record(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    record::expand(input).into()
}

/// Derives `Role`; see `tool_runtime::Role`.
#[proc_macro_derive(Role)]
pub fn derive_role(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    role::expand(input).into()
}
