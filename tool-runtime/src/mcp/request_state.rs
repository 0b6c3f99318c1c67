//! The `requestState` of an approval asked on protocol 2026-07-28: the client carries it from
//! the `InputRequiredResult` to its retry, so it is signed (HMAC-SHA-256 with the server's state
//! key) and binds the user, the tool, a digest of the canonical arguments, an expiry and a
//! nonce. The nonce is the approval ticket, which works once: a replayed state finds it spent.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::Sha256;

use crate::hex::{hex, unhex};

type HmacSha256 = Hmac<Sha256>;

/// The shortest state key accepted.
pub const MIN_STATE_KEY_BYTES: usize = 32;

#[derive(Serialize, Deserialize)]
struct Claims {
    /// The user.
    u: String,
    /// The tool.
    t: String,
    /// SHA-256 of the canonical arguments, hex.
    d: String,
    /// Expiry, seconds since the epoch.
    e: u64,
    /// The ticket: the nonce that makes the state single-use.
    n: String,
}

/// Why a state was refused; the client only ever learns `approval_denied`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    Malformed,
    BadSignature,
    OtherUser,
    OtherCall,
    Expired,
}

impl Refused {
    pub(crate) fn as_str(&self) -> &'static str {
        match self {
            Refused::Malformed => "malformed request state",
            Refused::BadSignature => "request state signature does not verify",
            Refused::OtherUser => "request state of another user",
            Refused::OtherCall => "request state of another tool or arguments",
            Refused::Expired => "request state expired",
        }
    }
}

/// Signs and checks states with one key.
pub(crate) struct StateCodec {
    key: Vec<u8>,
}

impl StateCodec {
    pub(crate) fn new(key: &[u8]) -> Option<Self> {
        (key.len() >= MIN_STATE_KEY_BYTES).then(|| StateCodec { key: key.to_vec() })
    }

    pub(crate) fn random() -> Self {
        StateCodec {
            key: crate::hex::bytes::<32>().to_vec(),
        }
    }

    fn mac(&self, payload: &[u8]) -> HmacSha256 {
        let mut mac = <HmacSha256 as KeyInit>::new_from_slice(&self.key)
            .expect("HMAC takes keys of any length");
        mac.update(payload);
        mac
    }

    pub(crate) fn seal(
        &self,
        user: &str,
        tool: &str,
        arguments: &Value,
        ttl: Duration,
        ticket: &str,
    ) -> String {
        let expires = SystemTime::now()
            .checked_add(ttl)
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(u64::MAX, |d| d.as_secs());
        let claims = Claims {
            u: user.to_owned(),
            t: tool.to_owned(),
            d: digest(arguments),
            e: expires,
            n: ticket.to_owned(),
        };
        let payload = serde_json::to_vec(&claims).unwrap_or_default();
        let tag = self.mac(&payload).finalize().into_bytes();
        format!("{}.{}", hex(&payload), hex(&tag))
    }

    /// The ticket a state stands for, if it is this server's, unaltered, unexpired, and for
    /// exactly this user, tool and arguments.
    pub(crate) fn open(
        &self,
        state: &str,
        user: &str,
        tool: &str,
        arguments: &Value,
    ) -> Result<String, Refused> {
        let (payload, tag) = state.split_once('.').ok_or(Refused::Malformed)?;
        let payload = unhex(payload).ok_or(Refused::Malformed)?;
        let tag = unhex(tag).ok_or(Refused::Malformed)?;
        self.mac(&payload)
            .verify_slice(&tag)
            .map_err(|_| Refused::BadSignature)?;
        let claims: Claims = serde_json::from_slice(&payload).map_err(|_| Refused::Malformed)?;
        if claims.u != user {
            return Err(Refused::OtherUser);
        }
        if claims.t != tool || claims.d != digest(arguments) {
            return Err(Refused::OtherCall);
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        if now >= claims.e {
            return Err(Refused::Expired);
        }
        Ok(claims.n)
    }
}

/// The arguments' digest, as the approval ticket binds them: the same arguments sent in another
/// key order are the same call.
fn digest(arguments: &Value) -> String {
    hex(&crate::approval::args_digest(arguments))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_state_opens_only_unaltered_for_its_user_tool_and_arguments() {
        let codec = StateCodec::random();
        let args = json!({"customer_id": "C001", "b": [1, {"y": 2, "x": 1}]});
        let state = codec.seal(
            "erin",
            "delete_customer",
            &args,
            Duration::from_secs(60),
            "t1",
        );
        let reordered = json!({"b": [1, {"x": 1, "y": 2}], "customer_id": "C001"});
        assert_eq!(
            codec.open(&state, "erin", "delete_customer", &reordered),
            Ok("t1".to_owned())
        );
        assert_eq!(
            codec.open(&state, "bob", "delete_customer", &args),
            Err(Refused::OtherUser)
        );
        assert_eq!(
            codec.open(&state, "erin", "delete_data", &args),
            Err(Refused::OtherCall)
        );
        assert_eq!(
            codec.open(
                &state,
                "erin",
                "delete_customer",
                &json!({"customer_id": "C002"})
            ),
            Err(Refused::OtherCall)
        );
        // One bit changed anywhere.
        let mut bytes = state.clone().into_bytes();
        bytes[4] = if bytes[4] == b'0' { b'1' } else { b'0' };
        let altered = String::from_utf8(bytes).unwrap();
        assert_eq!(
            codec.open(&altered, "erin", "delete_customer", &args),
            Err(Refused::BadSignature)
        );
        // Another server's key.
        assert_eq!(
            StateCodec::random().open(&state, "erin", "delete_customer", &args),
            Err(Refused::BadSignature)
        );
        let expired = codec.seal("erin", "delete_customer", &args, Duration::ZERO, "t2");
        assert_eq!(
            codec.open(&expired, "erin", "delete_customer", &args),
            Err(Refused::Expired)
        );
        assert_eq!(
            codec.open("garbage", "erin", "delete_customer", &args),
            Err(Refused::Malformed)
        );
        assert!(
            StateCodec::new(&[0; 31]).is_none(),
            "a short key is refused"
        );
    }
}
