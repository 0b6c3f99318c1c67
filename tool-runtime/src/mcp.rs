//! Serving a toolbox to MCP clients, on the official `rmcp` SDK (feature `mcp`).
//!
//! One server serves one [`Session`]. Who the user is comes from the host that starts the
//! server (its own login, or a launcher it trusts), never from anything the client sends: MCP's
//! `clientInfo` names a program, not a person.
//!
//! - `tools/list` is exactly [`Definitions::mcp`](crate::Definitions::mcp) for that session, so a
//!   tool above the user's role is not listed.
//! - `tools/call` goes through [`Toolbox::call`], the dispatcher every other entry point uses:
//!   lookup, role, rate limit, validation, approval gate, time limit, output cap, audit record.
//!   A success comes back as `structuredContent` (wrapped as
//!   [`export::mcp::structured_content`] says, to match the advertised `outputSchema`) plus a
//!   text copy of it; a refused call as an `isError: true` result whose text is the envelope's
//!   error object. JSON-RPC errors are kept for protocol problems.
//! - A destructive tool's call is put to the human through MCP elicitation when the client
//!   declared that capability: nothing runs unless they accept with `approve: true`. A client
//!   that cannot ask the human gets `approval_required`, and nothing runs.
//!
//! ```no_run
//! use tool_runtime::prelude::*;
//! # #[derive(Role, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
//! # pub enum Role { User, SupportAgent }
//! # /// Check that the service answers.
//! # #[secure_tool(public)]
//! # async fn ping() -> Result<String, ToolError> { Ok("pong".into()) }
//! # fn logged_in_user() -> String { "carol".into() }
//!
//! # async fn host() -> Result<(), Box<dyn std::error::Error>> {
//! let toolbox = Toolbox::builder(()).tool(Ping).build()?;
//! // The host knows who is logged in; the client never says.
//! let session = Session::authenticated(logged_in_user(), Role::SupportAgent);
//! toolbox.serve_stdio(session).await?;
//! # Ok(())
//! # }
//! ```
//!
//! The protocol revisions served are 2025-06-18, 2025-11-25 and 2026-07-28, the client's choice.
//! On 2026-07-28 a server sends no requests of its own: approval is an `InputRequiredResult`
//! whose retry carries a signed, single-use `requestState` (see [`McpServer::with_state_key`]).

use std::borrow::Cow;
use std::fmt::Write as _;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, ElicitRequest,
    ElicitRequestParams, ElicitResult, ElicitationAction, ElicitationSchema, Implementation,
    InputRequest, InputRequests, InputRequiredResult, ListToolsResult, PaginatedRequestParams,
    ProtocolVersion, ServerCapabilities, ServerConfig,
};
use rmcp::service::{
    ElicitationMode, Peer, RequestContext, RoleServer, ServerInitializeError, ServiceExt,
};
use rmcp::transport::IntoTransport;
use rmcp::{ErrorData, ServerHandler};
use serde_json::{Value, json};

pub use rmcp;

mod lines;
mod request_state;

pub use request_state::MIN_STATE_KEY_BYTES;
#[cfg(feature = "http")]
pub(crate) use request_state::StateCodec;

use crate::error::ErrorCode;
use crate::export;
use crate::reply::HostApproval;
use crate::reply::ToolReply;
use crate::session::Session;
use crate::toolbox::Toolbox;

/// The protocol revisions this server speaks, oldest first.
const SUPPORTED: &[ProtocolVersion] = &[
    ProtocolVersion::V_2025_06_18,
    ProtocolVersion::V_2025_11_25,
    ProtocolVersion::V_2026_07_28,
];

/// The first revision where a server asks for input by returning an `InputRequiredResult`
/// (the client retries with the answers) instead of sending requests of its own.
const INPUT_REQUIRED_SINCE: ProtocolVersion = ProtocolVersion::V_2026_07_28;

