//! Roles: an application's own enum, ordered lowest first, derived with `#[derive(Role)]`.

use std::any::TypeId;
use std::fmt;

/// An application's role hierarchy. Derive it: `#[derive(Role)]` on a fieldless enum whose
/// declaration order is the hierarchy, lowest first. Names are the variants in snake_case.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a role type",
    label = "not a role",
    note = "add `#[derive(Role, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]` to a fieldless enum listing the roles, lowest first"
)]
pub trait Role: Copy + Send + Sync + 'static {
    /// Every role, lowest first.
    const ALL: &'static [Self];
    /// The position in the hierarchy: higher ranks may do all that lower ones may.
    fn rank(self) -> u16;
    /// The snake_case name.
    fn name(self) -> &'static str;
    /// The role with that snake_case name.
    fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|r| r.name() == name)
    }
    /// This role, type-erased, as a [`Session`](crate::Session) and a tool's access rule hold it.
    fn id(self) -> RoleId {
        RoleId {
            type_id: TypeId::of::<Self>(),
            rank: self.rank(),
            name: self.name(),
        }
    }
}

/// A role of some application's role type, type-erased.
///
/// Two `RoleId`s compare only when they come from the same role type: a role of another
/// enum never satisfies a tool's requirement, whatever its rank.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct RoleId {
    type_id: TypeId,
    rank: u16,
    name: &'static str,
}

impl RoleId {
    /// The snake_case name of the role.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The position in the hierarchy.
    pub fn rank(&self) -> u16 {
        self.rank
    }

    /// Whether this role is `required` or above it in the same hierarchy.
    pub fn satisfies(&self, required: &RoleId) -> bool {
        self.type_id == required.type_id && self.rank >= required.rank
    }

    /// The role as the application's own type, if it is of that type.
    pub fn get<R: Role>(&self) -> Option<R> {
        if self.type_id != TypeId::of::<R>() {
            return None;
        }
        R::ALL.iter().copied().find(|r| r.rank() == self.rank)
    }
}

impl fmt::Debug for RoleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

impl fmt::Display for RoleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}
