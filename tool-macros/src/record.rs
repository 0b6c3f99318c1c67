//! `#[derive(Record)]`: a domain type and the fields no projection may copy.

use proc_macro2::TokenStream;
use quote::quote;
use syn::ext::IdentExt;
use syn::{Data, DeriveInput, Fields};

pub fn expand(input: DeriveInput) -> TokenStream {
    let ident = &input.ident;
    let fields = match &input.data {
        Data::Struct(s) => match &s.fields {
            Fields::Named(named) => &named.named,
            _ => {
                return darling::Error::custom(
                    "a Record needs named fields, so that secrets can be named: use `struct Name { field: Type }`",
                )
                .with_span(&input.ident)
                .write_errors();
            }
        },
        _ => {
            return darling::Error::custom("derive Record on a struct with named fields")
                .with_span(&input.ident)
                .write_errors();
        }
    };
    let mut errors = darling::Error::accumulator();
    let mut secrets = Vec::new();
    for field in fields {
        for attr in field.attrs.iter().filter(|a| a.path().is_ident("secret")) {
            if !matches!(attr.meta, syn::Meta::Path(_)) {
                errors
                    .push(darling::Error::custom("`#[secret]` takes no arguments").with_span(attr));
            }
            if let Some(name) = &field.ident {
                // `r#type` and `type` are the same field; the projection compares unraw names.
                secrets.push(name.unraw().to_string());
            }
        }
    }
    if let Err(e) = errors.finish() {
        return e.write_errors();
    }
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    quote! {
        impl #impl_generics ::tool_runtime::__private::Record for #ident #ty_generics #where_clause {
            const SECRET_FIELDS: &'static [&'static str] = &[#(#secrets),*];
        }

        // Every SafeOutput has this trait already: a record that is also declared a SafeOutput,
        // by derive or by hand, has it twice, and the build stops.
        impl #impl_generics ::tool_runtime::__private::ARecordCannotBeASafeOutput for #ident #ty_generics #where_clause {}
    }
}
