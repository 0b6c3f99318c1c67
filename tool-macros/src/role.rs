//! `#[derive(Role)]`: a fieldless enum whose declaration order is the hierarchy.

use heck::ToSnakeCase;
use proc_macro2::TokenStream;
use quote::quote;
use syn::{Data, DeriveInput, Fields};

pub fn expand(input: DeriveInput) -> TokenStream {
    let ident = &input.ident;
    let Data::Enum(data) = &input.data else {
        return darling::Error::custom(
            "derive Role on an enum listing the roles, lowest first: `enum Role { User, Admin }`",
        )
        .with_span(ident)
        .write_errors();
    };
    let mut errors = darling::Error::accumulator();
    if !input.generics.params.is_empty() {
        errors.push(
            darling::Error::custom("a role enum cannot be generic").with_span(&input.generics),
        );
    }
    if data.variants.is_empty() {
        errors.push(darling::Error::custom("a role enum needs at least one role").with_span(ident));
    }
    if data.variants.len() > usize::from(u16::MAX) {
        errors.push(darling::Error::custom("too many roles").with_span(ident));
    }
    for v in &data.variants {
        if !matches!(v.fields, Fields::Unit) {
            errors.push(
                darling::Error::custom("roles carry no data: make this variant a plain name")
                    .with_span(&v.fields),
            );
        }
        if let Some((_, expr)) = &v.discriminant {
            errors.push(
                darling::Error::custom(
                    "the hierarchy is the declaration order: remove the explicit discriminant and order the roles lowest first",
                )
                .with_span(expr),
            );
        }
    }
    if let Err(e) = errors.finish() {
        return e.write_errors();
    }
    let variants: Vec<_> = data.variants.iter().map(|v| &v.ident).collect();
    let names: Vec<String> = variants
        .iter()
        .map(|v| v.to_string().to_snake_case())
        .collect();
    let ranks: Vec<u16> = (0..variants.len()).map(|i| i as u16).collect();
    let message = format!(
        "this `role = \"...\"` names no variant of `{ident}`: the roles are {}",
        names.join(", ")
    );
    quote! {
        impl #ident {
            /// The role named `name`, evaluated at compile time by `#[secure_tool(role = "...")]`
            /// so that a misspelt role stops the build.
            #[doc(hidden)]
            pub const fn __tool_role(name: &str) -> Self {
                #( if ::tool_runtime::__private::str_eq(name, #names) { return #ident::#variants; } )*
                ::core::panic!(#message)
            }
        }

        impl ::tool_runtime::__private::RoleTrait for #ident {
            const ALL: &'static [Self] = &[#(#ident::#variants),*];
            fn rank(self) -> u16 {
                match self { #(#ident::#variants => #ranks,)* }
            }
            fn name(self) -> &'static str {
                match self { #(#ident::#variants => #names,)* }
            }
        }
    }
}
