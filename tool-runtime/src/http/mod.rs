//! Serving a toolbox to remote clients: MCP over Streamable HTTP, each request authenticated
//! by an OAuth 2.1 bearer token (feature `http`).
//!
//! The server is a resource server in the MCP authorization specification's sense: it
//! verifies tokens an authorization server issued (any issuer that publishes a JWK Set), never
//! issues or forwards them. Routes: `/mcp`, `/.well-known/oauth-protected-resource[/mcp]`
//! (RFC 9728), `/healthz`, `/metrics`.
//!
//! Before the toolbox sees a request: its `Host` must name this server and its `Origin`, if
//! any, be allowed (403); its body must fit the cap (413); its token must verify (401 with a
//! challenge pointing at the metadata); a message repeating a key is refused (400); and a
//! `tools/call` of a tool the user's role allows but the token's scopes do not gets 403 with
//! an `insufficient_scope` challenge, so the client can step up.

mod auth;
mod guards;
mod listener;
mod metrics;
mod server;

pub use auth::{
    Authenticator, BoxFuture, JwksError, JwksSource, JwtAuthenticator, MAX_LEEWAY, Refusal,
    ResolveSubject,
};
pub use metrics::{Metrics, Refused};
pub(crate) use server::Served;
pub use server::{HttpConfig, HttpServer};
