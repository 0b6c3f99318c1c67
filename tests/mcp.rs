//! The MCP server end to end: `rmcp`'s client talking to the fixture toolbox served by a real
//! child process over stdio, as an MCP host would run it.

use std::future::Future;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rmcp::model::{
    CallToolRequestParams, CallToolResult, ClientCapabilities, ClientConfig, ElicitRequestParams,
    ElicitResult, ElicitationAction, Implementation, ProtocolVersion,
};
use rmcp::service::{RequestContext, RoleClient, RunningService};
use rmcp::transport::{ConfigureCommandExt, TokioChildProcess};
use rmcp::{ClientHandler, ErrorData, ServiceExt};
use serde_json::{Value, json};
use tool_runtime::prelude::*;
use tool_tests::{App, DeleteCustomer, GetCustomerDetails, Role, toolbox};

/// Long enough for a cold start of the child on a loaded CI machine; short enough that a hang
/// fails the test instead of blocking the run.
const LIMIT: Duration = Duration::from_secs(30);

/// How the test's human answers an approval request; `None`: the client cannot ask one.
#[derive(Clone, Copy, Debug)]
enum Human {
    Approves,
    AcceptsUnticked,
    Declines,
    Cancels,
}

/// An MCP client as a host application would be: it declares elicitation when it has a human
/// to ask, and remembers what it was asked.
#[derive(Clone)]
struct Client {
    human: Option<Human>,
    protocol: ProtocolVersion,
    asked: Arc<Mutex<Vec<(String, Value)>>>,
}

impl Client {
    fn new(human: Option<Human>) -> Self {
        Client {
            human,
            protocol: ProtocolVersion::V_2025_06_18,
            asked: Arc::default(),
        }
    }
}

impl ClientHandler for Client {
    fn get_info(&self) -> ClientConfig {
        let capabilities = match self.human {
            Some(_) => ClientCapabilities::builder().enable_elicitation().build(),
            None => ClientCapabilities::default(),
        };
        ClientConfig::new(capabilities, Implementation::new("mcp-test-client", "1.0"))
            .with_protocol_version(self.protocol.clone())
    }

    async fn create_elicitation(
        &self,
        request: ElicitRequestParams,
        _context: RequestContext<RoleClient>,
    ) -> Result<ElicitResult, ErrorData> {
        let ElicitRequestParams::FormElicitationParams {
            message,
            requested_schema,
            ..
        } = request
        else {
            return Err(ErrorData::invalid_params("only forms are expected", None));
        };
        let schema = serde_json::to_value(&requested_schema).unwrap();
        self.asked.lock().unwrap().push((message, schema));
        Ok(
            match self.human.expect("asked without declaring elicitation") {
                Human::Approves => ElicitResult::new(ElicitationAction::Accept)
                    .with_content(json!({"approve": true})),
                Human::AcceptsUnticked => ElicitResult::new(ElicitationAction::Accept)
                    .with_content(json!({"approve": false})),
                Human::Declines => ElicitResult::new(ElicitationAction::Decline),
                Human::Cancels => ElicitResult::new(ElicitationAction::Cancel),
            },
        )
    }
}

type Connection = RunningService<RoleClient, Client>;

/// Starts the fixture server as `user` with `role` and connects `client` to it.
async fn connect(client: Client, user: &str, role: &str, audit: Option<&Path>) -> Connection {
    let command = tokio::process::Command::new(env!("CARGO_BIN_EXE_mcp_fixture")).configure(|c| {
        // The fixture has a tool that panics on purpose: its message is enough.
        c.arg(user).arg(role).env("RUST_BACKTRACE", "0");
        if let Some(path) = audit {
            c.arg(path);
        }
    });
    let transport = TokioChildProcess::new(command).expect("the fixture server starts");
    start(client, transport).await
}

/// The handshake a client of `client.protocol` makes: `initialize` before 2026-07-28,
/// `server/discover` from it on.
async fn start<T, E, A>(client: Client, transport: T) -> Connection
where
    T: rmcp::transport::IntoTransport<RoleClient, E, A>,
    E: std::error::Error + Send + Sync + 'static,
{
    use rmcp::service::{ClientLifecycleMode, ClientServiceExt as _};
    let lifecycle = if client.protocol.has_initialize() {
        ClientLifecycleMode::Initialize
    } else {
        ClientLifecycleMode::Discover {
            preferred_versions: vec![client.protocol.clone()],
        }
    };
    client
        .serve_with_lifecycle(transport, lifecycle)
        .await
        .expect("the MCP handshake succeeds")
}

