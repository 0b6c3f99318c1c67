//! The baseline of the HTTP load benchmark (`tests/benches/http_load.sh`): rmcp's own
//! Streamable HTTP server serving support-desk's `get_customer_details` from the same database,
//! with none of the framework's checks: no token, no role, no argument validation, no projection
//! type, no audit record. What the framework adds is measured against this.
//!
//! `bare_mcp_server ADDR DB`, such as `bare_mcp_server 127.0.0.1:8081 desk.db`.

use std::borrow::Cow;
use std::sync::Arc;

use axum::serve::ListenerExt as _;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ListToolsResult,
    PaginatedRequestParams, ProtocolVersion, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::{RequestContext, RoleServer};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData, ServerHandler};
use serde_json::{Value, json};
use support_desk::db::Db;

/// The columns `get_customer_details` reads, as support-desk's tool does.
const FIELDS: &[&str] = &[
    "id",
    "name",
    "email",
    "phone",
    "status",
    "member_since",
    "subscription_tier",
    "total_orders",
];

#[derive(Clone)]
struct Bare {
    db: Db,
}

impl ServerHandler for Bare {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_protocol_version(ProtocolVersion::V_2026_07_28)
    }

    fn supported_protocol_versions(&self) -> Cow<'static, [ProtocolVersion]> {
        Cow::Borrowed(&[
            ProtocolVersion::V_2025_06_18,
            ProtocolVersion::V_2025_11_25,
            ProtocolVersion::V_2026_07_28,
        ])
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let schema = json!({
            "type": "object",
            "properties": {"customer_id": {"type": "string"}},
            "required": ["customer_id"],
        });
        let Value::Object(schema) = schema else {
            unreachable!("a JSON object literal")
        };
        Ok(ListToolsResult::with_all_items(vec![Tool::new(
            "get_customer_details",
            "Get one customer's account details.",
            schema,
        )]))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let id = request
            .arguments
            .as_ref()
            .and_then(|a| a.get("customer_id"))
            .and_then(Value::as_str)
            .unwrap_or_default();
        let result = match self.db.get_customer_details(id, FIELDS) {
            Ok(c) => {
                let last4 = c.phone.len().saturating_sub(4);
                CallToolResult::structured(json!({
                    "id": c.id, "name": c.name, "email": c.email,
                    "phone": format!("***-***-{}", &c.phone[last4..]),
                    "status": c.status, "member_since": c.member_since,
                    "subscription_tier": c.subscription_tier, "total_orders": c.total_orders,
                }))
            }
            Err(e) => CallToolResult::structured_error(json!({"error": e.to_string()})),
        };
        Ok(result.into())
    }
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(addr), Some(db)) = (args.next(), args.next()) else {
        eprintln!("usage: bare_mcp_server ADDR DB");
        std::process::exit(2);
    };
    let db = Db::open(db).expect("the desk's database opens");
    let bare = Bare { db };
    let config = StreamableHttpServerConfig::default()
        .disable_allowed_hosts()
        .disable_allowed_origins();
    let service = StreamableHttpService::new(
        move || Ok(bare.clone()),
        Arc::new(LocalSessionManager::default()),
        config,
    );
    let router = axum::Router::new().nest_service("/mcp", service);
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .expect("the address binds");
    eprintln!("listening on http://{}/mcp", listener.local_addr().unwrap());
    // As support-desk's server does: a streamed reply must not wait on Nagle's algorithm.
    let listener = listener.tap_io(|stream| {
        let _ = stream.set_nodelay(true);
    });
    axum::serve(listener, router).await.expect("serves");
}
