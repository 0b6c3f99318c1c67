//! The toolbox: the tools of one application, their guards and limits, built once. What it does
//! with a call is in `call`.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::approval::{ApprovalStore, InMemoryApprovals};
use crate::audit::{AuditSink, TracingSink};
use crate::erased::{Erased, ErasedTool};
use crate::export::{Definitions, ExportError, ToolDefinition, input_schema_of, output_schema_of};
use crate::rate_limit::{InMemoryRateLimiter, RateLimiter};
use crate::schema_rules::{self, Rule};
use crate::session::Session;
use crate::tool::{ToolHandler, ToolSpec};

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
    /// How many refused calls (unknown tool, bad arguments, malformed line...) one caller may
    /// make in a minute: 60. Past it, refusals are answered `rate_limited` and recorded without
    /// their arguments, so that refused calls cannot fill the audit log at will.
    pub refusals_per_minute: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_request_bytes: 1024 * 1024,
            max_output_bytes: 256 * 1024,
            default_timeout: Duration::from_secs(30),
            approval_ttl: Duration::from_secs(600),
            refusals_per_minute: 60,
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
    /// A string or list in the arguments has no upper bound, at any depth: in a struct
    /// argument's field, an enum's variant or a list's items.
    #[error(
        "tool `{tool}`: the {what} at `{at}` has no upper bound, so the model could send megabytes; give it `#[validate(length(max = N))]` (for list items, `BoundedString<N>`), or make it an enum"
    )]
    UnboundedArgument {
        /// The tool.
        tool: String,
        /// A JSON pointer into the tool's input schema.
        at: String,
        /// `string` or `list`.
        what: &'static str,
    },
    /// A `pattern` that the exported schema and the runtime would read differently.
    #[error("tool `{tool}`: at `{at}`, {why}")]
    PatternDialect {
        /// The tool.
        tool: String,
        /// A JSON pointer into the tool's input schema.
        at: String,
        /// What differs, and what to write instead.
        why: String,
    },
    /// An approval ticket would outlive any human's review.
    #[error("approval_ttl must be at most a day")]
    ApprovalTtlTooLong,
}

impl BuildError {
    fn from_violation(tool: &str, violation: schema_rules::Violation) -> Self {
        let tool = tool.to_owned();
        let at = violation.at;
        match violation.rule {
            Rule::OpenObject => BuildError::OpenArgumentType { tool, at },
            Rule::UnboundedString => BuildError::UnboundedArgument {
                tool,
                at,
                what: "string",
            },
            Rule::UnboundedList => BuildError::UnboundedArgument {
                tool,
                at,
                what: "list",
            },
            Rule::Pattern(why) => BuildError::PatternDialect { tool, at, why },
        }
    }
}

/// A call waiting for a human's approval, as [`Toolbox::pending_call`] shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct PendingCall {
    /// The tool's name.
    pub tool: &'static str,
    /// The validated arguments, `#[secret]` ones redacted.
    pub arguments: Value,
}

pub(crate) struct Entry<S> {
    pub(crate) spec: ToolSpec,
    pub(crate) tool: Box<dyn ErasedTool<S>>,
}

struct Inner<S> {
    state: S,
    tools: Vec<Entry<S>>,
    /// Tool names, sorted, with their index: a binary search beats hashing for a few dozen names.
    by_name: Vec<(&'static str, usize)>,
    definitions: Definitions,
    audit: Arc<dyn AuditSink>,
    limiter: Arc<dyn RateLimiter>,
    approvals: Arc<dyn ApprovalStore>,
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
    approvals: Arc<dyn ApprovalStore>,
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
            approvals: Arc::new(InMemoryApprovals::new()),
            limits: Limits::default(),
        }
    }
}

