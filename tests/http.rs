//! MCP over Streamable HTTP end to end: rmcp's own client and plain HTTP requests against the
//! fixture toolbox served on a loopback socket, with tokens minted here as an authorization
//! server would, and every refusal of the serving contract checked with its status and header.

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rmcp::model::{
    CallToolRequestParams, CallToolResult, ClientCapabilities, ClientConfig, Implementation,
    ProtocolVersion,
};
use rmcp::service::{RoleClient, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{ClientHandler, ServiceExt};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tool_runtime::audit::{AuditError, AuditRecord, AuditSink, MemorySink};
use tool_runtime::http::{HttpConfig, HttpServer, JwksSource, JwtAuthenticator};
use tool_runtime::prelude::*;
use tool_runtime::{StoreFuture, StoreUnreachable};
use tool_tests::{App, Role, toolbox_with};

#[path = "common/issuer.rs"]
mod issuer;
use issuer::Issuer;

const ISSUER: &str = "https://auth.example.test";
const KID: &str = "test-key-1";
const LIMIT: Duration = Duration::from_secs(30);

/// A tool that takes a while, for calls that are in flight when the server stops.
#[secure_tool(role = "user", timeout = "10s")]
async fn unhurried() -> Result<bool, ToolError> {
    tokio::time::sleep(Duration::from_millis(600)).await;
    Ok(true)
}

/// An audit log that can be taken down and brought back, as a database can.
struct Switchable {
    log: MemorySink,
    down: Arc<AtomicBool>,
}

impl AuditSink for Switchable {
    fn record<'a>(&'a self, record: &'a AuditRecord) -> StoreFuture<'a, Result<(), AuditError>> {
        if self.down.load(Ordering::SeqCst) {
            return StoreFuture::ready(Err(AuditError::other("the log is down")));
        }
        self.log.record(record)
    }

    fn health(&self) -> StoreFuture<'_, Result<(), StoreUnreachable>> {
        let down = self.down.load(Ordering::SeqCst);
        StoreFuture::ready(if down {
            Err(StoreUnreachable::new("the log", "down"))
        } else {
            Ok(())
        })
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A server on a loopback port, its audit log, and what a client needs to reach it.
struct Served {
    addr: SocketAddr,
    audience: String,
    issuer: Issuer,
    audit: MemorySink,
    /// Set, the audit log is "down": records fail, and its health check says so.
    down: Arc<AtomicBool>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    done: tokio::task::JoinHandle<std::io::Result<()>>,
    _dir: tempfile::TempDir,
}

impl Served {
    async fn start() -> Served {
        Served::start_with(tool_runtime::Limits::default()).await
    }

    async fn start_with(limits: tool_runtime::Limits) -> Served {
        Served::start_configured(limits, HttpConfig::new("", "").max_calls_per_user).await
    }

    async fn start_configured(limits: tool_runtime::Limits, max_calls_per_user: usize) -> Served {
        let dir = tempfile::tempdir().unwrap();
        let issuer = Issuer::new(7, KID);
        let jwks = dir.path().join("jwks.json");
        std::fs::write(&jwks, issuer.jwks().to_string()).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let audience = format!("http://{addr}/mcp");
        let audit = MemorySink::new();
        let down = Arc::new(AtomicBool::new(false));
        let sink = Switchable {
            log: audit.clone(),
            down: Arc::clone(&down),
        };
        let toolbox = toolbox_with(App::seeded(), |b| {
            b.audit(sink).tool(Unhurried).limits(limits)
        });
        let authenticator = jwt(&jwks, &audience).await;
        let mut config = HttpConfig::new(audience.clone(), ISSUER);
        config.allowed_origins = vec!["https://app.example.test".into()];
        config.max_calls_per_user = max_calls_per_user;
        let server = HttpServer::new(toolbox, authenticator, config);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let done = tokio::spawn(server.serve(listener, async move {
            let _ = stopped.await;
        }));
        Served {
            addr,
            audience,
            issuer,
            audit,
            down,
            stop: Some(stop),
            done,
            _dir: dir,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn metadata_url(&self) -> String {
        self.url("/.well-known/oauth-protected-resource/mcp")
    }

    fn claims(&self, user: &str) -> Value {
        json!({
            "sub": user, "iss": ISSUER, "aud": self.audience, "iat": now(), "exp": now() + 600,
            "scope": "tools:read tools:write", "jti": format!("jti-{user}"),
        })
    }

    fn token(&self, user: &str) -> String {
        self.issuer.sign(&self.claims(user))
    }

    fn token_with(&self, user: &str, change: impl FnOnce(&mut Value)) -> String {
        let mut claims = self.claims(user);
        change(&mut claims);
        self.issuer.sign(&claims)
    }

    async fn stop(mut self) -> Vec<tool_runtime::AuditRecord> {
        let _ = self.stop.take().unwrap().send(());
        tokio::time::timeout(LIMIT, &mut self.done)
            .await
            .expect("the server stops in time")
            .unwrap()
            .unwrap();
        self.audit.records()
    }
}

/// The application's users: the role comes from here, never from the token.
async fn jwt(jwks: &Path, audience: &str) -> JwtAuthenticator {
    JwtAuthenticator::new(
        JwksSource::File(jwks.to_path_buf()),
        ISSUER,
        audience,
        |subject| match subject {
            "alice" => Some(Session::authenticated("alice", Role::User)),
            "carol" => Some(Session::authenticated("carol", Role::SupportAgent)),
            "dave" => Some(Session::authenticated("dave", Role::Admin)),
            "dan" => Some(Session::authenticated("dan", Role::Admin)),
            _ => None,
        },
    )
    .await
    .unwrap()
}

#[derive(Clone)]
struct Client {
    protocol: ProtocolVersion,
    /// Whether a person is there to approve (and does).
    approves: bool,
}

impl ClientHandler for Client {
    fn get_info(&self) -> ClientConfig {
        let capabilities = if self.approves {
            ClientCapabilities::builder().enable_elicitation().build()
        } else {
            ClientCapabilities::default()
        };
        ClientConfig::new(capabilities, Implementation::new("http-test-client", "1.0"))
            .with_protocol_version(self.protocol.clone())
    }

    async fn create_elicitation(
        &self,
        _request: rmcp::model::ElicitRequestParams,
        _context: rmcp::service::RequestContext<RoleClient>,
    ) -> Result<rmcp::model::ElicitResult, rmcp::ErrorData> {
        Ok(
            rmcp::model::ElicitResult::new(rmcp::model::ElicitationAction::Accept)
                .with_content(json!({"approve": true})),
        )
    }
}

async fn connect(
    served: &Served,
    token: &str,
    protocol: ProtocolVersion,
) -> RunningService<RoleClient, Client> {
    connect_as(served, token, protocol, false).await
}

/// `initialize` before 2026-07-28, `server/discover` from it on.
async fn connect_as(
    served: &Served,
    token: &str,
    protocol: ProtocolVersion,
    approves: bool,
) -> RunningService<RoleClient, Client> {
    use rmcp::service::{ClientLifecycleMode, ClientServiceExt as _};
    let config =
        StreamableHttpClientTransportConfig::with_uri(served.url("/mcp")).auth_header(token);
    let transport = StreamableHttpClientTransport::from_config(config);
    let lifecycle = if protocol.has_initialize() {
        ClientLifecycleMode::Initialize
    } else {
        ClientLifecycleMode::Discover {
            preferred_versions: vec![protocol.clone()],
        }
    };
    Client { protocol, approves }
        .serve_with_lifecycle(transport, lifecycle)
        .await
        .expect("the MCP handshake succeeds")
}

async fn within_limit(body: impl Future<Output = ()>) {
    tokio::time::timeout(LIMIT, body)
        .await
        .expect("the exchange did not finish in time");
}

async fn call(
    connection: &RunningService<RoleClient, Client>,
    tool: &str,
    arguments: Value,
) -> CallToolResult {
    let Value::Object(arguments) = arguments else {
        panic!("arguments must be an object")
    };
    connection
        .call_tool(CallToolRequestParams::new(tool.to_owned()).with_arguments(arguments))
        .await
        .expect("a tool call is answered with a result")
}

async fn tool_names(connection: &RunningService<RoleClient, Client>) -> Vec<String> {
    let mut names: Vec<String> = connection
        .list_all_tools()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name.to_string())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn rmcp_clients_call_tools_with_a_token_on_each_protocol_revision() {
    let served = Served::start().await;
    within_limit(async {
        for protocol in [
            ProtocolVersion::V_2025_06_18,
            ProtocolVersion::V_2025_11_25,
            ProtocolVersion::V_2026_07_28,
        ] {
            let carol = connect(&served, &served.token("carol"), protocol.clone()).await;
            assert_eq!(
                carol.peer_info().unwrap().protocol_version,
                protocol,
                "the client's revision is served"
            );
            let names = tool_names(&carol).await;
            assert!(
                names.contains(&"get_customer_details".to_owned()),
                "{names:?}"
            );
            assert!(
                !names.contains(&"delete_customer".to_owned()),
                "above carol's role: {names:?}"
            );
            let result = call(
                &carol,
                "get_customer_details",
                json!({"customer_id": "C001"}),
            )
            .await;
            assert_ne!(result.is_error, Some(true), "{result:?}");
            let customer = result.structured_content.unwrap();
            assert_eq!(customer["name"], "Alice Anders");
            assert_eq!(customer["phone"], "***-***-1234");
            // The session is the token's user's, with the role the application gave them.
            let who = call(&carol, "whoami", json!({})).await;
            assert_eq!(who.structured_content.unwrap()["result"], "carol");
            carol.cancel().await.unwrap();
        }
    })
    .await;
    let records = served.stop().await;
    let call = records
        .iter()
        .find(|r| r.tool == "get_customer_details")
        .expect("the call was audited");
    assert_eq!(call.user.as_deref(), Some("carol"));
    assert_eq!(
        call.detail.get("jti"),
        Some(&json!("jti-carol")),
        "the token's id, never the token"
    );
    let text = serde_json::to_string(&records).unwrap();
    assert!(!text.contains("eyJ"), "no token in the audit log: {text}");
}

#[tokio::test]
async fn fewer_scopes_list_fewer_tools_and_a_scope_refused_call_is_a_step_up_challenge() {
    let served = Served::start().await;
    let read_only = served.token_with("carol", |c| c["scope"] = json!("tools:read"));
    within_limit(async {
        let carol = connect(&served, &read_only, ProtocolVersion::V_2025_06_18).await;
        let names = tool_names(&carol).await;
        assert!(
            names.contains(&"get_customer_details".to_owned()),
            "{names:?}"
        );
        assert!(
            !names.contains(&"update_customer_email".to_owned()),
            "a write tool is not listed for a read-only token: {names:?}"
        );
        carol.cancel().await.unwrap();
    })
    .await;
    let http = reqwest::Client::new();
    let post = |token: &str, body: Value| {
        http.post(served.url("/mcp"))
            .bearer_auth(token)
            .header("Accept", "application/json, text/event-stream")
            .json(&body)
            .send()
    };
    let refused = post(
        &read_only,
        json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
               "params": {"name": "update_customer_email",
                          "arguments": {"customer_id": "C001", "new_email": "x@example.com"}}}),
    )
    .await
    .unwrap();
    assert_eq!(refused.status(), 403);
    assert_eq!(
        refused.headers()["www-authenticate"],
        format!(
            r#"Bearer error="insufficient_scope", scope="tools:read tools:write", resource_metadata="{}""#,
            served.metadata_url()
        )
    );
    // A tool above the role is not a scope matter: the request goes through, and the tool
    // does not exist for carol.
    let above = post(
        &read_only,
        json!({"jsonrpc": "2.0", "id": 4, "method": "tools/call",
               "params": {"name": "delete_customer", "arguments": {"customer_id": "C001"}}}),
    )
    .await
    .unwrap();
    assert_ne!(above.status(), 403);
    served.stop().await;
}

/// A token with a header and claims of the attacker's choosing, unsigned.
fn unsigned(header: &Value, claims: &Value) -> String {
    format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    )
}

#[tokio::test]
async fn every_bad_token_is_a_401_with_the_challenge_and_says_nothing_else() {
    let served = Served::start().await;
    let claims = served.claims("carol");
    let mut hs256 = Header::new(Algorithm::HS256);
    hs256.kid = Some(KID.into());
    let cases: Vec<(&str, String)> = vec![
        ("bad signature", Issuer::new(9, KID).sign(&claims)),
        (
            "alg none",
            unsigned(&json!({"alg": "none", "typ": "JWT", "kid": KID}), &claims),
        ),
        (
            "HS256 keyed with the public key",
            jsonwebtoken::encode(
                &hs256,
                &claims,
                &EncodingKey::from_secret(&served.issuer.public()),
            )
            .unwrap(),
        ),
        (
            "HS256 keyed with the public key's text",
            jsonwebtoken::encode(
                &hs256,
                &claims,
                &EncodingKey::from_secret(
                    URL_SAFE_NO_PAD.encode(served.issuer.public()).as_bytes(),
                ),
            )
            .unwrap(),
        ),
        (
            "wrong issuer",
            served.token_with("carol", |c| c["iss"] = json!("https://evil.example")),
        ),
        (
            "wrong audience",
            served.token_with("carol", |c| c["aud"] = json!("https://other.example/mcp")),
        ),
        (
            "audience array without us",
            served.token_with("carol", |c| c["aud"] = json!(["https://other.example/mcp"])),
        ),
        (
            "expired",
            served.token_with("carol", |c| c["exp"] = json!(now() - 120)),
        ),
        (
            "not yet valid",
            served.token_with("carol", |c| c["nbf"] = json!(now() + 120)),
        ),
        (
            "issued in the future",
            served.token_with("carol", |c| c["iat"] = json!(now() + 3600)),
        ),
        ("unknown user", served.token("mallory")),
        ("garbage", "not-a-jwt".to_owned()),
    ];
    let http = reqwest::Client::new();
    let expected = format!(
        r#"Bearer error="invalid_token", resource_metadata="{}""#,
        served.metadata_url()
    );
    for (what, token) in &cases {
        for path in ["/mcp", "/metrics"] {
            let response = http
                .post(served.url(path))
                .bearer_auth(token)
                .header("Accept", "application/json, text/event-stream")
                .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}))
                .send()
                .await
                .unwrap();
            if path == "/metrics" {
                // GET is the route; a POST there is not even routed to auth.
                let response = http
                    .get(served.url(path))
                    .bearer_auth(token)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), 401, "{what} on {path}");
                assert_eq!(response.headers()["www-authenticate"], expected, "{what}");
                continue;
            }
            assert_eq!(response.status(), 401, "{what} on {path}");
            assert_eq!(response.headers()["www-authenticate"], expected, "{what}");
            let body = response.text().await.unwrap();
            assert_eq!(body, "The bearer token was refused.", "{what}");
        }
    }
    // An audience array that holds this server is accepted.
    let listed = served.token_with("carol", |c| {
        c["aud"] = json!(["https://other.example/mcp", served.audience.clone()])
    });
    let ok = http
        .get(served.url("/metrics"))
        .bearer_auth(&listed)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    // No token at all: the challenge without an error.
    for path in ["/mcp", "/metrics"] {
        let response = http.get(served.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 401, "{path}");
        assert_eq!(
            response.headers()["www-authenticate"],
            format!(r#"Bearer resource_metadata="{}""#, served.metadata_url())
        );
    }
    let records = served.stop().await;
    assert!(
        records.is_empty(),
        "no call reached the toolbox: {records:?}"
    );
}

