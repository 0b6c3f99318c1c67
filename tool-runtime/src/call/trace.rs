//! What a call leaves behind: the trace it gathers for its audit record, the refusal budget,
//! and the record itself, written before the reply is returned.

use std::borrow::Cow;
use std::time::{Duration, Instant, SystemTime};

use serde_json::Value;

use crate::audit::timestamp::rfc3339_millis;
use crate::audit::{Arguments, AuditRecord};
use crate::error::{ErrorCode, ToolError};
use crate::rate_limit::{Quota, RateLimitError};
use crate::reply::{HostApproval, Success, ToolReply};
use crate::session::Session;
use crate::toolbox::Toolbox;

/// What one dispatch learned, for its audit record.
pub(super) struct Trace<'a> {
    pub(super) started: Instant,
    pub(super) tool: ToolName<'a>,
    /// The tool's `#[secret]` arguments, once the tool is known.
    pub(super) secrets: &'static [&'static str],
    pub(super) arguments: Arguments,
    pub(super) detail: serde_json::Map<String, Value>,
}

/// The tool's own name once it is known; until then the name the model asked for, copied
/// (and bounded) only when the record is written.
#[derive(Clone, Copy)]
pub(super) enum ToolName<'a> {
    Known(&'static str),
    Requested(&'a str),
}

impl ToolName<'_> {
    pub(super) fn for_record(self) -> Cow<'static, str> {
        match self {
            ToolName::Known(name) => Cow::Borrowed(name),
            ToolName::Requested(name) => Cow::Owned(clip_name(name)),
        }
    }
}

impl<'a> Trace<'a> {
    pub(super) fn new(requested: &'a str) -> Self {
        Trace {
            started: Instant::now(),
            tool: ToolName::Requested(requested),
            secrets: &[],
            arguments: Arguments::default(),
            detail: serde_json::Map::new(),
        }
    }
}

impl Trace<'_> {
    /// Keeps arguments that never became typed, up to [`MAX_RAW_AUDIT`] bytes: an object with
    /// the tool's secret arguments redacted. Anything else cannot be redacted by name
    /// (truncated JSON, an array), so for a tool with secret arguments only its size is kept.
    /// Past the cap, only the size: a refused call must not leave whatever the caller sent.
    pub(super) fn record_raw(&mut self, mut raw: Value, bytes: usize) {
        self.arguments = if bytes > MAX_RAW_AUDIT {
            serde_json::json!({ "omitted_bytes": bytes })
        } else if raw.is_object() {
            redact(&mut raw, self.secrets);
            raw
        } else if self.secrets.is_empty() {
            raw
        } else {
            serde_json::json!({ "unreadable_bytes": bytes })
        }
        .into();
    }

    /// Keeps only the size of what the arguments were.
    pub(super) fn omit_arguments(&mut self) {
        if !self.arguments.is_null() {
            let bytes = self.arguments.json_len();
            self.arguments = serde_json::json!({ "omitted_bytes": bytes }).into();
        }
    }

    /// Keeps unparsed text the same way.
    pub(super) fn record_text(&mut self, text: &str) {
        match serde_json::from_str::<Value>(text) {
            Ok(value) => self.record_raw(value, text.len()),
            Err(_) if self.secrets.is_empty() && text.len() <= MAX_RAW_AUDIT => {
                self.arguments = Value::from(text).into();
            }
            Err(_) => {
                self.arguments = serde_json::json!({ "unreadable_bytes": text.len() }).into();
            }
        }
    }

    /// A request refused for its size keeps only its size: the log must not be the place where
    /// an oversized request gets stored after all.
    pub(super) fn record_oversized(&mut self, bytes: usize) {
        self.arguments = serde_json::json!({ "omitted_bytes": bytes }).into();
    }
}

/// The most of a refused request the audit log keeps verbatim.
const MAX_RAW_AUDIT: usize = 4096;

/// The rate limiter's key for a caller's refused calls: no tool can be named so.
const REFUSALS: &str = "(refused calls)";

/// A tool name as the audit log keeps it: the model chose it, so it is bounded.
fn clip_name(name: &str) -> String {
    name.chars().take(64).collect()
}

/// Whether an error says the caller asked for something it may not have or sent something
/// malformed: what the refusal budget counts. Not the toolbox's own failures (`timeout`,
/// `internal`), nor `approval_required`, which is the normal course of a destructive call.
fn is_refusal(code: ErrorCode) -> bool {
    matches!(
        code,
        ErrorCode::InvalidRequest
            | ErrorCode::InvalidInput
            | ErrorCode::NotFound
            | ErrorCode::Unauthenticated
            | ErrorCode::TooLarge
            | ErrorCode::ApprovalDenied
    )
}

