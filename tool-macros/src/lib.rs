//! The procedural macros of `tool-runtime`. Depend on `tool-runtime`, which re-exports them.

use proc_macro::TokenStream;

/// Turns a function into a tool.
#[proc_macro_attribute]
pub fn secure_tool(attr: TokenStream, item: TokenStream) -> TokenStream {
    let _ = attr;
    item
}

/// Derives `SafeOutput`.
#[proc_macro_derive(SafeOutput, attributes(safe_output, mask))]
pub fn derive_safe_output(input: TokenStream) -> TokenStream {
    let _ = input;
    TokenStream::new()
}

/// Derives `Record`.
#[proc_macro_derive(Record, attributes(secret))]
pub fn derive_record(input: TokenStream) -> TokenStream {
    let _ = input;
    TokenStream::new()
}

/// Derives `Role`.
#[proc_macro_derive(Role)]
pub fn derive_role(input: TokenStream) -> TokenStream {
    let _ = input;
    TokenStream::new()
}
