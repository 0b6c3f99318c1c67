//! Customers, as support staff work with them: search, details, email, notes, deletion.

use tool_runtime::prelude::*;
use validator::ValidationError;

use super::user_id;
use crate::app::App;
use crate::model::{
    Customer, CustomerSearch, CustomerStatus, CustomerSummary, DeletedCustomer, EmailChange,
    NoteId, SubscriptionTier,
};
use crate::role::Role;

/// One customer in a search result.
#[derive(SafeOutput)]
#[safe_output(from = CustomerSummary)]
pub struct SafeCustomerSummary {
    pub id: String,
    pub name: String,
    pub email: String,
    pub status: CustomerStatus,
}

/// A customer search: the first matches and how many there were.
#[derive(SafeOutput)]
#[safe_output(from = CustomerSearch)]
pub struct SafeCustomerSearch {
    /// At most 25 matches, by id.
    pub customers: Vec<SafeCustomerSummary>,
    /// How many customers match in all.
    pub count: u64,
    /// Whether there were more matches than returned: narrow the query to see them.
    pub capped: bool,
}

/// What support may see of a customer: no secrets, and the phone number masked.
#[derive(SafeOutput)]
#[safe_output(from = Customer)]
pub struct SafeCustomer {
    pub id: String,
    pub name: String,
    pub email: String,
    #[mask(keep_last = 4)]
    pub phone: String,
    pub status: CustomerStatus,
    /// The date the account was opened.
    pub member_since: String,
    pub subscription_tier: SubscriptionTier,
    /// How many orders the customer has placed.
    pub total_orders: u32,
}

/// The outcome of an email change.
#[derive(SafeOutput)]
#[safe_output(from = EmailChange)]
pub struct SafeEmailChange {
    pub customer_id: String,
    /// The address now on file; it stays unverified until the customer confirms it.
    pub new_email: String,
}

/// The id of a stored note.
#[derive(SafeOutput)]
#[safe_output(from = NoteId)]
pub struct SafeNoteId {
    pub id: i64,
}

/// What a customer deletion removed.
#[derive(SafeOutput)]
#[safe_output(from = DeletedCustomer)]
pub struct SafeDeletedCustomer {
    pub customer_id: String,
    pub orders_deleted: u64,
    pub notes_deleted: u64,
}

/// Find customers whose id, name or email contains the query. Returns at most 25, with the
/// total count.
#[secure_tool(
    role = "support_agent",
    returns = SafeCustomerSearch,
    read_only,
    rate_limit = "10/min"
)]
pub fn search_customers(
    State(app): State<App>,
    /// Part of an id, a name or an email address, 2 to 100 characters.
    #[validate(length(min = 2, max = 100))]
    query: String,
) -> Result<CustomerSearch, ToolError> {
    app.db().search_customers(&query)
}

/// Get one customer's account details. The phone number comes masked.
#[secure_tool(role = "support_agent", returns = SafeCustomer, read_only)]
pub fn get_customer_details(
    State(app): State<App>,
    /// The customer's id, such as C001.
    #[validate(length(min = 1, max = 16))]
    customer_id: String,
) -> Result<Customer, ToolError> {
    // Only what the model's view reads: the secret columns are never loaded.
    app.db()
        .get_customer_details(&customer_id, SafeCustomer::SOURCE_FIELDS)
}

/// Change a customer's email address. The new address is marked unverified.
#[secure_tool(role = "support_agent", returns = SafeEmailChange, idempotent)]
pub fn update_customer_email(
    State(app): State<App>,
    /// The customer's id, such as C001.
    #[validate(length(min = 1, max = 16))]
    customer_id: String,
    /// The new address.
    #[validate(email, length(max = 254))]
    new_email: String,
) -> Result<EmailChange, ToolError> {
    let change = app.db().update_customer_email(&customer_id, &new_email)?;
    // The arguments show only the new address; the log must be able to undo the change.
    tool_runtime::audit::detail("old_email", &change.old_email);
    tool_runtime::audit::detail("new_email", &change.new_email);
    Ok(change)
}

/// Add an internal note to a customer's file, signed by the logged-in user. Returns its id.
#[secure_tool(role = "support_agent", returns = SafeNoteId)]
pub fn add_internal_note(
    State(app): State<App>,
    session: &Session,
    /// The customer's id, such as C001.
    #[validate(length(min = 1, max = 16))]
    customer_id: String,
    /// The note, 1 to 2000 characters, not blank.
    #[validate(length(min = 1, max = 2000), custom(function = readable_text))]
    note: String,
) -> Result<NoteId, ToolError> {
    app.db()
        .add_internal_note(&customer_id, user_id(session)?, &note)
}

/// Delete a customer with their orders and notes. Needs a human's approval.
#[secure_tool(role = "super_admin", returns = SafeDeletedCustomer, destructive)]
pub fn delete_customer(
    State(app): State<App>,
    /// The customer's id, such as C001.
    #[validate(length(min = 1, max = 16))]
    customer_id: String,
) -> Result<DeletedCustomer, ToolError> {
    app.db().delete_customer(&customer_id)
}

/// Refuses text a person could not read back: blank, or with control characters other than
/// line breaks and tabs (which could hide content from whoever reads the note later).
fn readable_text(text: &str) -> Result<(), ValidationError> {
    let message = if text.trim().is_empty() {
        "must not be blank"
    } else if text
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        "must not contain control characters"
    } else {
        return Ok(());
    };
    Err(ValidationError::new("readable_text").with_message(message.into()))
}

#[cfg(test)]
mod tests {
    use super::readable_text;

    #[test]
    fn blank_and_control_text_is_refused() {
        assert!(readable_text("Called about the late order.\nSent a replacement.").is_ok());
        for bad in [" ", "\n\t ", "\u{3000}", "ok\u{0}", "ok\u{1b}[2J"] {
            assert!(readable_text(bad).is_err(), "{bad:?}");
        }
    }
}