/// Runs a test body under [`LIMIT`].
async fn within_limit(body: impl Future<Output = ()>) {
    tokio::time::timeout(LIMIT, body)
        .await
        .expect("the MCP exchange did not finish in time");
}

async fn call(connection: &Connection, tool: &str, arguments: Value) -> CallToolResult {
    let Value::Object(arguments) = arguments else {
        panic!("arguments must be an object")
    };
    connection
        .call_tool(CallToolRequestParams::new(tool.to_owned()).with_arguments(arguments))
        .await
        .expect("a tool call is answered with a result, not a protocol error")
}

fn is_error(result: &CallToolResult) -> bool {
    result.is_error == Some(true)
}

/// The first text block, parsed as JSON.
fn text_json(result: &CallToolResult) -> Value {
    let text = result.content[0]
        .as_text()
        .expect("a text block")
        .text
        .clone();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("text is not JSON ({e}): {text}"))
}

/// The error object of an `isError` result.
fn error_of(result: &CallToolResult) -> Value {
    assert!(is_error(result), "expected an error result: {result:?}");
    assert!(result.structured_content.is_none(), "{result:?}");
    text_json(result)
}

async fn tool_names(connection: &Connection) -> Vec<String> {
    let tools = connection
        .list_all_tools()
        .await
        .expect("tools/list answers");
    tools.iter().map(|t| t.name.to_string()).collect()
}

async fn close(connection: Connection) {
    connection.cancel().await.expect("the client shuts down");
}

#[tokio::test]
async fn initialize_names_the_server_and_a_protocol_with_structured_output() {
    within_limit(async {
        let connection = connect(Client::new(None), "carol", "support_agent", None).await;
        let server = connection
            .peer_info()
            .expect("the server answered initialize");
        assert_eq!(server.protocol_version, ProtocolVersion::V_2025_06_18);
        assert!(
            server.capabilities.tools.is_some(),
            "tools capability: {server:?}"
        );
        let implementation = server.server_info.as_ref().expect("serverInfo");
        assert_eq!(implementation.name, "tool-runtime");
        assert!(!implementation.version.is_empty());
        close(connection).await;

        // Each revision the server speaks is the client's choice, 2026-07-28 included.
        for protocol in [ProtocolVersion::V_2025_11_25, ProtocolVersion::V_2026_07_28] {
            let mut newer = Client::new(None);
            newer.protocol = protocol.clone();
            let connection = connect(newer, "carol", "support_agent", None).await;
            let server = connection.peer_info().unwrap();
            assert_eq!(server.protocol_version, protocol);
            let result = call(
                &connection,
                "get_customer_details",
                json!({"customer_id": "C001"}),
            )
            .await;
            assert_eq!(result.structured_content.unwrap()["name"], "Alice Anders");
            close(connection).await;
        }
    })
    .await;
}

#[tokio::test]
async fn tools_list_is_the_sessions_mcp_export() {
    within_limit(async {
        for (user, role, session) in [
            (
                "carol",
                "support_agent",
                Session::authenticated("carol", Role::SupportAgent),
            ),
            ("alice", "user", Session::authenticated("alice", Role::User)),
            ("", "anonymous", Session::anonymous()),
        ] {
            let connection = connect(Client::new(None), user, role, None).await;
            let tools = connection.list_all_tools().await.unwrap();
            let expected = toolbox(App::seeded()).definitions(&session).mcp();
            assert_eq!(serde_json::to_value(&tools).unwrap(), expected, "{role}");
            let names = tool_names(&connection).await;
            assert_eq!(
                names.contains(&"get_customer_details".to_owned()),
                role == "support_agent"
            );
            assert!(
                !names.contains(&"delete_customer".to_owned()),
                "{role}: {names:?}"
            );
            close(connection).await;
        }
    })
    .await;
}

