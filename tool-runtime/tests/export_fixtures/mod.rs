//! A representative set of tools for the export tests: optional arguments, string enums,
//! nested structs, vectors, numeric ranges, integer formats, a tagged enum, no arguments.
#![allow(dead_code)]

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tool_runtime::export::{input_schema_of, output_schema_of};
use tool_runtime::{Hints, ToolDefinition};
use validator::Validate;

#[derive(JsonSchema, Deserialize, Validate)]
#[serde(deny_unknown_fields)]
pub struct GetCustomerDetailsArgs {
    /// The customer's id, such as C001.
    #[validate(length(min = 1, max = 16))]
    pub customer_id: String,
}

/// What the model may see of a customer.
#[derive(JsonSchema, Serialize)]
pub struct SafeCustomer {
    pub id: String,
    pub name: String,
    pub email: String,
    /// Masked: only the last four digits show.
    pub phone: String,
}

/// A customer account's state.
#[derive(JsonSchema, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Can log in and order.
    Active,
    /// Locked by support.
    Suspended,
}

#[derive(JsonSchema, Deserialize, Validate)]
#[serde(deny_unknown_fields)]
pub struct SearchCustomersArgs {
    /// Part of a name or an email address.
    #[validate(length(min = 2, max = 100))]
    pub query: String,
    /// How many results at most.
    #[validate(range(min = 1, max = 100))]
    pub limit: Option<u32>,
    /// Only customers in this state.
    pub status: Option<Status>,
}

#[derive(JsonSchema, Serialize)]
pub struct CustomerSummary {
    pub id: String,
    pub name: String,
    pub status: Status,
}

#[derive(JsonSchema, Deserialize, Validate)]
#[serde(deny_unknown_fields)]
pub struct UpdateCustomerEmailArgs {
    /// The customer's id.
    #[validate(length(min = 1, max = 16))]
    pub customer_id: String,
    /// The new address.
    #[validate(email, length(max = 254))]
    pub new_email: String,
}

/// A postal address.
#[derive(JsonSchema, Deserialize, Validate)]
#[serde(deny_unknown_fields)]
pub struct Address {
    /// Street and number.
    #[validate(length(min = 1, max = 100))]
    pub street: String,
    #[validate(length(min = 1, max = 60))]
    pub city: String,
    /// The postal code, digits only.
    #[schemars(regex(pattern = r"^[0-9]{4,10}$"))]
    #[validate(length(min = 4, max = 10))]
    pub postcode: String,
}

#[derive(JsonSchema, Deserialize, Serialize, Validate)]
#[serde(deny_unknown_fields)]
pub struct LineItem {
    #[validate(length(min = 1, max = 8))]
    pub product_id: String,
    #[validate(range(min = 1, max = 999))]
    pub quantity: u16,
}

#[derive(JsonSchema, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Delivery {
    Standard,
    Express,
}

#[derive(JsonSchema, Deserialize, Validate)]
#[serde(deny_unknown_fields)]
pub struct CreateOrderArgs {
    /// Where the parcel goes.
    pub shipping_address: Address,
    pub billing_address: Option<Address>,
    /// What to order, one line per product.
    #[validate(length(min = 1, max = 50))]
    pub items: Vec<LineItem>,
    pub delivery: Delivery,
    /// A note printed on the packing slip.
    #[validate(length(max = 200))]
    pub gift_note: Option<String>,
}

#[derive(JsonSchema, Deserialize, Validate)]
#[serde(deny_unknown_fields)]
pub struct GetMyProfileArgs {}

#[derive(JsonSchema, Serialize)]
pub struct Profile {
    pub name: String,
    pub member_since: String,
}

#[derive(JsonSchema, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Table {
    Orders,
    Products,
    Customers,
}

/// Which rows.
#[derive(JsonSchema, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Filter {
    /// Rows whose id is this one.
    ById { id: String },
    /// Rows created on or after this date.
    Since { date: String },
    /// Every row.
    All,
}

fn first_page() -> u32 {
    1
}

fn default_limit() -> u8 {
    25
}

#[derive(JsonSchema, Deserialize, Validate)]
#[serde(deny_unknown_fields)]
pub struct QueryRecordsArgs {
    pub table: Table,
    pub filter: Filter,
    /// The page, from 1.
    #[serde(default = "first_page")]
    pub page: u32,
    /// Rows per page.
    #[serde(default = "default_limit")]
    #[validate(range(min = 1, max = 100))]
    pub limit: u8,
    /// Skip rows with an id below this one.
    pub after_id: Option<i64>,
    /// Only rows worth at least this much.
    #[validate(range(min = 0.0))]
    pub min_total: Option<f64>,
    #[validate(length(max = 10))]
    pub sort_by: Option<Vec<Table>>,
}

#[derive(JsonSchema, Deserialize, Validate)]
#[serde(deny_unknown_fields)]
pub struct DeleteCustomerArgs {
    /// The customer to delete, with all their orders.
    #[validate(length(min = 1, max = 16))]
    pub customer_id: String,
}

fn definition(
    name: &str,
    title: Option<&str>,
    description: &str,
    input_schema: serde_json::Value,
    output_schema: Option<serde_json::Value>,
    hints: Hints,
) -> ToolDefinition {
    ToolDefinition {
        name: name.to_owned(),
        title: title.map(str::to_owned),
        description: description.to_owned(),
        input_schema,
        output_schema,
        hints,
    }
}

const READ_ONLY: Hints = Hints {
    read_only: true,
    destructive: false,
    idempotent: true,
    open_world: false,
};

/// The tools, in the order the golden files list them.
pub fn tools() -> Vec<ToolDefinition> {
    vec![
        definition(
            "get_customer_details",
            Some("Customer details"),
            "Get one customer's profile by id.",
            input_schema_of::<GetCustomerDetailsArgs>(),
            Some(output_schema_of::<SafeCustomer>()),
            READ_ONLY,
        ),
        definition(
            "search_customers",
            None,
            "Find customers by name or email.",
            input_schema_of::<SearchCustomersArgs>(),
            Some(output_schema_of::<Vec<CustomerSummary>>()),
            READ_ONLY,
        ),
        definition(
            "update_customer_email",
            Some("Change a customer's email"),
            "Set a customer's email address; it is marked unverified.",
            input_schema_of::<UpdateCustomerEmailArgs>(),
            None,
            Hints {
                idempotent: true,
                ..Hints::default()
            },
        ),
        definition(
            "create_order",
            None,
            "Place an order for the logged-in user.",
            input_schema_of::<CreateOrderArgs>(),
            None,
            Hints::default(),
        ),
        definition(
            "get_my_profile",
            None,
            "The logged-in user's own profile.",
            input_schema_of::<GetMyProfileArgs>(),
            Some(output_schema_of::<Option<Profile>>()),
            READ_ONLY,
        ),
        definition(
            "query_records",
            None,
            "Read rows of one table, allowlisted columns only.",
            input_schema_of::<QueryRecordsArgs>(),
            None,
            READ_ONLY,
        ),
        definition(
            "delete_customer",
            Some("Delete a customer"),
            "Delete a customer and all their data. Needs a human's approval.",
            input_schema_of::<DeleteCustomerArgs>(),
            None,
            Hints {
                destructive: true,
                ..Hints::default()
            },
        ),
    ]
}
