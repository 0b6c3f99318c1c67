//! `support-desk serve`: the MCP server on stdio, driven as a client would.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Stdio};

use common::{Desk, assert_no_secrets, binary};
use serde_json::{Value, json};

struct Client {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    next_id: u64,
}

impl Client {
    fn start(desk: &Desk, user: &str, capabilities: Value) -> Client {
        let mut child = binary()
            .args([
                "serve",
                "--db",
                "desk.db",
                "--data-dir",
                "data",
                "--user",
                user,
            ])
            .current_dir(desk.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let mut client = Client {
            child,
            stdin,
            stdout,
            next_id: 0,
        };
        let init = client.request(
            "initialize",
            json!({"protocolVersion": "2025-06-18", "capabilities": capabilities,
                   "clientInfo": {"name": "test", "version": "1"}}),
        );
        assert_eq!(init["result"]["protocolVersion"], "2025-06-18");
        client.send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
        client
    }

    fn send(&mut self, message: &Value) {
        writeln!(self.stdin, "{message}").unwrap();
        self.stdin.flush().unwrap();
    }

    fn read(&mut self) -> Value {
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        assert_no_secrets(&line);
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line:?}"))
    }

    /// Sends a request and returns its response, answering server requests on the way with
    /// `answer`.
    fn request_answering(
        &mut self,
        method: &str,
        params: Value,
        answer: impl Fn(&Value) -> Value,
    ) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        loop {
            let message = self.read();
            if message["id"] == id && message.get("method").is_none() {
                return message;
            }
            if message.get("method").is_some() && message.get("id").is_some() {
                let result = answer(&message);
                self.send(&json!({"jsonrpc": "2.0", "id": message["id"], "result": result}));
            }
        }
    }

    fn request(&mut self, method: &str, params: Value) -> Value {
        self.request_answering(method, params, |m| panic!("unexpected server request {m}"))
    }

    fn call(&mut self, tool: &str, arguments: Value) -> Value {
        self.request("tools/call", json!({"name": tool, "arguments": arguments}))["result"].clone()
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_customer_lists_and_calls_only_their_tools() {
    let desk = Desk::new();
    let mut alice = Client::start(&desk, "alice", json!({}));
    let listed = alice.request("tools/list", json!({}));
    let mut names: Vec<&str> = listed["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["get_my_orders", "get_my_profile", "get_order"]);

    let profile = alice.call("get_my_profile", json!({}));
    assert_eq!(profile["structuredContent"]["email"], "alice@example.com");
    let hidden = alice.call("get_order", json!({"order_id": "O1003"}));
    let missing = alice.call("get_order", json!({"order_id": "O9999"}));
    assert_eq!(hidden["isError"], true);
    assert_eq!(hidden, missing);
    let above = alice.call("get_customer_details", json!({"customer_id": "C001"}));
    assert_eq!(above["isError"], true);
    assert!(
        above["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("not_found")
    );

    let tools: Vec<String> = desk
        .audit()
        .iter()
        .map(|r| r["tool"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        tools,
        [
            "get_my_profile",
            "get_order",
            "get_order",
            "get_customer_details"
        ]
    );
}

#[test]
fn a_destructive_call_runs_only_once_the_human_accepts() {
    let desk = Desk::new();
    // A client that cannot ask the human: nothing runs.
    let mut plain = Client::start(&desk, "erin", json!({}));
    let refused = plain.call("delete_customer", json!({"customer_id": "C002"}));
    assert_eq!(refused["isError"], true);
    assert!(
        refused["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("approval_required")
    );
    drop(plain);

    let mut erin = Client::start(&desk, "erin", json!({"elicitation": {}}));
    let declined = erin.request_answering(
        "tools/call",
        json!({"name": "delete_customer", "arguments": {"customer_id": "C002"}}),
        |_| json!({"action": "accept", "content": {"approve": false}}),
    );
    assert_eq!(declined["result"]["isError"], true);
    let still = erin.call("get_customer_details", json!({"customer_id": "C002"}));
    assert_eq!(still["structuredContent"]["name"], "Bob Brown");

    let accepted = erin.request_answering(
        "tools/call",
        json!({"name": "delete_customer", "arguments": {"customer_id": "C002"}}),
        |request| {
            assert_eq!(request["method"], "elicitation/create");
            json!({"action": "accept", "content": {"approve": true}})
        },
    );
    assert_eq!(
        accepted["result"]["structuredContent"]["customer_id"], "C002",
        "{accepted}"
    );
    let gone = erin.call("get_customer_details", json!({"customer_id": "C002"}));
    assert_eq!(gone["isError"], true);
}