#[tokio::test]
async fn foreign_origins_wrong_hosts_oversized_bodies_and_repeated_keys_are_refused() {
    let served = Served::start().await;
    let token = served.token("carol");
    let http = reqwest::Client::new();
    let initialize = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "raw", "version": "1"}}});
    let post = |body: String| {
        http.post(served.url("/mcp"))
            .bearer_auth(&token)
            .header("Accept", "application/json, text/event-stream")
            .header("Content-Type", "application/json")
            .body(body)
    };
    let foreign = post(initialize.to_string())
        .header("Origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status(), 403);
    let allowed = post(initialize.to_string())
        .header("Origin", "https://app.example.test")
        .send()
        .await
        .unwrap();
    assert_eq!(allowed.status(), 200);
    let rebound = post(initialize.to_string())
        .header("Host", "attacker.example:80")
        .send()
        .await
        .unwrap();
    assert_eq!(rebound.status(), 403);
    let localhost = post(initialize.to_string())
        .header("Host", format!("localhost:{}", served.addr.port()))
        .send()
        .await
        .unwrap();
    assert_eq!(localhost.status(), 200, "localhost names a loopback server");

    let big = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"ping","params":{{"pad":"{}"}}}}"#,
        "x".repeat(1 << 20)
    );
    let oversized = post(big.clone()).send().await.unwrap();
    assert_eq!(oversized.status(), 413);
    // Without a declared length, the cap holds while reading.
    let chunks = futures_util::stream::iter(
        big.into_bytes()
            .chunks(64 * 1024)
            .map(|c| Ok::<_, std::io::Error>(c.to_vec()))
            .collect::<Vec<_>>(),
    );
    let streamed = http
        .post(served.url("/mcp"))
        .bearer_auth(&token)
        .header("Accept", "application/json, text/event-stream")
        .header("Content-Type", "application/json")
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await
        .unwrap();
    assert_eq!(streamed.status(), 413);

    let duplicate = post(
        r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"get_customer_details","arguments":{"customer_id":"C002","customer_id":"C001"}}}"#.to_owned(),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(duplicate.status(), 400);
    let body: Value = duplicate.json().await.unwrap();
    assert_eq!(body["error"]["code"], -32600, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("customer_id"),
        "{body}"
    );
    let records = served.stop().await;
    assert!(
        records.iter().all(|r| r.tool != "get_customer_details"),
        "the duplicated call never ran: {records:?}"
    );
}

