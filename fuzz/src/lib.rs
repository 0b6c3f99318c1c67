//! What every dispatch target checks beyond "no panic": the fixture toolbox with an audit sink
//! that counts, the sessions to call it as, and the invariants of a reply.

use std::sync::{Arc, Mutex};

use tool_runtime::StoreFuture;
use tool_runtime::audit::{AuditError, AuditRecord, AuditSink};
use tool_runtime::{Session, ToolReply, Toolbox};
use tool_tests::{App, Role};

/// The fixture application's secret values: none may ever reach a reply.
pub fn secrets(app: &App) -> Vec<String> {
    let customers = app.customers.lock().unwrap();
    customers
        .values()
        .flat_map(|c| [c.ssn.clone(), c.payment_token.clone()])
        .collect()
}

/// Keeps the records of the call in progress only: a run makes millions of calls.
#[derive(Clone, Default)]
pub struct Recent(Arc<Mutex<Vec<AuditRecord>>>);

impl Recent {
    /// The records written since the last call, emptied.
    pub fn take(&self) -> Vec<AuditRecord> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

impl AuditSink for Recent {
    fn record<'a>(&'a self, record: &'a AuditRecord) -> StoreFuture<'a, Result<(), AuditError>> {
        self.0.lock().unwrap().push(record.clone());
        StoreFuture::ready(Ok(()))
    }
}

/// The fixture toolbox, its sink, its secrets and a runtime whose clock only moves when every
/// task waits: the `slow` tool's time limit passes at once instead of after 50 ms.
pub struct Harness {
    pub toolbox: Toolbox<App>,
    pub audit: Recent,
    pub secrets: Vec<String>,
    pub runtime: tokio::runtime::Runtime,
    pub names: Vec<&'static str>,
}

impl Harness {
    pub fn new() -> Self {
        let app = App::seeded();
        let secrets = secrets(&app);
        let audit = Recent::default();
        let toolbox = tool_tests::toolbox_with(app, |b| b.audit(audit.clone()));
        let names = toolbox.specs().map(|s| s.name).collect();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .expect("a runtime");
        Harness {
            toolbox,
            audit,
            secrets,
            runtime,
            names,
        }
    }

    /// Checks one reply: a valid envelope, no secret in it, exactly one audit record with the
    /// reply's outcome, and no `#[secret]` argument's value in that record. A secret the input
    /// itself carries may come back (an unknown field's name is quoted to the model), so only
    /// secrets absent from `input` are looked for.
    pub fn check(&self, reply: &ToolReply, input: &str, password: Option<&str>) {
        let line = reply.to_json();
        let envelope: serde_json::Value =
            serde_json::from_str(&line).expect("the reply is one JSON document");
        match envelope.get("ok") {
            Some(serde_json::Value::Bool(true)) => {
                assert!(
                    envelope.get("result").is_some(),
                    "a success has a result: {line}"
                )
            }
            Some(serde_json::Value::Bool(false)) => {
                let error = &envelope["error"];
                assert!(error["code"].is_string(), "an error has a code: {line}");
                assert!(
                    error["message"].is_string(),
                    "an error has a message: {line}"
                );
            }
            _ => panic!("not an envelope: {line}"),
        }
        for secret in self.secrets.iter().filter(|s| !input.contains(s.as_str())) {
            assert!(
                !line.contains(secret.as_str()),
                "a secret in a reply: {line}"
            );
        }
        let records = self.audit.take();
        assert_eq!(records.len(), 1, "one audit record per call: {records:?}");
        assert_eq!(records[0].outcome, reply.outcome_code());
        if let Some(password) = password {
            let record = serde_json::to_string(&records[0]).expect("a record serialises");
            assert!(
                !record.contains(password),
                "a secret argument in the audit log: {record}"
            );
        }
    }
}

impl Default for Harness {
    fn default() -> Self {
        Self::new()
    }
}

/// A session picked by one byte: anonymous, each role, an expired admin.
pub fn session(byte: u8) -> Session {
    match byte % 7 {
        0 => Session::anonymous(),
        1 => Session::anonymous().with_client("10.0.0.1"),
        2 => Session::authenticated("u1", Role::User),
        3 => Session::authenticated("u2", Role::SupportAgent),
        4 => Session::authenticated("u3", Role::Admin),
        5 => Session::authenticated("u4", Role::SuperAdmin),
        _ => Session::authenticated("u5", Role::SuperAdmin)
            .expires_at(std::time::SystemTime::UNIX_EPOCH),
    }
}

/// The `password` a `set_password` call carries, if it is long enough to be told apart from
/// the rest of a record (a name, an outcome) and so must not appear in it.
pub fn password_in(args: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(args).ok()?;
    let password = value.get("password")?.as_str()?;
    (password.len() >= 16).then(|| serde_json::to_string(password).ok())?
}

/// Lets the fixture's deliberately panicking tool (`buggy`) panic, as the runtime expects
/// handlers may; any other panic, even one the runtime catches, is a finding.
pub fn abort_on_unexpected_panics() {
    let fuzzer_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| info.payload().downcast_ref::<String>().map(String::as_str))
            .unwrap_or_default();
        if !message.starts_with("secret internal state") {
            fuzzer_hook(info);
        }
    }));
}
