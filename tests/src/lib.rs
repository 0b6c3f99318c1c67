//! A small customer-support application used by the tests and benchmarks: roles, a record with
//! secrets, safe outputs, and one tool for each feature of `#[secure_tool]`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tool_runtime::prelude::*;

/// The roles, lowest first.
#[derive(Role, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    User,
    SupportAgent,
    Admin,
    SuperAdmin,
}

/// A customer as the database holds it.
#[derive(Record, Clone, Debug)]
pub struct Customer {
    pub id: String,
    pub name: String,
    pub email: String,
    pub phone: String,
    #[secret]
    pub ssn: String,
    #[secret]
    pub payment_token: String,
}

/// What the model may see of a customer.
#[derive(SafeOutput)]
#[safe_output(from = Customer)]
pub struct SafeCustomer {
    /// The customer's id.
    pub id: String,
    pub name: String,
    #[mask(email)]
    pub email: String,
    #[mask(keep_last = 4)]
    pub phone: String,
}

/// The application state: in memory, shared.
#[derive(Clone, Default)]
pub struct App {
    pub customers: Arc<Mutex<HashMap<String, Customer>>>,
    pub deleted: Arc<Mutex<Vec<String>>>,
}

impl App {
    /// Three customers, C001 to C003.
    pub fn seeded() -> Self {
        let app = App::default();
        {
            let mut map = app.customers.lock().unwrap();
            for (i, name) in ["Alice Anders", "Bob Brown", "Cleo Cruz"]
                .iter()
                .enumerate()
            {
                let id = format!("C{:03}", i + 1);
                map.insert(
                    id.clone(),
                    Customer {
                        id,
                        name: (*name).to_owned(),
                        email: format!(
                            "{}@example.com",
                            name.split(' ').next().unwrap().to_lowercase()
                        ),
                        phone: format!("555-01{i}-1234"),
                        ssn: format!("123-45-678{i}"),
                        payment_token: format!("tok_secret_{i}"),
                    },
                );
            }
        }
        app
    }
}

/// Get one customer's profile by id.
#[secure_tool(role = "support_agent", returns = SafeCustomer, read_only, rate_limit = "10/min")]
pub async fn get_customer_details(
    State(app): State<App>,
    _session: &Session,
    /// The customer's id, such as C001.
    #[validate(length(min = 1, max = 16))]
    customer_id: String,
) -> Result<Customer, ToolError> {
    find_customer(&app, &customer_id)
}

/// One customer by id, or `not_found`.
pub fn find_customer(app: &App, customer_id: &str) -> Result<Customer, ToolError> {
    let map = app.customers.lock().unwrap();
    map.get(customer_id)
        .cloned()
        .ok_or_else(|| ToolError::not_found("Customer not found."))
}

/// List customers whose name contains the query.
#[secure_tool(role = "support_agent", returns = SafeCustomer, read_only, max_items = 2)]
pub fn search_customers(
    State(app): State<App>,
    /// Part of a name, 1 to 100 characters.
    #[validate(length(min = 1, max = 100))]
    query: String,
) -> Result<Vec<Customer>, ToolError> {
    let map = app.customers.lock().unwrap();
    let mut found: Vec<Customer> = map
        .values()
        .filter(|c| c.name.to_lowercase().contains(&query.to_lowercase()))
        .cloned()
        .collect();
    found.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(found)
}

/// Say who is logged in.
#[secure_tool]
pub async fn whoami(session: &Session) -> Result<String, ToolError> {
    Ok(session.user_id().unwrap_or_default().to_owned())
}

/// Check that the service answers; anyone may ask.
#[secure_tool(public, read_only, idempotent)]
pub async fn ping() -> Result<String, ToolError> {
    Ok("pong".to_owned())
}

/// Change a customer's email address.
#[secure_tool(role = "support_agent", returns = SafeCustomer)]
pub async fn update_customer_email(
    State(app): State<App>,
    /// The customer's id.
    #[validate(length(min = 1, max = 16))]
    customer_id: String,
    /// The new address.
    #[validate(email, length(max = 254))]
    new_email: String,
) -> Result<Customer, ToolError> {
    let mut map = app.customers.lock().unwrap();
    let customer = map
        .get_mut(&customer_id)
        .ok_or_else(|| ToolError::not_found("Customer not found."))?;
    let old = std::mem::replace(&mut customer.email, new_email.clone());
    tool_runtime::audit::detail("old_email", &old);
    tool_runtime::audit::detail("new_email", &new_email);
    Ok(customer.clone())
}

/// Delete a customer for good.
#[secure_tool(role = "admin", destructive)]
pub async fn delete_customer(
    State(app): State<App>,
    /// The customer's id.
    #[validate(length(min = 1, max = 16))]
    customer_id: String,
) -> Result<bool, ToolError> {
    let removed = app.customers.lock().unwrap().remove(&customer_id).is_some();
    if removed {
        app.deleted.lock().unwrap().push(customer_id);
    }
    Ok(removed)
}

