//! The code `#[derive(SafeOutput)]` generates: serialisation, schema, and the projection from
//! the source record with its compile-time secret check.

use heck::ToSnakeCase;
use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::ext::IdentExt;
use syn::spanned::Spanned;

use super::parse::{Field, Mask, Model, Shape};

pub fn generate(model: &Model) -> TokenStream {
    let body = match &model.shape {
        Shape::Struct { from, fields } => {
            let mut tokens = struct_impls(model, fields, from.is_some());
            if let Some(from) = from {
                tokens.extend(projection(model, from, fields));
            }
            tokens
        }
        Shape::Enum(variants) => enum_impls(model, variants),
    };
    quote! {
        const _: () = {
            use ::tool_runtime::__private as __tr;
            #body
        };
    }
}

/// `source_fields`: what a projected type reads of its source.
fn identity(model: &Model, source_fields: &[String]) -> TokenStream {
    let ident = &model.ident;
    quote! {
        impl __tr::SafeOutput for #ident {
            const SOURCE_FIELDS: &'static [&'static str] = &[#(#source_fields),*];
        }
        impl __tr::Project<#ident> for #ident {
            fn project(self) -> #ident { self }
        }
        impl __tr::ProjectAs<#ident> for #ident {
            type Out = #ident;
            fn project_as(self) -> #ident { self }
        }
    }
}

