//! A logged-in customer's own account: `get_my_profile`, `get_my_orders`.

use tool_runtime::prelude::*;

use super::orders::SafeOrder;
use super::user_id;
use crate::app::App;
use crate::model::{Order, Profile};
use crate::role::Role;

/// What a user sees of themselves.
#[derive(SafeOutput)]
#[safe_output(from = Profile)]
pub struct SafeProfile {
    pub name: String,
    pub email: String,
    /// The date the account was opened.
    pub member_since: String,
}

/// Show the logged-in user's own name, email and membership date.
#[secure_tool(role = "user", returns = SafeProfile, read_only)]
pub fn get_my_profile(State(app): State<App>, session: &Session) -> Result<Profile, ToolError> {
    app.db().get_my_profile(user_id(session)?)
}

/// List the logged-in user's own orders.
#[secure_tool(role = "user", returns = SafeOrder, read_only)]
pub fn get_my_orders(State(app): State<App>, session: &Session) -> Result<Vec<Order>, ToolError> {
    app.db().get_my_orders(user_id(session)?)
}
