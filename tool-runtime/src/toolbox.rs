//! The toolbox: the tools of one application, their guards and limits, built once. What it does
//! with a call is in `dispatch`.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::approval::ApprovalStore;
use crate::audit::{AuditSink, TracingSink};
use crate::erased::{Erased, ErasedTool, ParsedArgs};
use crate::export::{Definitions, ExportError, ToolDefinition, input_schema_of, output_schema_of};
use crate::rate_limit::{InMemoryRateLimiter, RateLimiter};
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
pub(crate) struct Pending {
    pub(crate) tool: usize,
    pub(crate) args: Box<dyn ParsedArgs>,
}

pub(crate) struct Entry<S> {
    pub(crate) spec: ToolSpec,
    pub(crate) tool: Box<dyn ErasedTool<S>>,
}

pub(crate) struct Inner<S> {
    pub(crate) state: S,
    pub(crate) tools: Vec<Entry<S>>,
    /// Tool names, sorted, with their index: a binary search beats hashing for a few dozen names.
    pub(crate) by_name: Vec<(&'static str, usize)>,
    pub(crate) definitions: Definitions,
    pub(crate) audit: Arc<dyn AuditSink>,
    pub(crate) limiter: Arc<dyn RateLimiter>,
    pub(crate) approvals: ApprovalStore<Pending>,
    pub(crate) limits: Limits,
}

/// The tools of an application and its state. Built once; cheap to clone; `Send + Sync`.
pub struct Toolbox<S> {
    pub(crate) inner: Arc<Inner<S>>,
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
                .is_some_and(|i| self.permits(i, session))
        })
    }

    /// Whether `session`'s role and scopes both allow the tool at `index`.
    pub(crate) fn permits(&self, index: usize, session: &Session) -> bool {
        let spec = &self.inner.tools[index].spec;
        spec.access.allows(session) && session.scope_allows(spec.hints.read_only)
    }

    /// Whether `session`'s role allows the tool `name` but its token's scopes do not: the
    /// caller may step up to a token with more scopes. `false` for a tool that does not exist or
    /// is above the role, so the answer tells nothing the tool list does not.
    pub fn needs_more_scope(&self, session: &Session, name: &str) -> bool {
        self.index_of(name).is_some_and(|i| {
            let spec = &self.inner.tools[i].spec;
            spec.access.allows(session) && !session.scope_allows(spec.hints.read_only)
        })
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
