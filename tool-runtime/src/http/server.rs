//! The HTTP server: the routes, the checks every request passes before the toolbox sees it,
//! and a shutdown that lets calls in flight finish.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use http_body_util::{BodyExt, Limited};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::auth::Authenticator;
use super::guards::{Origins, Refusal, Sites};
use super::listener::LimitedListener;
use super::metrics::{Metrics, Refused};
use crate::args::find_duplicate_key;
use crate::error::ToolError;
use crate::mcp::McpServer;
use crate::reply::ToolReply;
use crate::session::{Scope, Session};
use crate::toolbox::Toolbox;

/// How the server is reached and what it accepts.
#[derive(Clone, Debug)]
pub struct HttpConfig {
    /// The server's canonical URL, such as `https://tools.example.com/mcp`: the audience tokens
    /// must name (RFC 8707) and the `resource` of its metadata.
    pub audience: String,
    /// The authorization server that issues tokens for it, listed in its metadata.
    pub issuer: String,
    /// `Origin` values a browser-based client may send; any other present `Origin` gets 403.
    pub allowed_origins: Vec<String>,
    /// The largest request body, refused with 413 before it is parsed. Default 1 MiB.
    pub max_body_bytes: usize,
    /// Connections served at once; one more waits to be accepted. Default 1024.
    pub max_connections: usize,
    /// Calls one user may have running at once; one more is refused. Default 16.
    pub max_calls_per_user: usize,
}

impl HttpConfig {
    /// A server for `audience` whose tokens come from `issuer`, with the default limits.
    pub fn new(audience: impl Into<String>, issuer: impl Into<String>) -> Self {
        HttpConfig {
            audience: audience.into(),
            issuer: issuer.into(),
            allowed_origins: Vec::new(),
            max_body_bytes: 1 << 20,
            max_connections: 1024,
            max_calls_per_user: 16,
        }
    }
}

/// What every request of one server shares: counters, calls in flight, per-user limits.
pub(crate) struct Served {
    metrics: Metrics,
    tracker: TaskTracker,
    max_calls_per_user: usize,
    per_user: Mutex<HashMap<String, Arc<Semaphore>>>,
}

impl Served {
    /// Runs one call as a task of its own (so that nothing can drop it half way), at most
    /// `max_calls_per_user` of one user's at once.
    pub(crate) async fn call<S: Send + Sync + 'static>(
        &self,
        toolbox: &Toolbox<S>,
        session: &Session,
        name: &str,
        arguments: Value,
    ) -> ToolReply {
        let started = Instant::now();
        let key = session.rate_key().into_owned();
        let permits = {
            let mut map = self.per_user.lock().unwrap_or_else(|p| p.into_inner());
            // Users with nothing running are forgotten, so the map holds only busy users.
            map.retain(|_, s| s.available_permits() < self.max_calls_per_user);
            Arc::clone(
                map.entry(key)
                    .or_insert_with(|| Arc::new(Semaphore::new(self.max_calls_per_user))),
            )
        };
        let Ok(permit) = permits.try_acquire_owned() else {
            self.metrics.refused(Refused::Busy);
            let busy = ToolError::rate_limited(std::time::Duration::from_secs(1));
            return toolbox.refuse(session, name, arguments, busy).await;
        };
        let task = {
            let toolbox = toolbox.clone();
            let session = session.clone();
            let name = name.to_owned();
            self.tracker.spawn(async move {
                let reply = toolbox.call(&session, &name, arguments).await;
                drop(permit);
                reply
            })
        };
        let reply = task
            .await
            .unwrap_or_else(|e| ToolReply::failure(ToolError::internal(e)));
        let tool = if toolbox.index_of(name).is_some() {
            name
        } else {
            "unknown"
        };
        self.metrics
            .call(tool, reply.outcome_code(), started.elapsed());
        reply
    }
}

/// A toolbox served over MCP's Streamable HTTP transport, each request authenticated by a
/// bearer token.
pub struct HttpServer<S> {
    toolbox: Toolbox<S>,
    authenticator: Arc<dyn Authenticator>,
    config: HttpConfig,
    served: Arc<Served>,
    name: (String, String),
    instructions: Option<String>,
    states: Arc<crate::mcp::StateCodec>,
}

