//! Human approval of destructive calls: tickets that stand for one exact call.
//!
//! A destructive call is validated and authorised, then parked in an [`ApprovalStore`] instead
//! of run; the reply carries the ticket, and only the host (the human, through
//! `Toolbox::approve`) can redeem it. A ticket is bound to its user, its tool and a digest of
//! its arguments, works once, and expires.
//!
//! One instance keeps its tickets in memory ([`InMemoryApprovals`], the default). Instances
//! behind one load balancer share them in Redis (`RedisApprovals`, feature `redis`), so that a
//! call parked on one instance is approved on any other, once.

use std::time::Duration;

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::store::{StoreFuture, StoreUnreachable};

mod memory;
#[cfg(feature = "redis")]
mod redis;

pub use memory::{DEFAULT_MAX_PER_USER, InMemoryApprovals};
#[cfg(feature = "redis")]
pub use redis::RedisApprovals;

/// A call waiting for a person's approval, as an [`ApprovalStore`] keeps it.
#[derive(Clone, Debug, PartialEq)]
pub struct ParkedCall {
    /// The user who made the call: only they can redeem its ticket.
    pub user: String,
    /// The tool called.
    pub tool: String,
    /// The digest of the arguments ([`args_digest`] of `sent`).
    pub args_digest: [u8; 32],
    /// The arguments as sent, read again when the call is approved.
    pub sent: Value,
    /// The same, `#[secret]` ones redacted: what the person is shown and the records keep.
    pub shown: Value,
}

/// Why a ticket was not redeemed. For the audit log: the model only ever sees `approval_denied`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum Refused {
    /// No such ticket: never issued, already used, evicted, or purged after expiring.
    #[error("no such pending ticket")]
    Unknown,
    /// The ticket expired before it was redeemed; it is gone now.
    #[error("the ticket expired")]
    Expired,
    /// The ticket belongs to another user; it stays usable by its owner.
    #[error("the ticket belongs to another user")]
    WrongUser,
}

impl Refused {
    /// A short snake_case name, for the audit log.
    pub fn as_str(self) -> &'static str {
        match self {
            Refused::Unknown => "unknown",
            Refused::Expired => "expired",
            Refused::WrongUser => "wrong_user",
        }
    }
}

/// Why an [`ApprovalStore`] did not do what was asked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApprovalError {
    /// The ticket was refused: the call is `approval_denied`.
    #[error(transparent)]
    Refused(#[from] Refused),
    /// The store could not answer: the call fails closed as `internal`, and nothing runs.
    #[error("the approval store is unavailable: {0}")]
    Unavailable(Box<dyn std::error::Error + Send + Sync>),
}

impl ApprovalError {
    /// Wraps a store's failure.
    pub fn unavailable(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        ApprovalError::Unavailable(error.into())
    }
}

/// Where calls wait for a person's approval.
///
/// An implementation must make each ticket work once, however many instances share the store:
/// [`take`](Self::take) is atomic, and of two concurrent takes of one ticket at most one gets
/// the call. A store that cannot answer says [`ApprovalError::Unavailable`] (within a bounded
/// time), never blocks a caller indefinitely, and never panics.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an approval store",
    note = "implement `tool_runtime::approval::ApprovalStore` for it, or use `InMemoryApprovals` (one instance) or `RedisApprovals` (many)"
)]
pub trait ApprovalStore: Send + Sync + 'static {
    /// Keeps `call` for `ttl` and returns its ticket: at least 128 bits from a CSPRNG, as
    /// lowercase hex, unique among pending tickets.
    fn park(
        &self,
        call: ParkedCall,
        ttl: Duration,
    ) -> StoreFuture<'_, Result<String, ApprovalError>>;

    /// Takes the call parked under `ticket`, if `user` made it and it has not expired. A taken
    /// ticket is gone; a ticket presented by another user is refused and left for its owner.
    fn take<'a>(
        &'a self,
        ticket: &'a str,
        user: &'a str,
    ) -> StoreFuture<'a, Result<ParkedCall, ApprovalError>>;

    /// The call parked under `ticket`, without taking it, if `user` made it and it has not
    /// expired.
    fn peek<'a>(
        &'a self,
        ticket: &'a str,
        user: &'a str,
    ) -> StoreFuture<'a, Result<Option<ParkedCall>, ApprovalError>>;

    /// Whether the store can answer now: for a health check. An in-memory store always can.
    fn health(&self) -> StoreFuture<'_, Result<(), StoreUnreachable>> {
        StoreFuture::ready(Ok(()))
    }
}

