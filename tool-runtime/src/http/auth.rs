//! Who is calling over HTTP: the bearer token, verified by an [`Authenticator`].
//!
//! The bundled [`JwtAuthenticator`] verifies JWT access tokens against a JWK Set as an OAuth 2.1
//! resource server must: the signature with the key's own algorithm only, the issuer, the
//! audience (this server's canonical URL, RFC 8707), and the token's times with a bounded
//! leeway. The token's subject becomes a [`Session`] through the application's own function,
//! so the role comes from the application, never from the token.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::session::{Scope, Session};

/// Why a bearer token was refused. The variants are for the operator's log; the client learns
/// only that the token was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    /// The token is malformed, badly signed, for another audience or issuer, or out of date.
    #[error("the token did not verify: {0}")]
    Invalid(String),
    /// The token verified, but its subject is not a user of the application.
    #[error("the token's subject is not a user of the application")]
    UnknownUser,
}

/// A boxed future, so that an [`Authenticator`] can be held as a trait object.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Answers "who is this bearer token?" for the HTTP server: a [`Session`] (narrowed by the
/// token's scopes, carrying its `jti`) or a refusal.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot authenticate bearer tokens",
    note = "implement `Authenticator`, or use the bundled `JwtAuthenticator`"
)]
pub trait Authenticator: Send + Sync + 'static {
    /// Verifies `token` (the text after `Bearer `). Never log or forward it.
    fn authenticate<'a>(&'a self, token: &'a str) -> BoxFuture<'a, Result<Session, Refusal>>;
}

/// Where the JWK Set comes from.
#[derive(Clone, Debug)]
pub enum JwksSource {
    /// A file holding the JWK Set; read again when a token names a key it lacks.
    File(PathBuf),
    /// An `https://` URL serving the JWK Set (an authorization server's `jwks_uri`), checked
    /// against the operating system's trust store; fetched again when a token names a key it
    /// lacks. Plain `http://` only on a loopback address: keys fetched in clear could be anyone's.
    Url(String),
}

/// The application's answer to "which session is this verified subject?": `None` when the
/// subject is not one of its users.
pub type ResolveSubject = dyn Fn(&str) -> Option<Session> + Send + Sync;

/// The most clock skew accepted on `exp`, `nbf` and `iat`.
pub const MAX_LEEWAY: Duration = Duration::from_secs(60);

/// How soon after one reload an unknown `kid` may cause another: a stream of tokens naming
/// made-up keys must not become a stream of fetches.
const RELOAD_INTERVAL: Duration = Duration::from_secs(30);

/// Verifies JWT access tokens against a JWK Set.
pub struct JwtAuthenticator {
    source: JwksSource,
    issuer: String,
    audience: String,
    leeway: Duration,
    resolve: Arc<ResolveSubject>,
    keys: RwLock<Keys>,
    reloading: tokio::sync::Mutex<()>,
    /// Tokens already verified, by their SHA-256 (never the token itself), with their claims:
    /// a client sends the same token with every request, and checking a signature costs more
    /// than the rest of a call. Emptied when the keys change.
    verified: Mutex<HashMap<[u8; 32], Arc<Claims>>>,
    client: Option<reqwest::Client>,
}

/// Verified tokens remembered at most; past it the memory starts over.
const MAX_VERIFIED: usize = 4096;

impl std::fmt::Debug for JwtAuthenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtAuthenticator")
            .field("source", &self.source)
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish_non_exhaustive()
    }
}

#[derive(Default)]
struct Keys {
    by_kid: Vec<VerifyingKey>,
    /// When a token naming an unknown key last made the set be fetched again; `None` until
    /// one first does.
    reloaded: Option<Instant>,
}

struct VerifyingKey {
    kid: Option<String>,
    algorithm: Algorithm,
    key: DecodingKey,
}

/// Why a JWK Set could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JwksError {
    /// The file could not be read.
    #[error("cannot read the JWK Set: {0}")]
    Io(#[from] std::io::Error),
    /// The URL could not be fetched.
    #[error("cannot fetch the JWK Set: {0}")]
    Fetch(String),
    /// The document is not a JWK Set.
    #[error("the JWK Set is malformed: {0}")]
    Malformed(String),
    /// The set holds no key this server can verify with.
    #[error("the JWK Set holds no usable signing key (asymmetric, with a known algorithm)")]
    NoUsableKey,
    /// The URL is not `https://` (nor `http://` on a loopback address).
    #[error(
        "the JWK Set URL `{0}` must be https:// (plain http:// only on localhost or a loopback address)"
    )]
    InsecureUrl(String),
}

#[derive(Deserialize)]
struct Claims {
    sub: String,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    jti: Option<String>,
    #[serde(default)]
    iat: Option<u64>,
    exp: u64,
}