impl<S> std::fmt::Debug for HttpServer<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpServer")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// What each request handler needs.
struct Shared<S> {
    toolbox: Toolbox<S>,
    authenticator: Arc<dyn Authenticator>,
    served: Arc<Served>,
    mcp: StreamableHttpService<McpServer<S>, LocalSessionManager>,
    sites: Sites,
    origins: Origins,
    max_body_bytes: usize,
    metadata: Value,
    metadata_url: String,
    health: HealthCache,
}

/// The last answer of the stores' health check, reused for a second: `/healthz` needs no token,
/// and must not let anyone turn it into a stream of probes at Redis or PostgreSQL. Checks
/// arriving together wait for one probe.
struct HealthCache(tokio::sync::Mutex<Option<(std::time::Instant, bool)>>);

impl HealthCache {
    const FRESH: std::time::Duration = std::time::Duration::from_secs(1);

    async fn healthy<S: Send + Sync + 'static>(&self, toolbox: &Toolbox<S>) -> bool {
        let mut last = self.0.lock().await;
        if let Some((at, healthy)) = *last
            && at.elapsed() < Self::FRESH
        {
            return healthy;
        }
        let healthy = match toolbox.health().await {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(target: "tool_runtime::http", error = %e, "health check failed");
                false
            }
        };
        *last = Some((std::time::Instant::now(), healthy));
        healthy
    }
}

impl<S: Send + Sync + 'static> HttpServer<S> {
    /// A server for `toolbox`, its tokens checked by `authenticator`.
    pub fn new(toolbox: Toolbox<S>, authenticator: impl Authenticator, config: HttpConfig) -> Self {
        let served = Arc::new(Served {
            metrics: Metrics::new(),
            tracker: TaskTracker::new(),
            max_calls_per_user: config.max_calls_per_user.max(1),
            per_user: Mutex::new(HashMap::new()),
        });
        HttpServer {
            toolbox,
            authenticator: Arc::new(authenticator),
            config,
            served,
            name: ("tool-runtime".into(), env!("CARGO_PKG_VERSION").into()),
            instructions: None,
            states: Arc::new(crate::mcp::StateCodec::random()),
        }
    }

    /// Signs approval `requestState`s (protocol 2026-07-28) with `key`, at least 32 secret bytes
    /// shared by every instance; without it, a random key of the process. `None` when the key
    /// is too short.
    pub fn with_state_key(mut self, key: &[u8]) -> Option<Self> {
        self.states = Arc::new(crate::mcp::StateCodec::new(key)?);
        Some(self)
    }

    /// The name and version the server gives in `initialize`.
    pub fn named(mut self, name: impl Into<String>, version: impl Into<String>) -> Self {
        self.name = (name.into(), version.into());
        self
    }

    /// Instructions for the client's model, sent in `initialize`.
    pub fn instructions(mut self, text: impl Into<String>) -> Self {
        self.instructions = Some(text.into());
        self
    }

    /// The server's counters, as `/metrics` shows them.
    pub fn metrics_text(&self) -> String {
        self.served.metrics.render()
    }

    /// The routes, for a server listening on `local`: `/mcp`, the protected resource
    /// metadata, `/healthz` and `/metrics`. `stop` ends the MCP sessions' streams.
    pub fn router(&self, local: SocketAddr, stop: CancellationToken) -> Router {
        let factory = {
            let toolbox = self.toolbox.clone();
            let served = Arc::clone(&self.served);
            let (name, version) = self.name.clone();
            let instructions = self.instructions.clone();
            let states = Arc::clone(&self.states);
            move || {
                let server = McpServer::per_request(
                    toolbox.clone(),
                    Arc::clone(&served),
                    Arc::clone(&states),
                )
                .named(name.clone(), version.clone());
                Ok(match &instructions {
                    Some(text) => server.instructions(text.clone()),
                    None => server,
                })
            }
        };
        // Host, Origin and body size are checked here, before rmcp sees the request.
        let config = StreamableHttpServerConfig::default()
            .disable_allowed_hosts()
            .disable_allowed_origins()
            .with_max_request_body_bytes(self.config.max_body_bytes)
            .with_cancellation_token(stop);
        let mcp =
            StreamableHttpService::new(factory, Arc::new(LocalSessionManager::default()), config);
        let metadata_url = metadata_url(&self.config.audience);
        let shared = Arc::new(Shared {
            toolbox: self.toolbox.clone(),
            authenticator: Arc::clone(&self.authenticator),
            served: Arc::clone(&self.served),
            mcp,
            sites: Sites::new(local, &self.config.audience),
            origins: Origins::new(&self.config.allowed_origins),
            max_body_bytes: self.config.max_body_bytes,
            metadata: json!({
                "resource": self.config.audience,
                "authorization_servers": [self.config.issuer],
                "scopes_supported": Scope::ALL.map(Scope::as_str),
                "bearer_methods_supported": ["header"],
            }),
            metadata_url,
            health: HealthCache(tokio::sync::Mutex::new(None)),
        });
        Router::new()
            .route("/mcp", any(mcp_route::<S>))
            .route("/.well-known/oauth-protected-resource", get(metadata::<S>))
            .route(
                "/.well-known/oauth-protected-resource/mcp",
                get(metadata::<S>),
            )
            .route("/healthz", get(healthz::<S>))
            .route("/metrics", get(metrics::<S>))
            .with_state(shared)
    }

    /// Serves on `listener` until `shutdown` completes; then accepts no more connections, lets
    /// the calls in flight finish (their audit records written), ends the MCP streams, and
    /// returns.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> io::Result<()> {
        let local = listener.local_addr()?;
        let stop = CancellationToken::new();
        let router = self.router(local, stop.clone());
        let tracker = self.served.tracker.clone();
        let listener = LimitedListener::new(listener, self.config.max_connections);
        let drained = {
            let tracker = tracker.clone();
            async move {
                shutdown.await;
                tracker.close();
                tracker.wait().await;
                stop.cancel();
            }
        };
        axum::serve(listener, router)
            .with_graceful_shutdown(drained)
            .await?;
        // A call that arrived while the streams were closing still finishes.
        tracker.close();
        tracker.wait().await;
        Ok(())
    }
}

