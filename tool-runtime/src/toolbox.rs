//! The toolbox: the tools of one application, and the dispatcher that runs a model's call
//! through every check.

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime};

use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

use crate::approval::ApprovalStore;
use crate::args::{ArgsSource, find_duplicate_key};
use crate::audit::{AuditRecord, AuditSink, DetailScope, TracingSink};
use crate::erased::{Erased, ErasedTool, ParsedArgs, redact};
use crate::error::ToolError;
use crate::export::{Definitions, ExportError, ToolDefinition, input_schema_of, output_schema_of};
use crate::rate_limit::{InMemoryRateLimiter, RateLimiter};
use crate::reply::ToolReply;
use crate::session::Session;
use crate::tool::{Gate, ToolHandler, ToolSpec};

/// Size and time limits, each with a sound default.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// The largest request (the raw arguments, or the whole line) accepted: 1 MiB.
    pub max_request_bytes: usize,
    /// The largest serialised result returned: 256 KiB.
    pub max_output_bytes: usize,
    /// The time limit of a tool that declares none: 30 s.
    pub default_timeout: Duration,
    /// How long an approval ticket stays valid: 10 minutes.
    pub approval_ttl: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_request_bytes: 1024 * 1024,
            max_output_bytes: 256 * 1024,
            default_timeout: Duration::from_secs(30),
            approval_ttl: Duration::from_secs(600),
        }
    }
}

/// Why [`ToolboxBuilder::build`] refused.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// Two tools share a name, a name is invalid, or a provider cannot represent a schema.
    #[error(transparent)]
    Export(#[from] ExportError),
    /// A limit is zero.
    #[error("limit `{0}` must be more than zero")]
    ZeroLimit(&'static str),
}

/// A call waiting for a human's approval, as [`Toolbox::pending_call`] shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct PendingCall {
    /// The tool's name.
    pub tool: &'static str,
    /// The validated arguments, `#[secret]` ones redacted.
    pub arguments: Value,
}

/// A call waiting for a human's approval.
struct Pending {
    tool: usize,
    args: Box<dyn ParsedArgs>,
}

struct Entry<S> {
    spec: ToolSpec,
    tool: Box<dyn ErasedTool<S>>,
}

struct Inner<S> {
    state: S,
    tools: Vec<Entry<S>>,
    /// Tool names, sorted, with their index: a binary search beats hashing for a few dozen names.
    by_name: Vec<(&'static str, usize)>,
    definitions: Definitions,
    audit: Arc<dyn AuditSink>,
    limiter: Arc<dyn RateLimiter>,
    approvals: ApprovalStore<Pending>,
    limits: Limits,
}

/// The tools of an application and its state. Built once; cheap to clone; `Send + Sync`.
pub struct Toolbox<S> {
    inner: Arc<Inner<S>>,
}

impl<S> Clone for Toolbox<S> {
    fn clone(&self) -> Self {
        Toolbox {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<S> fmt::Debug for Toolbox<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Toolbox")
            .field(
                "tools",
                &self
                    .inner
                    .by_name
                    .iter()
                    .map(|(n, _)| n)
                    .collect::<Vec<_>>(),
            )
            .field("limits", &self.inner.limits)
            .finish()
    }
}

/// Collects the tools and guards of a [`Toolbox`].
pub struct ToolboxBuilder<S> {
    state: S,
    tools: Vec<(ToolSpec, Box<dyn ErasedTool<S>>, Value, Option<Value>)>,
    audit: Arc<dyn AuditSink>,
    limiter: Arc<dyn RateLimiter>,
    limits: Limits,
}

impl<S: Send + Sync + 'static> Toolbox<S> {
    /// Starts a toolbox around the application's state, which tools receive through `State<S>`.
    pub fn builder(state: S) -> ToolboxBuilder<S> {
        ToolboxBuilder {
            state,
            tools: Vec::new(),
            audit: Arc::new(TracingSink),
            limiter: Arc::new(InMemoryRateLimiter::new()),
            limits: Limits::default(),
        }
    }
}

impl<S: Send + Sync + 'static> ToolboxBuilder<S> {
    /// Adds a tool: the type `#[secure_tool]` generated, named after the function in CamelCase.
    pub fn tool<T: ToolHandler<S>>(mut self, tool: T) -> Self {
        let spec = tool.spec();
        let input = input_schema_of::<T::Args>();
        let output = Some(output_schema_of::<T::Output>());
        self.tools
            .push((spec, Box::new(Erased(tool)), input, output));
        self
    }

