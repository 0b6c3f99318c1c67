//! The errors a tool call can end with, and the codes of the reply envelope.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::Serialize;
use serde::ser::SerializeMap;

/// The machine-readable code of a failed call, as it appears in the envelope.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The request itself is malformed: not JSON, duplicate keys, no tool name.
    InvalidRequest,
    /// The arguments fail to parse or validate.
    InvalidInput,
    /// The tool needs a logged-in user and the session has none, or it expired.
    Unauthenticated,
    /// Unknown tool, a tool above the session's role, or a record the user may not see.
    NotFound,
    /// The user's budget for this tool is spent.
    RateLimited,
    /// A destructive tool was called; nothing ran, the human must approve the ticket.
    ApprovalRequired,
    /// The human denied, or the ticket is unknown, used, expired or someone else's.
    ApprovalDenied,
    /// The handler ran past its time limit.
    Timeout,
    /// The request or the output is over its size limit.
    TooLarge,
    /// Anything unexpected; details are in the audit log under the incident id.
    Internal,
}

impl ErrorCode {
    /// The code as written in the envelope and the audit log.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::InvalidInput => "invalid_input",
            ErrorCode::Unauthenticated => "unauthenticated",
            ErrorCode::NotFound => "not_found",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::ApprovalRequired => "approval_required",
            ErrorCode::ApprovalDenied => "approval_denied",
            ErrorCode::Timeout => "timeout",
            ErrorCode::TooLarge => "too_large",
            ErrorCode::Internal => "internal",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Per-argument messages of an `invalid_input` error: argument name to messages.
pub type FieldErrors = BTreeMap<String, Vec<String>>;

/// Why a tool call failed.
///
/// What the model sees is [`code`](Self::code), [`message`](Self::message) and the extra field of
/// the code (`fields`, `retry_after_secs`, `incident`); an `approval_required` error's ticket is
/// for the host alone and is never serialised (the reply carries it in its `host` part). The cause of an
/// [`internal`](Self::internal) error is kept for the audit log only.
///
/// `ToolError` deliberately does not implement `std::error::Error`: that is what lets any other
/// error type convert into it with `?`, and such an error becomes `internal`.
pub struct ToolError(Box<Inner>);

/// Boxed, so that `Result<T, ToolError>` stays as small as `T` allows on the path that succeeds.
struct Inner {
    code: ErrorCode,
    message: Cow<'static, str>,
    fields: Option<FieldErrors>,
    retry_after_secs: Option<u64>,
    ticket: Option<String>,
    incident: Option<String>,
    cause: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl ToolError {
    fn new(code: ErrorCode, message: impl Into<Cow<'static, str>>) -> Self {
        ToolError(Box::new(Inner {
            code,
            message: message.into(),
            fields: None,
            retry_after_secs: None,
            ticket: None,
            incident: None,
            cause: None,
        }))
    }

    /// The request line itself is malformed.
    pub fn invalid_request(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidRequest, message)
    }

    /// The arguments are wrong, without naming one argument.
    pub fn invalid_input(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidInput, message)
    }

    /// The arguments are wrong, with messages per argument.
    pub fn invalid_fields(fields: FieldErrors) -> Self {
        let mut err = Self::new(
            ErrorCode::InvalidInput,
            "Some arguments are invalid; fix the listed fields and call again.",
        );
        err.0.fields = Some(fields);
        err
    }

    /// One argument is wrong.
    pub fn invalid_field(field: impl Into<String>, message: impl Into<String>) -> Self {
        let mut fields = FieldErrors::new();
        fields.insert(field.into(), vec![message.into()]);
        Self::invalid_fields(fields)
    }