fn schema_name(model: &Model) -> TokenStream {
    let ident = &model.ident;
    let name = ident.to_string();
    quote! {
        fn schema_name() -> ::std::borrow::Cow<'static, str> {
            ::std::borrow::Cow::Borrowed(#name)
        }
        fn schema_id() -> ::std::borrow::Cow<'static, str> {
            ::std::borrow::Cow::Borrowed(::core::concat!(::core::module_path!(), "::", #name))
        }
    }
}

fn description_insert(target: TokenStream, text: Option<&str>) -> TokenStream {
    match text {
        Some(text) => quote! {
            #target.insert(::std::string::String::from("description"), __tr::serde_json::Value::from(#text));
        },
        None => quote!(),
    }
}

fn struct_impls(model: &Model, fields: &[Field], projected: bool) -> TokenStream {
    let ident = &model.ident;
    let name = ident.to_string();
    let count = fields.len();
    let idents: Vec<_> = fields.iter().map(|f| &f.ident).collect();
    let keys: Vec<String> = idents.iter().map(|i| i.unraw().to_string()).collect();
    // A mask applies where the value leaves for the model, so that it holds for every value of
    // the type, projected or built by hand.
    let values = fields.iter().map(|f| {
        let field = &f.ident;
        match &f.mask {
            None => quote!(self.#field),
            Some(Mask::KeepLast(n)) => quote_spanned!(field.span()=>
                __tr::Maskable::masked(&self.#field, |__t: &str| __tr::mask_keep_last(__t, #n))
            ),
            Some(Mask::Email) => quote_spanned!(field.span()=>
                __tr::Maskable::masked(&self.#field, __tr::mask_email)
            ),
        }
    });
    // Each field's type must itself be safe: checked at the field, so the error points there.
    let field_checks = fields.iter().map(|f| {
        let ty = &f.ty;
        quote_spanned! {ty.span()=>
            const _: fn() = || {
                fn __safe<__T: __tr::SafeOutput>() {}
                __safe::<#ty>();
            };
        }
    });
    let properties = fields.iter().map(|f| {
        let ty = &f.ty;
        let key = f.ident.unraw().to_string();
        let doc = match (&f.doc, &f.mask) {
            (Some(d), Some(Mask::KeepLast(n))) => Some(format!(
                "{d} (masked: only the last {n} characters are shown)"
            )),
            (None, Some(Mask::KeepLast(n))) => {
                Some(format!("Masked: only the last {n} characters are shown."))
            }
            (Some(d), Some(Mask::Email)) => Some(format!(
                "{d} (masked: only the first letter and the domain are shown)"
            )),
            (None, Some(Mask::Email)) => {
                Some("Masked: only the first letter and the domain are shown.".to_owned())
            }
            (d, None) => d.clone(),
        };
        let describe = description_insert(quote!(__s), doc.as_deref());
        quote! {
            {
                let mut __s = __generator.subschema_for::<#ty>();
                #describe
                __properties.insert(::std::string::String::from(#key), __s.to_value());
            }
        }
    });
    let describe_root = description_insert(quote!(__root), model.description.as_deref());
    let schema_name = schema_name(model);
    let source_fields = if projected { keys.clone() } else { Vec::new() };
    let identity = identity(model, &source_fields);
    quote! {
        #(#field_checks)*

        impl __tr::serde::Serialize for #ident {
            fn serialize<__Ser: __tr::serde::Serializer>(&self, __serializer: __Ser) -> ::core::result::Result<__Ser::Ok, __Ser::Error> {
                use __tr::serde::ser::SerializeStruct as _;
                let mut __state = __serializer.serialize_struct(#name, #count)?;
                #( __state.serialize_field(#keys, &#values)?; )*
                __state.end()
            }
        }

        impl __tr::schemars::JsonSchema for #ident {
            #schema_name
            fn json_schema(__generator: &mut __tr::schemars::SchemaGenerator) -> __tr::schemars::Schema {
                let mut __properties = __tr::serde_json::Map::new();
                #(#properties)*
                let mut __root = __tr::serde_json::Map::new();
                __root.insert(::std::string::String::from("type"), __tr::serde_json::Value::from("object"));
                #describe_root
                __root.insert(::std::string::String::from("properties"), __tr::serde_json::Value::Object(__properties));
                __root.insert(
                    ::std::string::String::from("required"),
                    __tr::serde_json::Value::from(::std::vec![#(#keys),*]),
                );
                __root.insert(::std::string::String::from("additionalProperties"), __tr::serde_json::Value::Bool(false));
                __tr::schemars::Schema::from(__root)
            }
        }

        #identity
    }
}

fn projection(model: &Model, from: &syn::Type, fields: &[Field]) -> TokenStream {
    let ident = &model.ident;
    // The source is destructured, never read through field access: field access would reach
    // through `Deref` into another type's fields, past the secret check of this source.
    let bindings: Vec<_> = fields
        .iter()
        .map(|f| format_ident!("__f_{}", f.ident.unraw()))
        .collect();
    let pattern = fields.iter().zip(&bindings).map(|(f, binding)| {
        let field = &f.ident;
        quote_spanned!(field.span()=> #field: #binding)
    });
    let assignments = fields.iter().zip(&bindings).map(|(f, binding)| {
        let field = &f.ident;
        let ty = &f.ty;
        quote_spanned!(field.span()=> #field: __tr::Project::<#ty>::project(#binding))
    });
    // A projection that names a secret field stops the build, at the field.
    let secret_checks = fields.iter().map(|f| {
        let field = &f.ident;
        let key = field.unraw().to_string();
        let message = format!(
            "field `{key}` is marked #[secret] in the source record, and secrets can never be projected: remove `{key}` from `{ident}`"
        );
        quote_spanned! {field.span()=>
            const _: () = if __tr::contains(<#from as __tr::Record>::SECRET_FIELDS, #key) {
                ::core::panic!(#message)
            };
        }
    });
    quote! {
        #(#secret_checks)*

        impl __tr::Project<#ident> for #from {
            fn project(self) -> #ident {
                type __Source = #from;
                let __Source { #(#pattern,)* .. } = self;
                #ident { #(#assignments,)* }
            }
        }

        impl __tr::ProjectAs<#ident> for #from {
            type Out = #ident;
            fn project_as(self) -> #ident {
                __tr::Project::project(self)
            }
        }
    }
}

fn enum_impls(model: &Model, variants: &[syn::Ident]) -> TokenStream {
    let ident = &model.ident;
    let names: Vec<String> = variants
        .iter()
        .map(|v| v.to_string().to_snake_case())
        .collect();
    let name = ident.to_string();
    let indices = 0..variants.len() as u32;
    let schema_name = schema_name(model);
    let describe_root = description_insert(quote!(__root), model.description.as_deref());
    let identity = identity(model, &[]);
    quote! {
        impl __tr::serde::Serialize for #ident {
            fn serialize<__Ser: __tr::serde::Serializer>(&self, __serializer: __Ser) -> ::core::result::Result<__Ser::Ok, __Ser::Error> {
                match self {
                    #( #ident::#variants => __serializer.serialize_unit_variant(#name, #indices, #names), )*
                }
            }
        }

        impl __tr::schemars::JsonSchema for #ident {
            #schema_name
            fn json_schema(_: &mut __tr::schemars::SchemaGenerator) -> __tr::schemars::Schema {
                let mut __root = __tr::serde_json::Map::new();
                __root.insert(::std::string::String::from("type"), __tr::serde_json::Value::from("string"));
                #describe_root
                __root.insert(
                    ::std::string::String::from("enum"),
                    __tr::serde_json::Value::from(::std::vec![#(#names),*]),
                );
                __tr::schemars::Schema::from(__root)
            }
        }

        #identity
    }
}
