use tool_runtime::prelude::*;

#[derive(Role, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    User,
    SupportAgent,
    Admin,
}

use std::ops::Deref;

#[derive(Record)]
pub struct Account {
    pub id: String,
    #[secret]
    pub pin: u32,
}

/// A record with a version, reading through to the record it wraps.
#[derive(Record)]
pub struct Versioned<T> {
    pub version: u32,
    pub value: T,
}

impl<T> Deref for Versioned<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

pub type VersionedAccount = Versioned<Account>;

/// Names the wrapped record's secret, which field access would reach through `Deref`.
#[derive(SafeOutput)]
#[safe_output(from = VersionedAccount)]
pub struct SafeAccount {
    pub version: u32,
    pub pin: u32,
}

fn main() {}
