//! `keys` and `token`: a local stand-in for an authorization server, for demos and tests. A
//! real deployment points `serve --http --jwks` at its authorization server's JWK Set instead.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ed25519_dalek::SigningKey;
use jsonwebtoken::jwk::{Jwk, ThumbprintHash};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;

use crate::Failure;

pub const SIGNING_KEY: &str = "signing-key.pem";
pub const JWKS: &str = "jwks.json";
pub const STATE_KEY: &str = "state.key";
/// The issuer `token` names and `serve --http` expects unless told otherwise.
pub const DEFAULT_ISSUER: &str = "support-desk-dev";

/// RFC 8410: a PKCS#8 document for an Ed25519 key is this prefix and the 32-byte seed.
const PKCS8_ED25519_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

fn failed(what: &str, path: &Path, e: impl std::fmt::Display) -> Failure {
    Failure::Failed(format!("cannot {what} {}: {e}", path.display()))
}

/// Writes `bytes` to a new file only the owner can read; an existing file is refused.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), Failure> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| failed("create", path, e))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| failed("write", path, e))
}

fn random<const N: usize>() -> Result<[u8; N], Failure> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes)
        .map_err(|e| Failure::Failed(format!("no randomness from the system: {e}")))?;
    Ok(bytes)
}

/// `keys --dir DIR`: an Ed25519 signing key, its public JWK Set, and a state key.
pub fn create(dir: &Path) -> Result<(), Failure> {
    for name in [SIGNING_KEY, JWKS, STATE_KEY] {
        let path = dir.join(name);
        if path.exists() {
            return Err(Failure::Refused(format!(
                "{} already exists; keys are never overwritten",
                path.display()
            )));
        }
    }
    std::fs::create_dir_all(dir).map_err(|e| failed("create", dir, e))?;
    let seed = random::<32>()?;
    let public = SigningKey::from_bytes(&seed).verifying_key().to_bytes();
    let mut der = PKCS8_ED25519_PREFIX.to_vec();
    der.extend_from_slice(&seed);
    let pem = format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        STANDARD.encode(&der)
    );
    let mut jwk = json!({"kty": "OKP", "crv": "Ed25519", "x": URL_SAFE_NO_PAD.encode(public)});
    let parsed: Jwk = serde_json::from_value(jwk.clone())
        .map_err(|e| Failure::Failed(format!("cannot describe the public key: {e}")))?;
    jwk["kid"] = parsed.thumbprint(ThumbprintHash::SHA256).into();
    jwk["alg"] = "EdDSA".into();
    jwk["use"] = "sig".into();
    let jwks = serde_json::to_string_pretty(&json!({ "keys": [jwk] }))
        .map_err(|e| Failure::Failed(e.to_string()))?;
    write_private(&dir.join(SIGNING_KEY), pem.as_bytes())?;
    write_private(&dir.join(STATE_KEY), &random::<32>()?)?;
    let jwks_path = dir.join(JWKS);
    std::fs::write(&jwks_path, jwks + "\n").map_err(|e| failed("write", &jwks_path, e))?;
    eprintln!(
        "support-desk: wrote {}, {} and {}",
        dir.join(SIGNING_KEY).display(),
        jwks_path.display(),
        dir.join(STATE_KEY).display()
    );
    Ok(())
}

/// What `token` puts in the token.
pub struct TokenRequest<'a> {
    pub user: &'a str,
    pub scope: &'a str,
    pub ttl: u64,
    pub audience: &'a str,
    pub issuer: &'a str,
}

/// `token --keys DIR ...`: one signed access token.
pub fn token(dir: &Path, request: &TokenRequest<'_>) -> Result<String, Failure> {
    let pem_path = dir.join(SIGNING_KEY);
    let pem = std::fs::read_to_string(&pem_path).map_err(|e| failed("read", &pem_path, e))?;
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let der = STANDARD
        .decode(body.trim())
        .ok()
        .filter(|der| der.len() == 48 && der.starts_with(&PKCS8_ED25519_PREFIX))
        .ok_or_else(|| failed("use", &pem_path, "not an Ed25519 private key"))?;
    let jwks_path = dir.join(JWKS);
    let jwks: serde_json::Value = std::fs::read_to_string(&jwks_path)
        .map_err(|e| failed("read", &jwks_path, e))
        .and_then(|t| serde_json::from_str(&t).map_err(|e| failed("parse", &jwks_path, e)))?;
    let kid = jwks["keys"][0]["kid"]
        .as_str()
        .ok_or_else(|| failed("use", &jwks_path, "no kid"))?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|e| Failure::Failed(e.to_string()))?
        .as_secs();
    let claims = json!({
        "sub": request.user,
        "scope": request.scope,
        "aud": request.audience,
        "iss": request.issuer,
        "iat": now,
        "exp": now.saturating_add(request.ttl),
        "jti": hex(&random::<16>()?),
    });
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(&header, &claims, &EncodingKey::from_ed_der(&der))
        .map_err(|e| Failure::Failed(format!("cannot sign the token: {e}")))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
