//! The procedural macros of `tool-runtime`. Depend on `tool-runtime`, which re-exports them;
//! the documentation with examples lives there.

use proc_macro::TokenStream;
use syn::{DeriveInput, ItemFn, parse_macro_input};

mod docs;
mod record;
mod role;
mod safe_output;
mod secure_tool;
mod shape;
mod validate_rules;

/// Turns a function into a tool a model can call, with every check derived from this attribute.
///
/// The function's doc comment is the tool's description, and each argument's doc comment its
/// description. Arguments are what the model supplies; `&Session` (the caller) and
/// `State<T>` (the toolbox's state) are injected and never appear in the schema. The function
/// returns `Result<T, E>` where `E` converts into `ToolError`, and stays callable as written.
///
/// Generated for `fn get_customer_details`: the tool type `GetCustomerDetails` (register it
/// with `Toolbox::builder(state).tool(GetCustomerDetails)`) and the argument type
/// `GetCustomerDetailsArgs` (`Deserialize + JsonSchema + Validate`, unknown fields refused).
///
/// | key | meaning |
/// | --- | --- |
/// | `role = "snake_name"` or `role = Role::Variant` | the lowest role that sees and may call the tool; a name that is no role stops the build |
/// | `public` | callable without a logged-in user (the default is: any logged-in user) |
/// | `returns = Type` | project the handler's value into this `SafeOutput`, through `Option` and `Vec` |
/// | `name = "..."` | the tool's name for the model (default: the function's), `^[a-zA-Z0-9_-]{1,64}$` |
/// | `read_only`, `idempotent`, `open_world` | hints, exported as MCP annotations |
/// | `destructive` | nothing runs until a human approves that very call |
/// | `confirm = "text"` | with `destructive`: instead of approval, the call must carry `confirmation` with exactly this text (weaker: an injected prompt can carry it too) |
/// | `rate_limit = "N/sec"`, `"N/min"`, `"N/hour"` | per user, per tool |
/// | `timeout = "10s"` | the handler's time limit (`ms`, `s`, `m`); the toolbox has a default |
/// | `max_items = N` | a list output is cut to N and the reply says so |
///
/// On an argument: `#[validate(...)]` in the `validator` crate's syntax (enforced, and shown in
/// the schema), `#[secret]` (redacted in the audit log).
///
/// ```
/// use tool_runtime::prelude::*;
///
/// #[derive(Role, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
/// pub enum Role { User, Admin }
///
/// #[derive(Clone)]
/// pub struct App;
///
/// /// Look up the weather in a city.
/// #[secure_tool(role = "user", read_only, rate_limit = "10/min", timeout = "5s")]
/// async fn get_weather(
///     State(_app): State<App>,
///     session: &Session,
///     /// The city, such as Oslo.
///     #[validate(length(min = 1, max = 64))]
///     city: String,
/// ) -> Result<String, ToolError> {
///     Ok(format!("{} asked about {city}: sunny", session.user_id().unwrap_or("?")))
/// }
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let toolbox = Toolbox::builder(App).tool(GetWeather).build().unwrap();
/// let alice = Session::authenticated("alice", Role::User);
/// let reply = toolbox.call_json(&alice, "get_weather", r#"{"city":"Oslo"}"#).await;
/// assert_eq!(reply.result(), Some(json!("alice asked about Oslo: sunny")));
///
/// // Out of bounds: refused before the handler runs, with a message per field.
/// let reply = toolbox.call_json(&alice, "get_weather", r#"{"city":""}"#).await;
/// assert_eq!(reply.code(), Some(ErrorCode::InvalidInput));
/// # });
/// ```
///
/// Refused at compile time, each with an error at the token to change: no doc comment; a role
/// that is not a variant; an output that is not a `SafeOutput` without `returns`; an unbounded
/// `String` or `Vec` argument; a path-like argument without `SafePath`; an untyped
/// (`serde_json::Value`, map) argument; a destructive-sounding
/// tool that is not `destructive` (the words `delete`, `remove`, `drop`, `purge`, `destroy`,
/// `wipe`, `erase`, `reset`, `clear`, `truncate` anywhere in the name or the function's name);
/// `confirm` without `destructive`; an invalid name (given, or the function's own); a malformed
/// rate limit or timeout; an unknown key; `#[schemars(...)]` on an argument (a rule only the
/// schema would know: write `#[validate(...)]`). The compile-fail tests in `tool-macros/tests/ui/fail` are
/// the full list.
#[proc_macro_attribute]
pub fn secure_tool(attr: TokenStream, item: TokenStream) -> TokenStream {
    let func = parse_macro_input!(item as ItemFn);
    secure_tool::expand(attr.into(), func).into()
}

