//! Serves the fixture toolbox over MCP on standard input and output, for the end-to-end tests.
//!
//! `mcp_fixture USER ROLE [AUDIT_LOG]`: every call is made as USER with ROLE (`user`,
//! `support_agent`, `admin`, `super_admin`, or `anonymous` for no login), on a freshly seeded
//! app; with AUDIT_LOG, each call's audit record is appended to that file as a JSON line.

use std::process::ExitCode;

use tool_runtime::audit::JsonLinesSink;
use tool_runtime::{Role as _, Session};
use tool_tests::{App, Role, toolbox, toolbox_with};

const USAGE: &str = "usage: mcp_fixture USER ROLE [AUDIT_LOG]";

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (user, role, audit) = match args.as_slice() {
        [user, role] => (user, role, None),
        [user, role, audit] => (user, role, Some(audit)),
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let session = match role.as_str() {
        "anonymous" => Session::anonymous(),
        name => match Role::from_name(name) {
            Some(role) => Session::authenticated(user.as_str(), role),
            None => {
                eprintln!("unknown role `{name}`; {USAGE}");
                return ExitCode::from(2);
            }
        },
    };
    let toolbox = match audit {
        None => toolbox(App::seeded()),
        Some(path) => match JsonLinesSink::open(path) {
            Ok(sink) => toolbox_with(App::seeded(), |b| b.audit(sink)),
            Err(e) => {
                eprintln!("cannot open the audit log {path}: {e}");
                return ExitCode::FAILURE;
            }
        },
    };
    match toolbox.serve_stdio(session).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}
