//! `Toolbox::call_json`: any fixture tool, any session, any text as arguments.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;
use tool_runtime_fuzz::{Harness, abort_on_unexpected_panics, password_in, session};

static HARNESS: LazyLock<Harness> = LazyLock::new(Harness::new);

fuzz_target!(init: abort_on_unexpected_panics(), |data: &[u8]| {
    let [tool, who, args @ ..] = data else { return };
    let h = &*HARNESS;
    let name = h.names[usize::from(*tool) % h.names.len()];
    let args = String::from_utf8_lossy(args);
    let session = session(*who);
    let reply = h.runtime.block_on(h.toolbox.call_json(&session, name, &args));
    let password = (name == "set_password").then(|| password_in(&args)).flatten();
    h.check(&reply, &args, password.as_deref());
});