/// The key of the approval question in `inputRequests` / `inputResponses`.
const APPROVAL_INPUT: &str = "approval";

/// Offered to a client that asks for a revision this server does not speak.
const NEWEST: ProtocolVersion = ProtocolVersion::V_2026_07_28;

/// The boolean the human sets in the approval form.
pub const APPROVE_FIELD: &str = "approve";

/// What the model reads when a destructive call cannot be put to the human.
const CANNOT_ASK: &str = "This action needs a human's approval, and this client cannot ask for it. Nothing has happened; tell the user it cannot be done from here.";

/// Why an MCP server stopped with an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum McpError {
    /// The client never completed the `initialize` handshake: it closed the connection, or sent
    /// something else first.
    #[error("the MCP handshake failed: {0}")]
    Handshake(#[source] Box<ServerInitializeError>),
    /// The server's task ended abnormally.
    #[error("the MCP server stopped abnormally: {0}")]
    Stopped(#[source] tokio::task::JoinError),
}

/// A toolbox served over MCP to one session: an `rmcp` [`ServerHandler`].
///
/// [`Toolbox::serve_stdio`] and [`Toolbox::serve`] are the short way; build one with
/// [`Toolbox::mcp_server`] to name the server, give the client instructions, or hand the
/// handler to an `rmcp` transport yourself.
pub struct McpServer<S> {
    toolbox: Toolbox<S>,
    /// `None`: each request brings its own, authenticated by the HTTP server.
    session: Option<Session>,
    implementation: Implementation,
    instructions: Option<String>,
    states: std::sync::Arc<request_state::StateCodec>,
    #[cfg(feature = "http")]
    served: Option<std::sync::Arc<crate::http::Served>>,
}

impl<S> std::fmt::Debug for McpServer<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("McpServer")
            .field("toolbox", &self.toolbox)
            .field("session", &self.session)
            .field("name", &self.implementation.name)
            .finish_non_exhaustive()
    }
}

impl<S: Send + Sync + 'static> Toolbox<S> {
    /// An MCP server for this toolbox whose every call is made as `session`.
    pub fn mcp_server(&self, session: Session) -> McpServer<S> {
        McpServer::new(self.clone(), session)
    }

    /// Serves the tools `session` may call over standard input and output until the client
    /// closes the connection.
    ///
    /// Standard output carries the protocol: nothing else may write to it while this runs.
    pub async fn serve_stdio(&self, session: Session) -> Result<(), McpError> {
        self.mcp_server(session).serve_stdio().await
    }

    /// Serves the tools `session` may call over any `rmcp` transport (a pair of async streams,
    /// a child process's pipes, ...) until the client closes it.
    pub async fn serve<T, E, A>(&self, session: Session, transport: T) -> Result<(), McpError>
    where
        T: IntoTransport<RoleServer, E, A>,
        E: std::error::Error + Send + Sync + 'static,
    {
        self.mcp_server(session).serve(transport).await
    }
}

