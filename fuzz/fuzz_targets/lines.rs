//! `handle_line_bytes` and `handle_call_line_bytes`: any bytes as a host or a model line, from
//! any session. A model line never approves anything.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;
use tool_runtime::ErrorCode;
use tool_runtime_fuzz::{Harness, abort_on_unexpected_panics, password_in, session};

static HARNESS: LazyLock<Harness> = LazyLock::new(Harness::new);

fuzz_target!(init: abort_on_unexpected_panics(), |data: &[u8]| {
    let [who, line @ ..] = data else { return };
    let h = &*HARNESS;
    let session = session(*who);
    let input = String::from_utf8_lossy(line);
    let password = std::str::from_utf8(line).ok().and_then(|line| {
        let value: serde_json::Value = serde_json::from_str(line).ok()?;
        (value.get("name")? == "set_password").then_some(())?;
        let args = value.get("arguments")?;
        password_in(args.as_str().unwrap_or(&args.to_string()))
    });

    let reply = h.runtime.block_on(h.toolbox.handle_line_bytes(&session, line));
    h.check(&reply, &input, password.as_deref());

    let reply = h.runtime.block_on(h.toolbox.handle_call_line_bytes(&session, line));
    h.check(&reply, &input, password.as_deref());
    assert_ne!(reply.code(), Some(ErrorCode::ApprovalDenied), "a model line reached approval");
});
