//! Reading and checking a SafeOutput type: its source, its fields and their masks.

use darling::util::Flag;
use darling::{FromDeriveInput, FromField, FromMeta, FromVariant, ast};
use syn::{Attribute, Ident, Type};

use crate::docs::doc_text;
use crate::shape::{is_named, unwrap_option};

#[derive(FromDeriveInput)]
#[darling(
    attributes(safe_output),
    forward_attrs(doc),
    supports(struct_named, enum_unit)
)]
pub struct SafeOutputInput {
    ident: Ident,
    generics: syn::Generics,
    data: ast::Data<UnitVariant, OutField>,
    attrs: Vec<Attribute>,
    from: Option<Type>,
}

#[derive(FromVariant)]
#[darling(forward_attrs(doc))]
pub struct UnitVariant {
    ident: Ident,
}

#[derive(FromField)]
#[darling(forward_attrs(doc, mask, secret))]
pub struct OutField {
    ident: Option<Ident>,
    ty: Type,
    attrs: Vec<Attribute>,
}

/// `#[mask(keep_last = N)]` or `#[mask(email)]`.
#[derive(FromMeta, Default)]
struct MaskArgs {
    keep_last: Option<usize>,
    email: Flag,
}

pub enum Mask {
    KeepLast(usize),
    Email,
}

/// A checked SafeOutput type.
pub struct Model {
    pub ident: Ident,
    pub description: Option<String>,
    pub shape: Shape,
}

pub enum Shape {
    Struct {
        from: Option<Box<Type>>,
        fields: Vec<Field>,
    },
    Enum(Vec<Ident>),
}

pub struct Field {
    pub ident: Ident,
    pub ty: Type,
    pub doc: Option<String>,
    pub mask: Option<Mask>,
}

pub fn check(input: SafeOutputInput) -> darling::Result<Model> {
    let mut errors = darling::Error::accumulator();
    if !input.generics.params.is_empty() {
        errors.push(
            darling::Error::custom(
                "a SafeOutput type cannot be generic: the model needs one concrete schema",
            )
            .with_span(&input.generics),
        );
    }
    let description = doc_text(&input.attrs);
    let shape = match input.data {
        ast::Data::Enum(variants) => {
            if let Some(from) = &input.from {
                errors.push(
                    darling::Error::custom(
                        "`from` applies to structs: an enum output is its own value",
                    )
                    .with_span(from),
                );
            }
            Shape::Enum(variants.into_iter().map(|v| v.ident).collect())
        }
        ast::Data::Struct(fields) => {
            let mut out = Vec::new();
            for f in fields.fields {
                let Some(ident) = f.ident else { continue };
                if let Some(attr) = f.attrs.iter().find(|a| a.path().is_ident("secret")) {
                    errors.push(
                        darling::Error::custom(
                            "a SafeOutput cannot hold a #[secret] field: keep secrets in a Record, and project the SafeOutput from it with #[safe_output(from = ...)], leaving this field out",
                        )
                        .with_span(attr),
                    );
                }
                let mut mask = None;
                for attr in f.attrs.iter().filter(|a| a.path().is_ident("mask")) {
                    match read_mask(attr, &f.ty) {
                        Ok(m) => mask = Some(m),
                        Err(e) => errors.push(e),
                    }
                }
                out.push(Field {
                    doc: doc_text(&f.attrs),
                    ident,
                    ty: f.ty,
                    mask,
                });
            }
            Shape::Struct {
                from: input.from.map(Box::new),
                fields: out,
            }
        }
    };
    errors.finish()?;
    Ok(Model {
        ident: input.ident,
        description,
        shape,
    })
}

fn read_mask(attr: &Attribute, ty: &Type) -> darling::Result<Mask> {
    if !is_named(unwrap_option(ty), "String") {
        return Err(darling::Error::custom(
            "`#[mask]` works on string fields only: remove it, or make this field a `String`",
        )
        .with_span(ty));
    }
    let usage = "write `#[mask(keep_last = 4)]` to show only the last 4 characters, or `#[mask(email)]` to show only an address's first letter and domain";
    let args = match &attr.meta {
        syn::Meta::List(_) => MaskArgs::from_meta(&attr.meta)?,
        _ => return Err(darling::Error::custom(usage).with_span(attr)),
    };
    match (args.keep_last, args.email.is_present()) {
        (Some(n), false) => Ok(Mask::KeepLast(n)),
        (None, true) => Ok(Mask::Email),
        _ => Err(darling::Error::custom(usage).with_span(attr)),
    }
}