impl<T: ApprovalStore + ?Sized> ApprovalStore for std::sync::Arc<T> {
    fn park(
        &self,
        call: ParkedCall,
        ttl: Duration,
    ) -> StoreFuture<'_, Result<String, ApprovalError>> {
        (**self).park(call, ttl)
    }
    fn take<'a>(
        &'a self,
        ticket: &'a str,
        user: &'a str,
    ) -> StoreFuture<'a, Result<ParkedCall, ApprovalError>> {
        (**self).take(ticket, user)
    }
    fn peek<'a>(
        &'a self,
        ticket: &'a str,
        user: &'a str,
    ) -> StoreFuture<'a, Result<Option<ParkedCall>, ApprovalError>> {
        (**self).peek(ticket, user)
    }
    fn health(&self) -> StoreFuture<'_, Result<(), StoreUnreachable>> {
        (**self).health()
    }
}

/// SHA-256 of the canonical JSON text of `canonical`: compact, object keys in byte order.
///
/// An approval is bound to this digest, so the call that runs is the call the human saw. Keys
/// are sorted here rather than trusting `serde_json::Map` to be sorted: any crate in an
/// application can turn on serde_json's `preserve_order` feature, which would otherwise make
/// the digest depend on the order the model happened to write the keys in. Numbers are
/// written as serde_json writes them, so pass the arguments as parsed, not re-typed.
pub fn args_digest(canonical: &Value) -> [u8; 32] {
    let mut text = Vec::new();
    write_canonical(canonical, &mut text);
    Sha256::digest(&text).into()
}

fn write_canonical(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_unstable_by_key(|&(key, _)| key);
            out.push(b'{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_scalar(&Value::String(key.clone()), out);
                out.push(b':');
                write_canonical(item, out);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(item, out);
            }
            out.push(b']');
        }
        scalar => write_scalar(scalar, out),
    }
}

fn write_scalar(scalar: &Value, out: &mut Vec<u8>) {
    serde_json::to_writer(out, scalar).expect("a JSON scalar always encodes into memory");
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn digest_of(v: Value) -> [u8; 32] {
        args_digest(&v)
    }

    #[test]
    fn digest_ignores_key_order() {
        let a: Value = serde_json::from_str(r#"{"b": 1, "a": {"y": [1, 2], "x": null}}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{"a": {"x": null, "y": [1, 2]}, "b": 1}"#).unwrap();
        assert_eq!(args_digest(&a), args_digest(&b));
    }

    #[test]
    fn digest_binds_the_arguments() {
        let base = digest_of(json!({"customer_id": "C001"}));
        for other in [
            json!({"customer_id": "C002"}),
            json!({"customer_id": "C001", "extra": true}),
            json!({"customer_id": ["C001"]}),
            json!({}),
        ] {
            assert_ne!(base, args_digest(&other), "{other}");
        }
        assert_ne!(digest_of(json!([1, 2])), digest_of(json!([2, 1])));
    }

    #[test]
    fn digest_is_sha256_of_serde_jsons_compact_text() {
        // Holds only while serde_json's `preserve_order` is off in this build, as this crate
        // requires of itself; args_digest does not depend on it.
        let value = json!({"z": "é\"\n", "a": [1, 2.5, -3, true, null], "m": {"k": {}}});
        let text = serde_json::to_string(&value).unwrap();
        assert!(
            text.starts_with(r#"{"a":"#),
            "serde_json keeps insertion order: {text}"
        );
        let expected: [u8; 32] = Sha256::digest(text.as_bytes()).into();
        assert_eq!(args_digest(&value), expected);
    }

    #[test]
    fn digest_of_a_known_value() {
        // `printf '{"scope":"old_logs"}' | sha256sum`
        let hex: String = digest_of(json!({"scope": "old_logs"}))
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(
            hex,
            "1c50683ea5912d20fec8e90b23402fec5e70561bf577bfc6e6927725f695aaab"
        );
    }
}
