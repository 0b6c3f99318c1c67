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
use crate::args::{ArgsSource, duplicate_key_error, find_duplicate_key};
use crate::audit::{AuditRecord, AuditSink, DetailScope, TracingSink};
use crate::erased::{Erased, ErasedTool, ParsedArgs, redact};
use crate::error::ToolError;
use crate::export::{Definitions, ExportError, ToolDefinition, input_schema_of, output_schema_of};
use crate::rate_limit::{InMemoryRateLimiter, RateLimiter};
use crate::reply::ToolReply;
use crate::session::Session;
use crate::tool::{Access, Gate, ToolHandler, ToolSpec};

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
    /// An argument type accepts fields it does not declare, though its schema says it does not.
    #[error(
        "tool `{tool}`: the argument type at `{at}` accepts unknown fields; add #[serde(deny_unknown_fields)] to it, so that a smuggled field is refused rather than ignored"
    )]
    OpenArgumentType {
        /// The tool.
        tool: String,
        /// A JSON pointer into the tool's input schema.
        at: String,
    },
    /// An approval ticket would outlive any human's review.
    #[error("approval_ttl must be at most a day")]
    ApprovalTtlTooLong,
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

/// A tool as registered: its spec, the tool, and its input and output schemas.
type Registered<S> = (ToolSpec, Box<dyn ErasedTool<S>>, Value, Option<Value>);

/// Collects the tools and guards of a [`Toolbox`].
pub struct ToolboxBuilder<S> {
    state: S,
    tools: Vec<Registered<S>>,
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
        if limits.approval_ttl > Duration::from_secs(86_400) {
            return Err(BuildError::ApprovalTtlTooLong);
        }
        let mut by_name = Vec::with_capacity(self.tools.len());
        let mut tools = Vec::with_capacity(self.tools.len());
        let mut definitions = Vec::with_capacity(self.tools.len());
        for (index, (spec, tool, input, output)) in self.tools.into_iter().enumerate() {
            if let Some(at) = open_object(&input, String::new()) {
                return Err(BuildError::OpenArgumentType {
                    tool: spec.name.to_owned(),
                    at,
                });
            }
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

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The most of an unparsed request the audit log keeps verbatim.
const MAX_RAW_AUDIT: usize = 1024;

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
            return self.finish(session, trace, Err(self.request_too_large()));
        }
        if let Some(dup) = find_duplicate_key(line) {
            let err = duplicate_key_error(&dup);
            return self.finish(session, Trace::new(""), Err(err));
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
            let mut trace = Trace::new("");
            trace.record_oversized(line.len());
            return self.finish(session, trace, Err(self.request_too_large()));
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
        trace: &mut Trace<'_>,
    ) -> Result<crate::erased::Produced, ToolError> {
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
    ) -> Result<crate::erased::Produced, ToolError> {
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
            trace
                .detail
                .insert("arguments_sha256".into(), Value::from(hex(&digest)));
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
        self.finish(session, trace, outcome)
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
        self.finish(session, trace, outcome)
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
    fn finish(
        &self,
        session: &Session,
        trace: Trace<'_>,
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
            tool: trace.tool.for_record(),
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

/// The first object schema under `schema` that lists properties but does not refuse others:
/// a type without `deny_unknown_fields`, whose extra fields serde would silently ignore.
fn open_object(schema: &Value, at: String) -> Option<String> {
    let Value::Object(node) = schema else {
        return None;
    };
    let has_properties = node
        .get("properties")
        .and_then(Value::as_object)
        .is_some_and(|p| !p.is_empty());
    if has_properties && node.get("additionalProperties") != Some(&Value::Bool(false)) {
        return Some(if at.is_empty() { "/".to_owned() } else { at });
    }
    for key in ["properties", "$defs", "definitions"] {
        if let Some(Value::Object(children)) = node.get(key) {
            for (name, child) in children {
                if let Some(found) = open_object(child, format!("{at}/{key}/{name}")) {
                    return Some(found);
                }
            }
        }
    }
    for key in ["items", "additionalProperties", "not"] {
        if let Some(child) = node.get(key)
            && let Some(found) = open_object(child, format!("{at}/{key}"))
        {
            return Some(found);
        }
    }
    for key in ["anyOf", "oneOf", "allOf", "prefixItems"] {
        if let Some(Value::Array(children)) = node.get(key) {
            for (i, child) in children.iter().enumerate() {
                if let Some(found) = open_object(child, format!("{at}/{key}/{i}")) {
                    return Some(found);
                }
            }
        }
    }
    None
}