#[tokio::test]
async fn a_call_returns_the_projection_as_structured_content_and_text() {
    within_limit(async {
        let connection = connect(Client::new(None), "carol", "support_agent", None).await;
        let result = call(&connection, "get_customer_details", json!({"customer_id": "C001"})).await;
        assert!(!is_error(&result), "{result:?}");
        let projected = json!({
            "id": "C001", "name": "Alice Anders", "email": "a***@example.com", "phone": "***-***-1234"
        });
        assert_eq!(result.structured_content, Some(projected.clone()));
        assert_eq!(text_json(&result), projected);
        let wire = serde_json::to_string(&result).unwrap();
        assert!(!wire.contains("123-45"), "ssn leaked: {wire}");
        assert!(!wire.contains("tok_secret"), "payment token leaked: {wire}");

        // A non-object output is wrapped, as its advertised outputSchema says.
        let result = call(&connection, "whoami", json!({})).await;
        assert_eq!(result.structured_content, Some(json!({"result": "carol"})));
        let tools = connection.list_all_tools().await.unwrap();
        let whoami = tools.iter().find(|t| t.name == "whoami").unwrap();
        let schema = Value::Object((**whoami.output_schema.as_ref().unwrap()).clone());
        assert_eq!(schema["required"], json!(["result"]));

        // A list cut by max_items says so in the text the model reads.
        let result = call(&connection, "search_customers", json!({"query": "r"})).await;
        let items = &result.structured_content.as_ref().unwrap()["result"];
        assert_eq!(items.as_array().map(Vec::len), Some(2), "{result:?}");
        let note = result.content[1].as_text().unwrap().text.clone();
        assert!(note.contains("2 of 3"), "{note}");
        close(connection).await;
    })
    .await;
}

#[tokio::test]
async fn invalid_arguments_are_an_error_result_with_per_field_messages() {
    within_limit(async {
        let connection = connect(Client::new(None), "carol", "support_agent", None).await;
        for arguments in [
            json!({"customer_id": ""}),
            json!({}),
            json!({"customer_id": 5}),
            json!({"customer_id": "C001", "approved": true}),
        ] {
            let result = call(&connection, "get_customer_details", arguments.clone()).await;
            let error = error_of(&result);
            assert_eq!(error["code"], "invalid_input", "{arguments}: {error}");
            assert!(error["message"].is_string());
            let fields = error["fields"].as_object().expect("per-field messages");
            assert!(!fields.is_empty(), "{arguments}: {error}");
        }
        let error = error_of(
            &call(
                &connection,
                "get_customer_details",
                json!({"customer_id": ""}),
            )
            .await,
        );
        assert!(error["fields"]["customer_id"].is_array(), "{error}");
        close(connection).await;
    })
    .await;
}

#[tokio::test]
async fn a_hidden_tool_reads_exactly_like_an_unknown_one() {
    within_limit(async {
        let connection = connect(Client::new(None), "alice", "user", None).await;
        let hidden = call(
            &connection,
            "get_customer_details",
            json!({"customer_id": "C001"}),
        )
        .await;
        let unknown = call(&connection, "no_such_tool", json!({"customer_id": "C001"})).await;
        assert_eq!(error_of(&hidden)["code"], "not_found");
        assert_eq!(hidden.content, unknown.content);
        assert_eq!(hidden.is_error, unknown.is_error);
        close(connection).await;
    })
    .await;
}

#[tokio::test]
async fn errors_carry_their_extra_fields_and_never_internals() {
    within_limit(async {
        let connection = connect(Client::new(None), "alice", "user", None).await;
        let error = error_of(&call(&connection, "buggy", json!({})).await);
        assert_eq!(error["code"], "internal");
        assert!(error["incident"].is_string(), "{error}");
        assert!(!error.to_string().contains("/srv/db.sqlite"), "{error}");
        close(connection).await;

        let connection = connect(Client::new(None), "carol", "support_agent", None).await;
        let mut last = Value::Null;
        for _ in 0..11 {
            let result = call(
                &connection,
                "get_customer_details",
                json!({"customer_id": "C001"}),
            )
            .await;
            if is_error(&result) {
                last = error_of(&result);
                break;
            }
        }
        assert_eq!(last["code"], "rate_limited", "{last}");
        assert!(last["retry_after_secs"].is_u64(), "{last}");
        close(connection).await;
    })
    .await;
}

