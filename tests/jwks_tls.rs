//! A JWK Set fetched over TLS: trusted only when the trust store vouches for its server. A
//! binary of its own, because it changes the process's trust store (`SSL_CERT_FILE`).

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tool_runtime::http::{Authenticator, JwksError};

#[path = "common/issuer.rs"]
mod issuer;
#[path = "common/tokens.rs"]
mod tokens;
use issuer::Issuer;
use tokens::{authenticator, token};

/// `openssl s_server` serving the files of a folder over TLS, with a certificate for
/// `localhost` signed by an authority of its own.
struct TlsServer {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
    /// The authority that signed the server's certificate.
    cert: std::path::PathBuf,
}

impl TlsServer {
    fn start(jwks: &Value) -> TlsServer {
        let dir = tempfile::tempdir().unwrap();
        // An authority of the test's own, and the server's certificate it signs: a trust
        // store holds authorities, not the servers' own certificates.
        let cert = dir.path().join("ca.pem");
        let key = dir.path().join("server-key.pem");
        let openssl = |args: &[&str]| {
            let done = Command::new("openssl")
                .args(args)
                .current_dir(dir.path())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .expect("openssl is installed");
            assert!(done.success(), "openssl {args:?}");
        };
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        openssl(
            &[
                &["req", "-x509", "-days", "1", "-subj", "/CN=Test CA"][..],
                &ec,
                &["-keyout", "ca-key.pem", "-out", "ca.pem"],
            ]
            .concat(),
        );
        openssl(
            &[
                &["req", "-subj", "/CN=localhost"][..],
                &ec,
                &["-keyout", "server-key.pem", "-out", "server.csr"],
            ]
            .concat(),
        );
        std::fs::write(
            dir.path().join("ext.cnf"),
            "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\n",
        )
        .unwrap();
        openssl(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca-key.pem",
            "-CAcreateserial",
            "-days",
            "1",
            "-extfile",
            "ext.cnf",
            "-out",
            "server.pem",
        ]);
        std::fs::write(dir.path().join("jwks.json"), jwks.to_string()).unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("openssl")
            .args(["s_server", "-quiet", "-WWW", "-accept", &port.to_string()])
            .args(["-cert", "server.pem", "-key"])
            .arg(&key)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "s_server did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        TlsServer {
            child,
            port,
            _dir: dir,
            cert,
        }
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn an_https_jwks_is_trusted_only_when_the_trust_store_vouches_for_its_server() {
    let issuer = Issuer::new(3, "tls-key");
    let server = TlsServer::start(&issuer.jwks());
    let url = format!("https://localhost:{}/jwks.json", server.port);

    // A certificate no authority in the trust store signed: refused, and said so.
    match authenticator(&url).await {
        Err(JwksError::Fetch(why)) => assert!(why.contains("certificate"), "{why}"),
        Err(other) => panic!("{other}"),
        Ok(_) => panic!("a self-signed certificate was trusted"),
    }

    // The same server, once the trust store holds its authority (as an operator adds their
    // own): keys fetched, tokens verified. Only this test of this binary reads the
    // trust store after this point.
    // SAFETY: no other thread of this test binary reads or writes the environment now.
    unsafe { std::env::set_var("SSL_CERT_FILE", &server.cert) };
    let auth = authenticator(&url).await.expect("the JWK Set over TLS");
    let session = auth.authenticate(&token(&issuer, "carol")).await.unwrap();
    assert_eq!(session.user_id(), Some("carol"));
}
