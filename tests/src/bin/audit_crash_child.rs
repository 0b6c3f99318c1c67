//! The process the audit crash test kills: 8 threads make 1,000 calls each through the fixture
//! toolbox with a durable audit sink, and print `THREAD CALL` on standard output once a call's
//! reply is in hand, which is the moment a client would have it.
//!
//! `audit_crash_child sqlite|jsonl PATH`

use std::io::Write;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use tool_runtime::Session;
use tool_runtime::audit::{AuditSink, JsonLinesSink, SqliteSink};
use tool_tests::{App, Role, toolbox_with};

const THREADS: usize = 8;
const CALLS: usize = 1000;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let toolbox = match args.as_slice() {
        [kind, path] if kind == "sqlite" => SqliteSink::open(path).map(with),
        [kind, path] if kind == "jsonl" => JsonLinesSink::open(path).map(with).map_err(Into::into),
        _ => return fail("usage: audit_crash_child sqlite|jsonl PATH"),
    };
    let toolbox = match toolbox {
        Ok(toolbox) => Arc::new(toolbox),
        Err(e) => return fail(&e.to_string()),
    };
    let out = Arc::new(Mutex::new(std::io::stdout()));
    let workers: Vec<_> = (0..THREADS)
        .map(|thread| {
            let toolbox = Arc::clone(&toolbox);
            let out = Arc::clone(&out);
            std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_time()
                    .build()
                    .expect("a runtime");
                let session = Session::authenticated(format!("u{thread}"), Role::User);
                for call in 0..CALLS {
                    let args = format!(r#"{{"limit":{},"tag":"{thread}-{call}"}}"#, call % 100 + 1);
                    let reply = runtime.block_on(toolbox.call_json(&session, "pick", &args));
                    assert!(reply.is_ok(), "{}", reply.to_json());
                    let mut out = out.lock().unwrap_or_else(|p| p.into_inner());
                    writeln!(out, "{thread} {call}")
                        .and_then(|()| out.flush())
                        .expect("stdout");
                }
            })
        })
        .collect();
    for worker in workers {
        if worker.join().is_err() {
            return fail("a caller failed");
        }
    }
    ExitCode::SUCCESS
}

fn with(sink: impl AuditSink) -> tool_runtime::Toolbox<App> {
    toolbox_with(App::seeded(), |b| b.audit(sink))
}

fn fail(message: &str) -> ExitCode {
    eprintln!("{message}");
    ExitCode::FAILURE
}
