//! The human's answers to approval requests: run the waiting call, or drop it.

use serde_json::Value;

use super::trace::{ToolName, Trace};
use crate::approval::ApprovalError;
use crate::args::ArgsSource;
use crate::error::ToolError;
use crate::hex::hex;
use crate::reply::ToolReply;
use crate::session::Session;
use crate::toolbox::{PendingCall, Toolbox};

impl<S: Send + Sync + 'static> Toolbox<S> {
    /// The call waiting behind `ticket`, as the audit log shows it (`#[secret]` arguments
    /// redacted), if `session`'s user holds the ticket and it is still valid: what to show the
    /// human who is asked to approve it. Nothing is taken: the ticket stays pending.
    /// A store that cannot answer shows nothing, as for an unknown ticket.
    pub async fn pending_call(&self, session: &Session, ticket: &str) -> Option<PendingCall> {
        let user = session.user_id()?;
        let call = match self.approvals().peek(ticket, user).await {
            Ok(call) => call?,
            Err(e) => {
                tracing::warn!(target: "tool_runtime::approval", error = %e, "could not look up a pending approval");
                return None;
            }
        };
        let index = self.index_of(&call.tool)?;
        Some(PendingCall {
            tool: self.entry(index).spec.name,
            arguments: call.shown,
        })
    }

    /// Runs the call waiting behind `ticket`, if `session`'s user holds it and it is still valid.
    pub async fn approve(&self, session: &Session, ticket: &str) -> ToolReply {
        self.approve_as(session, ticket, "").await
    }

    /// Drops the call waiting behind `ticket`; nothing runs.
    pub async fn deny(&self, session: &Session, ticket: &str) -> ToolReply {
        self.deny_as(session, ticket, "").await
    }

    /// [`approve`](Self::approve) for a caller that names the tool it means (the MCP retry of
    /// an approval): a ticket that is refused is recorded under that name rather than none.
    pub(crate) async fn approve_as(
        &self,
        session: &Session,
        ticket: &str,
        requested: &str,
    ) -> ToolReply {
        let mut trace = Trace::new(requested);
        let outcome = match self.redeem(session, ticket, &mut trace).await {
            Ok((index, sent)) => {
                let entry = self.entry(index);
                let digest = trace.detail.remove("arguments_sha256");
                // The arguments the human approved, read again: they were valid then.
                let started = entry.tool.start(
                    self.state(),
                    session,
                    ArgsSource::Value(&sent),
                    &mut || Ok(()),
                    entry.spec.max_items,
                );
                let outcome = match started {
                    Ok(fut) => self.run(entry, fut, &mut trace).await,
                    Err(e) => Err(e),
                };
                // `run` collected the handler's own detail; the approval's goes beside it.
                trace
                    .detail
                    .insert("approval".into(), Value::from("approved"));
                if let Some(digest) = digest {
                    trace.detail.insert("arguments_sha256".into(), digest);
                }
                outcome
            }
            Err(e) => Err(e),
        };
        self.finish(session, trace, outcome).await
    }

    /// [`deny`](Self::deny), recorded under the tool the caller names if the ticket is refused.
    pub(crate) async fn deny_as(
        &self,
        session: &Session,
        ticket: &str,
        requested: &str,
    ) -> ToolReply {
        let mut trace = Trace::new(requested);
        let outcome = self
            .redeem(session, ticket, &mut trace)
            .await
            .and_then(|_| {
                trace
                    .detail
                    .insert("approval".into(), Value::from("denied"));
                Err(ToolError::approval_denied())
            });
        self.finish(session, trace, outcome).await
    }

    pub(super) async fn redeem(
        &self,
        session: &Session,
        ticket: &str,
        trace: &mut Trace<'_>,
    ) -> Result<(usize, Value), ToolError> {
        let Some(user) = session.user_id() else {
            return Err(ToolError::approval_denied());
        };
        let approved = match self.approvals().take(ticket, user).await {
            Ok(call) => call,
            Err(ApprovalError::Refused(refused)) => {
                trace
                    .detail
                    .insert("refused".into(), Value::from(refused.as_str()));
                return Err(ToolError::approval_denied());
            }
            // The store could not say: fail closed, and say so in the record.
            Err(e) => return Err(ToolError::internal(e)),
        };
        // The ticket holds the very arguments that were validated and shown; their digest,
        // also in the `approval_required` record, lets the log tie the two records together.
        trace.detail.insert(
            "arguments_sha256".into(),
            Value::from(hex(&approved.args_digest)),
        );
        // A store shared by instances may hold a call of a tool this instance does not serve.
        let Some(index) = self.index_of(&approved.tool) else {
            trace.arguments = approved.shown.into();
            trace
                .detail
                .insert("refused".into(), Value::from("unknown_tool"));
            return Err(ToolError::approval_denied());
        };
        let entry = self.entry(index);
        trace.tool = ToolName::Known(entry.spec.name);
        trace.arguments = approved.shown.into();
        // The role may have been taken away since the ticket was issued.
        if !self.permits(index, session) {
            return Err(ToolError::approval_denied());
        }
        Ok((index, approved.sent))
    }
}