    /// The record (or tool) does not exist, or the user may not see it: the two must read the same.
    pub fn not_found(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::NotFound, message)
    }

    /// The tool needs a logged-in user.
    pub fn unauthenticated() -> Self {
        Self::new(
            ErrorCode::Unauthenticated,
            "This tool needs a logged-in user; ask the user to sign in.",
        )
    }

    /// The user's budget for this tool is spent; `retry_after` is rounded up to whole seconds.
    pub fn rate_limited(retry_after: Duration) -> Self {
        let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
        let mut err = Self::new(
            ErrorCode::RateLimited,
            format!("Too many calls to this tool; wait {secs} s before trying again."),
        );
        err.0.retry_after_secs = Some(secs.max(1));
        err
    }

    /// A destructive call is waiting for the human's approval of `ticket`.
    pub fn approval_required(ticket: impl Into<String>) -> Self {
        let mut err = Self::new(
            ErrorCode::ApprovalRequired,
            "This action needs a human's approval. Nothing has happened yet; tell the user it awaits their approval.",
        );
        err.0.ticket = Some(ticket.into());
        err
    }

    /// The approval was denied, or the ticket is not valid for this user.
    pub fn approval_denied() -> Self {
        Self::new(
            ErrorCode::ApprovalDenied,
            "The action was not approved and did not run.",
        )
    }

    /// The handler ran past its time limit.
    pub fn timeout() -> Self {
        Self::new(
            ErrorCode::Timeout,
            "The tool took too long and was stopped; try a narrower request.",
        )
    }

    /// The request or the output is over its size limit.
    pub fn too_large(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::TooLarge, message)
    }

    /// Something unexpected. The model sees only an incident id; `cause` goes to the audit log.
    pub fn internal(cause: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        let incident = new_incident_id();
        let mut err = Self::new(
            ErrorCode::Internal,
            format!(
                "Something went wrong on our side (incident {incident}). It is not something you can fix by retrying with other arguments."
            ),
        );
        err.0.incident = Some(incident);
        err.0.cause = Some(cause.into());
        err
    }

    /// The envelope's code.
    pub fn code(&self) -> ErrorCode {
        self.0.code
    }

    /// The model-facing message.
    pub fn message(&self) -> &str {
        &self.0.message
    }

    /// Per-argument messages of an `invalid_input` error.
    pub fn fields(&self) -> Option<&FieldErrors> {
        self.0.fields.as_ref()
    }

    /// Seconds to wait, for `rate_limited`.
    pub fn retry_after_secs(&self) -> Option<u64> {
        self.0.retry_after_secs
    }

    /// The approval ticket, for `approval_required`.
    pub fn ticket(&self) -> Option<&str> {
        self.0.ticket.as_deref()
    }

    /// The incident id, for `internal`.
    pub fn incident(&self) -> Option<&str> {
        self.0.incident.as_deref()
    }

    /// The hidden cause of an `internal` error, for the audit log. Never shown to the model.
    pub fn cause(&self) -> Option<&(dyn std::error::Error + Send + Sync + 'static)> {
        self.0.cause.as_deref()
    }
}

/// Any error type a handler returns through `?` becomes `internal`, its cause kept for the audit log.
impl<E> From<E> for ToolError
where
    E: std::error::Error + Send + Sync + 'static,
{
    fn from(e: E) -> Self {
        ToolError::internal(e)
    }
}

impl fmt::Debug for ToolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ToolError")
            .field("code", &self.0.code)
            .field("message", &self.0.message)
            .field("fields", &self.0.fields)
            .field("incident", &self.0.incident)
            .field("cause", &self.0.cause.as_ref().map(|c| c.to_string()))
            .finish()
    }
}

impl fmt::Display for ToolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.0.code, self.0.message)
    }
}

/// The `error` object of the envelope: the cause is never serialised.
impl Serialize for ToolError {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("code", &self.0.code)?;
        map.serialize_entry("message", &self.0.message)?;
        if let Some(fields) = &self.0.fields {
            map.serialize_entry("fields", fields)?;
        }
        if let Some(secs) = self.0.retry_after_secs {
            map.serialize_entry("retry_after_secs", &secs)?;
        }
        if let Some(incident) = &self.0.incident {
            map.serialize_entry("incident", incident)?;
        }
        map.end()
    }
}

/// 64 random bits, hex: enough to find the record, useless for guessing anything.
fn new_incident_id() -> String {
    crate::hex::hex_token::<8>()
}
