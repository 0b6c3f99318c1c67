//! Every key of `#[secure_tool]`, injected parameters in any order, sync and async handlers,
//! projection through Option and Vec, and the original functions still callable.
use tool_runtime::prelude::*;

#[derive(Role, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    User,
    SupportAgent,
    Admin,
}

#[derive(Record, Clone)]
pub struct Order {
    pub id: String,
    pub total: f64,
    #[secret]
    pub card: String,
}

/// An order as the model sees it.
#[derive(SafeOutput)]
#[safe_output(from = Order)]
pub struct SafeOrder {
    /// The order's id.
    pub id: String,
    pub total: f64,
}

#[derive(Record)]
pub struct Account {
    pub owner: String,
    pub orders: Vec<Order>,
    pub note: Option<String>,
}

#[derive(SafeOutput)]
#[safe_output(from = Account)]
pub struct SafeAccount {
    #[mask(email)]
    pub owner: String,
    pub orders: Vec<SafeOrder>,
    #[mask(keep_last = 2)]
    pub note: Option<String>,
}

/// An order's status.
#[derive(SafeOutput, Clone, Copy)]
pub enum Status {
    Open,
    Closed,
}

#[derive(Clone)]
pub struct App;

/// Find an order.
#[secure_tool(role = "user", returns = SafeOrder, read_only, idempotent, rate_limit = "5/sec", timeout = "2s")]
pub async fn find_order(
    session: &Session,
    State(_app): State<App>,
    /// The order id.
    #[validate(length(min = 1, max = 8))]
    order_id: String,
) -> Result<Option<Order>, ToolError> {
    let _ = session.user_id();
    Ok(Some(Order { id: order_id, total: 1.0, card: "4111".into() }))
}

/// List orders.
#[secure_tool(role = Role::SupportAgent, returns = SafeOrder, max_items = 10, name = "list-orders")]
pub fn list_orders(
    /// How many.
    #[validate(range(min = 1, max = 50))]
    limit: u8,
    /// A fixed-size array is bounded by its type.
    window: Option<[u32; 2]>,
    /// Bounded strings need no length rule.
    tags: Option<[tool_runtime::BoundedString<8>; 2]>,
) -> Result<Vec<Order>, ToolError> {
    let _ = (window, tags);
    Ok((0..limit).map(|i| Order { id: i.to_string(), total: 0.0, card: String::new() }).collect())
}

/// Get an account.
#[secure_tool(returns = SafeAccount)]
pub async fn get_account() -> Result<Account, ToolError> {
    Ok(Account { owner: "a@b.c".into(), orders: vec![], note: None })
}

/// A status.
#[secure_tool(public, open_world)]
pub async fn get_status() -> Result<Status, ToolError> {
    Ok(Status::Open)
}

/// Remove an order.
#[secure_tool(role = "admin", destructive, confirm = "yes, remove it")]
pub async fn remove_order(
    /// The order id.
    #[secret]
    #[validate(length(equal = 5))]
    order_id: String,
) -> Result<bool, ToolError> {
    Ok(order_id.len() == 5)
}

fn main() {
    let _toolbox = tool_runtime::Toolbox::builder(App)
        .tool(FindOrder)
        .tool(ListOrders)
        .tool(GetAccount)
        .tool(GetStatus)
        .tool(RemoveOrder)
        .build()
        .unwrap();
    let _args = FindOrderArgs { order_id: "O1".into() };
    let _ = list_orders(3, None, None);
}
