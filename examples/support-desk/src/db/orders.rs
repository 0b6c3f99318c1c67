//! Orders: a customer's own, any for staff, and the one column support may change.

use rusqlite::{OptionalExtension, Row, params};
use tool_runtime::ToolError;

use super::access::{Columns, Grant};
use super::schema::Table;
use super::{Db, checked_limit};
use crate::model::{Order, StatusUpdate};

/// Worded once, so that a hidden order and a missing one cannot read differently.
const ORDER_NOT_FOUND: &str = "Order not found";

const ORDER_COLUMNS: &str = "o.id, o.customer_id, o.status, o.total, o.created_at";

static READ_OWN_ORDERS: Grant = Grant::read_only(&[
    (Table::Orders, Columns::All),
    (Table::Users, Columns::Only(&["id", "customer_id"])),
]);

static READ_ANY_ORDER: Grant = Grant::read_only(&[(Table::Orders, Columns::All)]);

static UPDATE_ORDER_STATUS: Grant = Grant {
    read: &[(Table::Orders, Columns::All)],
    insert: &[],
    update: &[(Table::Orders, &["status"])],
    delete: &[],
};

fn order(row: &Row<'_>) -> rusqlite::Result<Order> {
    Ok(Order {
        id: row.get(0)?,
        customer_id: row.get(1)?,
        status: row.get(2)?,
        total: row.get(3)?,
        created_at: row.get(4)?,
    })
}

impl Db {
    /// The orders of the customer record `user_id` owns, oldest id first; none for staff.
    pub fn get_my_orders(&self, user_id: &str) -> Result<Vec<Order>, ToolError> {
        let conn = self.reader(&READ_OWN_ORDERS)?;
        let mut stmt = conn.prepare(&format!(
            "SELECT {ORDER_COLUMNS} FROM orders o
             WHERE o.customer_id = (SELECT customer_id FROM users WHERE id = ?1)
             ORDER BY o.id"
        ))?;
        let orders = stmt
            .query_map(params![user_id], order)?
            .collect::<Result<_, _>>()?;
        Ok(orders)
    }

    /// One order. A user gets only their own: the ownership test is part of the query, so
    /// someone else's order and a missing one are the same empty result.
    pub fn get_order(
        &self,
        user_id: &str,
        is_admin: bool,
        order_id: &str,
    ) -> Result<Order, ToolError> {
        let found = if is_admin {
            let conn = self.reader(&READ_ANY_ORDER)?;
            conn.query_row(
                &format!("SELECT {ORDER_COLUMNS} FROM orders o WHERE o.id = ?1"),
                params![order_id],
                order,
            )
            .optional()?
        } else {
            let conn = self.reader(&READ_OWN_ORDERS)?;
            conn.query_row(
                &format!(
                    "SELECT {ORDER_COLUMNS} FROM orders o
                     WHERE o.id = ?1
                       AND o.customer_id = (SELECT customer_id FROM users WHERE id = ?2)"
                ),
                params![order_id, user_id],
                order,
            )
            .optional()?
        };
        found.ok_or_else(|| ToolError::not_found(ORDER_NOT_FOUND))
    }

    /// Any customer's orders, oldest id first. `limit` defaults to 25, at most 100.
    pub fn get_all_orders(&self, limit: Option<u32>) -> Result<Vec<Order>, ToolError> {
        let limit = checked_limit(limit)?;
        let conn = self.reader(&READ_ANY_ORDER)?;
        let mut stmt = conn.prepare(&format!(
            "SELECT {ORDER_COLUMNS} FROM orders o ORDER BY o.id LIMIT ?1"
        ))?;
        let orders = stmt
            .query_map(params![limit], order)?
            .collect::<Result<_, _>>()?;
        Ok(orders)
    }

