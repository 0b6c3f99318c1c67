//! What a call goes through, in order, each step in the file named for it:
//!
//! 1. [`host`]: a line of the host protocol is read (size, duplicate keys, its shape), or the
//!    host calls an entry point below with a name and arguments;
//! 2. [`pipeline`]: the size limit, the tool's lookup (unknown and above-role read the same),
//!    authentication, the rate limit, the arguments read and validated by the tool's own
//!    compiled code, the approval gate, the handler under its [`deadline`], the output cap,
//!    all inside one panic boundary;
//! 3. [`answers`]: the human's answer to an approval request runs or drops the waiting call;
//! 4. [`trace`]: what the call left for its audit record, the refusal budget, and the record
//!    written before the reply is returned.

mod answers;
mod deadline;
mod host;
mod pipeline;
mod trace;

use std::panic::AssertUnwindSafe;

use serde_json::Value;

use crate::args::ArgsSource;
use crate::erased::panic_error;
use crate::error::ToolError;
use crate::reply::ToolReply;
use crate::session::Session;
use crate::toolbox::Toolbox;
use trace::{Trace, json_len_within};

/// The length of `value` as compact JSON text.
pub(crate) fn json_len(value: &serde_json::Value) -> usize {
    json_len_within(value, usize::MAX).unwrap_or_default()
}

impl<S: Send + Sync + 'static> Toolbox<S> {
    /// Checks arguments as a call would (lookup, access, parsing and validation) without running
    /// anything, counting against no budget, and writing no audit record: for a host that wants
    /// to check a model's call before queueing it.
    pub fn check_arguments(
        &self,
        session: &Session,
        name: &str,
        args_json: &str,
    ) -> Result<(), ToolError> {
        if args_json.len() > self.limits().max_request_bytes {
            return Err(self.request_too_large());
        }
        let index = self.lookup(session, name)?;
        let tool = &self.entry(index).tool;
        std::panic::catch_unwind(AssertUnwindSafe(|| tool.check(ArgsSource::Text(args_json))))
            .unwrap_or_else(|panic| Err(panic_error(&*panic)))
    }

    /// Calls a tool with arguments the host already holds as a value.
    ///
    /// Prefer [`call_json`](Self::call_json) for what a provider sent: only raw text shows
    /// duplicate keys.
    pub async fn call(&self, session: &Session, name: &str, args: Value) -> ToolReply {
        let mut trace = Trace::new(name);
        let max = self.limits().max_request_bytes;
        let outcome = match json_len_within(&args, max) {
            Some(bytes) => {
                let outcome = self
                    .dispatch(session, name, ArgsSource::Value(&args), &mut trace)
                    .await;
                if trace.arguments.is_null() {
                    trace.record_raw(args, bytes);
                }
                outcome
            }
            None => Err(self.oversized(&mut trace, max + 1)),
        };
        self.finish(session, trace, outcome).await
    }

    /// Refuses a call before it reaches the tool, for a reason of the host's (a user with too
    /// many calls running, say), and writes its record as every call's: the arguments bounded
    /// and redacted as a refused call's are.
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    pub(crate) async fn refuse(
        &self,
        session: &Session,
        name: &str,
        args: Value,
        error: ToolError,
    ) -> ToolReply {
        let mut trace = Trace::new(name);
        if let Some(index) = self.index_of(name) {
            trace.secrets = self.entry(index).tool.secret_fields();
        }
        let max = self.limits().max_request_bytes;
        let bytes = json_len_within(&args, max).unwrap_or(max + 1);
        trace.record_raw(args, bytes);
        self.finish(session, trace, Err(error)).await
    }

    /// Calls a tool with the raw JSON text of its arguments, as providers send them.
    pub async fn call_json(&self, session: &Session, name: &str, args_json: &str) -> ToolReply {
        let mut trace = Trace::new(name);
        let outcome = self
            .dispatch_text(session, name, args_json, &mut trace)
            .await;
        self.finish(session, trace, outcome).await
    }
}