impl<S: Send + Sync + 'static> McpServer<S> {
    /// A server for `toolbox` whose every call is made as `session`.
    pub fn new(toolbox: Toolbox<S>, session: Session) -> Self {
        McpServer {
            toolbox,
            session: Some(session),
            implementation: Implementation::new("tool-runtime", env!("CARGO_PKG_VERSION")),
            instructions: None,
            states: std::sync::Arc::new(request_state::StateCodec::random()),
            #[cfg(feature = "http")]
            served: None,
        }
    }

    /// A server whose every request carries its own session, put in the request by the HTTP
    /// server once its bearer token verified.
    #[cfg(feature = "http")]
    pub(crate) fn per_request(
        toolbox: Toolbox<S>,
        served: std::sync::Arc<crate::http::Served>,
        states: std::sync::Arc<request_state::StateCodec>,
    ) -> Self {
        McpServer {
            toolbox,
            session: None,
            implementation: Implementation::new("tool-runtime", env!("CARGO_PKG_VERSION")),
            instructions: None,
            states,
            served: Some(served),
        }
    }

    /// Signs the `requestState` of approvals asked on protocol 2026-07-28 with `key` (at least
    /// [`MIN_STATE_KEY_BYTES`] secret bytes, shared by every instance that may get the retry).
    /// Without it, a random key of the process. `None` when the key is too short.
    pub fn with_state_key(mut self, key: &[u8]) -> Option<Self> {
        self.states = std::sync::Arc::new(request_state::StateCodec::new(key)?);
        Some(self)
    }

    /// The name and version the server gives in `initialize`. Default: `tool-runtime` and this
    /// crate's version.
    pub fn named(mut self, name: impl Into<String>, version: impl Into<String>) -> Self {
        self.implementation = Implementation::new(name, version);
        self
    }

    /// Instructions for the client's model, sent in `initialize`.
    pub fn instructions(mut self, text: impl Into<String>) -> Self {
        self.instructions = Some(text.into());
        self
    }

    /// The session every call is made as; `None` for a server whose requests each bring their
    /// own (over HTTP).
    pub fn session(&self) -> Option<&Session> {
        self.session.as_ref()
    }

    /// The session of one request: the server's own, or the one the HTTP server verified.
    fn session_of(&self, context: &RequestContext<RoleServer>) -> Result<Session, ErrorData> {
        if let Some(session) = &self.session {
            return Ok(session.clone());
        }
        #[cfg(feature = "http")]
        if let Some(session) = context
            .extensions
            .get::<axum::http::request::Parts>()
            .and_then(|parts| parts.extensions.get::<Session>())
        {
            return Ok(session.clone());
        }
        let _ = context;
        Err(ErrorData::invalid_request(
            "the request is not authenticated",
            None,
        ))
    }

    /// Serves over standard input and output until the client closes the connection.
    ///
    /// Each line is checked before it is parsed: one that repeats a key in any object is
    /// answered with JSON-RPC's invalid request and goes no further.
    pub async fn serve_stdio(self) -> Result<(), McpError> {
        let max = self.toolbox.limits().max_request_bytes;
        self.serve(lines::CheckedLines::new(
            tokio::io::stdin(),
            tokio::io::stdout(),
            max,
        ))
        .await
    }

    /// Serves over `transport` until the client closes it.
    pub async fn serve<T, E, A>(self, transport: T) -> Result<(), McpError>
    where
        T: IntoTransport<RoleServer, E, A>,
        E: std::error::Error + Send + Sync + 'static,
    {
        let running = ServiceExt::serve(self, transport)
            .await
            .map_err(|e| McpError::Handshake(Box::new(e)))?;
        match running.waiting().await {
            Ok(rmcp::service::QuitReason::JoinError(e)) | Err(e) => Err(McpError::Stopped(e)),
            Ok(_) => Ok(()),
        }
    }

    /// Runs one `tools/call`, asking the human first when the tool needs their approval.
    async fn call(
        &self,
        session: &Session,
        request: CallToolRequestParams,
        context: &RequestContext<RoleServer>,
    ) -> CallToolResponse {
        let peer = &context.peer;
        let name = request.name;
        // A duplicate key was refused on the raw message, before rmcp parsed it; every other
        // check happens in the dispatcher.
        let arguments = Value::Object(request.arguments.unwrap_or_default());
        let input_required = context
            .protocol_version()
            .is_some_and(|v| v.as_str() >= INPUT_REQUIRED_SINCE.as_str());
        if input_required && let Some(state) = request.request_state {
            let answer = request
                .input_responses
                .as_ref()
                .and_then(|r| r.get(APPROVAL_INPUT))
                .and_then(|v| serde_json::from_value::<ElicitResult>(v.clone()).ok());
            let reply = self
                .answer_state(session, &name, &arguments, &state, answer)
                .await;
            return self.result(&name, &reply).into();
        }
        let reply = self.run_call(session, &name, arguments.clone()).await;
        // The reply's host part is the parked call as the person is to see it: no need to read
        // it back from the approval store, which may be across the network.
        let Some(parked) = reply.host() else {
            return self.result(&name, &reply).into();
        };
        let can_ask = if input_required {
            context
                .client_capabilities()
                .and_then(|c| c.elicitation)
                .is_some_and(|e| e.form.is_some() || e.url.is_none())
        } else {
            peer.supported_elicitation_modes()
                .contains(&ElicitationMode::Form)
        };
        if input_required && can_ask {
            return self
                .input_required(session, &name, &arguments, parked)
                .into();
        }
        if !can_ask {
            // The ticket stays pending until it expires: only the host could redeem it, and a
            // bearer secret the model cannot use has no business in its context.
            let error = json!({"code": ErrorCode::ApprovalRequired, "message": CANNOT_ASK});
            return CallToolResult::error(vec![ContentBlock::text(error.to_string())]).into();
        }
        let reply = self.ask_human(session, peer, parked).await;
        self.result(&name, &reply).into()
    }

    /// Protocol 2026-07-28: the approval question goes back as an `InputRequiredResult`; the
    /// client asks the person and retries the call with the answer and the signed state.
    fn input_required(
        &self,
        session: &Session,
        name: &str,
        arguments: &Value,
        parked: &HostApproval,
    ) -> InputRequiredResult {
        let params = ElicitRequestParams::FormElicitationParams {
            meta: None,
            message: self.approval_message(parked),
            requested_schema: approval_schema(&parked.tool),
        };
        let mut requests = InputRequests::new();
        requests.insert(
            APPROVAL_INPUT.to_owned(),
            InputRequest::Elicitation(ElicitRequest::new(params)),
        );
        let state = self.states.seal(
            session.user_id().unwrap_or(""),
            name,
            arguments,
            self.toolbox.limits().approval_ttl,
            &parked.ticket,
        );
        InputRequiredResult::new(Some(requests), Some(state))
    }

    /// The retry of a 2026-07-28 approval: the call runs only if the state is this server's,
    /// unaltered, unexpired, for this user, tool and arguments, unused, and the person approved.
    async fn answer_state(
        &self,
        session: &Session,
        name: &str,
        arguments: &Value,
        state: &str,
        answer: Option<ElicitResult>,
    ) -> ToolReply {
        let user = session.user_id().unwrap_or("");
        match self.states.open(state, user, name, arguments) {
            Ok(ticket) if answer.as_ref().is_some_and(is_approval) => {
                self.toolbox.approve_as(session, &ticket, name).await
            }
            Ok(ticket) => self.toolbox.deny_as(session, &ticket, name).await,
            Err(refused) => {
                tracing::info!(target: "tool_runtime::mcp", reason = refused.as_str(), "a request state was refused");
                // No ticket to name: denying an unknown one writes the refusal's record.
                self.toolbox.deny_as(session, "", name).await
            }
        }
    }

    /// One dispatch. Over HTTP it runs as a task of its own, so that a client that goes away
    /// or a server that shuts down cannot drop it half way: the call finishes and its record is
    /// written.
    async fn run_call(&self, session: &Session, name: &str, arguments: Value) -> ToolReply {
        #[cfg(feature = "http")]
        if let Some(served) = &self.served {
            return served.call(&self.toolbox, session, name, arguments).await;
        }
        self.toolbox.call(session, name, arguments).await
    }

    /// Puts the parked call to the human, then approves or denies its ticket. Anything but an
    /// explicit yes (a decline, a cancel, a form left unticked, a client that never answers)
    /// denies it.
    async fn ask_human(
        &self,
        session: &Session,
        peer: &Peer<RoleServer>,
        parked: &HostApproval,
    ) -> ToolReply {
        let ticket = parked.ticket.as_str();
        let params = ElicitRequestParams::FormElicitationParams {
            meta: None,
            message: self.approval_message(parked),
            requested_schema: approval_schema(&parked.tool),
        };
        let timeout = Some(self.toolbox.limits().approval_ttl);
        let approved = match peer.create_elicitation_with_timeout(params, timeout).await {
            Ok(answer) => is_approval(&answer),
            Err(e) => {
                tracing::warn!(target: "tool_runtime::mcp", error = %e, "asking the human for approval failed; the call is denied");
                false
            }
        };
        if approved {
            self.toolbox.approve(session, ticket).await
        } else {
            self.toolbox.deny(session, ticket).await
        }
    }

    fn approval_message(&self, call: &HostApproval) -> String {
        let description = self
            .toolbox
            .specs()
            .find(|spec| spec.name == call.tool)
            .map_or("", |spec| spec.description);
        let arguments = serde_json::to_string_pretty(&call.arguments)
            .unwrap_or_else(|_| call.arguments.to_string());
        let mut message = format!("The assistant wants to run `{}`", call.tool);
        if !description.is_empty() {
            let _ = write!(message, " ({})", description.trim());
        }
        let _ = write!(
            message,
            " with these arguments:\n{arguments}\n\nNothing runs unless you approve."
        );
        message
    }

    /// The MCP result of a finished call.
    fn result(&self, name: &str, reply: &ToolReply) -> CallToolResult {
        if let Some(error) = reply.error() {
            let text = serde_json::to_string(error).unwrap_or_else(|_| {
                json!({"code": error.code(), "message": error.message()}).to_string()
            });
            return CallToolResult::error(vec![ContentBlock::text(text)]);
        }
        let output = reply.result().unwrap_or(Value::Null);
        // The call succeeded, so the session may call the tool: no need to filter for it.
        let structured = match self.toolbox.output_schema(name) {
            Some(schema) => export::mcp::structured_content(schema, output),
            None if output.is_object() => output,
            None => json!({ export::mcp::RESULT_KEY: output }),
        };
        let mut result = CallToolResult::structured(structured);
        if let Some(capped) = reply.capped() {
            // `structuredContent` must match the output schema, so the note goes in the text
            // the model reads.
            result.content.push(ContentBlock::text(format!(
                "Only {} of {} items are shown; ask for less (a narrower query) to see the rest.",
                capped.returned, capped.total
            )));
        }
        result
    }
}

