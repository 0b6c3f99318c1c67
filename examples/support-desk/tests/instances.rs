//! Several `serve --http` instances on one Redis and one PostgreSQL, through the built binary
//! and a real MCP client: one budget, one approval, one audit log; a store stopped and back;
//! an instance killed under load.
//!
//! These need the services, and are ignored unless asked for:
//! `TOOL_RUNTIME_REDIS_URL=redis://127.0.0.1:6379 DATABASE_URL=postgres://postgres@127.0.0.1/test
//! cargo test -p support-desk --test instances -- --include-ignored`. Each test uses its own key
//! prefix and its own database (created with `psql`), so runs do not collide.

mod common;
#[path = "../../../tests/common/services.rs"]
mod services;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Desk, binary, spawn_listening, success_stdout};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ClientCapabilities, ClientConfig,
    Implementation, InputResponses, ProtocolVersion,
};
use rmcp::service::{ClientLifecycleMode, ClientServiceExt as _, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{ClientHandler, RoleClient};
use serde_json::{Value, json};
use services::{OwnRedis, redis_url, unique};

/// The audience every instance serves: the address of the load balancer in front of them.
const AUDIENCE: &str = "http://desk.test/mcp";

/// A database of the test's own on the `DATABASE_URL` server, dropped on drop.
struct OwnDatabase {
    admin_url: String,
    name: String,
}

impl OwnDatabase {
    fn create() -> OwnDatabase {
        let admin_url = std::env::var("DATABASE_URL")
            .expect("this test needs DATABASE_URL, such as postgres://postgres@127.0.0.1/test");
        let name = unique("desk");
        psql(&admin_url, &format!("CREATE DATABASE {name}"));
        OwnDatabase { admin_url, name }
    }

    fn url(&self) -> String {
        let (server, _) = self
            .admin_url
            .rsplit_once('/')
            .expect("a URL with a database");
        format!("{server}/{}", self.name)
    }
}

impl Drop for OwnDatabase {
    fn drop(&mut self) {
        psql(
            &self.admin_url,
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        );
    }
}

fn psql(url: &str, sql: &str) {
    let status = Command::new("psql")
        .args([url, "-q", "-v", "ON_ERROR_STOP=1", "-c", sql])
        .stdout(Stdio::null())
        .status()
        .expect("psql is installed");
    assert!(status.success(), "psql failed: {sql}");
}

/// The desk, its keys, and how its instances reach the shared stores.
struct Cluster {
    desk: Desk,
    keys: PathBuf,
    redis: String,
    prefix: String,
    audit_db: Option<String>,
}

impl Cluster {
    fn new(redis: String, audit_db: Option<String>) -> Cluster {
        let desk = Desk::new();
        let keys = desk.dir.path().join("keys");
        success_stdout(
            binary()
                .args(["keys", "--dir"])
                .arg(&keys)
                .output()
                .unwrap(),
        );
        Cluster {
            desk,
            keys,
            redis,
            prefix: unique("desk"),
            audit_db,
        }
    }

    fn start(&self) -> Instance {
        let mut command = binary();
        command
            .args(["serve", "--http", "127.0.0.1:0", "--jwks"])
            .arg(self.keys.join("jwks.json"))
            .args(["--audience", AUDIENCE, "--state-key"])
            .arg(self.keys.join("state.key"))
            .args(["--db", "desk.db", "--data-dir", "data"])
            .args(["--redis", &self.redis, "--redis-prefix", &self.prefix]);
        if let Some(url) = &self.audit_db {
            command.args(["--audit-db", url]);
        }
        Instance::spawn(command.current_dir(self.desk.dir.path()))
    }

    fn token(&self, user: &str) -> String {
        let out = binary()
            .args(["token", "--keys"])
            .arg(&self.keys)
            .args(["--user", user, "--audience", AUDIENCE])
            .output()
            .unwrap();
        success_stdout(out).trim().to_owned()
    }

    /// The audit log, oldest first: from PostgreSQL when the instances share it there.
    fn audit(&self) -> Vec<Value> {
        let mut command = binary();
        command.arg("audit").current_dir(self.desk.dir.path());
        match &self.audit_db {
            Some(url) => command.args(["--audit-db", url]),
            None => command.args(["--db", "desk.db"]),
        };
        success_stdout(command.output().unwrap())
            .lines()
            .map(|line| serde_json::from_str(line).expect("each line is one JSON record"))
            .collect()
    }
}

/// One running `serve --http`.
struct Instance {
    child: Child,
    addr: String,
}

impl Instance {
    fn spawn(command: &mut Command) -> Instance {
        let (child, addr) = spawn_listening(command);
        Instance { child, addr }
    }

    fn mcp_url(&self) -> String {
        format!("http://{}/mcp", self.addr)
    }

    /// `GET /healthz`: the status code.
    fn health(&self) -> u16 {
        let mut stream = TcpStream::connect(&self.addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        write!(
            stream,
            "GET /healthz HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            self.addr
        )
        .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        response
            .split(' ')
            .nth(1)
            .and_then(|code| code.parse().ok())
            .unwrap_or_else(|| panic!("not an HTTP response: {response}"))
    }

    /// SIGTERM, as a service manager stops it: the calls in flight finish first.
    fn stop(mut self) {
        signal(&self.child, "-TERM");
        let status = self.child.wait().unwrap();
        assert!(status.success(), "stops cleanly: {status:?}");
    }

    /// SIGKILL: no chance to finish anything.
    fn kill(&mut self) {
        signal(&self.child, "-KILL");
        self.child.wait().unwrap();
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn signal(child: &Child, signal: &str) {
    Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
}

/// A client whose person approves when asked (by elicitation, on the older revisions).
struct Person {
    protocol: ProtocolVersion,
}

impl ClientHandler for Person {
    fn get_info(&self) -> ClientConfig {
        ClientConfig::new(
            ClientCapabilities::builder().enable_elicitation().build(),
            Implementation::new("instances-test", "1.0"),
        )
        .with_protocol_version(self.protocol.clone())
    }
}

type Connection = RunningService<RoleClient, Person>;

async fn connect(instance: &Instance, token: &str, protocol: ProtocolVersion) -> Connection {
    let config =
        StreamableHttpClientTransportConfig::with_uri(instance.mcp_url()).auth_header(token);
    let lifecycle = if protocol.has_initialize() {
        ClientLifecycleMode::Initialize
    } else {
        ClientLifecycleMode::Discover {
            preferred_versions: vec![protocol.clone()],
        }
    };
    Person { protocol }
        .serve_with_lifecycle(
            StreamableHttpClientTransport::from_config(config),
            lifecycle,
        )
        .await
        .expect("the MCP handshake succeeds")
}

fn params(tool: &str, arguments: Value) -> CallToolRequestParams {
    let Value::Object(arguments) = arguments else {
        panic!("arguments are an object")
    };
    CallToolRequestParams::new(tool.to_owned()).with_arguments(arguments)
}

/// A call's outcome as the model reads it: `ok`, or the error's code.
fn outcome(result: &CallToolResult) -> String {
    if result.is_error != Some(true) {
        return "ok".into();
    }
    let text = &result.content[0].as_text().expect("an error as text").text;
    let error: Value = serde_json::from_str(text).expect("an error as JSON");
    error["code"].as_str().expect("an error code").to_owned()
}

async fn call(connection: &Connection, tool: &str, arguments: Value) -> String {
    let result = tokio::time::timeout(
        Duration::from_secs(30),
        connection.call_tool(params(tool, arguments)),
    )
    .await
    .expect("answered in time")
    .expect("a result, not a protocol error");
    outcome(&result)
}

/// A 2026-07-28 call of `delete_customer`, answered by the person with `approve: true` and the
/// `requestState` of an earlier `InputRequiredResult`.
fn approved_retry(state: &str, customer: &str) -> CallToolRequestParams {
    let mut retry = params("delete_customer", json!({"customer_id": customer}));
    let mut responses = InputResponses::new();
    responses.insert(
        "approval".to_owned(),
        json!({"action": "accept", "content": {"approve": true}}),
    );
    retry.input_responses = Some(responses);
    retry.request_state = Some(state.to_owned());
    retry
}

fn complete(response: CallToolResponse) -> CallToolResult {
    match response {
        CallToolResponse::Complete(result) => result,
        other => panic!("a complete result: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Redis and PostgreSQL: set TOOL_RUNTIME_REDIS_URL and DATABASE_URL"]
async fn three_instances_share_one_budget_one_approval_and_one_log() {
    let database = OwnDatabase::create();
    let cluster = Cluster::new(redis_url(), Some(database.url()));
    let instances: Vec<Instance> = (0..3).map(|_| cluster.start()).collect();

    // search_customers allows 10 a minute: 12 calls spread over the three instances.
    let carol = cluster.token("carol");
    let mut agents = Vec::new();
    for instance in &instances {
        agents.push(connect(instance, &carol, ProtocolVersion::V_2025_06_18).await);
    }
    let mut outcomes = Vec::new();
    for n in 0..12 {
        outcomes.push(call(&agents[n % 3], "search_customers", json!({"query": "Al"})).await);
    }
    assert_eq!(outcomes[..10], vec!["ok"; 10][..], "{outcomes:?}");
    assert_eq!(outcomes[10..], vec!["rate_limited"; 2][..], "{outcomes:?}");

    // An approval asked on the first instance, answered on the second, replayed on each.
    let erin = cluster.token("erin");
    let mut admins = Vec::new();
    for instance in &instances {
        admins.push(connect(instance, &erin, ProtocolVersion::V_2026_07_28).await);
    }
    let asked = admins[0]
        .call_tool_once(params("delete_customer", json!({"customer_id": "C003"})))
        .await
        .unwrap();
    let CallToolResponse::InputRequired(asked) = asked else {
        panic!("an InputRequiredResult: {asked:?}")
    };
    let state = asked.request_state.expect("a requestState");
    let done = complete(
        admins[1]
            .call_tool_once(approved_retry(&state, "C003"))
            .await
            .unwrap(),
    );
    assert_eq!(outcome(&done), "ok", "{done:?}");
    for admin in [&admins[2], &admins[0], &admins[1]] {
        let replay = complete(
            admin
                .call_tool_once(approved_retry(&state, "C003"))
                .await
                .unwrap(),
        );
        assert_eq!(outcome(&replay), "approval_denied");
    }
    let gone = call(
        &agents[2],
        "get_customer_details",
        json!({"customer_id": "C003"}),
    )
    .await;
    assert_eq!(gone, "not_found", "deleted once, seen by every instance");

    for connection in agents.into_iter().chain(admins) {
        let _ = connection.cancel().await;
    }
    for instance in instances {
        instance.stop();
    }
    // Every call on every instance is one row of the one log.
    let log = cluster.audit();
    let outcomes_of = |tool: &str| -> Vec<String> {
        log.iter()
            .filter(|r| r["tool"] == tool)
            .map(|r| r["outcome"].as_str().unwrap().to_owned())
            .collect()
    };
    let searches = outcomes_of("search_customers");
    assert_eq!(searches.len(), 12, "{searches:?}");
    assert_eq!(searches.iter().filter(|o| *o == "ok").count(), 10);
    let mut deletes = outcomes_of("delete_customer");
    deletes.sort();
    assert_eq!(
        deletes,
        [
            "approval_denied",
            "approval_denied",
            "approval_denied",
            "approval_required",
            "ok"
        ]
    );
    assert_eq!(outcomes_of("get_customer_details"), ["not_found"]);
    assert_eq!(log.len(), 12 + 5 + 1, "no other record");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server installed, and TOOL_RUNTIME_REDIS_URL set as for the other Redis tests"]
async fn redis_stopped_fails_calls_closed_and_health_503_then_both_recover() {
    let _ = redis_url();
    let mut redis = OwnRedis::start(None);
    let cluster = Cluster::new(redis.url(), None);
    let instance = cluster.start();
    let carol = connect(
        &instance,
        &cluster.token("carol"),
        ProtocolVersion::V_2025_06_18,
    )
    .await;
    let search = json!({"query": "Al"});
    assert_eq!(call(&carol, "search_customers", search.clone()).await, "ok");
    assert_eq!(instance.health(), 200);

    redis.stop();
    let started = Instant::now();
    assert_eq!(
        call(&carol, "search_customers", search.clone()).await,
        "internal"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    // A tool without a rate limit needs no Redis, and still runs.
    let details = json!({"customer_id": "C001"});
    assert_eq!(call(&carol, "get_customer_details", details).await, "ok");
    // The health check is cached for a second.
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(instance.health(), 503);

    let _redis = OwnRedis::start(Some(redis.port));
    let started = Instant::now();
    loop {
        let now = call(&carol, "search_customers", search.clone()).await;
        if now == "ok" {
            break;
        }
        assert_eq!(now, "internal");
        assert!(started.elapsed() < Duration::from_secs(20), "no recovery");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(instance.health(), 200);
    let _ = carol.cancel().await;
    instance.stop();

    let log = cluster.audit();
    let searches: Vec<&str> = log
        .iter()
        .filter(|r| r["tool"] == "search_customers")
        .map(|r| r["outcome"].as_str().unwrap())
        .collect();
    assert!(searches.len() >= 3, "{searches:?}");
    assert_eq!(searches[1], "internal");
    let internal = log.iter().find(|r| r["outcome"] == "internal").unwrap();
    assert!(internal["incident"].is_string(), "{internal}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs Redis and PostgreSQL: set TOOL_RUNTIME_REDIS_URL and DATABASE_URL"]
async fn an_instance_killed_under_load_loses_no_record_of_a_call_that_was_answered() {
    let database = OwnDatabase::create();
    let cluster = Arc::new(Cluster::new(redis_url(), Some(database.url())));
    let mut instances: Vec<Instance> = (0..3).map(|_| cluster.start()).collect();
    let carol = cluster.token("carol");

    // Eight callers, each with a connection to every instance, calling them in turn; each
    // call writes a note of its own, so its record can be found.
    let answered = Arc::new(Mutex::new(Vec::<(usize, String)>::new()));
    let stop_at = Instant::now() + Duration::from_secs(3);
    let mut callers = Vec::new();
    for caller in 0..8 {
        let mut connections = Vec::new();
        for instance in &instances {
            connections.push(connect(instance, &carol, ProtocolVersion::V_2025_06_18).await);
        }
        let answered = Arc::clone(&answered);
        callers.push(tokio::spawn(async move {
            let mut n = 0;
            while Instant::now() < stop_at {
                let target = n % 3;
                let id = format!("K{caller}x{n}");
                let sent = connections[target].call_tool(params(
                    "add_internal_note",
                    json!({"customer_id": "C001", "note": id}),
                ));
                if let Ok(Ok(result)) = tokio::time::timeout(Duration::from_secs(5), sent).await {
                    assert_eq!(outcome(&result), "ok", "{result:?}");
                    answered.lock().unwrap().push((target, id));
                }
                n += 1;
            }
            for connection in connections {
                let _ = tokio::time::timeout(Duration::from_secs(2), connection.cancel()).await;
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(1000)).await;
    instances[1].kill();
    for caller in callers {
        caller.await.unwrap();
    }
    let survivors: Vec<Instance> = instances
        .drain(..)
        .enumerate()
        .filter(|(i, _)| *i != 1)
        .map(|(_, s)| s)
        .collect();
    for instance in survivors {
        instance.stop();
    }

    let answered = answered.lock().unwrap().clone();
    let by_killed = answered.iter().filter(|(target, _)| *target == 1).count();
    assert!(
        by_killed > 0,
        "the killed instance answered calls before it died"
    );
    assert!(
        answered.len() > 3 * by_killed / 2,
        "the others went on answering"
    );
    let recorded: std::collections::HashSet<String> = cluster
        .audit()
        .iter()
        .filter(|r| r["tool"] == "add_internal_note")
        .map(|r| {
            assert_eq!(r["outcome"], "ok", "a complete record: {r}");
            r["arguments"]["note"].as_str().unwrap().to_owned()
        })
        .collect();
    let lost: Vec<_> = answered
        .iter()
        .filter(|(_, id)| !recorded.contains(id))
        .collect();
    assert!(lost.is_empty(), "answered without a record: {lost:?}");
}