/// How many bytes `value` serialises to, if at most `max`; stops as soon as it is over.
pub(super) fn json_len_within(value: &Value, max: usize) -> Option<usize> {
    struct Counter {
        left: usize,
    }
    impl std::io::Write for Counter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.left = self
                .left
                .checked_sub(buf.len())
                .ok_or_else(|| std::io::Error::other("over the limit"))?;
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut counter = Counter { left: max };
    serde_json::to_writer(&mut counter, value).ok()?;
    Some(max - counter.left)
}

impl<S: Send + Sync + 'static> Toolbox<S> {
    /// A caller whose calls keep being refused is slowed down: past
    /// [`Limits::refusals_per_minute`](crate::Limits::refusals_per_minute), a refusal is answered
    /// `rate_limited` and recorded without its arguments (the code it would have had is in the
    /// record's detail), so that refused calls cannot fill the audit log at will.
    pub(super) async fn budget_refusal(
        &self,
        session: &Session,
        trace: &mut Trace<'_>,
        outcome: Result<Success, ToolError>,
    ) -> Result<Success, ToolError> {
        let code = match &outcome {
            Err(e) if is_refusal(e.code()) => e.code(),
            _ => return outcome,
        };
        let quota = Quota::new(self.limits().refusals_per_minute, Duration::from_secs(60));
        match self
            .limiter()
            .check(&session.rate_key(), REFUSALS, quota)
            .await
        {
            // The call is refused anyway: a limiter that cannot decide changes nothing.
            Ok(()) | Err(RateLimitError::Unavailable(_)) => outcome,
            Err(RateLimitError::Exceeded(retry_after)) => {
                trace.omit_arguments();
                trace
                    .detail
                    .insert("refused".into(), Value::from(code.as_str()));
                Err(ToolError::rate_limited(retry_after))
            }
        }
    }

    /// Writes the audit record, then returns the reply; a failing sink fails the call closed.
    pub(super) async fn finish(
        &self,
        session: &Session,
        mut trace: Trace<'_>,
        outcome: Result<Success, ToolError>,
    ) -> ToolReply {
        let outcome = self.budget_refusal(session, &mut trace, outcome).await;
        let host = match &outcome {
            Err(e) => e.ticket().map(|ticket| HostApproval {
                ticket: ticket.to_owned(),
                expires_at: rfc3339_millis(SystemTime::now() + self.limits().approval_ttl),
                tool: trace.tool.for_record().into_owned(),
                arguments: trace.arguments.value().clone(),
            }),
            Ok(_) => None,
        };
        let reply = ToolReply::new(outcome).with_host(host);
        let error = reply.error();
        let mut record = AuditRecord {
            ts: SystemTime::now(),
            user: session.claimed_user_id().map(str::to_owned),
            role: session.role().map(|r| Cow::Borrowed(r.name())),
            tool: trace.tool.for_record(),
            outcome: Cow::Borrowed(reply.outcome_code()),
            arguments: trace.arguments,
            duration_ms: u64::try_from(trace.started.elapsed().as_millis()).unwrap_or(u64::MAX),
            incident: error.and_then(|e| e.incident()).map(str::to_owned),
            cause: error.and_then(|e| e.cause()).map(|c| c.to_string()),
            detail: trace.detail,
        };
        if let Some(jti) = session.token_id() {
            // The token's id ties the call to the token without the token itself.
            record.detail.insert("jti".into(), Value::from(jti));
        }
        match self.audit_sink().record(&record).await {
            Ok(()) => reply,
            Err(e) => {
                // The call may already have happened: the record goes to the operator's log
                // here, under the incident the reply names, rather than nowhere.
                let err = ToolError::internal(e);
                let record = serde_json::to_string(&record).unwrap_or_default();
                tracing::error!(
                    target: "tool_runtime::audit",
                    incident = err.incident().unwrap_or_default(),
                    error = %err.cause().map(|c| c.to_string()).unwrap_or_default(),
                    record = %record,
                    "audit sink failed; the reply is refused and the record is logged here"
                );
                ToolReply::failure(err)
            }
        }
    }
}

/// Replaces the named top-level fields of an object with `"[redacted]"`.
pub(crate) fn redact(value: &mut Value, secrets: &[&str]) {
    if let Value::Object(map) = value {
        for key in secrets {
            if let Some(v) = map.get_mut(*key) {
                *v = Value::from("[redacted]");
            }
        }
    }
}
