use tool_runtime::prelude::*;

#[derive(Role, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    User,
    SupportAgent,
    Admin,
}

pub struct Customer {
    pub id: String,
}

#[derive(SafeOutput)]
#[safe_output(from = Customer)]
pub struct SafeCustomer {
    pub id: String,
}

fn main() {}
