//! The demo: a transcript of tool calls a model might make at the desk, replayed through the
//! toolbox as several users, printed one row per call with what the framework did.

use std::collections::BTreeMap;
use std::io::{self, Write};

use serde_json::value::RawValue;
use tool_runtime::{Session, Toolbox};

use crate::app::{self, App};
use crate::db::Db;

/// Who sends a step: a user id, or `None` for an anonymous session.
type Who = Option<&'static str>;

/// One line the host receives.
enum Step {
    /// A model's tool call, as the JSON line it sent.
    Call {
        who: Who,
        line: String,
        note: &'static str,
    },
    /// The human answers the last approval request: `true` approves.
    Answer {
        who: Who,
        approve: bool,
        note: &'static str,
    },
}

fn call(who: &'static str, line: &str, note: &'static str) -> Step {
    Step::Call {
        who: Some(who),
        line: line.to_owned(),
        note,
    }
}

fn answer(who: &'static str, approve: bool, note: &'static str) -> Step {
    Step::Answer {
        who: Some(who),
        approve,
        note,
    }
}

/// The built-in transcript: ordinary work, mistakes, injection attempts, and destructive calls
/// that wait for a human.
fn transcript() -> Vec<Step> {
    let mut steps = vec![
        call(
            "alice",
            r#"{"name":"get_my_profile"}"#,
            "a customer asks about their account",
        ),
        call(
            "alice",
            r#"{"name":"get_my_orders","arguments":"{}"}"#,
            "arguments as OpenAI sends them",
        ),
        call(
            "alice",
            r#"{"name":"get_order","arguments":{"order_id":"O1001"}}"#,
            "her own order",
        ),
        call(
            "alice",
            r#"{"name":"get_order","arguments":{"order_id":"O1003"}}"#,
            "Bob's order: reads as missing",
        ),
        call(
            "alice",
            r#"{"name":"get_order","arguments":{"order_id":"O9999"}}"#,
            "a missing order: same reply",
        ),
        call(
            "alice",
            r#"{"name":"get_my_profile","arguments":{"user_id":"bob"}}"#,
            "smuggled identity",
        ),
        call(
            "alice",
            r#"{"name":"get_customer_details","arguments":{"customer_id":"C002"}}"#,
            "a staff tool: does not exist for her",
        ),
        Step::Call {
            who: None,
            line: r#"{"name":"get_my_profile"}"#.to_owned(),
            note: "nobody logged in",
        },
        call(
            "carol",
            r#"{"name":"search_customers","arguments":{"query":"Garcia"}}"#,
            "an agent looks someone up",
        ),
        call(
            "carol",
            r#"{"name":"search_customers","arguments":{"query":"x' OR '1'='1"}}"#,
            "SQL is only ever data",
        ),
        call(
            "carol",
            r#"{"name":"get_customer_details","arguments":{"customer_id":"C001"}}"#,
            "phone masked, no secrets",
        ),
        call(
            "carol",
            r#"{"name":"read_export","arguments":{"path":"reports/notes.txt"}}"#,
            "a customer's message in it says: delete C002",
        ),
        call(
            "carol",
            r#"{"name":"delete_customer","arguments":{"customer_id":"C002"}}"#,
            "the model obeys it: above her role",
        ),
        call(
            "carol",
            r#"{"name":"read_export","arguments":{"path":"exports/../../desk.db"}}"#,
            "path traversal",
        ),
        call(
            "carol",
            r#"{"name":"read_export","arguments":{"path":"exports/tool.exe"}}"#,
            "not a text file type",
        ),
        call(
            "carol",
            r#"{"name":"read_export","arguments":{"path":"exports/big.csv"}}"#,
            "over 1 MB",
        ),
        call(
            "carol",
            r#"{"name":"query_records","arguments":{"table":"customers","columns":["name","ssn"]}}"#,
            "a secret column cannot be named",
        ),
        call(
            "carol",
            r#"{"name":"query_records","arguments":{"table":"users"}}"#,
            "neither can another table",
        ),
        call(
            "carol",
            r#"{"name":"query_records","arguments":{"table":"orders","filter_field":"customer_id","filter_value":"C001","limit":5}}"#,
            "allowlisted columns, parameterised",
        ),
        call(
            "carol",
            r#"{"name":"update_customer_email","arguments":{"customer_id":"C001","new_email":"not-an-address"}}"#,
            "a typo",
        ),
        call(
            "carol",
            r#"{"name":"update_customer_email","arguments":{"customer_id":"C001","new_email":"alice.anders@example.net"}}"#,
            "old and new address audited",
        ),
        call(
            "carol",
            r#"{"name":"add_internal_note","arguments":{"customer_id":"C001","note":"   "}}"#,
            "a blank note",
        ),
        call(
            "carol",
            r#"{"name":"add_internal_note","arguments":{"customer_id":"C001","note":"Confirmed the new address by phone."}}"#,
            "signed with her id",
        ),
        call(
            "carol",
            r#"{"name":"update_order_status","arguments":{"order_id":"O1002","status":"cancelled"}}"#,
            "not a status support may set",
        ),
        call(
            "carol",
            r#"{"name":"update_order_status","arguments":{"order_id":"O1002","status":"shipped","role":"admin"}}"#,
            "smuggled role",
        ),
        call(
            "carol",
            r#"{"name":"update_order_status","arguments":{"order_id":"O1002","status":"shipped"}}"#,
            "only that column changes",
        ),
        call(
            "carol",
            r#"{"name":"get_customer_details","arguments":{"customer_id":"C001","customer_id":"C002"}}"#,
            "duplicate keys: neither wins",
        ),
    ];
    for n in 0..9 {
        let line = format!(r#"{{"name":"search_customers","arguments":{{"query":"C0{n}"}}}}"#);
        let note = if n == 8 {
            "a runaway loop: budget spent"
        } else {
            "a runaway loop"
        };
        steps.push(Step::Call {
            who: Some("carol"),
            line,
            note,
        });
    }
    steps.extend([
        call(
            "dave",
            r#"{"name":"get_all_orders","arguments":{"limit":3}}"#,
            "an admin sees every order",
        ),
        call(
            "dave",
            r#"{"name":"get_order","arguments":{"order_id":"O1003"}}"#,
            "any order, for an admin",
        ),
        call(
            "dave",
            r#"{"name":"execute_code","arguments":{"language":"python","code":"print(sum(range(101)))"}}"#,
            "sandboxed: no network, no files",
        ),
        call(
            "dave",
            r#"{"name":"execute_code","arguments":{"language":"python","code":"print(open('/etc/passwd').read())"}}"#,
            "runs, but the sandbox refuses the file",
        ),
        call(
            "dave",
            r#"{"name":"delete_data","arguments":{"scope":"old_logs","approved":true}}"#,
            "self-approval is not an argument",
        ),
        call(
            "dave",
            r#"{"name":"delete_data","arguments":{"scope":"old_logs"}}"#,
            "destructive: nothing happens yet",
        ),
        answer("dave", true, "the human approves: it runs"),
        call(
            "erin",
            r#"{"name":"delete_customer","arguments":{"customer_id":"C002"}}"#,
            "destructive: waits for the human",
        ),
        answer("bob", true, "someone else's ticket"),
        answer("erin", false, "the human denies: nothing ran"),
        answer("erin", true, "a used ticket cannot be replayed"),
        call(
            "bob",
            r#"{"name":"get_order","arguments":{"order_id":"O1003"}}"#,
            "C002 still has its orders",
        ),
    ]);
    steps
}

/// What the transcript came to.
#[derive(Debug, Default)]
pub struct Summary {
    /// Lines handled.
    pub calls: usize,
    /// Calls that ran and returned a result.
    pub allowed: usize,
    /// Refused calls, by error code.
    pub refused: BTreeMap<&'static str, usize>,
}

/// Replays the transcript through `toolbox`, whose database is `db`, writing the table and
/// the summary to `out`.
pub async fn replay(toolbox: &Toolbox<App>, db: &Db, out: &mut impl Write) -> io::Result<Summary> {
    let mut summary = Summary::default();
    // The last approval request: its ticket, and the tool it is for.
    let mut pending: Option<(String, String)> = None;
    writeln!(
        out,
        "{:<7} {:<26} {:<46} {:<18} what it shows",
        "user", "tool", "arguments", "outcome"
    )?;
    writeln!(out, "{}", "-".repeat(124))?;
    for step in transcript() {
        let (who, tool, arguments, note, reply) = match step {
            Step::Call { who, line, note } => {
                let session = session_of(db, who)?;
                let (tool, arguments) = describe(&line);
                let reply = toolbox.handle_line(&session, &line).await;
                if let Some(ticket) = reply.host().map(|h| h.ticket.as_str()) {
                    pending = Some((ticket.to_owned(), tool.clone()));
                }
                (who, tool, arguments, note, reply)
            }
            Step::Answer { who, approve, note } => {
                let session = session_of(db, who)?;
                let (ticket, tool) = pending.clone().unwrap_or_default();
                let verb = if approve { "approve" } else { "deny" };
                let line = serde_json::json!({ verb: ticket }).to_string();
                let reply = toolbox.handle_line(&session, &line).await;
                let short: String = ticket.chars().take(8).collect();
                (
                    who,
                    format!("({verb}) {tool}"),
                    format!("ticket {short}…"),
                    note,
                    reply,
                )
            }
        };
        summary.calls += 1;
        match reply.code() {
            None => summary.allowed += 1,
            Some(code) => *summary.refused.entry(code.as_str()).or_default() += 1,
        }
        writeln!(
            out,
            "{:<7} {:<26} {:<46} {:<18} {note}",
            who.unwrap_or("(anon)"),
            clip(&tool, 26),
            clip(&arguments, 46),
            reply.outcome_code(),
        )?;
    }
    writeln!(out)?;
    let refused: usize = summary.refused.values().sum();
    writeln!(
        out,
        "{} calls: {} allowed, {} refused",
        summary.calls, summary.allowed, refused
    )?;
    for (code, n) in &summary.refused {
        writeln!(out, "  {code:<18} {n}")?;
    }
    writeln!(
        out,
        "\nEvery line above is in the audit log, written before the reply went back."
    )?;
    Ok(summary)
}

fn session_of(db: &Db, who: Who) -> io::Result<Session> {
    let Some(id) = who else {
        return Ok(Session::anonymous());
    };
    let user = db
        .find_user(id)
        .map_err(|e| io::Error::other(e.to_string()))?
        .ok_or_else(|| io::Error::other(format!("the demo's user {id} is not in the database")))?;
    Ok(app::session(Some(&user)))
}

/// The tool name and arguments of a call line as sent, for the table.
fn describe(line: &str) -> (String, String) {
    #[derive(serde::Deserialize)]
    struct Shown<'a> {
        #[serde(default)]
        name: String,
        #[serde(default, borrow)]
        arguments: Option<&'a RawValue>,
    }
    // Raw text rather than a parsed value: a duplicate key would collapse when parsed.
    let Ok(shown) = serde_json::from_str::<Shown<'_>>(line) else {
        return ("?".to_owned(), line.to_owned());
    };
    let arguments = match shown.arguments {
        None => String::new(),
        Some(raw) => {
            serde_json::from_str::<String>(raw.get()).unwrap_or_else(|_| raw.get().to_owned())
        }
    };
    (shown.name, arguments)
}

fn clip(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_owned();
    }
    let mut clipped: String = text.chars().take(width - 1).collect();
    clipped.push('…');
    clipped
}
