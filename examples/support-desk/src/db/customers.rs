//! Customers, as support staff work with them.

use rusqlite::{OptionalExtension, TransactionBehavior, params};
use tool_runtime::ToolError;

use super::Db;
use super::access::{Columns, Grant};
use super::schema::Table;
use crate::model::{
    Customer, CustomerSearch, CustomerSummary, DeletedCustomer, EmailChange, NoteId,
};

/// At most this many customers come back from one search: enough to pick from, too few to
/// page through the whole customer base.
pub const SEARCH_CAP: u32 = 25;

const CUSTOMER_NOT_FOUND: &str = "Customer not found";

static SEARCH_CUSTOMERS: Grant = Grant::read_only(&[(
    Table::Customers,
    Columns::Only(&["id", "name", "email", "status"]),
)]);

/// Every column a details query may read, by the field of [`Customer`] it fills. The secret
/// columns are not among them, and the grant below refuses them as well.
const DETAIL_COLUMNS: &[(&str, &str)] = &[
    ("id", "c.id"),
    ("name", "c.name"),
    ("email", "c.email"),
    ("email_verified", "c.email_verified"),
    ("phone", "c.phone"),
    ("status", "c.status"),
    ("member_since", "c.member_since"),
    ("subscription_tier", "c.subscription_tier"),
    (
        "total_orders",
        "(SELECT count(*) FROM orders o WHERE o.customer_id = c.id)",
    ),
];

static GET_CUSTOMER_DETAILS: Grant = Grant::read_only(&[
    (
        Table::Customers,
        Columns::Only(&[
            "id",
            "name",
            "email",
            "email_verified",
            "phone",
            "status",
            "member_since",
            "subscription_tier",
        ]),
    ),
    (Table::Orders, Columns::Only(&["customer_id"])),
]);

static UPDATE_CUSTOMER_EMAIL: Grant = Grant {
    read: &[(Table::Customers, Columns::Only(&["id", "email"]))],
    insert: &[],
    update: &[(Table::Customers, &["email", "email_verified"])],
    delete: &[],
};

static ADD_INTERNAL_NOTE: Grant = Grant {
    read: &[(Table::Customers, Columns::Only(&["id"]))],
    insert: &[Table::Notes],
    update: &[],
    delete: &[],
};

static DELETE_CUSTOMER: Grant = Grant {
    read: &[
        (Table::Customers, Columns::Only(&["id"])),
        (Table::Orders, Columns::Only(&["customer_id"])),
        (Table::Notes, Columns::Only(&["customer_id"])),
        (Table::Users, Columns::Only(&["customer_id"])),
    ],
    insert: &[],
    update: &[(Table::Users, &["customer_id"])],
    delete: &[Table::Customers, Table::Orders, Table::Notes],
};

