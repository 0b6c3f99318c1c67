//! Where `JwtAuthenticator` gets its keys: a JWK Set URL, fetched again when a token names a
//! key it does not know (the issuer rotated its keys), never in clear beyond this machine, and
//! over TLS only from a server the trust store vouches for.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use tool_runtime::http::{Authenticator, JwksError};

#[path = "common/issuer.rs"]
mod issuer;
#[path = "common/tokens.rs"]
mod tokens;
use issuer::Issuer;
use tokens::{AUDIENCE, ISSUER, authenticator, now, token};

/// A plain HTTP server on loopback answering every request with the JWK Set it holds now, and
/// counting the requests.
struct JwksServer {
    url: String,
    keys: Arc<Mutex<Value>>,
    fetches: Arc<AtomicUsize>,
}

impl JwksServer {
    fn start(keys: Value) -> JwksServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
        let keys = Arc::new(Mutex::new(keys));
        let fetches = Arc::new(AtomicUsize::new(0));
        let (served, counted) = (Arc::clone(&keys), Arc::clone(&fetches));
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                    line.clear();
                }
                counted.fetch_add(1, Ordering::SeqCst);
                let body = served.lock().unwrap().to_string();
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        JwksServer { url, keys, fetches }
    }

    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}

#[tokio::test]
async fn a_jwks_url_is_fetched_again_when_the_issuer_rotates_its_keys_and_not_for_made_up_ones() {
    let old = Issuer::new(1, "key-2025");
    let new = Issuer::new(2, "key-2026");
    let server = JwksServer::start(old.jwks());
    let auth = authenticator(&server.url).await.unwrap();
    assert_eq!(server.fetches(), 1);

    let session = auth.authenticate(&token(&old, "carol")).await.unwrap();
    assert_eq!(session.user_id(), Some("carol"));
    assert_eq!(server.fetches(), 1, "a known key needs no fetch");

    // The issuer publishes its new key beside the old one and signs with it.
    *server.keys.lock().unwrap() = json!({"keys": [old.jwk(), new.jwk()]});
    let session = auth.authenticate(&token(&new, "carol")).await.unwrap();
    assert_eq!(session.user_id(), Some("carol"));
    assert_eq!(server.fetches(), 2, "one fetch for the unknown kid");

    // Tokens naming keys nobody published do not each cost a fetch.
    for n in 0..5 {
        let stranger = Issuer::new(10 + n, &format!("made-up-{n}"));
        assert!(auth.authenticate(&token(&stranger, "carol")).await.is_err());
    }
    assert_eq!(server.fetches(), 2, "reloads are spaced out");
    // A token signed by a stranger under a published kid fails its signature.
    assert!(
        auth.authenticate(&Issuer::new(99, "key-2026").sign(&json!({
            "sub": "carol", "iss": ISSUER, "aud": AUDIENCE, "iat": now(), "exp": now() + 600,
        })))
        .await
        .is_err()
    );
}

#[tokio::test]
async fn a_jwks_url_in_clear_beyond_this_machine_is_refused_before_any_fetch() {
    for url in [
        "http://auth.example.com/jwks.json",
        "http://10.0.0.1/jwks.json",
        "http://127.0.0.1.nip.io/jwks.json",
        "http://localhost.example.com/jwks.json",
        "ftp://127.0.0.1/jwks.json",
        "file:///etc/passwd",
        "jwks.json",
        "",
    ] {
        match authenticator(url).await {
            Err(JwksError::InsecureUrl(shown)) => assert_eq!(shown, url),
            Err(other) => panic!("{url}: {other}"),
            Ok(_) => panic!("{url}: accepted"),
        }
    }
    // Loopback in clear is allowed; nothing listens on port 1, so the fetch fails, cleanly.
    for url in [
        "http://127.0.0.1:1/jwks.json",
        "http://localhost:1/jwks.json",
        "http://[::1]:1/jwks.json",
    ] {
        assert!(
            matches!(authenticator(url).await, Err(JwksError::Fetch(_))),
            "{url}"
        );
    }
}

#[tokio::test]
async fn a_token_seen_before_still_expires_and_still_needs_its_user() {
    use std::sync::atomic::AtomicBool;
    use tool_runtime::Session;
    use tool_runtime::http::{JwksSource, JwtAuthenticator, Refusal};
    use tool_tests::Role;

    let issuer = Issuer::new(5, "key-5");
    let server = JwksServer::start(issuer.jwks());
    let present = Arc::new(AtomicBool::new(true));
    let users = Arc::clone(&present);
    let auth = JwtAuthenticator::new(
        JwksSource::Url(server.url.clone()),
        ISSUER,
        AUDIENCE,
        move |subject| {
            (subject == "carol" && users.load(Ordering::SeqCst))
                .then(|| Session::authenticated("carol", Role::SupportAgent))
        },
    )
    .await
    .unwrap()
    .with_leeway(std::time::Duration::ZERO);
    let short = issuer.sign(&json!({
        "sub": "carol", "iss": ISSUER, "aud": AUDIENCE, "iat": now(), "exp": now() + 2,
    }));
    assert!(auth.authenticate(&short).await.is_ok());
    assert!(
        auth.authenticate(&short).await.is_ok(),
        "the same token again"
    );
    // The user is gone from the application: the token, verified before, no longer serves.
    present.store(false, Ordering::SeqCst);
    assert!(matches!(
        auth.authenticate(&short).await,
        Err(Refusal::UnknownUser)
    ));
    present.store(true, Ordering::SeqCst);
    tokio::time::sleep(std::time::Duration::from_millis(3100)).await;
    assert!(
        auth.authenticate(&short).await.is_err(),
        "a token verified before still expires"
    );
}
