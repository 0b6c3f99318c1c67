use tool_runtime::prelude::*;

#[derive(Role, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    User,
    SupportAgent,
    Admin,
}

#[derive(Record)]
pub struct Employee {
    pub id: String,
    #[secret]
    pub r#salary: String,
    #[secret]
    pub ssn: String,
}

#[derive(SafeOutput)]
#[safe_output(from = Employee)]
pub struct SafeEmployee {
    pub id: String,
    pub salary: String,
    pub r#ssn: String,
}

fn main() {}
