//! What a toolbox does with one call: the entry points, the checks in order, the approval
//! answers, and the audit record every call leaves.

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Instant, SystemTime};

use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

use crate::args::{ArgsSource, duplicate_key_error, find_duplicate_key};
use crate::audit::{AuditRecord, DetailScope};
use crate::erased::{ParsedArgs, Produced, redact};
use crate::error::ToolError;
use crate::random::hex;
use crate::rate_limit::RateLimitError;
use crate::reply::ToolReply;
use crate::session::Session;
use crate::tool::{Access, Gate};
use crate::toolbox::{Entry, Pending, PendingCall, Toolbox};

/// Any line of the host protocol: a tool call, or the human's answer to an approval request.
///
/// One struct rather than an untagged enum: an untagged enum buffers its input, and then
/// borrowed raw arguments cannot be read.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HostLine<'a> {
    #[serde(default, borrow)]
    name: Option<std::borrow::Cow<'a, str>>,
    #[serde(default, borrow)]
    arguments: Option<&'a RawValue>,
    #[serde(default)]
    approve: Option<String>,
    #[serde(default)]
    deny: Option<String>,
}

/// What one dispatch learned, for its audit record.
struct Trace<'a> {
    started: Instant,
    tool: ToolName<'a>,
    /// The tool's `#[secret]` arguments, once the tool is known.
    secrets: &'static [&'static str],
    arguments: Value,
    detail: serde_json::Map<String, Value>,
}

/// The tool's own name once it is known; until then the name the model asked for, copied
/// (and bounded) only when the record is written.
#[derive(Clone, Copy)]
enum ToolName<'a> {
    Known(&'static str),
    Requested(&'a str),
}

impl ToolName<'_> {
    fn for_record(self) -> Cow<'static, str> {
        match self {
            ToolName::Known(name) => Cow::Borrowed(name),
            ToolName::Requested(name) => Cow::Owned(clip_name(name)),
        }
    }
}

impl<'a> Trace<'a> {
    fn new(requested: &'a str) -> Self {
        Trace {
            started: Instant::now(),
            tool: ToolName::Requested(requested),
            secrets: &[],
            arguments: Value::Null,
            detail: serde_json::Map::new(),
        }
    }
}

impl Trace<'_> {
    /// Keeps arguments that never became typed: an object with the tool's secret arguments
    /// redacted. Anything else cannot be redacted by name (truncated JSON, an array), so for a
    /// tool with secret arguments only its size is kept; for others, a bounded part of it.
    fn record_raw(&mut self, mut raw: Value, bytes: usize) {
        if raw.is_object() {
            redact(&mut raw, self.secrets);
            self.arguments = raw;
        } else if self.secrets.is_empty() && bytes <= MAX_RAW_AUDIT {
            self.arguments = raw;
        } else {
            self.arguments = serde_json::json!({ "unreadable_bytes": bytes });
        }
    }

    /// Keeps unparsed text the same way.
    fn record_text(&mut self, text: &str) {
        match serde_json::from_str::<Value>(text) {
            Ok(value) => self.record_raw(value, text.len()),
            Err(_) if self.secrets.is_empty() && text.len() <= MAX_RAW_AUDIT => {
                self.arguments = Value::from(text);
            }
            Err(_) => self.arguments = serde_json::json!({ "unreadable_bytes": text.len() }),
        }
    }

    /// A request refused for its size keeps only its size: the log must not be the place where
    /// an oversized request gets stored after all.
    fn record_oversized(&mut self, bytes: usize) {
        self.arguments = serde_json::json!({ "omitted_bytes": bytes });
    }
}

/// The most of an unparsed request the audit log keeps verbatim.
const MAX_RAW_AUDIT: usize = 1024;

/// A tool name as the audit log keeps it: the model chose it, so it is bounded.
fn clip_name(name: &str) -> String {
    name.chars().take(64).collect()
}

