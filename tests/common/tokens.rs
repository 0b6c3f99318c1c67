//! Tokens as an authorization server mints them for the tests' one user, and the
//! authenticator that checks them against a JWK Set URL.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::json;
use tool_runtime::Session;
use tool_runtime::http::{JwksError, JwksSource, JwtAuthenticator};
use tool_tests::Role;

use super::issuer::Issuer;

pub const ISSUER: &str = "https://auth.example.test";
pub const AUDIENCE: &str = "https://tools.example.test/mcp";

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A token for `user`, signed by `issuer`, valid for ten minutes.
pub fn token(issuer: &Issuer, user: &str) -> String {
    issuer.sign(&json!({
        "sub": user, "iss": ISSUER, "aud": AUDIENCE, "iat": now(), "exp": now() + 600,
        "scope": "tools:read", "jti": "j1",
    }))
}

fn users(subject: &str) -> Option<Session> {
    (subject == "carol").then(|| Session::authenticated("carol", Role::SupportAgent))
}

pub async fn authenticator(url: &str) -> Result<JwtAuthenticator, JwksError> {
    JwtAuthenticator::new(JwksSource::Url(url.to_owned()), ISSUER, AUDIENCE, users).await
}