    /// Where every call's record goes. Default: `tracing` events.
    pub fn audit(mut self, sink: impl AuditSink) -> Self {
        self.audit = Arc::new(sink);
        self
    }

    /// The rate limiter's backend. Default: in memory, per process.
    pub fn rate_limiter(mut self, limiter: impl RateLimiter) -> Self {
        self.limiter = Arc::new(limiter);
        self
    }

    /// Size and time limits.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// The time limit of tools that declare none.
    pub fn default_timeout(mut self, timeout: Duration) -> Self {
        self.limits.default_timeout = timeout;
        self
    }

    /// Builds the toolbox, refusing duplicate or invalid names and zero limits.
    pub fn build(self) -> Result<Toolbox<S>, BuildError> {
        let limits = self.limits;
        for (name, value) in [
            ("max_request_bytes", limits.max_request_bytes as u128),
            ("max_output_bytes", limits.max_output_bytes as u128),
            ("default_timeout", limits.default_timeout.as_millis()),
            ("approval_ttl", limits.approval_ttl.as_millis()),
        ] {
            if value == 0 {
                return Err(BuildError::ZeroLimit(name));
            }
        }
        let mut by_name = Vec::with_capacity(self.tools.len());
        let mut tools = Vec::with_capacity(self.tools.len());
        let mut definitions = Vec::with_capacity(self.tools.len());
        for (index, (spec, tool, input, output)) in self.tools.into_iter().enumerate() {
            definitions.push(ToolDefinition {
                name: spec.name.to_owned(),
                title: None,
                description: spec.description.to_owned(),
                input_schema: input,
                output_schema: output,
                hints: spec.hints,
            });
            by_name.push((spec.name, index));
            tools.push(Entry { spec, tool });
        }
        // Refuses duplicate and invalid names, and schemas some provider cannot represent.
        let definitions = Definitions::new(definitions)?;
        by_name.sort_unstable();
        Ok(Toolbox {
            inner: Arc::new(Inner {
                state: self.state,
                tools,
                by_name,
                definitions,
                audit: self.audit,
                limiter: self.limiter,
                approvals: ApprovalStore::new(limits.approval_ttl),
                limits,
            }),
        })
    }
}

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
struct Trace {
    started: Instant,
    /// The tool's own name once it is known; until then the name the model asked for.
    tool: Cow<'static, str>,
    /// The tool's `#[secret]` arguments, once the tool is known.
    secrets: &'static [&'static str],
    arguments: Value,
    detail: serde_json::Map<String, Value>,
}

impl Trace {
    fn new(requested: &str) -> Self {
        Trace {
            started: Instant::now(),
            tool: Cow::Owned(clip_name(requested)),
            secrets: &[],
            arguments: Value::Null,
            detail: serde_json::Map::new(),
        }
    }
}

impl Trace {
    /// Keeps arguments that never became typed, with the tool's secret ones redacted.
    fn record_raw(&mut self, mut raw: Value) {
        redact(&mut raw, self.secrets);
        self.arguments = raw;
    }
}

/// A tool name as the audit log keeps it: the model chose it, so it is bounded.
fn clip_name(name: &str) -> String {
    name.chars().take(64).collect()
}