/// `text` as a LIKE pattern matching itself anywhere: `%` and `_` in a search are literal.
fn contains_pattern(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for ch in text.chars() {
        if matches!(ch, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(ch);
    }
    pattern.push('%');
    pattern
}

impl Db {
    /// Customers whose id, name or email contains `query` (case-insensitive for ASCII), by id:
    /// at most [`SEARCH_CAP`] of them, with the number of all matches.
    pub fn search_customers(&self, query: &str) -> Result<CustomerSearch, ToolError> {
        const MATCHES: &str = "FROM customers
             WHERE id LIKE ?1 ESCAPE '\\' OR name LIKE ?1 ESCAPE '\\' OR email LIKE ?1 ESCAPE '\\'";
        let pattern = contains_pattern(query);
        let conn = self.reader(&SEARCH_CUSTOMERS)?;
        let count: i64 = conn.query_row(
            &format!("SELECT count(*) {MATCHES}"),
            params![pattern],
            |row| row.get(0),
        )?;
        let count = count.unsigned_abs();
        let mut stmt = conn.prepare(&format!(
            "SELECT id, name, email, status {MATCHES} ORDER BY id LIMIT ?2"
        ))?;
        let customers: Vec<CustomerSummary> = stmt
            .query_map(params![pattern, SEARCH_CAP], |row| {
                Ok(CustomerSummary {
                    id: row.get(0)?,
                    name: row.get(1)?,
                    email: row.get(2)?,
                    status: row.get(3)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok(CustomerSearch {
            capped: (customers.len() as u64) < count,
            customers,
            count,
        })
    }

    /// A customer's record with only `fields` read (the names of [`Customer`]'s fields, such
    /// as a safe output's `SOURCE_FIELDS`); the others keep their defaults. No secret column
    /// can be asked for: a field outside [`DETAIL_COLUMNS`] is an error, and the connection's
    /// grant refuses those columns too.
    pub fn get_customer_details(
        &self,
        customer_id: &str,
        fields: &[&str],
    ) -> Result<Customer, ToolError> {
        let columns = fields
            .iter()
            .map(|field| {
                DETAIL_COLUMNS
                    .iter()
                    .find(|(name, _)| name == field)
                    .map(|(_, sql)| *sql)
                    .ok_or_else(|| {
                        ToolError::internal(std::io::Error::other(format!(
                            "a customer's `{field}` cannot be read here"
                        )))
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if columns.is_empty() {
            return Err(ToolError::internal(std::io::Error::other(
                "a details query needs at least one field",
            )));
        }
        let conn = self.reader(&GET_CUSTOMER_DETAILS)?;
        let sql = format!(
            "SELECT {} FROM customers c WHERE c.id = ?1",
            columns.join(", ")
        );
        conn.prepare_cached(&sql)?
            .query_row(params![customer_id], |row| {
                let mut customer = Customer::default();
                for (i, field) in fields.iter().enumerate() {
                    match *field {
                        "id" => customer.id = row.get(i)?,
                        "name" => customer.name = row.get(i)?,
                        "email" => customer.email = row.get(i)?,
                        "email_verified" => customer.email_verified = row.get(i)?,
                        "phone" => customer.phone = row.get(i)?,
                        "status" => customer.status = row.get(i)?,
                        "member_since" => customer.member_since = row.get(i)?,
                        "subscription_tier" => customer.subscription_tier = row.get(i)?,
                        "total_orders" => customer.total_orders = row.get(i)?,
                        // Every name was matched against `DETAIL_COLUMNS` above.
                        _ => {}
                    }
                }
                Ok(customer)
            })
            .optional()?
            .ok_or_else(|| ToolError::not_found(CUSTOMER_NOT_FOUND))
    }

    /// Sets a customer's email and marks it unverified: the new address has not been proven
    /// to be theirs. Returns the old and new address for the audit log.
    pub fn update_customer_email(
        &self,
        customer_id: &str,
        new_email: &str,
    ) -> Result<EmailChange, ToolError> {
        let mut conn = self.writer(&UPDATE_CUSTOMER_EMAIL)?;
        // Immediate: the old address read must be the one this update replaces.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let old_email: String = tx
            .query_row(
                "SELECT email FROM customers WHERE id = ?1",
                params![customer_id],
                |row| row.get(0),
            )
            .optional()?
            .ok_or_else(|| ToolError::not_found(CUSTOMER_NOT_FOUND))?;
        tx.execute(
            "UPDATE customers SET email = ?1, email_verified = 0 WHERE id = ?2",
            params![new_email, customer_id],
        )?;
        tx.commit()?;
        Ok(EmailChange {
            customer_id: customer_id.to_owned(),
            old_email,
            new_email: new_email.to_owned(),
        })
    }

    /// Stores a staff note on a customer and returns its id.
    pub fn add_internal_note(
        &self,
        customer_id: &str,
        author: &str,
        note: &str,
    ) -> Result<NoteId, ToolError> {
        let mut conn = self.writer(&ADD_INTERNAL_NOTE)?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        require_customer(&tx, customer_id)?;
        tx.execute(
            "INSERT INTO notes (customer_id, author, body, created_at)
             VALUES (?1, ?2, ?3, strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))",
            params![customer_id, author, note],
        )?;
        let id = tx.last_insert_rowid();
        tx.commit()?;
        Ok(NoteId { id })
    }

    /// Deletes a customer with their orders and notes. A login that owned the record stays,
    /// without a customer record.
    pub fn delete_customer(&self, customer_id: &str) -> Result<DeletedCustomer, ToolError> {
        let mut conn = self.writer(&DELETE_CUSTOMER)?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        require_customer(&tx, customer_id)?;
        let notes_deleted = tx.execute(
            "DELETE FROM notes WHERE customer_id = ?1",
            params![customer_id],
        )?;
        let orders_deleted = tx.execute(
            "DELETE FROM orders WHERE customer_id = ?1",
            params![customer_id],
        )?;
        tx.execute(
            "UPDATE users SET customer_id = NULL WHERE customer_id = ?1",
            params![customer_id],
        )?;
        tx.execute("DELETE FROM customers WHERE id = ?1", params![customer_id])?;
        tx.commit()?;
        Ok(DeletedCustomer {
            customer_id: customer_id.to_owned(),
            orders_deleted: orders_deleted as u64,
            notes_deleted: notes_deleted as u64,
        })
    }
}

/// `not_found` unless the customer exists: checked inside the writing transaction, so the
/// record cannot vanish between the check and the write.
fn require_customer(tx: &rusqlite::Transaction<'_>, customer_id: &str) -> Result<(), ToolError> {
    let exists = tx
        .query_row(
            "SELECT 1 FROM customers WHERE id = ?1",
            params![customer_id],
            |_| Ok(()),
        )
        .optional()?
        .is_some();
    if exists {
        Ok(())
    } else {
        Err(ToolError::not_found(CUSTOMER_NOT_FOUND))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::access::{is_refused, open_write};
    use crate::db::testing::{seeded, shown};
    use crate::fixture::Fixture;
    use crate::tools::customers::SafeCustomer;

    #[test]
    fn search_is_capped_and_counts_every_match() {
        let (_dir, db) = seeded();
        // Every fixture customer has an @example.com address.
        let all = db.search_customers("example.com").unwrap();
        assert_eq!(all.count, 50);
        assert_eq!(all.customers.len(), SEARCH_CAP as usize);
        assert!(all.capped);
        assert_eq!(all.customers[0].id, "C001");

        let alice = db.search_customers("ANDERS").unwrap();
        assert_eq!(alice.count, 1);
        assert!(!alice.capped);
        assert_eq!(alice.customers[0].email, "alice@example.com");
    }

    #[test]
    fn search_wildcards_are_literal() {
        let (_dir, db) = seeded();
        for query in ["%", "_", "%%", "\\"] {
            let found = db.search_customers(query).unwrap();
            assert_eq!(found.count, 0, "{query:?} matched");
        }
        assert_eq!(contains_pattern("a%b_c\\"), "%a\\%b\\_c\\\\%");
    }

    /// The record as a details query reads it: the secret columns never are.
    fn without_secrets(customer: Customer) -> Customer {
        Customer {
            ssn: String::new(),
            payment_token: String::new(),
            password_hash: String::new(),
            internal_notes: String::new(),
            ..customer
        }
    }

    #[test]
    fn details_are_every_column_but_the_secrets() {
        let (_dir, db) = seeded();
        let every: Vec<&str> = DETAIL_COLUMNS.iter().map(|(f, _)| *f).collect();
        for expected in Fixture::generate().customers {
            let read = db.get_customer_details(&expected.id, &every).unwrap();
            assert_eq!(read, without_secrets(expected));
        }
        let err = db.get_customer_details("C999", &every).unwrap_err();
        assert_eq!(shown(&err), ("not_found", CUSTOMER_NOT_FOUND.to_owned()));
    }

    #[test]
    fn details_read_only_the_fields_asked_for() {
        let (_dir, db) = seeded();
        let read = db.get_customer_details("C001", &["id", "phone"]).unwrap();
        assert_eq!(
            (read.id.as_str(), read.phone.as_str()),
            ("C001", "555-010-1234")
        );
        assert_eq!(read.name, "");
        // What the model's projection of a customer reads holds no secret.
        let fields = <SafeCustomer as tool_runtime::SafeOutput>::SOURCE_FIELDS;
        assert!(fields.contains(&"phone") && fields.contains(&"total_orders"));
        assert!(db.get_customer_details("C001", fields).is_ok());
    }

    #[test]
    fn details_never_read_a_secret_column() {
        let (_dir, db) = seeded();
        for secret in [
            "ssn",
            "payment_token",
            "password_hash",
            "internal_notes",
            "c.ssn",
        ] {
            let err = db
                .get_customer_details("C001", &["id", secret])
                .unwrap_err();
            assert_eq!(err.code().as_str(), "internal", "{secret}");
        }
        assert!(db.get_customer_details("C001", &[]).is_err());
        // Nor could the connection, were the query written by hand.
        let conn = db.reader(&GET_CUSTOMER_DETAILS).unwrap();
        for sql in [
            "SELECT ssn FROM customers",
            "SELECT password_hash FROM customers WHERE id = 'C001'",
            "SELECT * FROM customers",
            "SELECT body FROM notes",
        ] {
            assert!(conn.prepare(sql).is_err(), "{sql}");
        }
    }

    #[test]
    fn email_update_reports_old_and_new_and_unverifies() {
        let (_dir, db) = seeded();
        let change = db
            .update_customer_email("C001", "alice@new.example.com")
            .unwrap();
        assert_eq!(change.old_email, "alice@example.com");
        assert_eq!(change.new_email, "alice@new.example.com");
        let every: Vec<&str> = DETAIL_COLUMNS.iter().map(|(f, _)| *f).collect();
        let after = db.get_customer_details("C001", &every).unwrap();
        assert_eq!(after.email, "alice@new.example.com");
        assert!(!after.email_verified);
        // The rest of the record is untouched.
        let before = Fixture::generate().customers[0].clone();
        assert_eq!(
            Customer {
                email: before.email.clone(),
                email_verified: true,
                ..after
            },
            without_secrets(before)
        );
        let err = db
            .update_customer_email("C999", "x@example.com")
            .unwrap_err();
        assert_eq!(shown(&err).0, "not_found");
    }

    #[test]
    fn notes_get_fresh_ids_and_need_a_customer() {
        let (_dir, db) = seeded();
        let first = db
            .add_internal_note("C002", "carol", "Called back.")
            .unwrap();
        let second = db.add_internal_note("C002", "carol", "Resolved.").unwrap();
        assert!(second.id > first.id);
        let err = db.add_internal_note("C999", "carol", "x").unwrap_err();
        assert_eq!(shown(&err), ("not_found", CUSTOMER_NOT_FOUND.to_owned()));
    }

    #[test]
    fn deleting_a_customer_takes_their_orders_and_notes() {
        let (_dir, db) = seeded();
        db.add_internal_note("C001", "carol", "Asked to close the account.")
            .unwrap();
        let deleted = db.delete_customer("C001").unwrap();
        assert_eq!(deleted.orders_deleted, 2);
        assert!(deleted.notes_deleted >= 1);
        assert_eq!(
            shown(&db.get_customer_details("C001", &["id"]).unwrap_err()).0,
            "not_found"
        );
        assert!(db.get_my_orders("alice").unwrap().is_empty());
        assert_eq!(db.find_user("alice").unwrap().unwrap().customer_id, None);
        // Nobody else's orders went with them.
        assert_eq!(
            db.get_order("bob", false, "O1003").unwrap().customer_id,
            "C002"
        );
        let err = db.delete_customer("C001").unwrap_err();
        assert_eq!(shown(&err), ("not_found", CUSTOMER_NOT_FOUND.to_owned()));
    }

    #[test]
    fn write_connections_refuse_what_their_operation_was_not_granted() {
        let (_dir, db) = seeded();
        let cases: [(&'static Grant, &[&str]); 3] = [
            (
                &UPDATE_CUSTOMER_EMAIL,
                &[
                    "UPDATE customers SET ssn = '000-00-0000' WHERE id = 'C001'",
                    "UPDATE customers SET status = 'suspended'",
                    "SELECT password_hash FROM customers",
                    "DELETE FROM customers WHERE id = 'C001'",
                    "INSERT INTO notes (customer_id, author, body, created_at)
                         VALUES ('C001', 'x', 'y', 'z')",
                ],
            ),
            (
                &ADD_INTERNAL_NOTE,
                &[
                    "UPDATE notes SET body = 'rewritten'",
                    "DELETE FROM notes",
                    "SELECT body FROM notes",
                    "SELECT email FROM customers",
                    "SELECT * FROM orders",
                    "INSERT INTO logs (level, message, created_at) VALUES ('info', 'x', 'y')",
                ],
            ),
            (
                &DELETE_CUSTOMER,
                &[
                    "DELETE FROM users",
                    "DELETE FROM logs",
                    "UPDATE users SET role = 'super_admin'",
                    "SELECT ssn FROM customers",
                    "SELECT body FROM notes",
                ],
            ),
        ];
        for (grant, forbidden) in cases {
            let conn = open_write(db.path(), grant).unwrap();
            for sql in forbidden {
                let err = conn.execute_batch(sql).unwrap_err();
                assert!(is_refused(&err), "{sql}: {err}");
            }
        }
        // A granted statement still runs on the note connection.
        let conn = open_write(db.path(), &ADD_INTERNAL_NOTE).unwrap();
        conn.execute(
            "INSERT INTO notes (customer_id, author, body, created_at)
             VALUES ('C001', 'carol', 'ok', strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))",
            [],
        )
        .unwrap();
    }
}
