//! What the dispatch tests share: the fixture's sessions and how to read a reply.

#![allow(dead_code)] // Each test file uses its own part of this.

use serde_json::Value;
use tool_runtime::audit::MemorySink;
use tool_runtime::{ErrorCode, Session, ToolReply, Toolbox};
use tool_tests::{App, Role};

pub fn agent() -> Session {
    Session::authenticated("carol", Role::SupportAgent)
}
pub fn user() -> Session {
    Session::authenticated("alice", Role::User)
}
pub fn admin() -> Session {
    Session::authenticated("dave", Role::Admin)
}

/// The call most tests make: `get_customer_details` for one customer, a support agent's tool.
pub async fn customer_details(tb: &Toolbox<App>, session: &Session, id: &str) -> ToolReply {
    let args = serde_json::json!({ "customer_id": id }).to_string();
    tb.call_json(session, "get_customer_details", &args).await
}

pub fn code(reply: &ToolReply) -> Option<&'static str> {
    reply.code().map(ErrorCode::as_str)
}

/// The ticket of an `approval_required` reply.
pub fn ticket_of(reply: &ToolReply) -> String {
    let host = reply
        .host()
        .expect("an approval_required reply with a host part");
    host.ticket.clone()
}

/// Every record the sink holds, as one JSON text to search.
pub fn records_text(sink: &MemorySink) -> String {
    let records: Vec<Value> = sink
        .records()
        .iter()
        .map(|r| serde_json::to_value(r).unwrap())
        .collect();
    serde_json::to_string(&records).unwrap()
}

pub fn fields(reply: &ToolReply) -> Value {
    reply.to_value()["error"]["fields"].clone()
}
