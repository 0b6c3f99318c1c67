//! The keys of `#[secure_tool(...)]` as written, parsed with darling. Their values' grammars
//! (names, rate limits, time limits) are the `tool-rules` crate's, shared with the runtime.

use darling::FromMeta;
use darling::util::{Flag, SpannedValue};
use syn::{Expr, Lit, LitStr, Path};

/// The attribute as written, before any check.
#[derive(FromMeta, Default)]
pub struct ToolAttr {
    pub role: Option<RoleRef>,
    pub public: Flag,
    pub returns: Option<syn::Type>,
    pub name: Option<LitStr>,
    pub read_only: Flag,
    pub idempotent: Flag,
    pub open_world: Flag,
    pub destructive: Flag,
    pub confirm: Option<LitStr>,
    pub rate_limit: Option<LitStr>,
    pub timeout: Option<LitStr>,
    pub max_items: Option<SpannedValue<usize>>,
}

/// `role = "snake_name"` or `role = Role::Variant`.
pub enum RoleRef {
    Name(LitStr),
    Path(Path),
}

impl FromMeta for RoleRef {
    fn from_expr(expr: &Expr) -> darling::Result<Self> {
        match expr {
            Expr::Lit(lit) => match &lit.lit {
                Lit::Str(s) => Ok(RoleRef::Name(s.clone())),
                _ => Err(role_error().with_span(expr)),
            },
            Expr::Path(p) => Ok(RoleRef::Path(p.path.clone())),
            Expr::Group(g) => Self::from_expr(&g.expr),
            _ => Err(role_error().with_span(expr)),
        }
    }
}

fn role_error() -> darling::Error {
    darling::Error::custom(
        "`role` takes a role's snake_case name, `role = \"support_agent\"`, or its path, `role = Role::SupportAgent`",
    )
}
