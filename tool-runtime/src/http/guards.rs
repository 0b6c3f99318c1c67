//! The refusals a request can get before the toolbox sees it, and how each reads on the wire.

use std::net::SocketAddr;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::metrics::Refused;

/// Why a request was refused at the door.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// 401: no `Authorization` header.
    NoToken,
    /// 401: a token was sent and refused (or the header is not a bearer token).
    BadToken,
    /// 403: the token's scopes do not cover the tool its role allows.
    InsufficientScope,
    /// 403: an `Origin` not in the allowed list.
    ForeignOrigin,
    /// 403: a `Host` that is not this server.
    WrongHost,
    /// 413: the body is over the cap.
    TooLarge,
}

impl Refusal {
    pub(crate) fn counted_as(self) -> Refused {
        match self {
            Refusal::NoToken | Refusal::BadToken => Refused::Unauthorized,
            Refusal::InsufficientScope => Refused::InsufficientScope,
            Refusal::ForeignOrigin | Refusal::WrongHost => Refused::Forbidden,
            Refusal::TooLarge => Refused::TooLarge,
        }
    }

    pub(crate) fn into_response(self, metadata_url: &str) -> Response {
        let (status, error, text) = match self {
            Refusal::NoToken => (
                StatusCode::UNAUTHORIZED,
                None,
                "A bearer token is required.",
            ),
            Refusal::BadToken => (
                StatusCode::UNAUTHORIZED,
                Some("invalid_token"),
                "The bearer token was refused.",
            ),
            Refusal::InsufficientScope => (
                StatusCode::FORBIDDEN,
                Some("insufficient_scope"),
                "The token's scopes do not cover this tool; ask for a token with more scopes.",
            ),
            Refusal::ForeignOrigin => (
                StatusCode::FORBIDDEN,
                None,
                "Requests from this origin are not allowed.",
            ),
            Refusal::WrongHost => (StatusCode::FORBIDDEN, None, "Unknown host."),
            Refusal::TooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                None,
                "The request body is too large.",
            ),
        };
        let mut response = (status, text).into_response();
        if matches!(
            self,
            Refusal::NoToken | Refusal::BadToken | Refusal::InsufficientScope
        ) && let Ok(value) = HeaderValue::from_str(&challenge(error, metadata_url))
        {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, value);
        }
        response
    }
}

/// The `WWW-Authenticate` challenge (RFC 6750, with RFC 9728's `resource_metadata`).
pub(crate) fn challenge(error: Option<&str>, metadata_url: &str) -> String {
    match error {
        None => format!(r#"Bearer resource_metadata="{metadata_url}""#),
        Some("insufficient_scope") => format!(
            r#"Bearer error="insufficient_scope", scope="tools:read tools:write", resource_metadata="{metadata_url}""#
        ),
        Some(error) => format!(r#"Bearer error="{error}", resource_metadata="{metadata_url}""#),
    }
}

/// The `Host` values that name this server: the address served (and `localhost` on a loopback
/// address), and the host of the audience URL. Anything else is DNS rebinding, or a mistake.
#[derive(Debug)]
pub(crate) struct Sites {
    allowed: Vec<String>,
}

impl Sites {
    pub(crate) fn new(local: SocketAddr, audience: &str) -> Self {
        let mut allowed = vec![local.to_string()];
        if local.ip().is_loopback() {
            allowed.push(format!("localhost:{}", local.port()));
        }
        if let Ok(uri) = audience.parse::<axum::http::Uri>()
            && let Some(authority) = uri.authority()
        {
            let default_port = match uri.scheme_str() {
                Some("https") => 443,
                _ => 80,
            };
            let host = authority.host();
            match authority.port_u16() {
                Some(port) => allowed.push(format!("{host}:{port}")),
                None => {
                    allowed.push(host.to_owned());
                    allowed.push(format!("{host}:{default_port}"));
                }
            }
        }
        for entry in &mut allowed {
            entry.make_ascii_lowercase();
        }
        Sites { allowed }
    }

    pub(crate) fn allows(&self, host: Option<&HeaderValue>) -> bool {
        let Some(host) = host.and_then(|h| h.to_str().ok()) else {
            return false;
        };
        self.allowed.iter().any(|a| a.eq_ignore_ascii_case(host))
    }
}

/// The `Origin` values allowed; a request without `Origin` (not a browser's) passes.
#[derive(Debug)]
pub(crate) struct Origins {
    allowed: Vec<String>,
}

impl Origins {
    pub(crate) fn new(allowed: &[String]) -> Self {
        Origins {
            allowed: allowed
                .iter()
                .map(|o| o.trim_end_matches('/').to_ascii_lowercase())
                .collect(),
        }
    }

    pub(crate) fn allows(&self, origin: Option<&HeaderValue>) -> bool {
        let Some(origin) = origin else {
            return true;
        };
        origin.to_str().is_ok_and(|o| {
            let o = o.trim_end_matches('/');
            self.allowed.iter().any(|a| a.eq_ignore_ascii_case(o))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_the_address_localhost_on_loopback_and_the_audience() {
        let sites = Sites::new(
            "127.0.0.1:8080".parse().unwrap(),
            "https://tools.example.com/mcp",
        );
        for ok in [
            "127.0.0.1:8080",
            "localhost:8080",
            "LOCALHOST:8080",
            "tools.example.com",
            "tools.example.com:443",
        ] {
            assert!(sites.allows(Some(&HeaderValue::from_static(ok))), "{ok}");
        }
        for bad in [
            "evil.example:8080",
            "127.0.0.1:8081",
            "localhost",
            "tools.example.com:8443",
        ] {
            assert!(!sites.allows(Some(&HeaderValue::from_static(bad))), "{bad}");
        }
        assert!(!sites.allows(None));
        let public = Sites::new("10.0.0.5:8080".parse().unwrap(), "http://10.0.0.5:8080/mcp");
        assert!(!public.allows(Some(&HeaderValue::from_static("localhost:8080"))));
    }

    #[test]
    fn origins_are_matched_exactly_and_absent_ones_pass() {
        let origins = Origins::new(&["https://app.example.com/".to_owned()]);
        assert!(origins.allows(None));
        assert!(origins.allows(Some(&HeaderValue::from_static("https://app.example.com"))));
        for bad in [
            "https://evil.example",
            "http://app.example.com",
            "https://app.example.com:8443",
            "null",
        ] {
            assert!(
                !origins.allows(Some(&HeaderValue::from_static(bad))),
                "{bad}"
            );
        }
    }
}
