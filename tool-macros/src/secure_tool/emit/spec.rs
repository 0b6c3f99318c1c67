//! The tool's spec: its name, description, access, hints and guards, as the toolbox reads them.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::Ident;
use syn::spanned::Spanned;

use crate::secure_tool::model::{Access, Gate, Tool};

/// The `ToolSpec` expression.
pub fn emit(tool: &Tool) -> TokenStream {
    let name = &tool.name;
    let description = &tool.description;
    let access = access(&tool.access);
    let hints = {
        let h = &tool.hints;
        let (read_only, destructive, idempotent, open_world) =
            (h.read_only, h.destructive, h.idempotent, h.open_world);
        quote!(__tr::Hints { read_only: #read_only, destructive: #destructive, idempotent: #idempotent, open_world: #open_world })
    };
    let gate = match &tool.gate {
        Gate::Confirm(text) => quote!(__tr::Gate::Confirm(#text)),
        Gate::HumanApproval => quote!(__tr::Gate::HumanApproval),
        Gate::None => quote!(__tr::Gate::None),
    };
    let rate_limit = match tool.rate {
        Some(rate) => {
            let count = rate.count;
            let secs = rate.per.as_secs();
            quote!({
                const __QUOTA: __tr::Quota =
                    __tr::Quota::new(#count, ::core::time::Duration::from_secs(#secs));
                ::core::option::Option::Some(__QUOTA)
            })
        }
        None => quote!(::core::option::Option::None),
    };
    let timeout = match tool.timeout {
        Some(limit) => {
            let ms = u64::try_from(limit.as_millis()).unwrap_or(u64::MAX);
            quote!(::core::option::Option::Some(::core::time::Duration::from_millis(#ms)))
        }
        None => quote!(::core::option::Option::None),
    };
    let max_items = match tool.max_items {
        Some((n, _)) => quote!(::core::option::Option::Some(#n)),
        None => quote!(::core::option::Option::None),
    };
    quote! {
        __tr::ToolSpec {
            name: #name,
            description: #description,
            access: #access,
            hints: #hints,
            gate: #gate,
            rate_limit: #rate_limit,
            timeout: #timeout,
            max_items: #max_items,
        }
    }
}

fn access(access: &Access) -> TokenStream {
    match access {
        Access::Public => quote!(__tr::Access::Public),
        Access::Authenticated => quote!(__tr::Access::Authenticated),
        Access::RolePath(path) => {
            quote_spanned!(path.span()=> __tr::Access::Role(__tr::RoleTrait::id(#path)))
        }
        Access::RoleName(lit) => {
            let role_ty = Ident::new("Role", lit.span());
            // A const, so that a name that is no role stops the build, at the name.
            quote_spanned!(lit.span()=> {
                const __ROLE: #role_ty = #role_ty::__tool_role(#lit);
                __tr::Access::Role(__tr::RoleTrait::id(__ROLE))
            })
        }
    }
}
