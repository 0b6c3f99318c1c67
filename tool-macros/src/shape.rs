//! Recognising types by their syntax: the one classifier of argument and field type shapes,
//! which the checks and the generated nested validation both read.

use syn::{GenericArgument, PathArguments, Type};

/// What a type is, as far as the rules about arguments go.
pub enum Shape<'a> {
    /// `String`, `str`.
    Text,
    /// `BoundedString<N>`: bounded by its type.
    BoundedText,
    /// `Option<T>`.
    Optional(&'a Type),
    /// `Box<T>`, `Cow<T>`, `Arc<T>`, `Rc<T>`, `&T`: the same value behind an indirection.
    Pointer(&'a Type),
    /// `Vec<T>`, `VecDeque<T>`, the sets, `BinaryHeap<T>`, `LinkedList<T>`, `[T]`: items without
    /// a bound of their own (`None` when the item type is not written).
    List(Option<&'a Type>),
    /// `[T; N]`: bounded by its type.
    Array(&'a Type),
    /// `PathBuf`, `Path`, `OsString`, `OsStr`.
    Path,
    /// `serde_json::Value` and maps of arbitrary keys, by name.
    Untyped(String),
    /// Anything else: a number, a bool, an enum or a struct of the application's.
    Other,
}

const LISTS: &[&str] = &[
    "Vec",
    "VecDeque",
    "HashSet",
    "BTreeSet",
    "BinaryHeap",
    "LinkedList",
];
const POINTERS: &[&str] = &["Box", "Cow", "Arc", "Rc"];
const PATHS: &[&str] = &["PathBuf", "Path", "OsString", "OsStr"];
const UNTYPED: &[&str] = &["Value", "HashMap", "BTreeMap", "Map", "IndexMap"];

/// The shape of `ty`.
pub fn classify(ty: &Type) -> Shape<'_> {
    match ty {
        Type::Reference(r) => return Shape::Pointer(&r.elem),
        Type::Array(a) => return Shape::Array(&a.elem),
        Type::Slice(s) => return Shape::List(Some(&s.elem)),
        Type::Group(g) => return classify(&g.elem),
        Type::Paren(p) => return classify(&p.elem),
        _ => {}
    }
    let Some((name, args)) = head(ty) else {
        return Shape::Other;
    };
    // `Cow<'a, T>` has its type after the lifetime: `head` lists type arguments only.
    let first = args.first().copied();
    match name.as_str() {
        "String" | "str" => Shape::Text,
        "BoundedString" => Shape::BoundedText,
        "Option" => first.map_or(Shape::Other, Shape::Optional),
        pointer if POINTERS.contains(&pointer) => first.map_or(Shape::Other, Shape::Pointer),
        list if LISTS.contains(&list) => Shape::List(first),
        path if PATHS.contains(&path) => Shape::Path,
        untyped if UNTYPED.contains(&untyped) => Shape::Untyped(name),
        _ => Shape::Other,
    }
}

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
    match classify(ty) {
        Shape::Optional(inner) => inner,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(ty: &str) -> &'static str {
        let ty: Type = syn::parse_str(ty).unwrap();
        match classify(&ty) {
            Shape::Text => "text",
            Shape::BoundedText => "bounded",
            Shape::Optional(_) => "optional",
            Shape::Pointer(_) => "pointer",
            Shape::List(Some(_)) => "list",
            Shape::List(None) => "list of unknown",
            Shape::Array(_) => "array",
            Shape::Path => "path",
            Shape::Untyped(_) => "untyped",
            Shape::Other => "other",
        }
    }

    #[test]
    fn every_wrapper_and_list_is_known_once() {
        for (ty, expected) in [
            ("String", "text"),
            ("std::string::String", "text"),
            ("BoundedString<8>", "bounded"),
            ("Option<u32>", "optional"),
            ("Box<Filter>", "pointer"),
            ("Cow<'static, str>", "pointer"),
            ("std::sync::Arc<Filter>", "pointer"),
            ("Rc<Filter>", "pointer"),
            ("&str", "pointer"),
            ("Vec<u8>", "list"),
            ("VecDeque<u8>", "list"),
            ("HashSet<u8>", "list"),
            ("BTreeSet<u8>", "list"),
            ("BinaryHeap<u8>", "list"),
            ("LinkedList<u8>", "list"),
            ("[u8; 4]", "array"),
            ("std::path::PathBuf", "path"),
            ("OsString", "path"),
            ("serde_json::Value", "untyped"),
            ("HashMap<String, u8>", "untyped"),
            ("u32", "other"),
            ("Filter", "other"),
        ] {
            assert_eq!(shape(ty), expected, "{ty}");
        }
    }
}
