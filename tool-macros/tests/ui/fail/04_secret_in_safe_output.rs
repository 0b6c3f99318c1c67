use tool_runtime::prelude::*;

#[derive(Role, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    User,
    SupportAgent,
    Admin,
}

/// Returned directly: a SafeOutput that is also a Record must not carry its secrets out.
#[derive(Record, SafeOutput)]
pub struct Account {
    pub id: String,
    #[secret]
    pub password_hash: String,
}

fn main() {}
