use tool_runtime::prelude::*;

#[derive(Role, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    User,
    SupportAgent,
    Admin,
}

pub struct Customer {
    pub id: String,
    pub ssn: String,
}

/// Get a customer.
#[secure_tool(role = "admin")]
async fn get_customer() -> Result<Customer, ToolError> {
    Ok(Customer { id: "C1".into(), ssn: "123".into() })
}

fn main() {}
