//! Orders: one by id, all of them for admins, and the status support may set.

use tool_runtime::prelude::*;

use super::user_id;
use crate::app::App;
use crate::model::{Order, OrderStatus, StatusUpdate};
use crate::role::Role;

/// An order as the model sees it: every column (none of them is sensitive).
#[derive(SafeOutput)]
#[safe_output(from = Order)]
pub struct SafeOrder {
    pub id: String,
    /// The customer who placed it.
    pub customer_id: String,
    pub status: OrderStatus,
    pub total: f64,
    /// When it was placed, UTC.
    pub created_at: String,
}

/// Get one order by id. Customers see only their own orders.
#[secure_tool(role = "user", returns = SafeOrder, read_only)]
pub fn get_order(
    State(app): State<App>,
    session: &Session,
    /// The order's id, such as O1001.
    #[validate(length(min = 1, max = 16))]
    order_id: String,
) -> Result<Order, ToolError> {
    // Whose orders are visible is decided in the query itself, so another customer's order
    // and a missing one cannot be told apart.
    let is_admin = session.has_role(Role::Admin);
    app.db().get_order(user_id(session)?, is_admin, &order_id)
}

/// List any customer's orders, oldest first.
#[secure_tool(role = "admin", returns = SafeOrder, read_only)]
pub fn get_all_orders(
    State(app): State<App>,
    /// How many orders, 1 to 100; 25 when left out.
    #[validate(range(min = 1, max = 100))]
    limit: Option<u32>,
) -> Result<Vec<Order>, ToolError> {
    app.db().get_all_orders(limit)
}

/// Move an order to processing, shipped or delivered. Changes nothing else about it.
#[secure_tool(role = "support_agent", returns = SafeOrder, idempotent)]
pub fn update_order_status(
    State(app): State<App>,
    /// The order's id, such as O1001.
    #[validate(length(min = 1, max = 16))]
    order_id: String,
    /// The new status.
    status: StatusUpdate,
) -> Result<Order, ToolError> {
    app.db().update_order_status(&order_id, status)
}
