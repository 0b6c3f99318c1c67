//! `keys`, `token` and `serve --http` through the built binary, as `serving.md` writes them:
//! a remote client calling the server with a token, the refusals, and a clean stop on SIGTERM.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Child;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::{Desk, binary, spawn_listening, success_stdout};
use serde_json::{Value, json};

fn keys(dir: &Path) {
    let out = binary().args(["keys", "--dir"]).arg(dir).output().unwrap();
    success_stdout(out);
}

fn token(dir: &Path, args: &[&str]) -> String {
    let out = binary()
        .args(["token", "--keys"])
        .arg(dir)
        .args(args)
        .output()
        .unwrap();
    success_stdout(out).trim().to_owned()
}

fn claims(token: &str) -> (Value, Value) {
    let mut parts = token.split('.');
    let header = URL_SAFE_NO_PAD.decode(parts.next().unwrap()).unwrap();
    let claims = URL_SAFE_NO_PAD.decode(parts.next().unwrap()).unwrap();
    (
        serde_json::from_slice(&header).unwrap(),
        serde_json::from_slice(&claims).unwrap(),
    )
}

#[test]
fn keys_writes_a_private_key_a_jwks_and_a_state_key_and_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let keys_dir = dir.path().join("keys");
    keys(&keys_dir);
    for private in ["signing-key.pem", "state.key"] {
        let mode = std::fs::metadata(keys_dir.join(private))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{private}");
    }
    assert_eq!(std::fs::read(keys_dir.join("state.key")).unwrap().len(), 32);
    let jwks: Value =
        serde_json::from_str(&std::fs::read_to_string(keys_dir.join("jwks.json")).unwrap())
            .unwrap();
    let key = &jwks["keys"][0];
    assert_eq!(key["alg"], "EdDSA");
    assert!(key["kid"].as_str().is_some_and(|k| !k.is_empty()));
    assert!(key.get("d").is_none(), "no private part in the public set");
    let pem_before = std::fs::read(keys_dir.join("signing-key.pem")).unwrap();
    let again = binary()
        .args(["keys", "--dir"])
        .arg(&keys_dir)
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(2));
    assert_eq!(
        std::fs::read(keys_dir.join("signing-key.pem")).unwrap(),
        pem_before
    );

    let (header, body) = claims(&token(&keys_dir, &["--user", "carol"]));
    assert_eq!(header["kid"], key["kid"]);
    assert_eq!(header["alg"], "EdDSA");
    assert_eq!(body["sub"], "carol");
    assert_eq!(body["scope"], "tools:read tools:write");
    assert_eq!(body["aud"], "http://127.0.0.1:8080/mcp");
    assert_eq!(body["iss"], "support-desk-dev");
    assert_eq!(
        body["exp"].as_u64().unwrap() - body["iat"].as_u64().unwrap(),
        600
    );
    assert!(body["jti"].as_str().is_some_and(|j| j.len() >= 16));
    let (_, custom) = claims(&token(
        &keys_dir,
        &[
            "--user",
            "zed",
            "--scope",
            "tools:read",
            "--ttl",
            "60",
            "--audience",
            "https://x.example/mcp",
            "--issuer",
            "iss-x",
        ],
    ));
    assert_eq!(
        (
            &custom["sub"],
            &custom["scope"],
            &custom["aud"],
            &custom["iss"]
        ),
        (
            &json!("zed"),
            &json!("tools:read"),
            &json!("https://x.example/mcp"),
            &json!("iss-x")
        )
    );
}

/// A running `serve --http` and the address it printed.
struct Server {
    child: Child,
    addr: String,
}

impl Server {
    fn start(desk: &Desk, jwks: &Path) -> Server {
        let mut command = binary();
        command
            .args(["serve", "--http", "127.0.0.1:0", "--jwks"])
            .arg(jwks)
            .args(["--db", "desk.db", "--data-dir", "data", "--state-key"])
            .arg(jwks.with_file_name("state.key"))
            .current_dir(desk.dir.path());
        let (child, addr) = spawn_listening(&mut command);
        Server { child, addr }
    }

    /// One HTTP/1.1 request; the status, the headers (names lowercased) and the body.
    fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> (u16, Vec<(String, String)>, String) {
        let mut stream = TcpStream::connect(&self.addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let mut request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n",
            self.addr,
            body.len()
        );
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        request.push_str(body);
        stream.write_all(request.as_bytes()).unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        let (head, body) = response.split_once("\r\n\r\n").unwrap();
        let mut lines = head.lines();
        let status = lines
            .next()
            .unwrap()
            .split(' ')
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        let headers = lines
            .filter_map(|l| l.split_once(": "))
            .map(|(n, v)| (n.to_ascii_lowercase(), v.to_owned()))
            .collect();
        (status, headers, body.to_owned())
    }

    /// A JSON-RPC message to `/mcp`; the JSON-RPC replies found in the (SSE) body.
    fn rpc(
        &self,
        token: &str,
        session: Option<&str>,
        message: &Value,
    ) -> (u16, Vec<(String, String)>, Vec<Value>) {
        let bearer = format!("Bearer {token}");
        let mut headers = vec![
            ("Authorization", bearer.as_str()),
            ("Content-Type", "application/json"),
            ("Accept", "application/json, text/event-stream"),
        ];
        if let Some(id) = session {
            headers.push(("Mcp-Session-Id", id));
        }
        let (status, headers, body) = self.request("POST", "/mcp", &headers, &message.to_string());
        let replies = body
            .lines()
            .filter_map(|l| l.strip_prefix("data: "))
            .filter_map(|d| serde_json::from_str(d).ok())
            .collect();
        (status, headers, replies)
    }