impl<S: Send + Sync + 'static> ToolboxBuilder<S> {
    /// Adds a tool: the type `#[secure_tool]` generated, named after the function in CamelCase.
    pub fn tool<T: ToolHandler<S>>(self, tool: T) -> Self {
        let spec = tool.spec();
        self.register((
            spec,
            Box::new(Erased(tool)),
            input_schema_of::<T::Args>(),
            Some(output_schema_of::<T::Output>()),
        ))
    }

    fn register(mut self, tool: Registered<S>) -> Self {
        self.tools.push(tool);
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

    /// Where calls wait for a person's approval. Default: in memory, per process; instances
    /// that share users share one store (`RedisApprovals`), so that a call parked on one is
    /// approved on any other, once.
    pub fn approvals(mut self, store: impl ApprovalStore) -> Self {
        self.approvals = Arc::new(store);
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

    /// Builds the toolbox, refusing duplicate or invalid names, zero limits, and argument
    /// schemas that break a rule (an open object, an unbounded string or list at any depth, a
    /// pattern the two regex dialects read differently).
    pub fn build(self) -> Result<Toolbox<S>, BuildError> {
        let limits = self.limits;
        for (name, value) in [
            ("max_request_bytes", limits.max_request_bytes as u128),
            ("max_output_bytes", limits.max_output_bytes as u128),
            ("default_timeout", limits.default_timeout.as_millis()),
            ("approval_ttl", limits.approval_ttl.as_millis()),
            (
                "refusals_per_minute",
                u128::from(limits.refusals_per_minute),
            ),
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
            if let Some(violation) = schema_rules::check(&input) {
                return Err(BuildError::from_violation(spec.name, violation));
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
                approvals: self.approvals,
                limits,
            }),
        })
    }
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

    /// The tool registered under `name`.
    pub(crate) fn index_of(&self, name: &str) -> Option<usize> {
        let names = &self.inner.by_name;
        names
            .binary_search_by(|(n, _)| (*n).cmp(name))
            .ok()
            .map(|at| names[at].1)
    }

    /// The tool at `index`, as [`index_of`](Self::index_of) found it.
    pub(crate) fn entry(&self, index: usize) -> &Entry<S> {
        &self.inner.tools[index]
    }

    pub(crate) fn approvals(&self) -> &dyn ApprovalStore {
        &*self.inner.approvals
    }

    /// Whether every store the toolbox writes to (audit sink, rate limiter, approval store)
    /// answers now; the first that does not, otherwise. For a health check: a toolbox on
    /// in-memory and local stores is always healthy.
    pub async fn health(&self) -> Result<(), crate::store::StoreUnreachable> {
        let (audit, limiter, approvals) = tokio::join!(
            self.inner.audit.health(),
            self.inner.limiter.health(),
            self.inner.approvals.health()
        );
        audit.and(limiter).and(approvals)
    }

    pub(crate) fn audit_sink(&self) -> &dyn AuditSink {
        &*self.inner.audit
    }

    pub(crate) fn limiter(&self) -> &dyn RateLimiter {
        &*self.inner.limiter
    }

    /// The definitions of the tools `session` may call, to export in a provider's shape.
    pub fn definitions(&self, session: &Session) -> Definitions {
        self.inner.definitions.filtered(|d| {
            self.index_of(&d.name)
                .is_some_and(|i| self.permits(i, session))
        })
    }

    /// The output schema of the tool `name`, whoever may call it: for a reply already made,
    /// without filtering (and copying) the definitions for a session.
    #[cfg_attr(not(feature = "mcp"), allow(dead_code))]
    pub(crate) fn output_schema(&self, name: &str) -> Option<&Value> {
        self.inner.definitions.get(name)?.output_schema.as_ref()
    }

    /// Whether `session`'s role and scopes both allow the tool at `index`.
    pub(crate) fn permits(&self, index: usize, session: &Session) -> bool {
        let spec = &self.entry(index).spec;
        spec.access.allows(session) && session.scope_allows(spec.hints.read_only)
    }

    /// Whether `session`'s role allows the tool `name` but its token's scopes do not: the
    /// caller may step up to a token with more scopes. `false` for a tool that does not exist or
    /// is above the role, so the answer tells nothing the tool list does not.
    pub fn needs_more_scope(&self, session: &Session, name: &str) -> bool {
        self.index_of(name).is_some_and(|i| {
            let spec = &self.entry(i).spec;
            spec.access.allows(session) && !session.scope_allows(spec.hints.read_only)
        })
    }
}
