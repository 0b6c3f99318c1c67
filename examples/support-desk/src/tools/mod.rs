//! The desk's tools: what a model may call, one module per group.
//!
//! Each tool is a thin `#[secure_tool]` over one data-layer function. The attribute carries the
//! policy (role, hints, guards, argument bounds); the data layer carries least privilege; the
//! `Safe*` types say exactly which fields the model gets back.

pub mod account;
pub mod code;
pub mod customers;
pub mod exports;
pub mod housekeeping;
pub mod orders;
pub mod records;

use tool_runtime::{Session, ToolError};

/// The session's user id. Tools read it from the session the host built, never from arguments;
/// a tool that needs a role is never reached without one, so its absence is a plain refusal.
fn user_id(session: &Session) -> Result<&str, ToolError> {
    session.user_id().ok_or_else(ToolError::unauthenticated)
}
