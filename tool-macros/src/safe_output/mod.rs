//! `#[derive(SafeOutput)]`: an allowlisted output type, optionally projected from a Record.

mod expand;
mod parse;

use darling::FromDeriveInput;
use proc_macro2::TokenStream;
use syn::DeriveInput;

pub fn expand(input: DeriveInput) -> TokenStream {
    let parsed = match parse::SafeOutputInput::from_derive_input(&input) {
        Ok(p) => p,
        Err(e) => return e.write_errors(),
    };
    match parse::check(parsed) {
        Ok(model) => expand::generate(&model),
        Err(e) => e.write_errors(),
    }
}
