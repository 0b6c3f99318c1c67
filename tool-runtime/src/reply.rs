//! The envelope a call ends in: `{"ok": true, "result": ...}` or `{"ok": false, "error": {...}}`.

use serde::Serialize;
use serde::ser::SerializeMap;
use serde_json::value::RawValue;

use crate::error::{ErrorCode, ToolError};

/// The outcome of one call, as the model (or host) gets it. Serialise it for the envelope.
#[derive(Debug)]
pub struct ToolReply {
    outcome: Result<Success, ToolError>,
    host: Option<HostApproval>,
}

/// The host-only part of an `approval_required` reply: what the person is asked to approve, and
/// the ticket the host redeems with their answer. The model never gets it
/// ([`ToolReply::for_model`]): a model holding a ticket could answer its own approval request.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HostApproval {
    /// Redeem it with `Toolbox::approve` or `Toolbox::deny`.
    pub ticket: String,
    /// When the ticket stops being valid, RFC 3339 in UTC.
    pub expires_at: String,
    /// The tool that waits.
    pub tool: String,
    /// The validated arguments, `#[secret]` ones redacted.
    pub arguments: serde_json::Value,
}

/// A call's value, serialised: what the envelope's `result` holds.
#[derive(Debug)]
pub(crate) struct Success {
    /// JSON text the runtime itself serialised: written into the envelope as it is.
    pub(crate) result: String,
    pub(crate) capped: Option<Capped>,
}

/// A list output was cut by `max_items`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Capped {
    /// Items returned.
    pub returned: usize,
    /// Items the handler produced.
    pub total: usize,
}

impl ToolReply {
    pub(crate) fn new(outcome: Result<Success, ToolError>) -> Self {
        ToolReply {
            outcome,
            host: None,
        }
    }

    /// A failed call.
    pub fn failure(error: ToolError) -> Self {
        ToolReply {
            outcome: Err(error),
            host: None,
        }
    }

    pub(crate) fn with_host(mut self, host: Option<HostApproval>) -> Self {
        self.host = host;
        self
    }

    /// The host-only part of an `approval_required` reply: the ticket and what it stands for.
    pub fn host(&self) -> Option<&HostApproval> {
        self.host.as_ref()
    }

    /// The envelope as the model may see it: without [`host`](Self::host).
    pub fn for_model(&self) -> ForModel<'_> {
        ForModel(self)
    }

    /// Whether the call succeeded.
    pub fn is_ok(&self) -> bool {
        self.outcome.is_ok()
    }

    /// `"ok"` or the error code, as the audit log writes it.
    pub fn outcome_code(&self) -> &'static str {
        match &self.outcome {
            Ok(_) => "ok",
            Err(e) => e.code().as_str(),
        }
    }

    /// The error code of a failed call.
    pub fn code(&self) -> Option<ErrorCode> {
        self.outcome.as_ref().err().map(ToolError::code)
    }

    /// The error of a failed call.
    pub fn error(&self) -> Option<&ToolError> {
        self.outcome.as_ref().err()
    }

    /// The projected result of a successful call, as JSON text.
    pub fn result_json(&self) -> Option<&str> {
        self.outcome.as_ref().ok().map(|s| s.result.as_str())
    }

    /// The projected result of a successful call, parsed.
    pub fn result(&self) -> Option<serde_json::Value> {
        self.result_json()
            .and_then(|text| serde_json::from_str(text).ok())
    }

    /// Whether `max_items` cut the result, and by how much.
    pub fn capped(&self) -> Option<Capped> {
        self.outcome.as_ref().ok().and_then(|s| s.capped)
    }

    /// The envelope as one line of JSON, the host-only part included: for the host, never for
    /// the model (give it [`for_model`](Self::for_model)).
    pub fn to_json(&self) -> String {
        // The common case, written directly: the result is JSON text already.
        if let Ok(Success {
            result,
            capped: None,
        }) = &self.outcome
        {
            let mut out = String::with_capacity(result.len() + 22);
            out.push_str(r#"{"ok":true,"result":"#);
            out.push_str(result);
            out.push('}');
            return out;
        }
        serde_json::to_string(self).unwrap_or_else(|_| {
            r#"{"ok":false,"error":{"code":"internal","message":"The reply could not be written."}}"#
                .to_owned()
        })
    }

    /// The envelope as a value.
    pub fn to_value(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}

/// A reply seen as the model may see it: the envelope without its host-only part.
#[derive(Clone, Copy, Debug)]
pub struct ForModel<'a>(&'a ToolReply);

impl ForModel<'_> {
    /// The envelope as one line of JSON.
    pub fn to_json(&self) -> String {
        if self.0.host.is_none() {
            return self.0.to_json();
        }
        serde_json::to_string(self).unwrap_or_else(|_| {
            r#"{"ok":false,"error":{"code":"internal","message":"The reply could not be written."}}"#
                .to_owned()
        })
    }

    /// The envelope as a value.
    pub fn to_value(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}

impl Serialize for ForModel<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize_envelope(serializer, false)
    }
}

impl Serialize for ToolReply {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.serialize_envelope(serializer, true)
    }
}

impl ToolReply {
    fn serialize_envelope<S: serde::Serializer>(
        &self,
        serializer: S,
        with_host: bool,
    ) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        match &self.outcome {
            Ok(success) => {
                map.serialize_entry("ok", &true)?;
                let raw: &RawValue =
                    serde_json::from_str(&success.result).map_err(serde::ser::Error::custom)?;
                map.serialize_entry("result", raw)?;
                if let Some(capped) = &success.capped {
                    map.serialize_entry("capped", capped)?;
                }
            }
            Err(error) => {
                map.serialize_entry("ok", &false)?;
                map.serialize_entry("error", error)?;
                if let (true, Some(host)) = (with_host, &self.host) {
                    map.serialize_entry("host", host)?;
                }
            }
        }
        map.end()
    }
}
