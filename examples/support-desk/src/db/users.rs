//! Logins and the user's own profile.

use rusqlite::{OptionalExtension, params};
use tool_runtime::ToolError;

use super::Db;
use super::access::{Columns, Grant};
use super::schema::Table;
use crate::model::{Profile, User};

static FIND_USER: Grant = Grant::read_only(&[(
    Table::Users,
    Columns::Only(&["id", "name", "email", "role", "customer_id"]),
)]);

static GET_MY_PROFILE: Grant = Grant::read_only(&[
    (
        Table::Users,
        Columns::Only(&["id", "name", "email", "created_at", "customer_id"]),
    ),
    (
        Table::Customers,
        Columns::Only(&["id", "name", "email", "member_since"]),
    ),
]);

impl Db {
    /// The login with that id, if there is one.
    pub fn find_user(&self, user_id: &str) -> Result<Option<User>, ToolError> {
        let conn = self.reader(&FIND_USER)?;
        // Cached on the connection, which is kept for the next lookup: every request over HTTP
        // looks its user up.
        let user = conn
            .prepare_cached("SELECT id, name, email, role, customer_id FROM users WHERE id = ?1")?
            .query_row(params![user_id], |row| {
                Ok(User {
                    id: row.get(0)?,
                    name: row.get(1)?,
                    email: row.get(2)?,
                    role: row.get(3)?,
                    customer_id: row.get(4)?,
                })
            })
            .optional()?;
        Ok(user)
    }

    /// The user's name, email and membership date. A customer's come from their customer
    /// record, which is what support edits; staff have only their login.
    pub fn get_my_profile(&self, user_id: &str) -> Result<Profile, ToolError> {
        let conn = self.reader(&GET_MY_PROFILE)?;
        conn.query_row(
            "SELECT coalesce(c.name, u.name),
                    coalesce(c.email, u.email),
                    coalesce(c.member_since, substr(u.created_at, 1, 10))
             FROM users u LEFT JOIN customers c ON c.id = u.customer_id
             WHERE u.id = ?1",
            params![user_id],
            |row| {
                Ok(Profile {
                    name: row.get(0)?,
                    email: row.get(1)?,
                    member_since: row.get(2)?,
                })
            },
        )
        .optional()?
        .ok_or_else(|| ToolError::not_found("Profile not found"))
    }
}

#[cfg(test)]
mod tests {
    use crate::db::testing::{seeded, shown};
    use crate::role::Role;

    #[test]
    fn finds_users_and_only_them() {
        let (_dir, db) = seeded();
        let carol = db.find_user("carol").unwrap().unwrap();
        assert_eq!((carol.role, carol.customer_id), (Role::SupportAgent, None));
        assert_eq!(db.find_user("mallory").unwrap(), None);
        // Ids are matched exactly, not as patterns or case-insensitively.
        assert_eq!(db.find_user("%").unwrap(), None);
        assert_eq!(db.find_user("ALICE").unwrap(), None);
    }

    #[test]
    fn a_customer_profile_comes_from_their_customer_record() {
        let (_dir, db) = seeded();
        let profile = db.get_my_profile("alice").unwrap();
        assert_eq!(profile.name, "Alice Anders");
        assert_eq!(profile.email, "alice@example.com");
        let alice = crate::fixture::Fixture::generate().customers[0].clone();
        assert_eq!(profile.member_since, alice.member_since);
    }

    #[test]
    fn a_staff_profile_comes_from_the_login() {
        let (_dir, db) = seeded();
        let profile = db.get_my_profile("carol").unwrap();
        assert_eq!(profile.name, "Carol Chen");
        assert_eq!(profile.member_since, "2020-01-06");
        let err = db.get_my_profile("mallory").unwrap_err();
        assert_eq!(shown(&err), ("not_found", "Profile not found".to_owned()));
    }
}