/// RFC 9728: the metadata of `https://host/mcp` is at `https://host/.well-known/oauth-protected-resource/mcp`.
fn metadata_url(audience: &str) -> String {
    match audience.parse::<axum::http::Uri>() {
        Ok(uri) => {
            let scheme = uri.scheme_str().unwrap_or("http");
            let authority = uri.authority().map_or("", |a| a.as_str());
            let path = uri.path().trim_end_matches('/');
            format!("{scheme}://{authority}/.well-known/oauth-protected-resource{path}")
        }
        Err(_) => format!(
            "{}/.well-known/oauth-protected-resource",
            audience.trim_end_matches('/')
        ),
    }
}

type Shared_<S> = State<Arc<Shared<S>>>;

impl<S: Send + Sync + 'static> Shared<S> {
    fn refuse(&self, refusal: Refusal) -> Response {
        self.served.metrics.refused(refusal.counted_as());
        refusal.into_response(&self.metadata_url)
    }

    /// The checks every request passes: Host, then Origin.
    fn check_site(&self, headers: &HeaderMap) -> Result<(), Refusal> {
        if !self.sites.allows(headers.get(header::HOST)) {
            return Err(Refusal::WrongHost);
        }
        if !self.origins.allows(headers.get(header::ORIGIN)) {
            return Err(Refusal::ForeignOrigin);
        }
        Ok(())
    }

    async fn authenticate(&self, headers: &HeaderMap) -> Result<Session, Refusal> {
        let Some(value) = headers.get(header::AUTHORIZATION) else {
            return Err(Refusal::NoToken);
        };
        let token = value
            .to_str()
            .ok()
            .and_then(|v| {
                let (scheme, token) = v.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
            })
            .filter(|t| !t.is_empty())
            .ok_or(Refusal::BadToken)?;
        match self.authenticator.authenticate(token).await {
            Ok(session) => Ok(session),
            Err(why) => {
                // The reason, never the token.
                tracing::info!(target: "tool_runtime::http", reason = %why, "bearer token refused");
                Err(Refusal::BadToken)
            }
        }
    }
}