/// Empty the recycle bin.
#[secure_tool(role = "admin", destructive, confirm = "empty the bin")]
pub async fn purge_bin(State(app): State<App>) -> Result<usize, ToolError> {
    let mut deleted = app.deleted.lock().unwrap();
    let n = deleted.len();
    deleted.clear();
    Ok(n)
}

/// Set the account password (secret argument).
#[secure_tool(role = "user")]
pub async fn set_password(
    /// The new password.
    #[secret]
    #[validate(length(min = 8, max = 128))]
    password: String,
) -> Result<bool, ToolError> {
    Ok(!password.is_empty())
}

/// Sleep longer than allowed.
#[secure_tool(role = "user", timeout = "50ms")]
pub async fn slow() -> Result<bool, ToolError> {
    tokio::time::sleep(Duration::from_secs(5)).await;
    Ok(true)
}

/// Panic, as a buggy handler would.
#[secure_tool(role = "user")]
pub async fn buggy() -> Result<bool, ToolError> {
    panic!("secret internal state: /srv/db.sqlite")
}

/// Fail with an I/O error, as a handler using `?` would.
#[secure_tool(role = "user")]
pub fn failing() -> Result<bool, ToolError> {
    let _ = std::fs::read("/nonexistent/secret/path")?;
    Ok(true)
}

/// Produce a huge result.
#[secure_tool(role = "user")]
pub async fn huge(
    /// How many kilobytes.
    #[validate(range(min = 1, max = 10000))]
    kib: u32,
) -> Result<String, ToolError> {
    Ok("x".repeat(kib as usize * 1024))
}

/// Pick a number in a range.
#[secure_tool(role = "user")]
pub async fn pick(
    /// How many, 1 to 100.
    #[validate(range(min = 1, max = 100))]
    limit: u32,
    /// An optional tag.
    #[validate(length(max = 8))]
    tag: Option<String>,
) -> Result<u32, ToolError> {
    let _ = tag;
    Ok(limit)
}

/// A filter: a struct argument with rules of its own.
#[derive(serde::Deserialize, serde::Serialize, schemars::JsonSchema, validator::Validate)]
#[serde(deny_unknown_fields)]
pub struct Filter {
    /// A name fragment, at most 5 characters.
    #[validate(length(min = 1, max = 5))]
    pub name: String,
    /// How many, 1 to 10.
    #[validate(range(min = 1, max = 10))]
    pub limit: Option<u32>,
}

/// Count customers matching filters.
#[secure_tool(role = "user")]
pub async fn count_matching(
    /// The main filter.
    filter: Filter,
    /// An optional second filter.
    alternative: Option<Filter>,
    /// More filters.
    #[validate(length(max = 3))]
    more: Vec<Filter>,
    /// Optional groups of filters.
    #[validate(length(max = 2))]
    extra: Option<Vec<Filter>>,
    /// A boxed filter.
    boxed: Option<Box<Filter>>,
) -> Result<usize, ToolError> {
    let _ = (filter, boxed);
    Ok(1 + usize::from(alternative.is_some()) + more.len() + extra.map_or(0, |e| e.len()))
}

/// Tag a customer: a list of bounded strings.
#[secure_tool(role = "support_agent")]
pub async fn tag_customer(
    /// Up to three tags of at most 8 characters each.
    #[validate(length(min = 1, max = 3))]
    tags: Vec<tool_runtime::BoundedString<8>>,
) -> Result<usize, ToolError> {
    Ok(tags.iter().map(|t| t.len()).sum())
}

static ORDER_CODE: std::sync::LazyLock<regex::Regex> =
    std::sync::LazyLock::new(|| regex::Regex::new("^O[0-9]{4}$").expect("a valid pattern"));

/// Find an order by its code, such as O1234: a pattern both the schema and the runtime check.
#[secure_tool(role = "user", read_only)]
pub async fn find_order_code(
    /// The order code: O and four digits.
    #[validate(length(max = 5), regex(path = *ORDER_CODE))]
    code: String,
) -> Result<String, ToolError> {
    Ok(code)
}

/// The toolbox with every tool above, on a seeded app.
pub fn toolbox(app: App) -> tool_runtime::Toolbox<App> {
    toolbox_with(app, |b| b)
}

/// The toolbox, with the builder adjusted by `f` (an audit sink, limits...).
pub fn toolbox_with(
    app: App,
    f: impl FnOnce(tool_runtime::ToolboxBuilder<App>) -> tool_runtime::ToolboxBuilder<App>,
) -> tool_runtime::Toolbox<App> {
    f(tool_runtime::Toolbox::builder(app)
        .tool(GetCustomerDetails)
        .tool(SearchCustomers)
        .tool(Whoami)
        .tool(Ping)
        .tool(UpdateCustomerEmail)
        .tool(DeleteCustomer)
        .tool(PurgeBin)
        .tool(SetPassword)
        .tool(Slow)
        .tool(Buggy)
        .tool(Failing)
        .tool(Huge)
        .tool(Pick)
        .tool(CountMatching)
        .tool(TagCustomer)
        .tool(FindOrderCode))
    .build()
    .expect("the test toolbox builds")
}