/// Derives `SafeOutput`: an allowlisted output type, the only kind of value the model sees.
///
/// With `#[safe_output(from = Source)]`, where `Source` derives `Record`, the type is projected
/// from the source field by field, by name: a field missing from the source (the source's own
/// fields only, never those reached through `Deref`), of another type, or marked `#[secret]`
/// there stops the build. `#[mask(keep_last = N)]` shows only the last N letters and digits of
/// a string (`***-***-1234`); `#[mask(email)]` only an address's first letter and domain. A
/// mask applies when the value is serialised, so it holds whether the value was projected or
/// built by hand. On a fieldless enum it gives a string enum. A `Record` can never also be a
/// `SafeOutput`.
///
/// ```
/// use tool_runtime::prelude::*;
/// use tool_runtime::ProjectAs;
///
/// #[derive(Record)]
/// pub struct Customer {
///     pub id: String,
///     pub email: String,
///     pub phone: String,
///     #[secret] pub ssn: String,
/// }
///
/// /// What the model may see of a customer.
/// #[derive(SafeOutput)]
/// #[safe_output(from = Customer)]
/// pub struct SafeCustomer {
///     pub id: String,
///     #[mask(email)] pub email: String,
///     #[mask(keep_last = 4)] pub phone: String,
/// }
///
/// let customer = Customer {
///     id: "C001".into(), email: "alice@example.com".into(),
///     phone: "555-010-1234".into(), ssn: "123-45-6789".into(),
/// };
/// let safe: SafeCustomer = customer.project_as();
/// // Masks apply when the value is serialised, however it was built.
/// assert_eq!(
///     serde_json::to_value(&safe).unwrap(),
///     json!({"id": "C001", "email": "a***@example.com", "phone": "***-***-1234"}),
/// );
/// ```
#[proc_macro_derive(SafeOutput, attributes(safe_output, mask))]
pub fn derive_safe_output(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    safe_output::expand(input).into()
}

/// Derives `Record`: a domain type whose `#[secret]` fields no `SafeOutput` may copy.
///
/// ```compile_fail
/// use tool_runtime::prelude::*;
///
/// #[derive(Record)]
/// pub struct Account { pub id: String, #[secret] pub password_hash: String }
///
/// #[derive(SafeOutput)]
/// #[safe_output(from = Account)]
/// pub struct Leaky { pub id: String, pub password_hash: String } // stops the build
/// ```
#[proc_macro_derive(Record, attributes(secret))]
pub fn derive_record(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    record::expand(input).into()
}

/// Derives `Role` on a fieldless enum: declaration order is the hierarchy, lowest first, and
/// the names are the variants in snake_case.
///
/// ```
/// use tool_runtime::prelude::*;
///
/// #[derive(Role, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
/// pub enum Role { User, SupportAgent, Admin }
///
/// let carol = Session::authenticated("carol", Role::SupportAgent);
/// assert!(carol.has_role(Role::User));
/// assert!(!carol.has_role(Role::Admin));
/// assert_eq!(carol.role().unwrap().name(), "support_agent");
/// ```
#[proc_macro_derive(Role)]
pub fn derive_role(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    role::expand(input).into()
}
