//! The desk's domain records, as the data layer returns them.
//!
//! These are whole records, secrets included: what a model may see of them is decided by the
//! tools' projections, not here.

use serde::Serialize;
use tool_runtime::Record;

use crate::role::Role;

text_enum! {
    /// Whether a customer's account is usable.
    pub enum CustomerStatus {
        /// In good standing.
        Active => "active",
        /// Locked by the desk.
        Suspended => "suspended",
    }
}

text_enum! {
    /// A customer's plan.
    pub enum SubscriptionTier {
        /// No charge.
        Free => "free",
        /// Paid, single seat.
        Pro => "pro",
        /// Paid, contract.
        Enterprise => "enterprise",
    }
}

text_enum! {
    /// Where an order is in its life.
    pub enum OrderStatus {
        /// Placed, not yet worked on.
        Pending => "pending",
        /// Being packed.
        Processing => "processing",
        /// Handed to the carrier.
        Shipped => "shipped",
        /// Arrived.
        Delivered => "delivered",
        /// Will not be fulfilled.
        Cancelled => "cancelled",
    }
}

text_enum! {
    /// A status support staff may set. Narrower than an order's status: cancelling or reopening
    /// an order is not a support agent's call.
    pub enum StatusUpdate {
        /// Being packed.
        Processing => "processing",
        /// Handed to the carrier.
        Shipped => "shipped",
        /// Arrived.
        Delivered => "delivered",
    }
}

impl From<StatusUpdate> for OrderStatus {
    fn from(update: StatusUpdate) -> Self {
        match update {
            StatusUpdate::Processing => OrderStatus::Processing,
            StatusUpdate::Shipped => OrderStatus::Shipped,
            StatusUpdate::Delivered => OrderStatus::Delivered,
        }
    }
}

text_enum! {
    /// What `delete_data` may clean up.
    pub enum DeleteScope {
        /// Login sessions past their expiry.
        ExpiredSessions => "expired_sessions",
        /// Application log lines older than 90 days.
        OldLogs => "old_logs",
        /// Staged uploads older than a day.
        TempFiles => "temp_files",
    }
}

/// Someone who can log in.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct User {
    pub id: String,
    pub name: String,
    pub email: String,
    pub role: Role,
    /// The customer record this login owns, for customers.
    pub customer_id: Option<String>,
}

/// What a user may see about themselves.
#[derive(Clone, Debug, PartialEq, Serialize, Record)]
pub struct Profile {
    pub name: String,
    pub email: String,
    /// An ISO date.
    pub member_since: String,
}

/// A customer, every column. Not `Serialize`: with its secrets, it is never written out whole;
/// the `#[secret]` fields can never be projected into what a model sees. `Default` for a record
/// read in part: the fields not read stay empty.
#[derive(Clone, Debug, Default, PartialEq, Record)]
pub struct Customer {
    pub id: String,
    pub name: String,
    pub email: String,
    pub email_verified: bool,
    pub phone: String,
    pub status: CustomerStatus,
    /// An ISO date.
    pub member_since: String,
    pub subscription_tier: SubscriptionTier,
    #[secret]
    pub ssn: String,
    #[secret]
    pub payment_token: String,
    #[secret]
    pub password_hash: String,
    #[secret]
    pub internal_notes: String,
    /// How many orders the customer has placed.
    pub total_orders: u32,
}

/// One line of a customer search.
#[derive(Clone, Debug, PartialEq, Serialize, Record)]
pub struct CustomerSummary {
    pub id: String,
    pub name: String,
    pub email: String,
    pub status: CustomerStatus,
}

/// A customer search: the first matches, and how many there were in all.
#[derive(Clone, Debug, PartialEq, Serialize, Record)]
pub struct CustomerSearch {
    pub customers: Vec<CustomerSummary>,
    /// Every match, not only those returned.
    pub count: u64,
    /// Whether `customers` holds fewer than `count`.
    pub capped: bool,
}

/// An order.
#[derive(Clone, Debug, PartialEq, Serialize, Record)]
pub struct Order {
    pub id: String,
    pub customer_id: String,
    pub status: OrderStatus,
    pub total: f64,
    /// An ISO timestamp, UTC.
    pub created_at: String,
}

/// A product in the catalogue.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Product {
    pub id: String,
    pub name: String,
    pub price: f64,
    pub category: String,
    pub in_stock: bool,
}

/// An internal note on a customer, written by staff.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Note {
    pub id: i64,
    pub customer_id: String,
    /// The user id of the author.
    pub author: String,
    pub body: String,
    /// An ISO timestamp, UTC.
    pub created_at: String,
}

/// The id of a newly stored note.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Record)]
pub struct NoteId {
    pub id: i64,
}

/// A customer's email change, old and new, for the audit log.
#[derive(Clone, Debug, PartialEq, Serialize, Record)]
pub struct EmailChange {
    pub customer_id: String,
    pub old_email: String,
    pub new_email: String,
}

/// What `delete_customer` removed.
#[derive(Clone, Debug, PartialEq, Serialize, Record)]
pub struct DeletedCustomer {
    pub customer_id: String,
    pub orders_deleted: u64,
    pub notes_deleted: u64,
}

/// What `delete_data` removed.
#[derive(Clone, Debug, PartialEq, Serialize, Record)]
pub struct DataDeletion {
    pub scope: DeleteScope,
    pub rows_deleted: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_names_agree<T: Serialize + Copy>(all: &[T], as_str: fn(T) -> &'static str) {
        for value in all {
            let json = serde_json::to_value(value).unwrap();
            assert_eq!(json, serde_json::Value::from(as_str(*value)));
        }
    }

    #[test]
    fn database_text_and_json_names_agree() {
        assert_names_agree(CustomerStatus::ALL, CustomerStatus::as_str);
        assert_names_agree(SubscriptionTier::ALL, SubscriptionTier::as_str);
        assert_names_agree(OrderStatus::ALL, OrderStatus::as_str);
        assert_names_agree(StatusUpdate::ALL, StatusUpdate::as_str);
        assert_names_agree(DeleteScope::ALL, DeleteScope::as_str);
    }

    #[test]
    fn a_status_update_cannot_cancel_or_reopen() {
        for update in StatusUpdate::ALL {
            let status = OrderStatus::from(*update);
            assert_ne!(status, OrderStatus::Cancelled);
            assert_ne!(status, OrderStatus::Pending);
            assert_eq!(status.as_str(), update.as_str());
        }
        assert!(serde_json::from_str::<StatusUpdate>("\"cancelled\"").is_err());
    }
}
