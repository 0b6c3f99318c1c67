//! The argument type, `<Tool>Args`: what the model fills in, with its schema and its rules.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use syn::Ident;
use syn::ext::IdentExt;

use crate::secure_tool::model::{Gate, Tool};
use crate::shape::{Shape, classify};

/// The struct, and the check function `confirm` needs.
pub fn emit(tool: &Tool) -> TokenStream {
    let vis = &tool.func.vis;
    let args_ty = &tool.args_ty;
    let mut fields: Vec<TokenStream> = tool
        .args()
        .map(|arg| {
            let ident = &arg.ident;
            let ty = &arg.ty;
            let doc = arg.doc.as_ref().map(|d| quote!(#[doc = #d]));
            let validate = &arg.validate;
            quote! {
                #doc
                #(#validate)*
                pub #ident: #ty,
            }
        })
        .collect();
    let mut confirm_check = TokenStream::new();
    if let Gate::Confirm(text) = &tool.gate {
        let check_fn = format_ident!("__secure_tool_confirm_{}", tool.func.sig.ident.unraw());
        let doc = format!("Type exactly: {}", text.value());
        fields.push(quote! {
            #[doc = #doc]
            #[validate(custom(function = #check_fn))]
            #[schemars(extend("enum" = [#text]))]
            pub confirmation: ::std::string::String,
        });
        confirm_check = quote! {
            #[doc(hidden)]
            #[allow(clippy::ptr_arg)]
            fn #check_fn(value: &::std::string::String) -> ::core::result::Result<(), ::tool_runtime::__private::validator::ValidationError> {
                ::tool_runtime::__private::confirmation_matches(value, #text)
            }
        };
    }
    let doc = format!(
        "The arguments of the `{}` tool, as the model sends them.",
        tool.name
    );
    quote! {
        #[doc = #doc]
        #[derive(
            ::tool_runtime::__private::serde::Deserialize,
            ::tool_runtime::__private::schemars::JsonSchema,
            ::tool_runtime::__private::validator::Validate,
        )]
        #[serde(crate = "::tool_runtime::__private::serde", deny_unknown_fields)]
        #[schemars(crate = "::tool_runtime::__private::schemars", deny_unknown_fields)]
        #[validate(crate = "::tool_runtime::__private::validator")]
        #vis struct #args_ty {
            #(#fields)*
        }

        #confirm_check
    }
}

/// `ToolArgs`: the secret arguments' names, and the rules of the arguments' own types.
pub fn impl_tool_args(tool: &Tool) -> TokenStream {
    let args_ty = &tool.args_ty;
    // Serde names the field `type`, not `r#type`: the name it is redacted under.
    let secrets = tool
        .args()
        .filter(|a| a.secret)
        .map(|a| a.ident.unraw().to_string());
    let nested = tool
        .args()
        .filter(|a| !a.nested_rule)
        .map(|a| nested_check(&a.ident, &a.ty));
    quote! {
        impl __tr::ToolArgs for #args_ty {
            const SECRET_FIELDS: &'static [&'static str] = &[#(#secrets),*];

            #[allow(unused_imports)]
            fn validate_nested(&self, __errors: &mut __tr::FieldErrors) {
                use __tr::{NestedSkip as _, NestedValidate as _};
                #(#nested)*
            }
        }
    }
}

/// The call that runs an argument's own type's rules, through options, pointers and lists:
/// which rules apply (the type's `Validate`, or none) is left to the compiler, per type.
fn nested_check(ident: &Ident, ty: &syn::Type) -> TokenStream {
    let key = ident.unraw().to_string();
    nested_walk(quote!(&self.#ident), ty, quote!(#key), 0)
}

/// `value` is an expression of type `&ty`; `path` one of type `&str`.
fn nested_walk(value: TokenStream, ty: &syn::Type, path: TokenStream, depth: usize) -> TokenStream {
    let item = format_ident!("__v{}", depth);
    let index = format_ident!("__i{}", depth);
    let item_path = format_ident!("__p{}", depth);
    match classify(ty) {
        Shape::Optional(inner) => {
            let body = nested_walk(quote!(#item), inner, path, depth + 1);
            quote! {
                if let ::core::option::Option::Some(#item) = #value { #body }
            }
        }
        Shape::Pointer(inner) => nested_walk(quote!(&**#value), inner, path, depth + 1),
        Shape::List(Some(inner)) | Shape::Array(inner) => {
            let body = nested_walk(quote!(#item), inner, quote!(&#item_path), depth + 1);
            quote! {
                for (#index, #item) in (#value).iter().enumerate() {
                    let #item_path = ::std::format!("{}[{}]", #path, #index);
                    #body
                }
            }
        }
        // Text has no rules of its own type; the rest is the compiler's to decide.
        Shape::Text | Shape::BoundedText | Shape::Path => TokenStream::new(),
        Shape::List(None) | Shape::Untyped(_) | Shape::Other => {
            quote! { (&&__tr::Nested(#value)).nested_validate(#path, __errors); }
        }
    }
}
