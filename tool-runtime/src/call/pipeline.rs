//! The checks a call goes through, in order, and the handler's run.

use std::panic::AssertUnwindSafe;

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use serde_json::Value;

use super::deadline::Deadline;
use super::trace::{ToolName, Trace, redact};
use crate::approval::ParkedCall;
use crate::args::ArgsSource;
use crate::audit::{Arguments, DetailScope};
use crate::erased::panic_error;
use crate::error::ToolError;
use crate::hex::hex;
use crate::rate_limit::RateLimitError;
use crate::reply::Success;
use crate::session::Session;
use crate::tool::{Access, Gate};
use crate::toolbox::{Entry, Toolbox};

impl<S: Send + Sync + 'static> Toolbox<S> {
    pub(super) async fn dispatch_text(
        &self,
        session: &Session,
        name: &str,
        text: &str,
        trace: &mut Trace<'_>,
    ) -> Result<Success, ToolError> {
        if text.len() > self.limits().max_request_bytes {
            return Err(self.oversized(trace, text.len()));
        }
        let text = if text.trim().is_empty() { "{}" } else { text };
        let result = self
            .dispatch(session, name, ArgsSource::Text(text), trace)
            .await;
        if trace.arguments.is_null() {
            trace.record_text(text);
        }
        result
    }

    /// A request over the size limit: refused, and recorded by its size only.
    pub(super) fn oversized(&self, trace: &mut Trace<'_>, bytes: usize) -> ToolError {
        trace.record_oversized(bytes);
        self.request_too_large()
    }

    pub(super) fn request_too_large(&self) -> ToolError {
        ToolError::too_large(format!(
            "The request is over {} bytes; send less.",
            self.limits().max_request_bytes
        ))
    }

    /// [`checks`](Self::checks) inside the panic boundary: not only the handler can panic, but a
    /// custom validator or a hand-written `Deserialize` too, and a panic must still end as an
    /// `internal` reply with its audit record, never unwind into the host.
    pub(super) async fn dispatch(
        &self,
        session: &Session,
        name: &str,
        source: ArgsSource<'_>,
        trace: &mut Trace<'_>,
    ) -> Result<Success, ToolError> {
        AssertUnwindSafe(self.checks(session, name, source, trace))
            .catch_unwind()
            .map(panic_as_internal)
            .await
    }

    /// The checks, in order: lookup (unknown and above-role read the same), authentication,
    /// rate limit, arguments, approval gate, handler under its time limit, output cap.
    pub(super) async fn checks(
        &self,
        session: &Session,
        name: &str,
        source: ArgsSource<'_>,
        trace: &mut Trace<'_>,
    ) -> Result<Success, ToolError> {
        // The tool's secret arguments are known before access is decided, so that even a
        // refused call's arguments are redacted in the audit log.
        if let Some(index) = self.index_of(name) {
            trace.secrets = self.entry(index).tool.secret_fields();
        }
        let index = self.lookup(session, name)?;
        let entry = self.entry(index);
        trace.tool = ToolName::Known(entry.spec.name);
        if let Some(quota) = entry.spec.rate_limit {
            self.limiter()
                .check(&session.rate_key(), entry.spec.name, quota)
                .await
                .map_err(RateLimitError::into_tool_error)?;
        }
        let approval = entry.spec.gate == Gate::HumanApproval;
        let secrets = trace.secrets;
        // A call that needs approval is parked once its arguments pass; parking may wait on a
        // shared store, so it happens after `start` returns, not inside `between`.
        let mut parked: Option<ParkedCall> = None;
        // Between the arguments passing and the handler starting: the record of what was sent,
        // and the approval gate.
        let mut between = || {
            // Most calls keep the text they came in: it has just been read as JSON, and nothing
            // in it needs redacting.
            if !approval
                && secrets.is_empty()
                && let ArgsSource::Text(text) = source
                && let Some(kept) = Arguments::from_read_text(text)
            {
                trace.arguments = kept;
                return Ok(());
            }
            // What was sent, now known to be well formed.
            let mut sent = match source {
                ArgsSource::Text(text) => serde_json::from_str(text).unwrap_or_default(),
                ArgsSource::Value(value) => value.clone(),
            };
            if !approval {
                redact(&mut sent, secrets);
                trace.arguments = sent.into();
                return Ok(());
            }
            let mut shown = sent.clone();
            redact(&mut shown, secrets);
            trace.arguments = shown.clone().into();
            parked = Some(ParkedCall {
                user: session.user_id().unwrap_or("").to_owned(),
                tool: entry.spec.name.to_owned(),
                args_digest: crate::approval::args_digest(&sent),
                sent,
                shown,
            });
            // Stops `start` before the handler: the reply is made below, with the ticket.
            Err(ToolError::approval_required(String::new()))
        };
        let started = entry.tool.start(
            self.state(),
            session,
            source,
            &mut between,
            entry.spec.max_items,
        );
        if let Some(call) = parked {
            drop(started);
            let digest = hex(&call.args_digest);
            let ticket = self
                .approvals()
                .park(call, self.limits().approval_ttl)
                .await
                .map_err(ToolError::internal)?;
            trace
                .detail
                .insert("arguments_sha256".into(), Value::from(digest));
            return Err(ToolError::approval_required(ticket));
        }
        self.run(entry, started?, trace).await
    }

    pub(super) fn lookup(&self, session: &Session, name: &str) -> Result<usize, ToolError> {
        let not_found = || ToolError::not_found("No tool by that name is available.");
        let index = self.index_of(name).ok_or_else(not_found)?;
        let access = self.entry(index).spec.access;
        if self.permits(index, session) {
            return Ok(index);
        }
        // Someone not logged in learns only of tools every logged-in user has: telling them a
        // higher role's tool exists would be telling them more than a user of the lowest role
        // is told.
        let open_to_any_user = match access {
            Access::Authenticated => true,
            Access::Role(required) => required.rank() == 0,
            Access::Public => false,
        };
        if !session.is_authenticated() && open_to_any_user {
            return Err(ToolError::unauthenticated());
        }
        Err(not_found())
    }

    /// A started handler, under its time limit, its detail collected for the record, its
    /// output capped.
    pub(super) async fn run(
        &self,
        entry: &Entry<S>,
        fut: BoxFuture<'static, Result<Success, ToolError>>,
        trace: &mut Trace<'_>,
    ) -> Result<Success, ToolError> {
        let timeout = entry.spec.timeout.unwrap_or(self.limits().default_timeout);
        // A panic in the handler or in the output's `Serialize` must not take the host down,
        // nor reach the model as a trace: here for a call that was approved, as in `dispatch`.
        let fut = AssertUnwindSafe(fut).catch_unwind().map(panic_as_internal);
        let (outcome, detail) =
            DetailScope::collect(Deadline::new(fut, trace.started.checked_add(timeout))).await;
        trace.detail = detail;
        let produced = outcome.ok_or_else(ToolError::timeout)??;
        if produced.result.len() > self.limits().max_output_bytes {
            return Err(ToolError::too_large(
                "The result is too large to return; ask for less (a narrower filter or a smaller limit).",
            ));
        }
        Ok(produced)
    }
}

/// A caught panic as an `internal` error; the outcome itself otherwise.
pub(super) fn panic_as_internal(
    caught: std::thread::Result<Result<Success, ToolError>>,
) -> Result<Success, ToolError> {
    caught.unwrap_or_else(|panic| Err(panic_error(&*panic)))
}