/// The client that fetches a JWK Set from `url`: TLS by rustls, certificates checked against
/// the operating system's trust store (reqwest's default), and no redirect (a redirect could
/// lead to plain HTTP).
fn jwks_client(url: &str) -> Result<reqwest::Client, JwksError> {
    let parsed = reqwest::Url::parse(url).map_err(|_| JwksError::InsecureUrl(url.to_owned()))?;
    let host = parsed.host_str().unwrap_or_default();
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    match parsed.scheme() {
        "https" => {}
        "http" if loopback => {}
        _ => return Err(JwksError::InsecureUrl(url.to_owned())),
    }
    reqwest::Client::builder()
        .https_only(!loopback)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| JwksError::Fetch(e.to_string()))
}

/// An error and what caused it, as one line: a failed fetch says *why* (refused connection,
/// untrusted certificate, ...) only in its sources.
fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(next) = cause {
        text.push_str(": ");
        text.push_str(&next.to_string());
        cause = next.source();
    }
    text
}

impl JwtAuthenticator {
    /// Loads the JWK Set from `source` and verifies tokens of `issuer` for `audience` (the
    /// server's canonical URL, such as `https://tools.example.com/mcp`). `resolve` turns a
    /// verified subject into the application's session, role included.
    pub async fn new(
        source: JwksSource,
        issuer: impl Into<String>,
        audience: impl Into<String>,
        resolve: impl Fn(&str) -> Option<Session> + Send + Sync + 'static,
    ) -> Result<Self, JwksError> {
        let client = match &source {
            JwksSource::Url(url) => Some(jwks_client(url)?),
            JwksSource::File(_) => None,
        };
        let auth = JwtAuthenticator {
            source,
            issuer: issuer.into(),
            audience: audience.into(),
            leeway: MAX_LEEWAY,
            resolve: Arc::new(resolve),
            keys: RwLock::new(Keys::default()),
            reloading: tokio::sync::Mutex::new(()),
            verified: Mutex::new(HashMap::new()),
            client,
        };
        let keys = auth.load().await?;
        *auth.keys.write().unwrap_or_else(|p| p.into_inner()) = keys;
        Ok(auth)
    }

    /// Accepts clocks this far apart (at most [`MAX_LEEWAY`], which is the default).
    pub fn with_leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway.min(MAX_LEEWAY);
        self
    }

    /// The issuer tokens must name.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The audience tokens must name.
    pub fn audience(&self) -> &str {
        &self.audience
    }

    async fn load(&self) -> Result<Keys, JwksError> {
        let text = match &self.source {
            JwksSource::File(path) => tokio::fs::read_to_string(path).await?,
            JwksSource::Url(url) => {
                let client = self
                    .client
                    .as_ref()
                    .ok_or_else(|| JwksError::Fetch("no HTTP client for the JWK Set URL".into()))?;
                let response = client
                    .get(url)
                    .send()
                    .await
                    .and_then(reqwest::Response::error_for_status)
                    .map_err(|e| JwksError::Fetch(with_causes(&e)))?;
                response
                    .text()
                    .await
                    .map_err(|e| JwksError::Fetch(with_causes(&e)))?
            }
        };
        let set: JwkSet =
            serde_json::from_str(&text).map_err(|e| JwksError::Malformed(e.to_string()))?;
        let by_kid: Vec<VerifyingKey> = set.keys.iter().filter_map(verifying_key).collect();
        if by_kid.is_empty() {
            return Err(JwksError::NoUsableKey);
        }
        Ok(Keys {
            by_kid,
            reloaded: None,
        })
    }

    /// The key a token's header names, reloading the set once when the `kid` is unknown.
    async fn key_for(&self, kid: Option<&str>) -> Option<(Algorithm, DecodingKey)> {
        if let Some(found) = self.find(kid) {
            return Some(found);
        }
        // One reload at a time: requests arriving together with the issuer's new key wait for
        // the one fetch rather than each making their own.
        let _reloading = self.reloading.lock().await;
        if let Some(found) = self.find(kid) {
            return Some(found);
        }
        let due = {
            let keys = self.keys.read().unwrap_or_else(|p| p.into_inner());
            keys.reloaded.is_none_or(|t| t.elapsed() >= RELOAD_INTERVAL)
        };
        if !due {
            return None;
        }
        let reloaded = Some(Instant::now());
        match self.load().await {
            Ok(keys) => {
                *self.keys.write().unwrap_or_else(|p| p.into_inner()) = Keys { reloaded, ..keys };
                // A key the issuer withdrew no longer vouches for the tokens it signed.
                self.verified
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .clear();
            }
            Err(e) => {
                tracing::warn!(target: "tool_runtime::http", error = %e, "reloading the JWK Set failed; the keys loaded before stay");
                self.keys
                    .write()
                    .unwrap_or_else(|p| p.into_inner())
                    .reloaded = reloaded;
            }
        }
        self.find(kid)
    }

    fn find(&self, kid: Option<&str>) -> Option<(Algorithm, DecodingKey)> {
        let keys = self.keys.read().unwrap_or_else(|p| p.into_inner());
        let found = match kid {
            Some(kid) => keys.by_kid.iter().find(|k| k.kid.as_deref() == Some(kid)),
            // A token without a `kid` is only unambiguous against a set of one key.
            None if keys.by_kid.len() == 1 => keys.by_kid.first(),
            None => None,
        }?;
        Some((found.algorithm, found.key.clone()))
    }

    async fn verify(&self, token: &str) -> Result<Session, Refusal> {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let cached = self
            .verified
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&digest)
            .cloned();
        // A token seen before was checked then: signature, issuer, audience, times. Only its
        // expiry can have changed since.
        let claims = match cached {
            Some(claims) if claims.exp.saturating_add(self.leeway.as_secs()) >= now => claims,
            _ => {
                let claims = Arc::new(self.check(token, now).await?);
                let mut verified = self.verified.lock().unwrap_or_else(|p| p.into_inner());
                if verified.len() >= MAX_VERIFIED {
                    verified.clear();
                }
                verified.insert(digest, Arc::clone(&claims));
                claims
            }
        };
        // Every request asks the application again: a user removed or a role changed since the
        // token was first seen counts at once.
        let session = (self.resolve)(&claims.sub).ok_or(Refusal::UnknownUser)?;
        let scopes: HashSet<Scope> = claims
            .scope
            .as_deref()
            .unwrap_or("")
            .split_ascii_whitespace()
            .filter_map(Scope::parse)
            .collect();
        let mut session = session.with_scopes(scopes).expires_at(
            UNIX_EPOCH + Duration::from_secs(claims.exp.saturating_add(self.leeway.as_secs())),
        );
        if let Some(jti) = &claims.jti {
            // Bounded: the log keeps an id, not whatever a token carries.
            session = session.with_token_id(jti.chars().take(128).collect::<String>());
        }
        Ok(session)
    }

    /// The claims of `token` once its signature, issuer, audience and times are checked.
    async fn check(&self, token: &str, now: u64) -> Result<Claims, Refusal> {
        let invalid = |why: &str| Refusal::Invalid(why.to_owned());
        // The header names an algorithm; `none` and unknown names fail to parse here.
        let header =
            jsonwebtoken::decode_header(token).map_err(|e| Refusal::Invalid(e.to_string()))?;
        let (algorithm, key) = self
            .key_for(header.kid.as_deref())
            .await
            .ok_or_else(|| invalid("no key with the token's kid"))?;
        // The key decides the algorithm: a token whose header names another one (HS256 signed
        // with the public key as a secret, say) is refused before any signature check.
        if header.alg != algorithm {
            return Err(invalid("the token's algorithm is not its key's"));
        }
        let mut validation = Validation::new(algorithm);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = self.leeway.as_secs();
        let claims = jsonwebtoken::decode::<Claims>(token, &key, &validation)
            .map_err(|e| Refusal::Invalid(e.to_string()))?
            .claims;
        if claims
            .iat
            .is_some_and(|iat| iat > now + self.leeway.as_secs())
        {
            return Err(invalid("the token was issued in the future"));
        }
        Ok(claims)
    }
}

