//! Secure tools for AI models.
//!
//! A model's tool calls are driven by untrusted text: a prompt injection can make it call any
//! tool it can see with any arguments it likes. This crate and its macros make the safe tool the
//! easy one to write. From one `#[secure_tool(...)]` attribute come the JSON schema the model
//! sees (for OpenAI, Anthropic, Gemini and MCP), input validation that agrees with it, the role
//! check, per-user visibility, the projection of domain values into allowlisted outputs, and the
//! guards: rate limit, timeout, human approval, size caps, and an audit record for every call.
//!
//! ```
//! use tool_runtime::prelude::*;
//!
//! #[derive(Role, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
//! pub enum Role { User, SupportAgent, Admin }
//!
//! #[derive(Record, Clone)]
//! pub struct Customer {
//!     pub id: String,
//!     pub name: String,
//!     pub phone: String,
//!     #[secret] pub ssn: String,
//! }
//!
//! /// What the model may see of a customer.
//! #[derive(SafeOutput)]
//! #[safe_output(from = Customer)]
//! pub struct SafeCustomer {
//!     pub id: String,
//!     pub name: String,
//!     #[mask(keep_last = 4)]
//!     pub phone: String,
//! }
//!
//! #[derive(Clone)]
//! pub struct App { customers: Vec<Customer> }
//!
//! /// Get one customer's profile by id.
//! #[secure_tool(role = "support_agent", returns = SafeCustomer, read_only, rate_limit = "10/min")]
//! async fn get_customer_details(
//!     State(app): State<App>,
//!     /// The customer's id, such as C001.
//!     #[validate(length(min = 1, max = 16))]
//!     customer_id: String,
//! ) -> Result<Customer, ToolError> {
//!     app.customers.into_iter().find(|c| c.id == customer_id)
//!         .ok_or_else(|| ToolError::not_found("Customer not found."))
//! }
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let app = App { customers: vec![Customer {
//!     id: "C001".into(), name: "Alice".into(), phone: "555-010-1234".into(), ssn: "123-45-6789".into(),
//! }] };
//! let toolbox = Toolbox::builder(app).tool(GetCustomerDetails).build().unwrap();
//!
//! let carol = Session::authenticated("carol", Role::SupportAgent);
//! let reply = toolbox.call(&carol, "get_customer_details", json!({"customer_id": "C001"})).await;
//! assert_eq!(reply.to_value(), json!({"ok": true, "result": {
//!     "id": "C001", "name": "Alice", "phone": "***-***-1234"
//! }}));
//!
//! // A user below the tool's role does not see it, and cannot call it.
//! let alice = Session::authenticated("alice", Role::User);
//! assert!(toolbox.definitions(&alice).is_empty());
//! let reply = toolbox.call(&alice, "get_customer_details", json!({"customer_id": "C001"})).await;
//! assert_eq!(reply.code(), Some(ErrorCode::NotFound));
//! # });
//! ```
#![warn(missing_docs)]
// Every type a public signature mentions can be named by an application.
#![warn(unnameable_types)]

// The surface: the prelude and the root's re-exports (the toolbox and its builder, sessions,
// replies, errors, tools), and the modules an application picks a backend or an export from
// (`approval`, `audit`, `rate_limit`, `export`, `fs`, `output`, `http`, `mcp`). The rest is how a
// call runs, private.

pub mod approval;
mod args;
pub mod audit;
mod blocking;
mod bounded;
mod call;
mod erased;
mod error;
pub mod export;
pub mod fs;
mod hex;
#[cfg(feature = "http")]
pub mod http;
#[cfg(feature = "http")]
pub use http::{Authenticator, HttpConfig, HttpServer, JwksSource, JwtAuthenticator};
#[cfg(feature = "mcp")]
pub mod mcp;
pub mod output;
pub mod rate_limit;
mod reply;
mod role;
#[cfg(feature = "sandbox")]
pub use tool_sandbox as sandbox;
mod schema_rules;
mod session;
mod store;
mod tool;
mod toolbox;

#[cfg(feature = "redis")]
pub use approval::RedisApprovals;
pub use approval::{ApprovalStore, InMemoryApprovals};
pub use args::{ArgsSource, find_duplicate_key};
pub use audit::{AuditRecord, AuditSink};
pub use bounded::BoundedString;
pub use error::{ErrorCode, FieldErrors, ToolError};
pub use export::{Definitions, ToolDefinition};
pub use fs::{PathPolicy, SafePath};
pub use output::{Project, ProjectAs, Record, SafeOutput};
#[cfg(feature = "redis")]
pub use rate_limit::RedisRateLimiter;
#[cfg(feature = "redis")]
mod redis_link;
pub use rate_limit::{InMemoryRateLimiter, Quota, RateLimitError, RateLimiter};
#[cfg(feature = "redis")]
pub use redis_link::{RedisOptions, RedisSetupError};
pub use reply::{Capped, ForModel, HostApproval, ToolReply};
pub use role::{Role, RoleId};
pub use session::{Scope, Session};
pub use store::{StoreFuture, StoreUnreachable};
pub use tool::{Access, Gate, Hints, State, ToolArgs, ToolHandler, ToolSpec};
pub use toolbox::{BuildError, Limits, PendingCall, Toolbox, ToolboxBuilder};

pub use tool_macros::{Record, Role, SafeOutput, secure_tool};

/// Everything an application needs: `use tool_runtime::prelude::*;`.
pub mod prelude {
    pub use crate::bounded::BoundedString;
    pub use crate::error::{ErrorCode, ToolError};
    pub use crate::fs::{PathPolicy, SafePath};
    pub use crate::output::{Record as _, SafeOutput as _};
    pub use crate::reply::ToolReply;
    pub use crate::role::Role as _;
    pub use crate::session::Session;
    pub use crate::tool::State;
    pub use crate::toolbox::Toolbox;
    pub use serde_json::json;
    pub use tool_macros::{Record, Role, SafeOutput, secure_tool};
}

/// Exactly what the macros' generated code refers to. Not a public API: it changes without
/// notice.
#[doc(hidden)]
pub mod __private {
    pub use crate::args::{Nested, NestedSkip, NestedValidate, confirmation_matches};
    pub use crate::blocking::run_blocking;
    pub use crate::error::FieldErrors;
    pub use crate::error::ToolError;
    pub use crate::output::{
        ARecordCannotBeASafeOutput, ItemList, Maskable, Project, ProjectAs, Record, SafeOutput,
        contains, mask_email, mask_keep_last, str_eq,
    };
    pub use crate::rate_limit::Quota;
    pub use crate::role::Role as RoleTrait;
    pub use crate::session::Session;
    pub use crate::tool::{
        Access, Gate, HandlerResult, Hints, State, ToolArgs, ToolHandler, ToolSpec,
    };
    pub use schemars;
    pub use serde;
    pub use serde_json;
    pub use validator;
}
