use tool_runtime::prelude::*;

#[derive(Role, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    User,
    SupportAgent,
    Admin,
}

#[derive(Record)]
pub struct Customer {
    pub id: u64,
}

#[derive(SafeOutput)]
#[safe_output(from = Customer)]
pub struct SafeCustomer {
    pub id: String,
}

fn main() {}