async fn mcp_route<S: Send + Sync + 'static>(
    State(shared): Shared_<S>,
    request: Request,
) -> Response {
    let (mut parts, body) = request.into_parts();
    if let Err(refusal) = shared.check_site(&parts.headers) {
        return shared.refuse(refusal);
    }
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > shared.max_body_bytes as u64) {
        return shared.refuse(Refusal::TooLarge);
    }
    let session = match shared.authenticate(&parts.headers).await {
        Ok(session) => session,
        Err(refusal) => return shared.refuse(refusal),
    };
    let bytes: Bytes = match Limited::new(body, shared.max_body_bytes).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => return shared.refuse(Refusal::TooLarge),
    };
    if let Ok(text) = std::str::from_utf8(&bytes) {
        if let Some(key) = find_duplicate_key(text) {
            shared.served.metrics.refused(Refused::DuplicateKey);
            return duplicate_key(&key);
        }
        if let Some(tool) = called_tool(text)
            && shared.toolbox.needs_more_scope(&session, &tool)
        {
            return shared.refuse(Refusal::InsufficientScope);
        }
    }
    parts.extensions.insert(session);
    let response = shared
        .mcp
        .handle(Request::from_parts(parts, Body::from(bytes)))
        .await;
    response.map(Body::new)
}

/// The tool a `tools/call` message names (a batch is not a thing MCP sends).
fn called_tool(text: &str) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Message {
        method: Option<String>,
        params: Option<Params>,
    }
    #[derive(serde::Deserialize)]
    struct Params {
        name: Option<String>,
    }
    let message: Message = serde_json::from_str(text).ok()?;
    (message.method.as_deref() == Some("tools/call"))
        .then_some(message.params?.name)
        .flatten()
}

/// JSON-RPC's invalid request, with no id: with a repeated key, even the id is in doubt.
fn duplicate_key(key: &str) -> Response {
    let shown: String = key.chars().take(64).collect();
    let body = json!({
        "jsonrpc": "2.0",
        "id": null,
        "error": {
            "code": -32600,
            "message": format!("The message repeats the key `{shown}`; send each key once."),
        },
    });
    (
        StatusCode::BAD_REQUEST,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body.to_string(),
    )
        .into_response()
}

async fn metadata<S: Send + Sync + 'static>(
    State(shared): Shared_<S>,
    headers: HeaderMap,
) -> Response {
    if let Err(refusal) = shared.check_site(&headers) {
        return shared.refuse(refusal);
    }
    axum::Json(shared.metadata.clone()).into_response()
}

async fn healthz<S: Send + Sync + 'static>(
    State(shared): Shared_<S>,
    headers: HeaderMap,
) -> Response {
    if let Err(refusal) = shared.check_site(&headers) {
        return shared.refuse(refusal);
    }
    // A store this server needs (the audit log, shared limits or approvals) is down: calls
    // fail closed meanwhile, and a load balancer should send them elsewhere.
    if !shared.health.healthy(&shared.toolbox).await {
        return (StatusCode::SERVICE_UNAVAILABLE, "unavailable").into_response();
    }
    (StatusCode::OK, "ok").into_response()
}

async fn metrics<S: Send + Sync + 'static>(
    State(shared): Shared_<S>,
    headers: HeaderMap,
) -> Response {
    if let Err(refusal) = shared.check_site(&headers) {
        return shared.refuse(refusal);
    }
    if let Err(refusal) = shared.authenticate(&headers).await {
        return shared.refuse(refusal);
    }
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        shared.served.metrics.render(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::metadata_url;

    #[test]
    fn the_metadata_url_is_the_resource_path_under_the_well_known_prefix() {
        assert_eq!(
            metadata_url("http://127.0.0.1:8080/mcp"),
            "http://127.0.0.1:8080/.well-known/oauth-protected-resource/mcp"
        );
        assert_eq!(
            metadata_url("https://tools.example.com"),
            "https://tools.example.com/.well-known/oauth-protected-resource"
        );
    }

    #[test]
    fn challenges_are_exactly_as_the_contract_writes_them() {
        let url = "http://h/.well-known/oauth-protected-resource/mcp";
        assert_eq!(
            super::super::guards::challenge(None, url),
            r#"Bearer resource_metadata="http://h/.well-known/oauth-protected-resource/mcp""#
        );
    }
}
