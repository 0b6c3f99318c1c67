//! Secure tools for AI models.
//!
//! A model's tool calls are driven by untrusted text. This crate and its macros make the safe
//! tool the easy one to write: from one `#[secure_tool(...)]` attribute come the JSON schema the
//! model sees, input validation that agrees with it, the role check, per-user visibility, the
//! projection of domain values into allowlisted outputs, and the guards (rate limit, timeout,
//! human approval, size caps, audit).
#![warn(missing_docs)]

pub mod error;
pub mod fs;
pub mod output;
mod random;
pub mod rate_limit;
pub mod role;
pub mod sandbox;
pub mod session;
pub mod tool;

pub use error::{ErrorCode, FieldErrors, ToolError};
pub use fs::{PathPolicy, SafePath};
pub use output::{Project, ProjectAs, Record, SafeOutput};
pub use rate_limit::Quota;
pub use role::{Role, RoleId};
pub use session::Session;
pub use tool::{Access, Gate, Hints, State, ToolArgs, ToolHandler, ToolSpec};

/// Everything an application needs: `use tool_runtime::prelude::*;`.
pub mod prelude {
    pub use crate::error::{ErrorCode, ToolError};
    pub use crate::fs::{PathPolicy, SafePath};
    pub use crate::output::{Record as _, SafeOutput as _};
    pub use crate::role::Role as _;
    pub use crate::session::Session;
    pub use crate::tool::State;
    pub use serde_json::json;
    pub use tool_macros::{Record, Role, SafeOutput, secure_tool};
}

/// What generated code refers to. Not a public API: it changes without notice.
#[doc(hidden)]
pub mod __private {
    pub use crate::output::{
        ItemList, Maskable, Project, ProjectAs, Record, SafeOutput, contains, mask_email,
        mask_keep_last,
    };
    pub use crate::tool::{HandlerResult, ToolArgs, ToolHandler};
    pub use schemars;
    pub use serde;
    pub use serde_json;
    pub use tokio;
    pub use validator;
}
