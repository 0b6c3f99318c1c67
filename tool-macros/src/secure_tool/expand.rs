//! The code `#[secure_tool]` generates: the argument type, the tool type, and its handler impl.

use heck::ToUpperCamelCase;
use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::Ident;
use syn::ext::IdentExt;
use syn::spanned::Spanned;

use super::attr::{RoleRef, ToolAttr};
use super::check::{Access, Checked};
use super::model::{Param, ToolFn};

pub fn generate(
    tool: &ToolFn<'_>,
    attr: &ToolAttr,
    checked: Checked,
) -> darling::Result<TokenStream> {
    let func = tool.func;
    let vis = &func.vis;
    let fn_name = &func.sig.ident;
    let camel = fn_name.to_string().to_upper_camel_case();
    let tool_ty = format_ident!("{}", camel, span = fn_name.span());
    let args_ty = format_ident!("{}Args", camel, span = fn_name.span());
    let tool_name = &checked.name;
    let description = tool.description.as_deref().unwrap_or_default();

    let access = access_tokens(&checked.access)?;
    let hints = {
        let read_only = attr.read_only.is_present();
        let destructive = attr.destructive.is_present();
        let idempotent = attr.idempotent.is_present();
        let open_world = attr.open_world.is_present();
        quote!(__tr::Hints { read_only: #read_only, destructive: #destructive, idempotent: #idempotent, open_world: #open_world })
    };
    let gate = match (&attr.confirm, attr.destructive.is_present()) {
        (Some(text), _) => quote!(__tr::Gate::Confirm(#text)),
        (None, true) => quote!(__tr::Gate::HumanApproval),
        (None, false) => quote!(__tr::Gate::None),
    };
    let rate_limit = match checked.rate {
        Some((count, secs)) => quote!({
            const __QUOTA: __tr::Quota =
                __tr::Quota::new(#count, ::core::time::Duration::from_secs(#secs));
            ::core::option::Option::Some(__QUOTA)
        }),
        None => quote!(::core::option::Option::None),
    };
    let timeout = match checked.timeout_ms {
        Some(ms) => quote!(::core::option::Option::Some(::core::time::Duration::from_millis(#ms))),
        None => quote!(::core::option::Option::None),
    };
    let max_items = match &attr.max_items {
        Some(n) => {
            let n = **n;
            quote!(::core::option::Option::Some(#n))
        }
        None => quote!(::core::option::Option::None),
    };

    // The argument struct.
    let mut fields = Vec::new();
    let mut field_names = Vec::new();
    let mut secrets = Vec::new();
    let mut nested = Vec::new();
    for arg in tool.args() {
        let already_nested = arg.validate.iter().any(|a| has_nested_rule(a));
        if !already_nested {
            nested.push(nested_check(arg.ident, arg.ty));
        }
        let ident = arg.ident;
        let ty = arg.ty;
        let doc = arg.doc.as_ref().map(|d| quote!(#[doc = #d]));
        let validate = &arg.validate;
        fields.push(quote! {
            #doc
            #(#validate)*
            pub #ident: #ty,
        });
        field_names.push(ident.clone());
        if arg.secret {
            // Serde names the field `type`, not `r#type`: the name it is redacted under.
            secrets.push(ident.unraw().to_string());
        }
    }
    let mut extra_items = TokenStream::new();
    if let Some(text) = &attr.confirm {
        let check_fn = format_ident!("__secure_tool_confirm_{}", fn_name);
        let text_value = text.value();
        let doc = format!("Type exactly: {text_value}");
        fields.push(quote! {
            #[doc = #doc]
            #[validate(custom(function = #check_fn))]
            #[schemars(extend("enum" = [#text]))]
            pub confirmation: ::std::string::String,
        });
        extra_items.extend(quote! {
            #[doc(hidden)]
            #[allow(clippy::ptr_arg)]
            fn #check_fn(value: &::std::string::String) -> ::core::result::Result<(), ::tool_runtime::__private::validator::ValidationError> {
                if value == #text {
                    ::core::result::Result::Ok(())
                } else {
                    let mut err = ::tool_runtime::__private::validator::ValidationError::new("confirmation");
                    err.message = ::core::option::Option::Some(::std::borrow::Cow::Borrowed(concat!("must be exactly: ", #text)));
                    ::core::result::Result::Err(err)
                }
            }
        });
    }
    let args_doc = format!("The arguments of the `{tool_name}` tool, as the model sends them.");

    // The call of the original function, injected parameters in place.
    let call_args: Vec<TokenStream> = tool
        .params
        .iter()
        .map(|p| match p {
            Param::Session => quote!(&__session),
            Param::State(_) => quote!(__tr::State(__state)),
            Param::Arg(a) => {
                let ident = a.ident;
                quote!(#ident)
            }
        })
        .collect();
    let state_ty = tool.state_type();
    let (impl_head, state_param_ty, state_clone) = match state_ty {
        Some(ty) => (
            quote!(impl __tr::ToolHandler<#ty> for #tool_ty),
            quote!(#ty),
            quote!(let __state: #ty = ::core::clone::Clone::clone(__state_ref);),
        ),
        None => (
            quote!(impl<__S: ::core::marker::Send + ::core::marker::Sync + 'static> __tr::ToolHandler<__S> for #tool_ty),
            quote!(__S),
            quote!(let _ = __state_ref;),
        ),
    };

    let output = tool.output;
    // Errors about the handler's value point at it: `Customer` in `Result<Customer, ToolError>`.
    let value_span = crate::types::head(output)
        .and_then(|(_, args)| args.first().map(|t| t.span()))
        .unwrap_or_else(|| output.span());
    let value_ty = quote_spanned!(value_span=> <#output as __tr::HandlerResult>::Value);
    let (output_ty, project) = match &attr.returns {
        Some(safe) => (
            quote_spanned!(value_span=> <#value_ty as __tr::ProjectAs<#safe>>::Out),
            quote_spanned!(value_span=> <#value_ty as __tr::ProjectAs<#safe>>::project_as(__value)),
        ),
        None => (value_ty.clone(), quote!(__value)),
    };
    // A tool generic over its state is checked at `()`: its output does not depend on it.
    let concrete_state = state_ty.map_or_else(|| quote!(()), |ty| quote!(#ty));
    let max_items_check = attr.max_items.as_ref().map(|n| {
        quote_spanned! {n.span()=>
            const _: fn() = || {
                fn __list<__T: __tr::ItemList>() {}
                __list::<<#tool_ty as __tr::ToolHandler<#concrete_state>>::Output>();
            };
        }
    });

    let invoke = if func.sig.asyncness.is_some() {
        quote! {
            let __value = #fn_name(#(#call_args),*).await;
        }
    } else {
        quote! {
            let __value = __tr::run_blocking(#tool_name, move || #fn_name(#(#call_args),*)).await?;
        }
    };

    let tool_doc = format!(
        "The `{tool_name}` tool, generated by `#[secure_tool]` from [`{fn_name}`]. Register it with `Toolbox::builder(state).tool({camel})`."
    );
    let secret_list = secrets.iter();

    Ok(quote! {
        #func

        #[doc = #args_doc]
        #[derive(
            ::tool_runtime::__private::serde::Deserialize,
            ::tool_runtime::__private::serde::Serialize,
            ::tool_runtime::__private::schemars::JsonSchema,
            ::tool_runtime::__private::validator::Validate,
        )]
        #[serde(crate = "::tool_runtime::__private::serde", deny_unknown_fields)]
        #[schemars(crate = "::tool_runtime::__private::schemars", deny_unknown_fields)]
        #[validate(crate = "::tool_runtime::__private::validator")]
        #vis struct #args_ty {
            #(#fields)*
        }

        #extra_items

        #[doc = #tool_doc]
        #[derive(::core::clone::Clone, ::core::marker::Copy, ::core::fmt::Debug, ::core::default::Default)]
        #vis struct #tool_ty;

        const _: () = {
            use ::tool_runtime::__private as __tr;

            impl __tr::ToolArgs for #args_ty {
                const SECRET_FIELDS: &'static [&'static str] = &[#(#secret_list),*];

                #[allow(unused_imports)]
                fn validate_nested(&self, __errors: &mut __tr::FieldErrors) {
                    use __tr::{NestedSkip as _, NestedValidate as _};
                    #(#nested)*
                }
            }

            #impl_head {
                type Args = #args_ty;
                type Output = #output_ty;

                fn spec(&self) -> __tr::ToolSpec {
                    __tr::ToolSpec {
                        name: #tool_name,
                        description: #description,
                        access: #access,
                        hints: #hints,
                        gate: #gate,
                        rate_limit: #rate_limit,
                        timeout: #timeout,
                        max_items: #max_items,
                    }
                }

                #[allow(unused_variables, clippy::unused_unit)]
                fn call(
                    &self,
                    __state_ref: &#state_param_ty,
                    __session_ref: &__tr::Session,
                    __args: #args_ty,
                ) -> impl ::core::future::Future<Output = ::core::result::Result<Self::Output, __tr::ToolError>> + ::core::marker::Send + 'static {
                    #state_clone
                    let __session: __tr::Session = ::core::clone::Clone::clone(__session_ref);
                    async move {
                        #[allow(unused_variables)]
                        let #args_ty { #(#field_names,)* .. } = __args;
                        #invoke
                        let __value = __tr::HandlerResult::into_tool_result(__value)?;
                        ::core::result::Result::Ok(#project)
                    }
                }
            }

            #max_items_check
        };
    })
}

fn access_tokens(access: &Access) -> darling::Result<TokenStream> {
    Ok(match access {
        Access::Public => quote!(__tr::Access::Public),
        Access::Authenticated => quote!(__tr::Access::Authenticated),
        Access::Role(RoleRef::Path(path)) => {
            quote_spanned!(path.span()=> __tr::Access::Role(__tr::RoleTrait::id(#path)))
        }
        Access::Role(RoleRef::Name(lit)) => {
            let role_ty = Ident::new("Role", lit.span());
            // A const, so that a name that is no role stops the build, at the name.
            quote_spanned!(lit.span()=> {
                const __ROLE: #role_ty = #role_ty::__tool_role(#lit);
                __tr::Access::Role(__tr::RoleTrait::id(__ROLE))
            })
        }
    })
}

/// Whether `#[validate(...)]` holds the rule `nested` itself (not a word in a message or a
/// function's name).
fn has_nested_rule(attr: &syn::Attribute) -> bool {
    let mut found = false;
    let _ = attr.parse_nested_meta(|meta| {
        if meta.path.is_ident("nested") {
            found = true;
        }
        if meta.input.peek(syn::Token![=]) {
            let _: syn::Expr = meta.value()?.parse()?;
        } else if meta.input.peek(syn::token::Paren) {
            let _group: proc_macro2::Group = meta.input.parse()?;
        }
        Ok(())
    });
    found
}

/// The call that runs an argument's own type's rules, through `Option`, `Box` and lists:
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
    let leaf = || {
        quote! { (&&__tr::Nested(#value)).nested_validate(#path, __errors); }
    };
    let (inner, list) = match ty {
        syn::Type::Array(a) => (Some(&*a.elem), true),
        syn::Type::Slice(s) => (Some(&*s.elem), true),
        syn::Type::Group(g) => return nested_walk(value, &g.elem, path, depth),
        syn::Type::Paren(p) => return nested_walk(value, &p.elem, path, depth),
        _ => match crate::types::head(ty) {
            Some((name, args)) => {
                let list = matches!(
                    name.as_str(),
                    "Vec" | "VecDeque" | "BTreeSet" | "HashSet" | "LinkedList"
                );
                match (name.as_str(), args.first()) {
                    ("Option", Some(inner)) => {
                        let body = nested_walk(quote!(#item), inner, path, depth + 1);
                        return quote! {
                            if let ::core::option::Option::Some(#item) = #value { #body }
                        };
                    }
                    ("Box" | "Arc" | "Rc", Some(inner)) => {
                        return nested_walk(quote!(&**#value), inner, path, depth + 1);
                    }
                    (_, Some(inner)) if list => (Some(*inner), true),
                    _ => (None, false),
                }
            }
            None => (None, false),
        },
    };
    match (inner, list) {
        (Some(inner), true) => {
            let body = nested_walk(quote!(#item), inner, quote!(&#item_path), depth + 1);
            quote! {
                for (#index, #item) in (#value).iter().enumerate() {
                    let #item_path = ::std::format!("{}[{}]", #path, #index);
                    #body
                }
            }
        }
        _ => leaf(),
    }
}
