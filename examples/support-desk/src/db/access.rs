//! Least privilege inside the data layer: every operation gets its own connection, opened
//! read-only when it only reads, and narrowed by SQLite's authorizer to the tables and columns
//! it was granted. A bug or an injected statement in one operation then cannot reach anything
//! the operation was not meant to touch: SQLite refuses to prepare the statement.

use std::path::Path;
use std::time::Duration;

use rusqlite::hooks::{AuthAction, AuthContext, Authorization};
use rusqlite::{Connection, OpenFlags};

use super::schema::Table;

/// How long a connection waits for another one's write lock before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// SQL functions any operation may call. Everything else (including `load_extension`, were it
/// compiled in) is refused.
const FUNCTIONS: &[&str] = &["count", "coalesce", "like", "strftime", "substr"];

/// Which columns of a table a grant may read.
#[derive(Debug)]
pub enum Columns {
    All,
    Only(&'static [&'static str]),
}

/// What one operation may do. Anything not listed is refused when the statement is prepared.
#[derive(Debug)]
pub struct Grant {
    pub read: &'static [(Table, Columns)],
    pub insert: &'static [Table],
    pub update: &'static [(Table, &'static [&'static str])],
    pub delete: &'static [Table],
}

impl Grant {
    /// A grant to read these tables and nothing else.
    pub const fn read_only(read: &'static [(Table, Columns)]) -> Grant {
        Grant {
            read,
            insert: &[],
            update: &[],
            delete: &[],
        }
    }

    fn may_read(&self, table: &str, column: &str) -> bool {
        self.read.iter().any(|(t, columns)| {
            same_name(t.name(), table)
                && match columns {
                    Columns::All => true,
                    // SQLite asks with an empty column name when a statement uses a table
                    // without reading any of its columns (`count(*)`).
                    Columns::Only(names) => {
                        column.is_empty() || names.iter().any(|n| same_name(n, column))
                    }
                }
        })
    }

    fn may_update(&self, table: &str, column: &str) -> bool {
        self.update.iter().any(|(t, columns)| {
            same_name(t.name(), table) && columns.iter().any(|c| same_name(c, column))
        })
    }

    fn lists(tables: &[Table], table: &str) -> bool {
        tables.iter().any(|t| same_name(t.name(), table))
    }

    fn authorize(&self, ctx: &AuthContext<'_>) -> Authorization {
        // The schema has no views or triggers: anything arriving through one was not planned.
        if ctx.accessor.is_some() {
            return Authorization::Deny;
        }
        if ctx.database_name.is_some_and(|db| db != "main") {
            return Authorization::Deny;
        }
        let allowed = match ctx.action {
            AuthAction::Select | AuthAction::Transaction { .. } => true,
            AuthAction::Function { function_name } => {
                FUNCTIONS.iter().any(|f| same_name(f, function_name))
            }
            AuthAction::Read {
                table_name,
                column_name,
            } => self.may_read(table_name, column_name),
            AuthAction::Insert { table_name } => Self::lists(self.insert, table_name),
            AuthAction::Update {
                table_name,
                column_name,
            } => self.may_update(table_name, column_name),
            AuthAction::Delete { table_name } => Self::lists(self.delete, table_name),
            // Pragmas, schema changes, ATTACH, savepoints, recursive queries: no operation
            // needs them once its connection is set up.
            _ => false,
        };
        if allowed {
            Authorization::Allow
        } else {
            Authorization::Deny
        }
    }
}

// SQL identifiers are case-insensitive, so the grant must be too or `ORDERS` would slip past.
fn same_name(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

/// A connection that cannot write at all (opened read-only, and `query_only` on top), narrowed
/// to `grant`'s reads.
pub fn open_read(path: &Path, grant: &'static Grant) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "query_only", true)?;
    narrow(conn, grant)
}

/// A read-write connection narrowed to `grant`. It never creates the file: a missing database
/// is an error, not a fresh empty one.
pub fn open_write(path: &Path, grant: &'static Grant) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "foreign_keys", true)?;
    narrow(conn, grant)
}

// Installed last: the pragmas above are the setup the authorizer would refuse afterwards.
fn narrow(mut conn: Connection, grant: &'static Grant) -> rusqlite::Result<Connection> {
    conn.authorizer(Some(move |ctx: AuthContext<'_>| grant.authorize(&ctx)))?;
    Ok(conn)
}

/// Whether `err` is SQLite refusing a statement outside the connection's grant.
#[cfg(test)]
pub fn is_refused(err: &rusqlite::Error) -> bool {
    err.sqlite_error_code() == Some(rusqlite::ErrorCode::AuthorizationForStatementDenied)
}
