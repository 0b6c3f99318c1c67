//! Recognising argument and field types by their syntax.

use syn::{GenericArgument, PathArguments, Type};

/// The last path segment's name and its angle-bracketed type arguments: `Option<String>` is
/// `("Option", [String])`.
pub fn head(ty: &Type) -> Option<(String, Vec<&Type>)> {
    match ty {
        Type::Path(p) if p.qself.is_none() => {
            let seg = p.path.segments.last()?;
            let args = match &seg.arguments {
                PathArguments::AngleBracketed(a) => a
                    .args
                    .iter()
                    .filter_map(|g| match g {
                        GenericArgument::Type(t) => Some(t),
                        _ => None,
                    })
                    .collect(),
                _ => Vec::new(),
            };
            Some((seg.ident.to_string(), args))
        }
        Type::Group(g) => head(&g.elem),
        Type::Paren(p) => head(&p.elem),
        _ => None,
    }
}

/// Whether the type is named `name` (its last segment), whatever its arguments.
pub fn is_named(ty: &Type, name: &str) -> bool {
    head(ty).is_some_and(|(n, _)| n == name)
}

/// `Option<T>` gives `T`; anything else gives itself.
pub fn unwrap_option(ty: &Type) -> &Type {
    match head(ty) {
        Some((n, args)) if n == "Option" && args.len() == 1 => args[0],
        _ => ty,
    }
}

/// The type behind a reference, or the type itself.
pub fn unwrap_ref(ty: &Type) -> &Type {
    match ty {
        Type::Reference(r) => &r.elem,
        _ => ty,
    }
}
