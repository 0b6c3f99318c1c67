//! The checked tool: everything the code generation needs, decided. Nothing after `check` reads
//! the attribute or the function as written.

use std::time::Duration;

use proc_macro2::Span;
use syn::{Attribute, Ident, ItemFn, LitStr, Path, Type};

use super::parse::Param;

pub struct Tool {
    /// The function as it stays callable: the tool's own attributes removed from its arguments.
    pub func: ItemFn,
    /// The generated tool type (`GetCustomerDetails`) and argument type (`...Args`).
    pub tool_ty: Ident,
    pub args_ty: Ident,
    /// The name the model calls it by.
    pub name: String,
    pub description: String,
    pub access: Access,
    pub hints: Hints,
    pub gate: Gate,
    pub rate: Option<tool_rules::Rate>,
    pub timeout: Option<Duration>,
    /// `max_items = N`, and where it was written, for the list-output check's error.
    pub max_items: Option<(usize, Span)>,
    /// `returns = T`: the safe type the handler's value is projected into.
    pub returns: Option<Type>,
    /// The handler's declared return type, `Result<T, E>`.
    pub output: Type,
    /// Parameters in the function's order, injected ones included.
    pub params: Vec<Param<Arg>>,
}

/// An argument the model supplies, checked.
pub struct Arg {
    pub ident: Ident,
    pub ty: Type,
    pub doc: Option<String>,
    pub validate: Vec<Attribute>,
    /// Redacted in the audit log.
    pub secret: bool,
    /// The author wrote `#[validate(nested)]`: the generated nested validation would repeat it.
    pub nested_rule: bool,
}

pub enum Access {
    Public,
    Authenticated,
    /// `role = "snake_name"`: a variant of the `Role` type in scope, found by name.
    RoleName(LitStr),
    /// `role = Role::Variant`.
    RolePath(Path),
}

pub struct Hints {
    pub read_only: bool,
    pub destructive: bool,
    pub idempotent: bool,
    pub open_world: bool,
}

pub enum Gate {
    None,
    HumanApproval,
    /// The exact text the call's `confirmation` must carry.
    Confirm(LitStr),
}

impl Tool {
    pub fn args(&self) -> impl Iterator<Item = &Arg> {
        self.params.iter().filter_map(|p| match p {
            Param::Arg(a) => Some(a),
            _ => None,
        })
    }

    pub fn state_type(&self) -> Option<&Type> {
        self.params.iter().find_map(|p| match p {
            Param::State(t) => Some(t),
            _ => None,
        })
    }

    pub fn is_async(&self) -> bool {
        self.func.sig.asyncness.is_some()
    }
}
