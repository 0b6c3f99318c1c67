//! `query_records`: a generic, allowlisted read over orders, products and customers.

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::Serialize;
use tool_runtime::prelude::*;
use tool_runtime::{Project, SafeOutput};

use crate::app::App;
use crate::db::{Column, RecordTable, Records, Row};
use crate::role::Role;

/// One row of allowlisted columns.
///
/// `SafeOutput` by hand: its keys are not fields known at compile time. What makes it safe is
/// where rows come from: the data layer builds them only from [`Column`] variants allowed for
/// the table, and its connection's authorizer refuses any other column.
#[derive(Serialize)]
#[serde(transparent)]
pub struct SafeRow(Row);

impl SafeOutput for SafeRow {}

impl Project<SafeRow> for Row {
    fn project(self) -> SafeRow {
        SafeRow(self)
    }
}

impl JsonSchema for SafeRow {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "SafeRow".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "object",
            "description": "Column name to value.",
            "additionalProperties": {"type": ["string", "number", "boolean"]}
        })
    }
}

/// The rows a query returned.
#[derive(SafeOutput)]
#[safe_output(from = Records)]
pub struct SafeRecords {
    pub table: RecordTable,
    /// The columns of each row, in order.
    pub columns: Vec<Column>,
    pub rows: Vec<SafeRow>,
}

/// Read rows of orders, products or customers, ordered by id: chosen columns (all allowed
/// ones when left out), optionally where one column equals a value.
#[secure_tool(role = "support_agent", returns = SafeRecords, read_only)]
pub fn query_records(
    State(app): State<App>,
    /// The table to read.
    table: RecordTable,
    /// The columns to return; each table allows only its own. Orders: id, customer_id,
    /// status, total, created_at. Products: id, name, price, category, in_stock. Customers:
    /// id, name, email, status, member_since, subscription_tier.
    #[validate(length(min = 1, max = 12))]
    columns: Option<Vec<Column>>,
    /// A column to filter on (give `filter_value` too).
    filter_field: Option<Column>,
    /// The value `filter_field` must equal: text, a number, or `true`/`false`.
    #[validate(length(max = 100))]
    filter_value: Option<String>,
    /// How many rows, 1 to 100; 25 when left out.
    #[validate(range(min = 1, max = 100))]
    limit: Option<u32>,
) -> Result<Records, ToolError> {
    let filter = match (filter_field, filter_value) {
        (Some(field), Some(value)) => Some((field, value)),
        (None, None) => None,
        (Some(_), None) => {
            return Err(ToolError::invalid_field(
                "filter_value",
                "give the value that filter_field must equal",
            ));
        }
        (None, Some(_)) => {
            return Err(ToolError::invalid_field(
                "filter_field",
                "name the column that filter_value applies to",
            ));
        }
    };
    app.db().query_records(table, columns, filter, limit)
}