/// The audit log's records, oldest first.
fn audit_records(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

#[tokio::test]
async fn a_destructive_call_is_refused_when_the_client_cannot_ask_the_human() {
    within_limit(async {
        let dir = tempfile::tempdir().unwrap();
        let audit = dir.path().join("audit.jsonl");
        let connection = connect(Client::new(None), "dave", "admin", Some(&audit)).await;
        let result = call(
            &connection,
            "delete_customer",
            json!({"customer_id": "C003"}),
        )
        .await;
        let error = error_of(&result);
        assert_eq!(error["code"], "approval_required", "{error}");
        assert!(
            error.get("ticket").is_none(),
            "a ticket the client cannot use: {error}"
        );

        // Nothing ran: the customer is still there.
        let still = call(
            &connection,
            "get_customer_details",
            json!({"customer_id": "C003"}),
        )
        .await;
        assert!(!is_error(&still), "{still:?}");
        assert_eq!(still.structured_content.unwrap()["id"], "C003");
        close(connection).await;

        let records = audit_records(&audit);
        let deletes: Vec<&str> = records
            .iter()
            .filter(|r| r["tool"] == "delete_customer")
            .map(|r| r["outcome"].as_str().unwrap())
            .collect();
        assert_eq!(deletes, ["approval_required"], "{records:?}");
    })
    .await;
}

#[tokio::test]
async fn an_approved_elicitation_runs_the_call() {
    within_limit(async {
        let client = Client::new(Some(Human::Approves));
        let asked = Arc::clone(&client.asked);
        let connection = connect(client, "dave", "admin", None).await;
        let result = call(
            &connection,
            "delete_customer",
            json!({"customer_id": "C003"}),
        )
        .await;
        assert!(!is_error(&result), "{result:?}");
        assert_eq!(result.structured_content, Some(json!({"result": true})));

        let asked = asked.lock().unwrap().clone();
        assert_eq!(asked.len(), 1, "the human is asked once");
        let (message, schema) = &asked[0];
        assert!(message.contains("delete_customer"), "{message}");
        assert!(message.contains("C003"), "{message}");
        assert_eq!(
            schema["properties"]["approve"]["type"], "boolean",
            "{schema}"
        );
        assert_eq!(schema["required"], json!(["approve"]), "{schema}");

        let gone = call(
            &connection,
            "get_customer_details",
            json!({"customer_id": "C003"}),
        )
        .await;
        assert_eq!(error_of(&gone)["code"], "not_found");
        close(connection).await;
    })
    .await;
}

#[tokio::test]
async fn anything_but_an_explicit_approval_denies_the_call() {
    within_limit(async {
        for human in [Human::Declines, Human::Cancels, Human::AcceptsUnticked] {
            let client = Client::new(Some(human));
            let asked = Arc::clone(&client.asked);
            let connection = connect(client, "dave", "admin", None).await;
            let result = call(
                &connection,
                "delete_customer",
                json!({"customer_id": "C002"}),
            )
            .await;
            assert_eq!(error_of(&result)["code"], "approval_denied", "{human:?}");
            assert_eq!(asked.lock().unwrap().len(), 1, "{human:?}");

            let still = call(
                &connection,
                "get_customer_details",
                json!({"customer_id": "C002"}),
            )
            .await;
            assert!(!is_error(&still), "{human:?}: {still:?}");
            close(connection).await;
        }
    })
    .await;
}

#[tokio::test]
async fn the_approval_request_shows_the_tool_and_its_validated_arguments() {
    within_limit(async {
        let client = Client::new(Some(Human::Declines));
        let asked = Arc::clone(&client.asked);
        let connection = connect(client, "dave", "admin", None).await;
        let _ = call(
            &connection,
            "delete_customer",
            json!({"customer_id": "C001"}),
        )
        .await;
        let (message, _) = asked.lock().unwrap()[0].clone();
        assert!(
            message.contains("`delete_customer` (Delete a customer for good.)"),
            "{message}"
        );
        assert!(message.contains("\"customer_id\": \"C001\""), "{message}");
        close(connection).await;
    })
    .await;
}

/// Wipe a vault, given its passphrase.
#[secure_tool(role = "admin", destructive)]
async fn wipe_vault(
    State(app): State<App>,
    /// Which vault.
    #[validate(length(min = 1, max = 16))]
    vault: String,
    /// The vault's passphrase.
    #[secret]
    #[validate(length(min = 1, max = 64))]
    passphrase: String,
) -> Result<bool, ToolError> {
    let _ = passphrase;
    app.deleted.lock().unwrap().push(vault);
    Ok(true)
}

/// Serves a toolbox on `app` in this process, over an in-memory pipe: the transport-generic
/// `Toolbox::serve`, and the app's data in reach of the test.
async fn in_process(app: App, client: Client, session: Session) -> Connection {
    let toolbox = Toolbox::builder(app)
        .tool(GetCustomerDetails)
        .tool(DeleteCustomer)
        .tool(WipeVault)
        .build()
        .unwrap();
    let (server_end, client_end) = tokio::io::duplex(64 * 1024);
    tokio::spawn(async move { toolbox.serve(session, server_end).await });
    client
        .serve(client_end)
        .await
        .expect("the MCP handshake succeeds")
}

fn dave() -> Session {
    Session::authenticated("dave", Role::Admin)
}

#[tokio::test]
async fn without_elicitation_the_data_is_untouched() {
    within_limit(async {
        let app = App::seeded();
        let connection = in_process(app.clone(), Client::new(None), dave()).await;
        for _ in 0..3 {
            let result = call(
                &connection,
                "delete_customer",
                json!({"customer_id": "C001"}),
            )
            .await;
            assert_eq!(error_of(&result)["code"], "approval_required");
        }
        assert!(app.customers.lock().unwrap().contains_key("C001"));
        assert!(app.deleted.lock().unwrap().is_empty());
        close(connection).await;
    })
    .await;
}

#[tokio::test]
async fn approval_requests_show_secret_arguments_redacted() {
    within_limit(async {
        let app = App::seeded();
        let client = Client::new(Some(Human::Approves));
        let asked = Arc::clone(&client.asked);
        let connection = in_process(app.clone(), client, dave()).await;
        let arguments = json!({"vault": "V1", "passphrase": "hunter2-correct-horse"});
        let result = call(&connection, "wipe_vault", arguments).await;
        assert!(!is_error(&result), "{result:?}");
        let (message, _) = asked.lock().unwrap()[0].clone();
        assert!(message.contains("\"vault\": \"V1\""), "{message}");
        assert!(message.contains("[redacted]"), "{message}");
        assert!(
            !message.contains("hunter2"),
            "the secret reached the client: {message}"
        );
        assert_eq!(*app.deleted.lock().unwrap(), ["V1"]);
        close(connection).await;
    })
    .await;
}

#[tokio::test]
async fn a_declined_call_leaves_the_data_untouched() {
    within_limit(async {
        let app = App::seeded();
        let connection = in_process(app.clone(), Client::new(Some(Human::Declines)), dave()).await;
        let result = call(
            &connection,
            "delete_customer",
            json!({"customer_id": "C001"}),
        )
        .await;
        assert_eq!(error_of(&result)["code"], "approval_denied");
        assert!(app.customers.lock().unwrap().contains_key("C001"));
        close(connection).await;
    })
    .await;
}

/// One line in, the replies that answer requests out, over the fixture's raw stdio.
struct RawStdio {
    child: tokio::process::Child,
    stdin: tokio::process::ChildStdin,
    stdout: tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
}

impl RawStdio {
    async fn start(user: &str, role: &str) -> RawStdio {
        use tokio::io::AsyncBufReadExt as _;
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_mcp_fixture"))
            .args([user, role])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
        RawStdio {
            child,
            stdin,
            stdout,
        }
    }

    async fn send(&mut self, line: &str) {
        use tokio::io::AsyncWriteExt as _;
        self.stdin.write_all(line.as_bytes()).await.unwrap();
        self.stdin.write_all(b"\n").await.unwrap();
        self.stdin.flush().await.unwrap();
    }

    async fn reply(&mut self) -> Value {
        let line = self.stdout.next_line().await.unwrap().expect("a reply");
        serde_json::from_str(&line).unwrap()
    }
}

#[tokio::test]
async fn a_message_repeating_a_key_is_refused_before_any_parser_picks_one() {
    within_limit(async {
        let mut raw = RawStdio::start("carol", "support_agent").await;
        raw.send(r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}"#).await;
        assert_eq!(raw.reply().await["id"], 1);
        raw.send(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#)
            .await;
        // The last `customer_id` would win in serde_json; neither does.
        raw.send(r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"get_customer_details","arguments":{"customer_id":"C002","customer_id":"C001"}}}"#).await;
        let refused = raw.reply().await;
        assert_eq!(refused["id"], 2, "{refused}");
        assert_eq!(refused["error"]["code"], -32600, "{refused}");
        assert!(
            refused["error"]["message"]
                .as_str()
                .unwrap()
                .contains("customer_id"),
            "{refused}"
        );
        // A repeated id: the reply cannot name one.
        raw.send(r#"{"jsonrpc":"2.0","id":3,"id":4,"method":"tools/list"}"#)
            .await;
        let refused = raw.reply().await;
        assert_eq!(refused["id"], Value::Null, "{refused}");
        // The connection goes on.
        raw.send(r#"{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"get_customer_details","arguments":{"customer_id":"C001"}}}"#).await;
        let ok = raw.reply().await;
        assert_eq!(ok["id"], 5);
        assert_eq!(ok["result"]["structuredContent"]["name"], "Alice Anders", "{ok}");
        drop(raw.stdin);
        let _ = raw.child.wait().await;
    })
    .await;
}

/// A destructive call on protocol 2026-07-28, asked of the client's human as an
/// `InputRequiredResult`: rmcp's client answers it through its elicitation handler and retries.
#[tokio::test]
async fn on_2026_07_28_approval_is_an_input_required_result_and_its_state_works_once() {
    within_limit(async {
        let client_for = |human| {
            let mut client = Client::new(human);
            client.protocol = ProtocolVersion::V_2026_07_28;
            client
        };
        // Approved: the call runs.
        let connection = connect(client_for(Some(Human::Approves)), "dave", "admin", None).await;
        assert_eq!(
            connection.peer_info().unwrap().protocol_version,
            ProtocolVersion::V_2026_07_28
        );
        let done = call(
            &connection,
            "delete_customer",
            json!({"customer_id": "C003"}),
        )
        .await;
        assert!(!is_error(&done), "{done:?}");
        close(connection).await;
        // Declined: nothing runs.
        let connection = connect(client_for(Some(Human::Declines)), "dave", "admin", None).await;
        let denied = call(
            &connection,
            "delete_customer",
            json!({"customer_id": "C003"}),
        )
        .await;
        assert_eq!(error_of(&denied)["code"], "approval_denied");
        close(connection).await;
        // No way to ask: approval_required with no ticket.
        let connection = connect(client_for(None), "dave", "admin", None).await;
        let asked = call(
            &connection,
            "delete_customer",
            json!({"customer_id": "C003"}),
        )
        .await;
        let error = error_of(&asked);
        assert_eq!(error["code"], "approval_required");
        assert!(error.get("ticket").is_none(), "{error}");
        close(connection).await;

        // Driving the rounds by hand: the state works once, and only unaltered.
        let connection = connect(client_for(Some(Human::Approves)), "dave", "admin", None).await;
        let arguments = json!({"customer_id": "C004"});
        let params = CallToolRequestParams::new("delete_customer")
            .with_arguments(arguments.as_object().unwrap().clone());
        let rmcp::model::CallToolResponse::InputRequired(asked) =
            connection.call_tool_once(params.clone()).await.unwrap()
        else {
            panic!("an InputRequiredResult")
        };
        let state = asked.request_state.clone().expect("a requestState");
        assert!(!state.contains("C004"), "the state is opaque: {state}");
        let approve = {
            let mut responses = rmcp::model::InputResponses::new();
            responses.insert(
                "approval".to_owned(),
                json!({"action": "accept", "content": {"approve": true}}),
            );
            responses
        };
        let retry = |state: String, arguments: Value| {
            let mut params = CallToolRequestParams::new("delete_customer")
                .with_arguments(arguments.as_object().unwrap().clone());
            params.input_responses = Some(approve.clone());
            params.request_state = Some(state);
            params
        };
        let outcome = |response: rmcp::model::CallToolResponse| match response {
            rmcp::model::CallToolResponse::Complete(result) => result,
            other => panic!("a complete result: {other:?}"),
        };
        // Altered: one character of the signed payload changed.
        let mut altered = state.clone().into_bytes();
        altered[3] = if altered[3] == b'0' { b'1' } else { b'0' };
        let altered = String::from_utf8(altered).unwrap();
        let refused = outcome(
            connection
                .call_tool_once(retry(altered, arguments.clone()))
                .await
                .unwrap(),
        );
        assert_eq!(error_of(&refused)["code"], "approval_denied");
        // Other arguments under the same state.
        let refused = outcome(
            connection
                .call_tool_once(retry(state.clone(), json!({"customer_id": "C001"})))
                .await
                .unwrap(),
        );
        assert_eq!(error_of(&refused)["code"], "approval_denied");
        // The real retry runs the call; replaying it does not.
        let done = outcome(
            connection
                .call_tool_once(retry(state.clone(), arguments.clone()))
                .await
                .unwrap(),
        );
        assert!(!is_error(&done), "{done:?}");
        let replay = outcome(
            connection
                .call_tool_once(retry(state, arguments))
                .await
                .unwrap(),
        );
        assert_eq!(error_of(&replay)["code"], "approval_denied");
        close(connection).await;
    })
    .await;
}