    /// Sets an order's status and returns the order as it now is. Only `orders.status` is
    /// writable on this connection.
    pub fn update_order_status(
        &self,
        order_id: &str,
        status: StatusUpdate,
    ) -> Result<Order, ToolError> {
        let mut conn = self.writer(&UPDATE_ORDER_STATUS)?;
        let tx = conn.transaction()?;
        let changed = tx.execute(
            "UPDATE orders SET status = ?1 WHERE id = ?2",
            params![status, order_id],
        )?;
        if changed == 0 {
            return Err(ToolError::not_found(ORDER_NOT_FOUND));
        }
        let updated = tx.query_row(
            &format!("SELECT {ORDER_COLUMNS} FROM orders o WHERE o.id = ?1"),
            params![order_id],
            order,
        )?;
        tx.commit()?;
        Ok(updated)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::access::{is_refused, open_write};
    use crate::db::testing::{seeded, shown};
    use crate::db::{DEFAULT_LIMIT, MAX_LIMIT};
    use crate::model::OrderStatus;

    #[test]
    fn a_user_gets_their_own_order_and_not_anothers() {
        let (_dir, db) = seeded();
        let own = db.get_order("alice", false, "O1001").unwrap();
        assert_eq!(
            (own.id.as_str(), own.customer_id.as_str()),
            ("O1001", "C001")
        );

        let hidden = db.get_order("alice", false, "O1003").unwrap_err();
        let missing = db.get_order("alice", false, "O9999").unwrap_err();
        assert_eq!(shown(&hidden), ("not_found", ORDER_NOT_FOUND.to_owned()));
        // Identical to the model: nothing tells it O1003 exists.
        assert_eq!(shown(&hidden), shown(&missing));
    }

    #[test]
    fn staff_without_a_customer_record_own_no_orders() {
        let (_dir, db) = seeded();
        assert!(db.get_my_orders("carol").unwrap().is_empty());
        let err = db.get_order("carol", false, "O1001").unwrap_err();
        assert_eq!(shown(&err).0, "not_found");
    }

    #[test]
    fn an_admin_gets_any_order() {
        let (_dir, db) = seeded();
        assert_eq!(
            db.get_order("dave", true, "O1003").unwrap().customer_id,
            "C002"
        );
        assert_eq!(db.get_order("dave", true, "O1100").unwrap().id, "O1100");
        let err = db.get_order("dave", true, "O9999").unwrap_err();
        assert_eq!(shown(&err), ("not_found", ORDER_NOT_FOUND.to_owned()));
    }

    #[test]
    fn my_orders_are_exactly_mine() {
        let (_dir, db) = seeded();
        let ids: Vec<_> = db
            .get_my_orders("alice")
            .unwrap()
            .into_iter()
            .map(|o| o.id)
            .collect();
        assert_eq!(ids, ["O1001", "O1002"]);
        let ids: Vec<_> = db
            .get_my_orders("bob")
            .unwrap()
            .into_iter()
            .map(|o| o.id)
            .collect();
        assert_eq!(ids, ["O1003"]);
    }

    #[test]
    fn orders_read_back_as_seeded() {
        let (_dir, db) = seeded();
        let fixture = crate::fixture::Fixture::generate();
        assert_eq!(db.get_all_orders(Some(100)).unwrap(), fixture.orders);
    }

    #[test]
    fn all_orders_limit_defaults_and_bounds() {
        let (_dir, db) = seeded();
        assert_eq!(
            db.get_all_orders(None).unwrap().len(),
            DEFAULT_LIMIT as usize
        );
        assert_eq!(db.get_all_orders(Some(1)).unwrap().len(), 1);
        for bad in [0, MAX_LIMIT + 1] {
            let err = db.get_all_orders(Some(bad)).unwrap_err();
            assert_eq!(err.code().as_str(), "invalid_input");
            assert!(err.fields().unwrap().contains_key("limit"));
        }
    }

    #[test]
    fn update_order_status_changes_only_the_status() {
        let (_dir, db) = seeded();
        let before = db.get_order("dave", true, "O1002").unwrap();
        let after = db
            .update_order_status("O1002", StatusUpdate::Shipped)
            .unwrap();
        assert_eq!(after.status, OrderStatus::Shipped);
        assert_eq!(
            Order {
                status: before.status,
                ..after.clone()
            },
            before
        );
        assert_eq!(db.get_order("dave", true, "O1002").unwrap(), after);
        let err = db
            .update_order_status("O9999", StatusUpdate::Delivered)
            .unwrap_err();
        assert_eq!(shown(&err), ("not_found", ORDER_NOT_FOUND.to_owned()));
    }

    #[test]
    fn the_status_connection_refuses_everything_else() {
        let (_dir, db) = seeded();
        let conn = open_write(db.path(), &UPDATE_ORDER_STATUS).unwrap();
        for sql in [
            "UPDATE orders SET total = 0 WHERE id = 'O1001'",
            "UPDATE orders SET customer_id = 'C002' WHERE id = 'O1001'",
            "DELETE FROM orders WHERE id = 'O1001'",
            "INSERT INTO orders (id, customer_id, status, total, created_at)
                 VALUES ('O1', 'C001', 'pending', 1, 'x')",
            "SELECT ssn FROM customers",
            "SELECT name FROM users",
            "UPDATE customers SET email = 'x@example.com'",
            "DROP TABLE orders",
            "PRAGMA foreign_keys = OFF",
            "ATTACH DATABASE ':memory:' AS side",
        ] {
            let err = conn.execute_batch(sql).unwrap_err();
            assert!(is_refused(&err), "{sql}: {err}");
        }
        // What it was granted still works on the same connection.
        conn.execute(
            "UPDATE orders SET status = 'delivered' WHERE id = 'O1002'",
            [],
        )
        .unwrap();
    }

    #[test]
    fn a_users_read_connection_cannot_reach_customers_or_write() {
        let (_dir, db) = seeded();
        let conn = crate::db::access::open_read(db.path(), &READ_OWN_ORDERS).unwrap();
        for sql in [
            "SELECT email FROM customers",
            "SELECT role FROM users",
            "UPDATE orders SET status = 'cancelled'",
        ] {
            let err = conn.execute_batch(sql).unwrap_err();
            assert!(is_refused(&err), "{sql}: {err}");
        }
    }
}
