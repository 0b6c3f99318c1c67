use tool_runtime::prelude::*;

#[derive(Role, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    User,
    SupportAgent,
    Admin,
}

#[derive(Record, serde::Serialize, schemars::JsonSchema)]
pub struct Customer {
    pub id: String,
    #[secret]
    pub ssn: String,
}

// By hand, a record would reach the model whole, secrets and all.
impl tool_runtime::SafeOutput for Customer {}

fn main() {}