#[tokio::test]
async fn metadata_health_and_metrics() {
    let served = Served::start().await;
    let http = reqwest::Client::new();
    for path in [
        "/.well-known/oauth-protected-resource",
        "/.well-known/oauth-protected-resource/mcp",
    ] {
        let metadata: Value = http
            .get(served.url(path))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            metadata,
            json!({
                "resource": served.audience,
                "authorization_servers": [ISSUER],
                "scopes_supported": ["tools:read", "tools:write"],
                "bearer_methods_supported": ["header"],
            })
        );
    }
    let health = http.get(served.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(health.text().await.unwrap(), "ok");

    within_limit(async {
        let carol = connect(
            &served,
            &served.token("carol"),
            ProtocolVersion::V_2025_06_18,
        )
        .await;
        call(
            &carol,
            "get_customer_details",
            json!({"customer_id": "C001"}),
        )
        .await;
        call(
            &carol,
            "get_customer_details",
            json!({"customer_id": "C999"}),
        )
        .await;
        carol.cancel().await.unwrap();
    })
    .await;
    let text = http
        .get(served.url("/metrics"))
        .bearer_auth(served.token("alice"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains(r#"tool_calls_total{tool="get_customer_details",outcome="ok"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"tool_calls_total{tool="get_customer_details",outcome="not_found"} 1"#),
        "{text}"
    );
    assert!(text.contains("tool_call_duration_seconds_bucket"), "{text}");
    assert!(text.contains("tool_calls_rate_limited_total"), "{text}");
    for leak in ["carol", "C001", "C999", "eyJ"] {
        assert!(!text.contains(leak), "metrics show {leak}: {text}");
    }
    served.stop().await;
}

#[tokio::test]
async fn shutdown_finishes_the_calls_in_flight_and_writes_their_records() {
    let served = Served::start().await;
    let token = served.token("alice");
    let mut calls = Vec::new();
    for _ in 0..3 {
        let url = served.url("/mcp");
        let token = token.clone();
        calls.push(tokio::spawn(async move {
            let config = StreamableHttpClientTransportConfig::with_uri(url).auth_header(token);
            let client = Client {
                protocol: ProtocolVersion::V_2025_06_18,
                approves: false,
            }
            .serve(StreamableHttpClientTransport::from_config(config))
            .await
            .unwrap();
            // The server may go away before the answer arrives: the record is what counts.
            let _ = client
                .call_tool(CallToolRequestParams::new("unhurried"))
                .await;
        }));
    }
    // Let the calls start, then stop the server while they sleep.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let stopping = std::time::Instant::now();
    let records = served.stop().await;
    let done: Vec<_> = records.iter().filter(|r| r.tool == "unhurried").collect();
    assert_eq!(done.len(), 3, "{records:?}");
    assert!(done.iter().all(|r| r.outcome == "ok"), "{done:?}");
    assert!(
        stopping.elapsed() < Duration::from_secs(15),
        "stopping took {:?}",
        stopping.elapsed()
    );
    // The clients would go on trying to reconnect to a server that is gone.
    for call in calls {
        call.abort();
    }
}

fn retry_with(state: &str, customer: &str) -> CallToolRequestParams {
    let mut params = CallToolRequestParams::new("delete_customer").with_arguments(
        json!({"customer_id": customer})
            .as_object()
            .unwrap()
            .clone(),
    );
    let mut responses = rmcp::model::InputResponses::new();
    responses.insert(
        "approval".to_owned(),
        json!({"action": "accept", "content": {"approve": true}}),
    );
    params.input_responses = Some(responses);
    params.request_state = Some(state.to_owned());
    params
}

async fn asked_state(connection: &RunningService<RoleClient, Client>, customer: &str) -> String {
    let params = CallToolRequestParams::new("delete_customer").with_arguments(
        json!({"customer_id": customer})
            .as_object()
            .unwrap()
            .clone(),
    );
    match connection.call_tool_once(params).await.unwrap() {
        rmcp::model::CallToolResponse::InputRequired(asked) => {
            asked.request_state.expect("a requestState")
        }
        other => panic!("an InputRequiredResult: {other:?}"),
    }
}

fn error_code(response: rmcp::model::CallToolResponse) -> Value {
    let rmcp::model::CallToolResponse::Complete(result) = response else {
        panic!("a complete result: {response:?}")
    };
    let text = &result.content[0].as_text().unwrap().text;
    serde_json::from_str::<Value>(text).unwrap()["code"].clone()
}

#[tokio::test]
async fn on_2026_07_28_over_http_approval_runs_once_and_only_for_its_user() {
    let served = Served::start().await;
    within_limit(async {
        let dave = connect_as(
            &served,
            &served.token("dave"),
            ProtocolVersion::V_2026_07_28,
            true,
        )
        .await;
        // rmcp's client answers the InputRequiredResult through its handler and retries.
        let done = call(&dave, "delete_customer", json!({"customer_id": "C003"})).await;
        assert_ne!(done.is_error, Some(true), "{done:?}");

        let state = asked_state(&dave, "C004").await;
        // Another admin presenting dave's state: denied, and dave's state still works.
        let dan = connect_as(
            &served,
            &served.token("dan"),
            ProtocolVersion::V_2026_07_28,
            true,
        )
        .await;
        let stolen = dan
            .call_tool_once(retry_with(&state, "C004"))
            .await
            .unwrap();
        assert_eq!(error_code(stolen), "approval_denied");
        let mine = dave
            .call_tool_once(retry_with(&state, "C004"))
            .await
            .unwrap();
        let rmcp::model::CallToolResponse::Complete(mine) = mine else {
            panic!("a result")
        };
        assert_ne!(mine.is_error, Some(true), "{mine:?}");
        let replay = dave
            .call_tool_once(retry_with(&state, "C004"))
            .await
            .unwrap();
        assert_eq!(error_code(replay), "approval_denied");
        dave.cancel().await.unwrap();
        dan.cancel().await.unwrap();
    })
    .await;
    let records = served.stop().await;
    let deletes: Vec<_> = records
        .iter()
        .filter(|r| r.tool == "delete_customer" && r.outcome == "ok")
        .collect();
    assert_eq!(deletes.len(), 2, "{records:?}");
}

#[tokio::test]
async fn an_expired_request_state_runs_nothing() {
    let served = Served::start_with(tool_runtime::Limits {
        approval_ttl: Duration::from_secs(1),
        ..tool_runtime::Limits::default()
    })
    .await;
    within_limit(async {
        let dave = connect_as(
            &served,
            &served.token("dave"),
            ProtocolVersion::V_2026_07_28,
            true,
        )
        .await;
        let state = asked_state(&dave, "C005").await;
        tokio::time::sleep(Duration::from_millis(2100)).await;
        let late = dave
            .call_tool_once(retry_with(&state, "C005"))
            .await
            .unwrap();
        assert_eq!(error_code(late), "approval_denied");
        dave.cancel().await.unwrap();
    })
    .await;
    let records = served.stop().await;
    assert!(
        !records
            .iter()
            .any(|r| r.tool == "delete_customer" && r.outcome == "ok"),
        "{records:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_over_the_concurrent_call_limit_is_refused_and_every_call_is_recorded() {
    let served = Served::start_configured(tool_runtime::Limits::default(), 2).await;
    within_limit(async {
        let mut connections = Vec::new();
        for _ in 0..4 {
            connections.push(
                connect(
                    &served,
                    &served.token("alice"),
                    ProtocolVersion::V_2025_06_18,
                )
                .await,
            );
        }
        let calls = connections
            .iter()
            .map(|connection| call(connection, "unhurried", json!({})));
        let results = futures_util::future::join_all(calls).await;
        let mut outcomes: Vec<String> = results
            .iter()
            .map(|result| {
                if result.is_error == Some(true) {
                    let text = &result.content[0].as_text().unwrap().text;
                    serde_json::from_str::<Value>(text).unwrap()["code"]
                        .as_str()
                        .unwrap()
                        .to_owned()
                } else {
                    "ok".to_owned()
                }
            })
            .collect();
        outcomes.sort();
        assert_eq!(outcomes, ["ok", "ok", "rate_limited", "rate_limited"]);
    })
    .await;
    let records = served.stop().await;
    let mut recorded: Vec<&str> = records
        .iter()
        .filter(|r| r.tool == "unhurried")
        .map(|r| &*r.outcome)
        .collect();
    recorded.sort();
    assert_eq!(
        recorded,
        ["ok", "ok", "rate_limited", "rate_limited"],
        "every call is one record"
    );
    assert!(records.iter().all(|r| r.user.as_deref() == Some("alice")));
}

#[tokio::test]
async fn health_answers_503_while_a_store_is_down_and_200_once_it_is_back() {
    let served = Served::start().await;
    let http = reqwest::Client::new();
    let health = || async {
        let reply = http.get(served.url("/healthz")).send().await.unwrap();
        (reply.status().as_u16(), reply.text().await.unwrap())
    };
    assert_eq!(health().await, (200, "ok".to_owned()));
    served.down.store(true, Ordering::SeqCst);
    // The answer is kept for a second, whoever asks: not a probe per request.
    assert_eq!(health().await.0, 200, "the answer of a moment ago");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, body) = health().await;
    assert_eq!(status, 503);
    assert!(
        !body.contains("log"),
        "it tells nothing of what is down: {body}"
    );
    // Meanwhile a call fails closed: its record cannot be written.
    within_limit(async {
        let carol = connect(
            &served,
            &served.token("carol"),
            ProtocolVersion::V_2025_06_18,
        )
        .await;
        let result = call(
            &carol,
            "get_customer_details",
            json!({"customer_id": "C001"}),
        )
        .await;
        assert_eq!(result.is_error, Some(true));
        let text = &result.content[0].as_text().unwrap().text;
        assert!(text.contains("internal"), "{text}");
    })
    .await;
    served.down.store(false, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(health().await, (200, "ok".to_owned()));
}