impl<S: Send + Sync + 'static> Toolbox<S> {
    /// Checks arguments as a call would (lookup, access, parsing and validation) without running
    /// anything, counting against no budget, and writing no audit record: for a host that wants
    /// to check a model's call before queueing it.
    pub fn check_arguments(
        &self,
        session: &Session,
        name: &str,
        args_json: &str,
    ) -> Result<(), ToolError> {
        if args_json.len() > self.inner.limits.max_request_bytes {
            return Err(self.request_too_large());
        }
        let index = self.lookup(session, name)?;
        self.inner.tools[index]
            .tool
            .parse(ArgsSource::Text(args_json))
            .map(drop)
    }

    /// Calls a tool with arguments the host already holds as a value.
    ///
    /// Prefer [`call_json`](Self::call_json) for what a provider sent: only raw text shows
    /// duplicate keys.
    pub async fn call(&self, session: &Session, name: &str, args: Value) -> ToolReply {
        let mut trace = Trace::new(name);
        let max = self.inner.limits.max_request_bytes;
        let outcome = match json_len_within(&args, max) {
            Some(bytes) => {
                let outcome = self
                    .dispatch(session, name, ArgsSource::Value(&args), &mut trace)
                    .await;
                if trace.arguments.is_null() {
                    trace.record_raw(args, bytes);
                }
                outcome
            }
            None => {
                trace.record_oversized(max + 1);
                Err(self.request_too_large())
            }
        };
        self.finish(session, trace, outcome).await
    }

    /// Calls a tool with the raw JSON text of its arguments, as providers send them.
    pub async fn call_json(&self, session: &Session, name: &str, args_json: &str) -> ToolReply {
        let mut trace = Trace::new(name);
        let outcome = self
            .dispatch_text(session, name, args_json, &mut trace)
            .await;
        self.finish(session, trace, outcome).await
    }

    /// Handles one line of the host protocol: a tool call `{"name", "arguments"}` (arguments
    /// an object or a string holding one), or the human's approval answer
    /// `{"approve": ticket}` / `{"deny": ticket}`. Malformed lines get `invalid_request` (or
    /// `too_large`).
    ///
    /// The approval answers must come from the human, through the host: a host that forwards
    /// text the model wrote as lines here would let the model approve its own destructive
    /// call, since the ticket is in the model's `approval_required` reply. Forward a model's
    /// calls with [`handle_call_line`](Self::handle_call_line), which refuses answers.
    pub async fn handle_line(&self, session: &Session, line: &str) -> ToolReply {
        self.handle(session, line, true).await
    }

    /// Handles a line the model wrote: a tool call `{"name", "arguments"}` only. An approval
    /// answer here is `invalid_request`: approval comes from the human, never from the model.
    pub async fn handle_call_line(&self, session: &Session, line: &str) -> ToolReply {
        self.handle(session, line, false).await
    }

    async fn handle(&self, session: &Session, line: &str, answers: bool) -> ToolReply {
        if line.len() > self.inner.limits.max_request_bytes {
            let mut trace = Trace::new("");
            trace.record_oversized(line.len());
            return self
                .finish(session, trace, Err(self.request_too_large()))
                .await;
        }
        if let Some(dup) = find_duplicate_key(line) {
            let err = duplicate_key_error(&dup);
            return self.finish(session, Trace::new(""), Err(err)).await;
        }
        let parsed = serde_json::from_str::<HostLine<'_>>(line);
        match parsed {
            Ok(HostLine {
                approve: Some(ticket),
                name: None,
                arguments: None,
                deny: None,
            }) if answers => self.approve(session, &ticket).await,
            Ok(HostLine {
                deny: Some(ticket),
                name: None,
                arguments: None,
                approve: None,
            }) if answers => self.deny(session, &ticket).await,
            Ok(HostLine {
                name: Some(name),
                arguments,
                approve: None,
                deny: None,
            }) => {
                let mut trace = Trace::new(&name);
                let text = match arguments {
                    None => std::borrow::Cow::Borrowed("{}"),
                    // OpenAI sends the arguments as a string holding the JSON object.
                    Some(raw) => serde_json::from_str::<std::borrow::Cow<'_, str>>(raw.get())
                        .unwrap_or(std::borrow::Cow::Borrowed(raw.get())),
                };
                let outcome = self.dispatch_text(session, &name, &text, &mut trace).await;
                self.finish(session, trace, outcome).await
            }
            _ => {
                let trace = Trace::new("");
                let err = ToolError::invalid_request(
                    "Send one JSON object per line: {\"name\": TOOL, \"arguments\": {...}}, or {\"approve\": TICKET} / {\"deny\": TICKET}.",
                );
                self.finish(session, trace, Err(err)).await
            }
        }
    }

    /// [`handle_line`](Self::handle_line) for a line as read from a byte stream.
    ///
    /// A line that is not UTF-8 gets `invalid_request`: decoding it lossily could turn it into
    /// a different, valid call. A host need not hold an endless line in memory to have it
    /// refused: it may stop reading at one byte over
    /// [`Limits::max_request_bytes`](crate::Limits::max_request_bytes) and pass what it has,
    /// which gets `too_large` like the whole line would.
    pub async fn handle_line_bytes(&self, session: &Session, line: &[u8]) -> ToolReply {
        self.handle_bytes(session, line, true).await
    }

    /// [`handle_call_line`](Self::handle_call_line) for a line as read from a byte stream:
    /// the model's text, so approval answers are refused.
    pub async fn handle_call_line_bytes(&self, session: &Session, line: &[u8]) -> ToolReply {
        self.handle_bytes(session, line, false).await
    }

    async fn handle_bytes(&self, session: &Session, line: &[u8], answers: bool) -> ToolReply {
        if line.len() > self.inner.limits.max_request_bytes {
            let mut trace = Trace::new("");
            trace.record_oversized(line.len());
            return self
                .finish(session, trace, Err(self.request_too_large()))
                .await;
        }
        match std::str::from_utf8(line) {
            Ok(text) => self.handle(session, text, answers).await,
            Err(_) => {
                let err =
                    ToolError::invalid_request("The line is not UTF-8 text; send JSON in UTF-8.");
                self.finish(session, Trace::new(""), Err(err)).await
            }
        }
    }

    async fn dispatch_text(
        &self,
        session: &Session,
        name: &str,
        text: &str,
        trace: &mut Trace<'_>,
    ) -> Result<Produced, ToolError> {
        if text.len() > self.inner.limits.max_request_bytes {
            trace.record_oversized(text.len());
            return Err(self.request_too_large());
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

    fn request_too_large(&self) -> ToolError {
        ToolError::too_large(format!(
            "The request is over {} bytes; send less.",
            self.inner.limits.max_request_bytes
        ))
    }

    /// The checks, in order: lookup (unknown and above-role read the same), authentication,
    /// rate limit, arguments, approval gate, handler under its time limit, output cap.
    async fn dispatch(
        &self,
        session: &Session,
        name: &str,
        source: ArgsSource<'_>,
        trace: &mut Trace<'_>,
    ) -> Result<Produced, ToolError> {
        // The tool's secret arguments are known before access is decided, so that even a
        // refused call's arguments are redacted in the audit log.
        if let Some(index) = self.index_of(name) {
            trace.secrets = self.inner.tools[index].tool.secret_fields();
        }
        let index = self.lookup(session, name)?;
        let entry = &self.inner.tools[index];
        trace.tool = ToolName::Known(entry.spec.name);
        if let Some(quota) = entry.spec.rate_limit {
            self.inner
                .limiter
                .check(&session.rate_key(), entry.spec.name, quota)
                .await
                .map_err(RateLimitError::into_tool_error)?;
        }
        let args = entry.tool.parse(source)?;
        trace.arguments = args.audit_json();
        if entry.spec.gate == Gate::HumanApproval {
            let user = session.user_id().unwrap_or("");
            let digest = crate::approval::args_digest(&args.canonical_json());
            let ticket = self.inner.approvals.issue(
                user,
                entry.spec.name,
                digest,
                Pending { tool: index, args },
            );
            trace
                .detail
                .insert("arguments_sha256".into(), Value::from(hex(&digest)));
            return Err(ToolError::approval_required(ticket));
        }
        self.run(entry, session, args, trace).await
    }

    pub(crate) fn index_of(&self, name: &str) -> Option<usize> {
        let names = &self.inner.by_name;
        names
            .binary_search_by(|(n, _)| (*n).cmp(name))
            .ok()
            .map(|at| names[at].1)
    }

    fn lookup(&self, session: &Session, name: &str) -> Result<usize, ToolError> {
        let not_found = || ToolError::not_found("No tool by that name is available.");
        let index = self.index_of(name).ok_or_else(not_found)?;
        let access = &self.inner.tools[index].spec.access;
        if access.allows(session) {
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

    async fn run(
        &self,
        entry: &Entry<S>,
        session: &Session,
        args: Box<dyn ParsedArgs>,
        trace: &mut Trace<'_>,
    ) -> Result<Produced, ToolError> {
        let timeout = entry
            .spec
            .timeout
            .unwrap_or(self.inner.limits.default_timeout);
        let scope = DetailScope::new();
        let fut = entry
            .tool
            .run(&self.inner.state, session, args, entry.spec.max_items);
        let outcome = scope
            .scope(Deadline::new(fut, trace.started.checked_add(timeout)))
            .await;
        trace.detail = scope.take();
        let produced = outcome.ok_or_else(ToolError::timeout)??;
        if produced.result.len() > self.inner.limits.max_output_bytes {
            return Err(ToolError::too_large(
                "The result is too large to return; ask for less (a narrower filter or a smaller limit).",
            ));
        }
        Ok(produced)
    }

    /// The call waiting behind `ticket`, as the audit log shows it (`#[secret]` arguments
    /// redacted), if `session`'s user holds the ticket and it is still valid: what to show the
    /// human who is asked to approve it. Nothing is taken: the ticket stays pending.
    pub fn pending_call(&self, session: &Session, ticket: &str) -> Option<PendingCall> {
        let user = session.user_id()?;
        self.inner
            .approvals
            .peek(ticket, user, |_, pending| PendingCall {
                tool: self.inner.tools[pending.tool].spec.name,
                arguments: pending.args.audit_json(),
            })
    }

    /// Runs the call waiting behind `ticket`, if `session`'s user holds it and it is still valid.
    pub async fn approve(&self, session: &Session, ticket: &str) -> ToolReply {
        let mut trace = Trace::new("");
        let outcome = match self.redeem(session, ticket, &mut trace) {
            Ok((index, args)) => {
                let entry = &self.inner.tools[index];
                let digest = trace.detail.remove("arguments_sha256");
                let outcome = self.run(entry, session, args, &mut trace).await;
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

    /// Drops the call waiting behind `ticket`; nothing runs.
    pub async fn deny(&self, session: &Session, ticket: &str) -> ToolReply {
        let mut trace = Trace::new("");
        let outcome = self.redeem(session, ticket, &mut trace).and_then(|_| {
            trace
                .detail
                .insert("approval".into(), Value::from("denied"));
            Err(ToolError::approval_denied())
        });
        self.finish(session, trace, outcome).await
    }

    fn redeem(
        &self,
        session: &Session,
        ticket: &str,
        trace: &mut Trace<'_>,
    ) -> Result<(usize, Box<dyn ParsedArgs>), ToolError> {
        let Some(user) = session.user_id() else {
            return Err(ToolError::approval_denied());
        };
        let approved = match self.inner.approvals.redeem(ticket, user) {
            Ok(a) => a,
            Err(refused) => {
                trace
                    .detail
                    .insert("refused".into(), Value::from(refused.as_str()));
                return Err(ToolError::approval_denied());
            }
        };
        // The ticket holds the very arguments that were validated and shown; their digest,
        // also in the `approval_required` record, lets the log tie the two records together.
        let Pending { tool, args } = approved.payload;
        let entry = &self.inner.tools[tool];
        trace.tool = ToolName::Known(entry.spec.name);
        trace.arguments = args.audit_json();
        trace.detail.insert(
            "arguments_sha256".into(),
            Value::from(hex(&approved.args_digest)),
        );
        // The role may have been taken away since the ticket was issued.
        if !entry.spec.access.allows(session) {
            return Err(ToolError::approval_denied());
        }
        Ok((tool, args))
    }

    /// Writes the audit record, then returns the reply; a failing sink fails the call closed.
    async fn finish(
        &self,
        session: &Session,
        trace: Trace<'_>,
        outcome: Result<Produced, ToolError>,
    ) -> ToolReply {
        let reply = match outcome {
            Ok(p) => ToolReply::success(p.result, p.capped),
            Err(e) => ToolReply::failure(e),
        };
        let error = reply.error();
        let record = AuditRecord {
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
        match self.inner.audit.record(&record).await {
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

/// How many bytes `value` serialises to, if at most `max`; stops as soon as it is over.
fn json_len_within(value: &Value, max: usize) -> Option<usize> {
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

/// A future stopped at a deadline. Unlike `tokio::time::timeout`, the timer is only armed if the
/// future does not finish on its first poll: most handlers answer at once, and arming a timer
/// costs more than the rest of the dispatch.
struct Deadline<F> {
    fut: F,
    /// `None`: a limit so long the clock cannot express it, which is no limit.
    at: Option<Instant>,
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<F> Deadline<F> {
    fn new(fut: F, at: Option<Instant>) -> Self {
        Deadline {
            fut,
            at,
            timer: None,
        }
    }
}

impl<F: Future + Unpin> Future for Deadline<F> {
    /// `None` when the deadline passed first.
    type Output = Option<F::Output>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if let Poll::Ready(out) = Pin::new(&mut self.fut).poll(cx) {
            return Poll::Ready(Some(out));
        }
        let Some(at) = self.at.map(tokio::time::Instant::from) else {
            return Poll::Pending;
        };
        let timer = self
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(at)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}
