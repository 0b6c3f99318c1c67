//! `query_records`: a generic read over a few tables, safe because every name in its SQL comes
//! from the enums below. A column that is not a variant cannot be asked for at all, and the
//! sensitive customer columns are not variants.

use rusqlite::params_from_iter;
use rusqlite::types::Value as SqlValue;
use serde::Serialize;
use serde_json::{Map, Value};
use tool_runtime::ToolError;

use super::access::{Columns, Grant};
use super::schema::Table;
use super::{Db, checked_limit};

text_enum! {
    /// A table `query_records` may read.
    pub enum RecordTable {
        /// Every customer's orders.
        Orders => "orders",
        /// The catalogue.
        Products => "products",
        /// Customers, without contact details beyond email or any secret.
        Customers => "customers",
    }
}

text_enum! {
    /// A column `query_records` may read or filter on; which ones apply depends on the table.
    pub enum Column {
        Id => "id",
        Name => "name",
        Email => "email",
        Status => "status",
        MemberSince => "member_since",
        SubscriptionTier => "subscription_tier",
        CustomerId => "customer_id",
        Total => "total",
        CreatedAt => "created_at",
        Price => "price",
        Category => "category",
        InStock => "in_stock",
    }
}

/// How a column's values are stored, to read them and to parse a filter for them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Text,
    Number,
    Flag,
}

impl Column {
    fn kind(self) -> Kind {
        match self {
            Column::Total | Column::Price => Kind::Number,
            Column::InStock => Kind::Flag,
            _ => Kind::Text,
        }
    }
}

const ORDER_COLUMNS: [Column; 5] = [
    Column::Id,
    Column::CustomerId,
    Column::Status,
    Column::Total,
    Column::CreatedAt,
];
const PRODUCT_COLUMNS: [Column; 5] = [
    Column::Id,
    Column::Name,
    Column::Price,
    Column::Category,
    Column::InStock,
];
// No phone (the tools show it masked only), no secrets, no verification flag.
const CUSTOMER_COLUMNS: [Column; 6] = [
    Column::Id,
    Column::Name,
    Column::Email,
    Column::Status,
    Column::MemberSince,
    Column::SubscriptionTier,
];

const fn names<const N: usize>(columns: [Column; N]) -> [&'static str; N] {
    let mut out = [""; N];
    let mut i = 0;
    while i < N {
        out[i] = columns[i].as_str();
        i += 1;
    }
    out
}

// The authorizer enforces the same allowlists, from the same constants: should a bug ever put
// another column into the SQL, SQLite refuses the statement.
const ORDER_NAMES: [&str; 5] = names(ORDER_COLUMNS);
const PRODUCT_NAMES: [&str; 5] = names(PRODUCT_COLUMNS);
const CUSTOMER_NAMES: [&str; 6] = names(CUSTOMER_COLUMNS);
static QUERY_ORDERS: Grant = Grant::read_only(&[(Table::Orders, Columns::Only(&ORDER_NAMES))]);
static QUERY_PRODUCTS: Grant =
    Grant::read_only(&[(Table::Products, Columns::Only(&PRODUCT_NAMES))]);
static QUERY_CUSTOMERS: Grant =
    Grant::read_only(&[(Table::Customers, Columns::Only(&CUSTOMER_NAMES))]);

impl RecordTable {
    /// The columns of this table that may be read, in their natural order.
    pub fn columns(self) -> &'static [Column] {
        match self {
            RecordTable::Orders => &ORDER_COLUMNS,
            RecordTable::Products => &PRODUCT_COLUMNS,
            RecordTable::Customers => &CUSTOMER_COLUMNS,
        }
    }

    fn table(self) -> Table {
        match self {
            RecordTable::Orders => Table::Orders,
            RecordTable::Products => Table::Products,
            RecordTable::Customers => Table::Customers,
        }
    }

    fn grant(self) -> &'static Grant {
        match self {
            RecordTable::Orders => &QUERY_ORDERS,
            RecordTable::Products => &QUERY_PRODUCTS,
            RecordTable::Customers => &QUERY_CUSTOMERS,
        }
    }

    /// `column` if this table allows it, else an error naming the choices for `field`.
    fn check(self, field: &str, column: Column) -> Result<Column, ToolError> {
        if self.columns().contains(&column) {
            return Ok(column);
        }
        let choices: Vec<_> = self.columns().iter().map(|c| c.as_str()).collect();
        Err(ToolError::invalid_field(
            field,
            format!(
                "{self} has no column `{column}`; choose from {}",
                choices.join(", ")
            ),
        ))
    }
}

