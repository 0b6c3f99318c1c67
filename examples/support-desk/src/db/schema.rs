//! The database layout.

use rusqlite::Connection;

/// Stored in `PRAGMA user_version`, so a file that is not a support-desk database (or one from
/// an incompatible build) is refused up front rather than failing on its first query.
pub const SCHEMA_VERSION: i32 = 1;

/// Every table. Grants and SQL name tables through this enum only, never through input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Table {
    Users,
    Customers,
    Orders,
    Products,
    Notes,
    Sessions,
    Logs,
    TempFiles,
}

impl Table {
    /// The table's name in SQL.
    pub fn name(self) -> &'static str {
        match self {
            Table::Users => "users",
            Table::Customers => "customers",
            Table::Orders => "orders",
            Table::Products => "products",
            Table::Notes => "notes",
            Table::Sessions => "sessions",
            Table::Logs => "logs",
            Table::TempFiles => "temp_files",
        }
    }
}

// Timestamps are ISO 8601 text in UTC (`2025-03-01T09:30:00Z`): they sort as text, which is what
// the housekeeping deletes compare on. CHECK constraints mirror the Rust enums so that even a
// bug in a writer cannot store a value the readers would refuse.
const DDL: &str = "
CREATE TABLE customers (
    id                TEXT PRIMARY KEY,
    name              TEXT NOT NULL,
    email             TEXT NOT NULL,
    email_verified    INTEGER NOT NULL CHECK (email_verified IN (0, 1)),
    phone             TEXT NOT NULL,
    status            TEXT NOT NULL CHECK (status IN ('active', 'suspended')),
    member_since      TEXT NOT NULL,
    subscription_tier TEXT NOT NULL CHECK (subscription_tier IN ('free', 'pro', 'enterprise')),
    ssn               TEXT NOT NULL,
    payment_token     TEXT NOT NULL,
    password_hash     TEXT NOT NULL,
    internal_notes    TEXT NOT NULL
) STRICT;

CREATE TABLE users (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    email       TEXT NOT NULL,
    role        TEXT NOT NULL CHECK (role IN ('user', 'support_agent', 'admin', 'super_admin')),
    customer_id TEXT REFERENCES customers(id),
    created_at  TEXT NOT NULL
) STRICT;

CREATE TABLE products (
    id       TEXT PRIMARY KEY,
    name     TEXT NOT NULL,
    price    REAL NOT NULL,
    category TEXT NOT NULL,
    in_stock INTEGER NOT NULL CHECK (in_stock IN (0, 1))
) STRICT;

CREATE TABLE orders (
    id          TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL REFERENCES customers(id),
    status      TEXT NOT NULL
                CHECK (status IN ('pending', 'processing', 'shipped', 'delivered', 'cancelled')),
    total       REAL NOT NULL,
    created_at  TEXT NOT NULL
) STRICT;
CREATE INDEX orders_by_customer ON orders(customer_id);

CREATE TABLE notes (
    id          INTEGER PRIMARY KEY,
    customer_id TEXT NOT NULL REFERENCES customers(id),
    author      TEXT NOT NULL,
    body        TEXT NOT NULL,
    created_at  TEXT NOT NULL
) STRICT;
CREATE INDEX notes_by_customer ON notes(customer_id);

CREATE TABLE sessions (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users(id),
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
) STRICT;

CREATE TABLE logs (
    id         INTEGER PRIMARY KEY,
    level      TEXT NOT NULL,
    message    TEXT NOT NULL,
    created_at TEXT NOT NULL
) STRICT;

CREATE TABLE temp_files (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    content    BLOB NOT NULL,
    created_at TEXT NOT NULL
) STRICT;
";

/// Creates every table in an empty database and stamps the schema version.
pub fn create(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(DDL)?;
    conn.pragma_update(None, "user_version", SCHEMA_VERSION)
}
