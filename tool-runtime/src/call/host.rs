//! The host protocol: one JSON line, a model's tool call or the human's approval answer.

use serde::Deserialize;
use serde_json::value::RawValue;

use super::trace::Trace;
use crate::args::{duplicate_key_error, find_duplicate_key};
use crate::error::ToolError;
use crate::reply::ToolReply;
use crate::session::Session;
use crate::toolbox::Toolbox;

/// Any line of the host protocol: a tool call, or the human's answer to an approval request.
///
/// One struct rather than an untagged enum: an untagged enum buffers its input, and then
/// borrowed raw arguments cannot be read.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HostLine<'a> {
    #[serde(default, borrow)]
    name: Option<std::borrow::Cow<'a, str>>,
    #[serde(default, borrow)]
    arguments: Option<&'a RawValue>,
    #[serde(default)]
    approve: Option<String>,
    #[serde(default)]
    deny: Option<String>,
}

impl<S: Send + Sync + 'static> Toolbox<S> {
    /// Handles one line of the host protocol: a tool call `{"name", "arguments"}` (arguments
    /// an object or a string holding one), or the human's approval answer
    /// `{"approve": ticket}` / `{"deny": ticket}`. Malformed lines get `invalid_request` (or
    /// `too_large`).
    ///
    /// The approval answers must come from the human, through the host: a host that forwards
    /// text the model wrote as lines here would let the model approve its own destructive
    /// call, since the ticket is in the model's `approval_required` reply. Forward a model's
    /// calls with [`handle_call_line`](Self::handle_call_line), which refuses answers.
    pub async fn handle_line(&self, session: &Session, line: &str) -> ToolReply {
        self.handle(session, line, true).await
    }

    /// Handles a line the model wrote: a tool call `{"name", "arguments"}` only. An approval
    /// answer here is `invalid_request`: approval comes from the human, never from the model.
    pub async fn handle_call_line(&self, session: &Session, line: &str) -> ToolReply {
        self.handle(session, line, false).await
    }

    pub(super) async fn handle(&self, session: &Session, line: &str, answers: bool) -> ToolReply {
        if line.len() > self.limits().max_request_bytes {
            return self.refuse_oversized_line(session, line.len()).await;
        }
        if let Some(dup) = find_duplicate_key(line) {
            let err = duplicate_key_error(&dup);
            return self.finish(session, Trace::new(""), Err(err)).await;
        }
        let parsed = serde_json::from_str::<HostLine<'_>>(line);
        match parsed {
            Ok(HostLine {
                approve: Some(ticket),
                name: None,
                arguments: None,
                deny: None,
            }) if answers => self.approve(session, &ticket).await,
            Ok(HostLine {
                deny: Some(ticket),
                name: None,
                arguments: None,
                approve: None,
            }) if answers => self.deny(session, &ticket).await,
            Ok(HostLine {
                name: Some(name),
                arguments,
                approve: None,
                deny: None,
            }) => {
                let mut trace = Trace::new(&name);
                let text = match arguments {
                    None => std::borrow::Cow::Borrowed("{}"),
                    // OpenAI sends the arguments as a string holding the JSON object.
                    Some(raw) => serde_json::from_str::<std::borrow::Cow<'_, str>>(raw.get())
                        .unwrap_or(std::borrow::Cow::Borrowed(raw.get())),
                };
                let outcome = self.dispatch_text(session, &name, &text, &mut trace).await;
                self.finish(session, trace, outcome).await
            }
            _ => {
                let trace = Trace::new("");
                let err = ToolError::invalid_request(
                    "Send one JSON object per line: {\"name\": TOOL, \"arguments\": {...}}, or {\"approve\": TICKET} / {\"deny\": TICKET}.",
                );
                self.finish(session, trace, Err(err)).await
            }
        }
    }

    /// [`handle_line`](Self::handle_line) for a line as read from a byte stream.
    ///
    /// A line that is not UTF-8 gets `invalid_request`: decoding it lossily could turn it into
    /// a different, valid call. A host need not hold an endless line in memory to have it
    /// refused: it may stop reading at one byte over
    /// [`Limits::max_request_bytes`](crate::Limits::max_request_bytes) and pass what it has,
    /// which gets `too_large` like the whole line would.
    pub async fn handle_line_bytes(&self, session: &Session, line: &[u8]) -> ToolReply {
        self.handle_bytes(session, line, true).await
    }

    /// [`handle_call_line`](Self::handle_call_line) for a line as read from a byte stream:
    /// the model's text, so approval answers are refused.
    pub async fn handle_call_line_bytes(&self, session: &Session, line: &[u8]) -> ToolReply {
        self.handle_bytes(session, line, false).await
    }

    pub(super) async fn handle_bytes(
        &self,
        session: &Session,
        line: &[u8],
        answers: bool,
    ) -> ToolReply {
        if line.len() > self.limits().max_request_bytes {
            return self.refuse_oversized_line(session, line.len()).await;
        }
        match std::str::from_utf8(line) {
            Ok(text) => self.handle(session, text, answers).await,
            Err(_) => {
                let err =
                    ToolError::invalid_request("The line is not UTF-8 text; send JSON in UTF-8.");
                self.finish(session, Trace::new(""), Err(err)).await
            }
        }
    }

    /// A line over the size limit, refused before it is read, and recorded by its size only.
    async fn refuse_oversized_line(&self, session: &Session, bytes: usize) -> ToolReply {
        let mut trace = Trace::new("");
        let err = self.oversized(&mut trace, bytes);
        self.finish(session, trace, Err(err)).await
    }
}