/// One row: column name to value.
pub type Row = Map<String, Value>;

/// The result of `query_records`.
#[derive(Clone, Debug, PartialEq, Serialize, tool_runtime::Record)]
pub struct Records {
    pub table: RecordTable,
    pub columns: Vec<Column>,
    pub rows: Vec<Row>,
}

fn filter_value(column: Column, text: &str) -> Result<SqlValue, ToolError> {
    match column.kind() {
        Kind::Text => Ok(SqlValue::Text(text.to_owned())),
        Kind::Number => match text.trim().parse::<f64>() {
            Ok(n) if n.is_finite() => Ok(SqlValue::Real(n)),
            _ => Err(ToolError::invalid_field(
                "filter_value",
                format!("`{column}` holds numbers, such as 19.99"),
            )),
        },
        Kind::Flag => match text.trim() {
            "true" => Ok(SqlValue::Integer(1)),
            "false" => Ok(SqlValue::Integer(0)),
            _ => Err(ToolError::invalid_field(
                "filter_value",
                format!("`{column}` is `true` or `false`"),
            )),
        },
    }
}

impl Db {
    /// Rows of `table`, ordered by id: the given `columns` (all allowed ones when `None`),
    /// where `filter`'s column equals its value, at most `limit` (default 25, at most 100).
    pub fn query_records(
        &self,
        table: RecordTable,
        columns: Option<Vec<Column>>,
        filter: Option<(Column, String)>,
        limit: Option<u32>,
    ) -> Result<Records, ToolError> {
        let limit = checked_limit(limit)?;
        let columns = match columns {
            None => table.columns().to_vec(),
            Some(asked) if asked.is_empty() => {
                return Err(ToolError::invalid_field(
                    "columns",
                    "name at least one column, or leave it out for all",
                ));
            }
            Some(asked) => {
                let mut columns = Vec::with_capacity(asked.len());
                for column in asked {
                    let column = table.check("columns", column)?;
                    if !columns.contains(&column) {
                        columns.push(column);
                    }
                }
                columns
            }
        };
        let mut sql = format!(
            "SELECT {} FROM {}",
            columns
                .iter()
                .map(|c| c.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            table.table().name()
        );
        let mut params = Vec::new();
        if let Some((column, value)) = filter {
            let column = table.check("filter_field", column)?;
            params.push(filter_value(column, &value)?);
            sql.push_str(&format!(" WHERE {column} = ?1"));
        }
        params.push(SqlValue::Integer(limit.into()));
        sql.push_str(&format!(" ORDER BY id LIMIT ?{}", params.len()));

        let conn = self.reader(table.grant())?;
        let mut stmt = conn.prepare(&sql)?;
        let rows = stmt
            .query_map(params_from_iter(params), |row| {
                let mut out = Row::new();
                for (i, column) in columns.iter().enumerate() {
                    let value = match column.kind() {
                        Kind::Text => Value::from(row.get::<_, String>(i)?),
                        Kind::Number => Value::from(row.get::<_, f64>(i)?),
                        Kind::Flag => Value::from(row.get::<_, bool>(i)?),
                    };
                    out.insert(column.as_str().to_owned(), value);
                }
                Ok(out)
            })?
            .collect::<Result<_, _>>()?;
        Ok(Records {
            table,
            columns,
            rows,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::access::{is_refused, open_read};
    use crate::db::testing::seeded;

    const SENSITIVE: [&str; 6] = [
        "ssn",
        "payment_token",
        "password_hash",
        "internal_notes",
        "phone",
        "email_verified",
    ];

    #[test]
    fn sensitive_columns_cannot_even_be_named() {
        for name in SENSITIVE
            .iter()
            .chain(&["id; DROP TABLE orders", "*", "rowid"])
        {
            let parsed = serde_json::from_value::<Column>(Value::from(*name));
            assert!(parsed.is_err(), "{name} parsed as a column");
        }
        for name in ["users", "notes", "sessions", "logs", "sqlite_master"] {
            assert!(serde_json::from_value::<RecordTable>(Value::from(name)).is_err());
        }
    }

    #[test]
    fn every_table_reads_its_allowlist_and_nothing_more() {
        let (_dir, db) = seeded();
        for &table in RecordTable::ALL {
            let records = db.query_records(table, None, None, Some(100)).unwrap();
            assert_eq!(records.columns, table.columns());
            assert!(!records.rows.is_empty());
            for row in &records.rows {
                let keys: Vec<_> = row.keys().map(String::as_str).collect();
                let mut allowed: Vec<_> = table.columns().iter().map(|c| c.as_str()).collect();
                allowed.sort();
                assert_eq!(keys, allowed);
            }
        }
    }

    #[test]
    fn columns_of_another_table_are_refused_with_the_choices() {
        let (_dir, db) = seeded();
        let err = db
            .query_records(RecordTable::Orders, Some(vec![Column::Email]), None, None)
            .unwrap_err();
        let message = &err.fields().unwrap()["columns"][0];
        assert!(message.contains("customer_id"), "{message}");
        let err = db
            .query_records(
                RecordTable::Customers,
                None,
                Some((Column::Total, "1".into())),
                None,
            )
            .unwrap_err();
        assert!(err.fields().unwrap().contains_key("filter_field"));
        let err = db
            .query_records(RecordTable::Customers, Some(vec![]), None, None)
            .unwrap_err();
        assert_eq!(err.code().as_str(), "invalid_input");
    }

    #[test]
    fn filters_are_parameters_of_the_right_type() {
        let (_dir, db) = seeded();
        let records = db
            .query_records(
                RecordTable::Orders,
                Some(vec![Column::Id, Column::Id, Column::CustomerId]),
                Some((Column::CustomerId, "C001".into())),
                None,
            )
            .unwrap();
        assert_eq!(records.columns, [Column::Id, Column::CustomerId]);
        let ids: Vec<_> = records.rows.iter().map(|r| r["id"].clone()).collect();
        assert_eq!(ids, [Value::from("O1001"), Value::from("O1002")]);

        let injected = db
            .query_records(
                RecordTable::Customers,
                None,
                Some((Column::Id, "C001' OR '1'='1".into())),
                None,
            )
            .unwrap();
        assert!(injected.rows.is_empty());

        let in_stock = db
            .query_records(
                RecordTable::Products,
                None,
                Some((Column::InStock, "true".into())),
                Some(100),
            )
            .unwrap();
        assert!(!in_stock.rows.is_empty());
        assert!(
            in_stock
                .rows
                .iter()
                .all(|r| r["in_stock"] == Value::Bool(true))
        );

        let priced = db
            .query_records(
                RecordTable::Products,
                None,
                Some((Column::Price, "24.99".into())),
                None,
            )
            .unwrap();
        assert_eq!(priced.rows.len(), 1);
        assert_eq!(priced.rows[0]["name"], Value::from("Wireless Mouse"));

        for (column, bad) in [(Column::Price, "cheap"), (Column::InStock, "yes")] {
            let err = db
                .query_records(
                    RecordTable::Products,
                    None,
                    Some((column, bad.into())),
                    None,
                )
                .unwrap_err();
            assert!(err.fields().unwrap().contains_key("filter_value"));
        }
    }

    #[test]
    fn the_limit_is_bounded() {
        let (_dir, db) = seeded();
        let default = db
            .query_records(RecordTable::Orders, None, None, None)
            .unwrap();
        assert_eq!(default.rows.len(), 25);
        for bad in [0, 101] {
            let err = db
                .query_records(RecordTable::Orders, None, None, Some(bad))
                .unwrap_err();
            assert!(err.fields().unwrap().contains_key("limit"));
        }
    }

    #[test]
    fn the_customer_connection_refuses_the_sensitive_columns() {
        let (_dir, db) = seeded();
        let conn = open_read(db.path(), &QUERY_CUSTOMERS).unwrap();
        for column in SENSITIVE {
            let err = conn
                .prepare(&format!("SELECT {column} FROM customers"))
                .unwrap_err();
            assert!(is_refused(&err), "{column}: {err}");
        }
        let err = conn.prepare("SELECT * FROM customers").unwrap_err();
        assert!(is_refused(&err), "{err}");
        let err = conn.prepare("SELECT id FROM orders").unwrap_err();
        assert!(is_refused(&err), "{err}");
        conn.prepare("SELECT id, email FROM customers").unwrap();
    }
}