impl<S: Send + Sync + 'static> Toolbox<S> {
    /// The application state.
    pub fn state(&self) -> &S {
        &self.inner.state
    }

    /// The limits in force.
    pub fn limits(&self) -> Limits {
        self.inner.limits
    }

    /// The specs of every tool, whoever may call them: for the host, not for the model.
    pub fn specs(&self) -> impl Iterator<Item = &ToolSpec> {
        self.inner.tools.iter().map(|e| &e.spec)
    }

    /// The definitions of the tools `session` may call, to export in a provider's shape.
    pub fn definitions(&self, session: &Session) -> Definitions {
        self.inner.definitions.filtered(|d| {
            self.index_of(&d.name)
                .is_some_and(|i| self.inner.tools[i].spec.access.allows(session))
        })
    }

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
        let outcome = match json_len_within(&args, self.inner.limits.max_request_bytes) {
            true => {
                self.dispatch(session, name, ArgsSource::Value(&args), &mut trace)
                    .await
            }
            false => Err(self.request_too_large()),
        };
        if trace.arguments.is_null() {
            trace.record_raw(args);
        }
        self.finish(session, trace, outcome)
    }

    /// Calls a tool with the raw JSON text of its arguments, as providers send them.
    pub async fn call_json(&self, session: &Session, name: &str, args_json: &str) -> ToolReply {
        let mut trace = Trace::new(name);
        let outcome = self
            .dispatch_text(session, name, args_json, &mut trace)
            .await;
        self.finish(session, trace, outcome)
    }

    /// Handles one line of the host protocol: a tool call `{"name", "arguments"}` (arguments
    /// an object or a string holding one), or an approval answer `{"approve": ticket}` /
    /// `{"deny": ticket}`. Malformed lines get `invalid_request` (or `too_large`).
    pub async fn handle_line(&self, session: &Session, line: &str) -> ToolReply {
        if line.len() > self.inner.limits.max_request_bytes {
            let trace = Trace::new("");
            return self.finish(session, trace, Err(self.request_too_large()));
        }
        if let Some(dup) = find_duplicate_key(line) {
            let trace = Trace::new("");
            let err = ToolError::invalid_request(format!(
                "The key `{}` appears twice in one object; send each key once.",
                dup.chars().take(64).collect::<String>()
            ));
            return self.finish(session, trace, Err(err));
        }
        let parsed = serde_json::from_str::<HostLine<'_>>(line);
        match parsed {
            Ok(HostLine {
                approve: Some(ticket),
                name: None,
                arguments: None,
                deny: None,
            }) => self.approve(session, &ticket).await,
            Ok(HostLine {
                deny: Some(ticket),
                name: None,
                arguments: None,
                approve: None,
            }) => self.deny(session, &ticket).await,
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
                self.finish(session, trace, outcome)
            }
            _ => {
                let trace = Trace::new("");
                let err = ToolError::invalid_request(
                    "Send one JSON object per line: {\"name\": TOOL, \"arguments\": {...}}, or {\"approve\": TICKET} / {\"deny\": TICKET}.",
                );
                self.finish(session, trace, Err(err))
            }
        }
    }

    /// [`handle_line`](Self::handle_line) for a line as read from a byte stream.
    ///
    /// A line that is not UTF-8 gets `invalid_request`: decoding it lossily could turn it into
    /// a different, valid call. A host need not hold an endless line in memory to have it
    /// refused: it may stop reading at one byte over [`Limits::max_request_bytes`] and pass
    /// what it has, which gets `too_large` like the whole line would.
    pub async fn handle_line_bytes(&self, session: &Session, line: &[u8]) -> ToolReply {
        if line.len() > self.inner.limits.max_request_bytes {
            return self.finish(session, Trace::new(""), Err(self.request_too_large()));
        }
        match std::str::from_utf8(line) {
            Ok(text) => self.handle_line(session, text).await,
            Err(_) => {
                let err =
                    ToolError::invalid_request("The line is not UTF-8 text; send JSON in UTF-8.");
                self.finish(session, Trace::new(""), Err(err))
            }
        }
    }

    async fn dispatch_text(
        &self,
        session: &Session,
        name: &str,
        text: &str,
        trace: &mut Trace,
    ) -> Result<crate::erased::Produced, ToolError> {
        if text.len() > self.inner.limits.max_request_bytes {
            return Err(self.request_too_large());
        }
        let text = if text.trim().is_empty() { "{}" } else { text };
        let result = self
            .dispatch(session, name, ArgsSource::Text(text), trace)
            .await;
        if trace.arguments.is_null() {
            // Text that is not JSON is kept in part: enough to investigate, bounded.
            let raw = serde_json::from_str(text)
                .unwrap_or_else(|_| Value::from(text.chars().take(1024).collect::<String>()));
            trace.record_raw(raw);
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
        trace: &mut Trace,
    ) -> Result<crate::erased::Produced, ToolError> {
        let index = self.lookup(session, name)?;
        let entry = &self.inner.tools[index];
        trace.secrets = entry.tool.secret_fields();
        trace.tool = Cow::Borrowed(entry.spec.name);
        if let Some(quota) = entry.spec.rate_limit {
            let user = session.user_id().unwrap_or("");
            self.inner
                .limiter
                .check(user, entry.spec.name, quota)
                .map_err(ToolError::rate_limited)?;
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
            return Err(ToolError::approval_required(ticket));
        }
        self.run(entry, session, args, trace).await
    }

    fn index_of(&self, name: &str) -> Option<usize> {
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
        if !session.is_authenticated() {
            return Err(ToolError::unauthenticated());
        }
        Err(not_found())
    }

    async fn run(
        &self,
        entry: &Entry<S>,
        session: &Session,
        args: Box<dyn ParsedArgs>,
        trace: &mut Trace,
    ) -> Result<crate::erased::Produced, ToolError> {
        let timeout = entry
            .spec
            .timeout
            .unwrap_or(self.inner.limits.default_timeout);
        let scope = DetailScope::new();
        let fut = entry
            .tool
            .run(&self.inner.state, session, args, entry.spec.max_items);
        let outcome = scope
            .scope(Deadline::new(fut, trace.started + timeout))
            .await;
        trace.detail = scope.take();
        let produced = outcome.ok_or_else(ToolError::timeout)??;
        if produced.result.get().len() > self.inner.limits.max_output_bytes {
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
        let outcome = self.redeem(session, ticket, &mut trace);
        let outcome = match outcome {
            Ok((index, args)) => {
                let entry = &self.inner.tools[index];
                self.run(entry, session, args, &mut trace).await
            }
            Err(e) => Err(e),
        };
        trace
            .detail
            .insert("approval".into(), Value::from("approved"));
        self.finish(session, trace, outcome)
    }

    /// Drops the call waiting behind `ticket`; nothing runs.
    pub async fn deny(&self, session: &Session, ticket: &str) -> ToolReply {
        let mut trace = Trace::new("");
        let outcome = self
            .redeem(session, ticket, &mut trace)
            .and_then(|_| Err(ToolError::approval_denied()));
        trace
            .detail
            .insert("approval".into(), Value::from("denied"));
        self.finish(session, trace, outcome)
    }

    fn redeem(
        &self,
        session: &Session,
        ticket: &str,
        trace: &mut Trace,
    ) -> Result<(usize, Box<dyn ParsedArgs>), ToolError> {
        let Some(user) = session.user_id() else {
            return Err(ToolError::approval_denied());
        };
        let approved = match self.inner.approvals.redeem(ticket, user) {
            Ok(a) => a,
            Err(refused) => {
                trace
                    .detail
                    .insert("refused".into(), Value::from(format!("{refused:?}")));
                return Err(ToolError::approval_denied());
            }
        };
        let Pending { tool, args } = approved.payload;
        let entry = &self.inner.tools[tool];
        trace.tool = Cow::Borrowed(entry.spec.name);
        trace.arguments = args.audit_json();
        // The digest binds the ticket to the very arguments that were shown to the human.
        if crate::approval::args_digest(&args.canonical_json()) != approved.args_digest {
            return Err(ToolError::approval_denied());
        }
        // The role may have been taken away since the ticket was issued.
        if !entry.spec.access.allows(session) {
            return Err(ToolError::approval_denied());
        }
        Ok((tool, args))
    }

    /// Writes the audit record, then returns the reply; a failing sink fails the call closed.
    fn finish(
        &self,
        session: &Session,
        trace: Trace,
        outcome: Result<crate::erased::Produced, ToolError>,
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
            tool: trace.tool,
            outcome: Cow::Borrowed(reply.outcome_code()),
            arguments: trace.arguments,
            duration_ms: u64::try_from(trace.started.elapsed().as_millis()).unwrap_or(u64::MAX),
            incident: error.and_then(|e| e.incident()).map(str::to_owned),
            cause: error.and_then(|e| e.cause()).map(|c| c.to_string()),
            detail: trace.detail,
        };
        match self.inner.audit.record(&record) {
            Ok(()) => reply,
            Err(e) => {
                tracing::error!(target: "tool_runtime::audit", error = %e, "audit sink failed; the call is refused");
                ToolReply::failure(ToolError::internal(e))
            }
        }
    }
}

/// Whether `value` serialises to at most `max` bytes, stopping as soon as it does not.
fn json_len_within(value: &Value, max: usize) -> bool {
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
    serde_json::to_writer(&mut Counter { left: max }, value).is_ok()
}

/// A future stopped at a deadline. Unlike `tokio::time::timeout`, the timer is only armed if the
/// future does not finish on its first poll: most handlers answer at once, and arming a timer
/// costs more than the rest of the dispatch.
struct Deadline<F> {
    fut: F,
    at: Instant,
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<F> Deadline<F> {
    fn new(fut: F, at: Instant) -> Self {
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
        let at = self.at.into();
        let timer = self
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(at)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}