impl Authenticator for JwtAuthenticator {
    fn authenticate<'a>(&'a self, token: &'a str) -> BoxFuture<'a, Result<Session, Refusal>> {
        Box::pin(self.verify(token))
    }
}

/// A JWK this server can verify with: asymmetric keys only (a symmetric key in a public set
/// would let anyone who reads the set sign tokens), with the algorithm it names or the one its
/// curve implies.
fn verifying_key(jwk: &Jwk) -> Option<VerifyingKey> {
    let named = jwk.common.key_algorithm;
    let algorithm = match (&jwk.algorithm, named) {
        (AlgorithmParameters::OctetKey(_), _) => return None,
        (_, Some(alg)) => algorithm_of(alg)?,
        (AlgorithmParameters::EllipticCurve(ec), None) => match ec.curve {
            EllipticCurve::P256 => Algorithm::ES256,
            EllipticCurve::P384 => Algorithm::ES384,
            _ => return None,
        },
        (AlgorithmParameters::OctetKeyPair(okp), None) => match okp.curve {
            EllipticCurve::Ed25519 => Algorithm::EdDSA,
            _ => return None,
        },
        // An RSA key may be used with six algorithms: it must say which one.
        (AlgorithmParameters::RSA(_), None) => return None,
    };
    if matches!(
        algorithm,
        Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512
    ) {
        return None;
    }
    let key = DecodingKey::from_jwk(jwk).ok()?;
    if key.family() != algorithm.family() {
        return None;
    }
    Some(VerifyingKey {
        kid: jwk.common.key_id.clone(),
        algorithm,
        key,
    })
}

fn algorithm_of(alg: KeyAlgorithm) -> Option<Algorithm> {
    Some(match alg {
        KeyAlgorithm::ES256 => Algorithm::ES256,
        KeyAlgorithm::ES384 => Algorithm::ES384,
        KeyAlgorithm::RS256 => Algorithm::RS256,
        KeyAlgorithm::RS384 => Algorithm::RS384,
        KeyAlgorithm::RS512 => Algorithm::RS512,
        KeyAlgorithm::PS256 => Algorithm::PS256,
        KeyAlgorithm::PS384 => Algorithm::PS384,
        KeyAlgorithm::PS512 => Algorithm::PS512,
        KeyAlgorithm::EdDSA => Algorithm::EdDSA,
        _ => return None,
    })
}