/// One required boolean, unticked by default, so approving takes a deliberate act.
fn approval_schema(tool: &str) -> ElicitationSchema {
    ElicitationSchema::builder()
        .required_bool_property(APPROVE_FIELD, |b| {
            b.title("Approve")
                .description(format!("Run `{tool}` with the arguments shown."))
                .with_default(false)
        })
        .build_unchecked()
}

fn is_approval(answer: &ElicitResult) -> bool {
    answer.action == ElicitationAction::Accept
        && answer
            .content
            .as_ref()
            .and_then(|content| content.get(APPROVE_FIELD))
            == Some(&Value::Bool(true))
}

impl<S: Send + Sync + 'static> ServerHandler for McpServer<S> {
    fn get_info(&self) -> ServerConfig {
        let info = ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(self.implementation.clone())
            .with_protocol_version(NEWEST);
        match &self.instructions {
            Some(text) => info.with_instructions(text.clone()),
            None => info,
        }
    }

    fn supported_protocol_versions(&self) -> Cow<'static, [ProtocolVersion]> {
        Cow::Borrowed(SUPPORTED)
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let session = self.session_of(&context)?;
        let tools = self.toolbox.definitions(&session).mcp();
        let tools = serde_json::from_value(tools).map_err(|e| {
            tracing::error!(target: "tool_runtime::mcp", error = %e, "an MCP tool definition does not fit the SDK's model");
            ErrorData::internal_error("the tool list could not be built", None)
        })?;
        Ok(ListToolsResult::with_all_items(tools))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let session = self.session_of(&context)?;
        Ok(self.call(&session, request, &context).await)
    }
}