    fn stop(mut self) -> std::process::ExitStatus {
        // SIGTERM, as a service manager stops it.
        let pid = self.child.id().to_string();
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap();
        self.child.wait().unwrap()
    }
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

#[test]
fn a_remote_client_calls_tools_with_a_token_and_bad_requests_are_refused() {
    let desk = Desk::new();
    let keys_dir = desk.dir.path().join("keys");
    keys(&keys_dir);
    let server = Server::start(&desk, &keys_dir.join("jwks.json"));
    let audience = format!("http://{}/mcp", server.addr);
    let metadata = format!(
        "http://{}/.well-known/oauth-protected-resource/mcp",
        server.addr
    );
    let carol = token(&keys_dir, &["--user", "carol", "--audience", &audience]);

    let (status, _, body) = server.request("GET", "/healthz", &[], "");
    assert_eq!((status, body.as_str()), (200, "ok"));

    let initialize = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "raw", "version": "1"}}});
    let (status, headers, replies) = server.rpc(&carol, None, &initialize);
    assert_eq!(status, 200);
    assert_eq!(replies[0]["result"]["protocolVersion"], "2025-06-18");
    let session = header(&headers, "mcp-session-id").unwrap().to_owned();
    let (status, _, _) = server.rpc(
        &carol,
        Some(&session),
        &json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
    );
    assert_eq!(status, 202);
    let (status, _, replies) = server.rpc(
        &carol,
        Some(&session),
        &json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                "params": {"name": "get_customer_details", "arguments": {"customer_id": "C001"}}}),
    );
    assert_eq!(status, 200);
    let result = &replies[0]["result"];
    assert_eq!(
        result["structuredContent"]["name"], "Alice Anders",
        "{result}"
    );
    assert_eq!(result["structuredContent"]["phone"], "***-***-1234");

    // No token; a token for a user the desk does not have; a token for another server.
    let (status, headers, _) = server.request("POST", "/mcp", &[], &initialize.to_string());
    assert_eq!(status, 401);
    assert_eq!(
        header(&headers, "www-authenticate"),
        Some(format!(r#"Bearer resource_metadata="{metadata}""#).as_str())
    );
    for refused in [
        token(&keys_dir, &["--user", "mallory", "--audience", &audience]),
        token(&keys_dir, &["--user", "carol"]),
    ] {
        let (status, headers, _) = server.rpc(&refused, None, &initialize);
        assert_eq!(status, 401);
        assert_eq!(
            header(&headers, "www-authenticate"),
            Some(
                format!(r#"Bearer error="invalid_token", resource_metadata="{metadata}""#).as_str()
            )
        );
    }
    // A read-only token asking for a write tool carol's role allows: step up.
    let read_only = token(
        &keys_dir,
        &[
            "--user",
            "carol",
            "--audience",
            &audience,
            "--scope",
            "tools:read",
        ],
    );
    let (status, headers, _) = server.rpc(
        &read_only,
        Some(&session),
        &json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
                "params": {"name": "update_customer_email",
                           "arguments": {"customer_id": "C001", "new_email": "a@example.com"}}}),
    );
    assert_eq!(status, 403);
    assert_eq!(
        header(&headers, "www-authenticate"),
        Some(format!(
            r#"Bearer error="insufficient_scope", scope="tools:read tools:write", resource_metadata="{metadata}""#
        ).as_str())
    );
    let (status, _, _) = server.request(
        "POST",
        "/mcp",
        &[
            ("Authorization", &format!("Bearer {carol}")),
            ("Origin", "https://evil.example"),
        ],
        &initialize.to_string(),
    );
    assert_eq!(status, 403);

    let (status, _, metrics) = server.request(
        "GET",
        "/metrics",
        &[("Authorization", &format!("Bearer {carol}"))],
        "",
    );
    assert_eq!(status, 200);
    assert!(
        metrics.contains(r#"tool_calls_total{tool="get_customer_details",outcome="ok"} 1"#),
        "{metrics}"
    );

    let status = server.stop();
    assert!(status.success(), "stops cleanly on SIGTERM: {status:?}");
    let out = binary()
        .args(["audit", "--db", "desk.db"])
        .current_dir(desk.dir.path())
        .output()
        .unwrap();
    let log = success_stdout(out);
    let record: Value = log
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|r| r["tool"] == "get_customer_details")
        .expect("the call's record");
    assert_eq!(record["user"], "carol");
    let (_, carol_claims) = claims(&carol);
    assert_eq!(record["detail"]["jti"], carol_claims["jti"]);
    assert!(
        !log.contains(&carol),
        "the token never reaches the audit log"
    );
}

#[test]
fn serve_http_refuses_a_short_state_key_and_a_missing_jwks() {
    let desk = Desk::new();
    let keys_dir = desk.dir.path().join("keys");
    keys(&keys_dir);
    let short = desk.dir.path().join("short.key");
    std::fs::write(&short, [7u8; 16]).unwrap();
    let out = binary()
        .args(["serve", "--http", "127.0.0.1:0", "--jwks"])
        .arg(keys_dir.join("jwks.json"))
        .arg("--state-key")
        .arg(&short)
        .args(["--db", "desk.db", "--data-dir", "data"])
        .current_dir(desk.dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("at least 32 bytes"));
    // There is no unauthenticated HTTP mode.
    let out = binary()
        .args([
            "serve",
            "--http",
            "127.0.0.1:0",
            "--db",
            "desk.db",
            "--data-dir",
            "data",
        ])
        .current_dir(desk.dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    // Keys fetched in clear from another machine could be anyone's.
    let out = binary()
        .args([
            "serve",
            "--http",
            "127.0.0.1:0",
            "--jwks",
            "http://login.example.com/jwks.json",
        ])
        .args(["--db", "desk.db", "--data-dir", "data"])
        .current_dir(desk.dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("must be https://"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
