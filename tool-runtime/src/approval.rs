//! Human approval of destructive calls: tickets that stand for one exact call.
//!
//! A destructive call is validated and authorised, then parked here instead of run; the reply
//! carries the ticket, and only the host (the human, through `Toolbox::approve`) can redeem it.
//! A ticket is bound to its user, its tool and a digest of its arguments, works once, and expires.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde_json::Value;
use sha2::{Digest, Sha256};

/// Pending tickets one user may hold by default; issuing one more evicts their oldest.
pub const DEFAULT_MAX_PER_USER: usize = 32;

/// Calls waiting for a human's answer, each under an unguessable ticket.
///
/// `P` is what the call needs to run once approved (the parsed arguments, typically).
pub struct ApprovalStore<P> {
    ttl: Duration,
    max_per_user: usize,
    pending: Mutex<Pending<P>>,
}

/// A redeemed ticket: the call the human approved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approved<P> {
    /// The tool the ticket was issued for.
    pub tool: String,
    /// The digest of the arguments it was issued for ([`args_digest`]).
    pub args_digest: [u8; 32],
    /// What the caller parked with the ticket.
    pub payload: P,
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

struct Ticket<P> {
    user: String,
    tool: String,
    args_digest: [u8; 32],
    payload: P,
    expires: Instant,
}

struct Pending<P> {
    tickets: HashMap<String, Ticket<P>>,
    /// Each user's pending tickets, oldest first; a user with none has no entry.
    by_user: HashMap<String, VecDeque<String>>,
    /// Every ticket in the order it expires, which is the order of issue, as the ttl is fixed.
    /// May still name tickets already redeemed or evicted.
    by_expiry: VecDeque<(Instant, String)>,
}

impl<P> ApprovalStore<P> {
    /// An empty store whose tickets expire `ttl` after they are issued.
    pub fn new(ttl: Duration) -> Self {
        ApprovalStore {
            ttl,
            max_per_user: DEFAULT_MAX_PER_USER,
            pending: Mutex::new(Pending {
                tickets: HashMap::new(),
                by_user: HashMap::new(),
                by_expiry: VecDeque::new(),
            }),
        }
    }

    /// Sets how many pending tickets one user may hold (at least 1); issuing one more evicts
    /// that user's oldest.
    pub fn with_max_per_user(mut self, max: usize) -> Self {
        self.max_per_user = max.max(1);
        self
    }

    /// How long a ticket lives.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Parks a call of `tool` by `user` and returns its ticket: 128 bits from the operating
    /// system's CSPRNG, as 32 lowercase hex digits.
    pub fn issue(&self, user: &str, tool: &str, args_digest: [u8; 32], payload: P) -> String {
        self.issue_at(Instant::now(), user, tool, args_digest, payload)
    }

    /// Takes the call parked under `ticket`, if `user` may have it.
    ///
    /// A redeemed ticket is gone; so is an expired one. A ticket presented by another user is
    /// refused and left for its owner.
    pub fn redeem(&self, ticket: &str, user: &str) -> Result<Approved<P>, Refused> {
        self.redeem_at(Instant::now(), ticket, user)
    }

    /// Looks at the call parked under `ticket` without taking it, if `user` holds it and it has
    /// not expired: `look` gets the tool's name and the payload.
    pub fn peek<R>(&self, ticket: &str, user: &str, look: impl FnOnce(&str, &P) -> R) -> Option<R> {
        self.peek_at(Instant::now(), ticket, user, look)
    }

    /// How many tickets are pending, expired ones not yet purged included.
    pub fn len(&self) -> usize {
        self.lock().tickets.len()
    }

    /// Whether no ticket is pending.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn issue_at(
        &self,
        now: Instant,
        user: &str,
        tool: &str,
        args_digest: [u8; 32],
        payload: P,
    ) -> String {
        let mut pending = self.lock();
        pending.purge_expired(now);

        let Pending {
            tickets, by_user, ..
        } = &mut *pending;
        let mine = by_user.entry(user.to_owned()).or_default();
        while mine.len() >= self.max_per_user {
            if let Some(oldest) = mine.pop_front() {
                tickets.remove(&oldest);
            }
        }

        let ticket = loop {
            // 128 random bits do not collide in practice; checking costs nothing and makes
            // "one ticket, one call" hold without that argument.
            let candidate = crate::hex::hex_token::<16>();
            if !tickets.contains_key(&candidate) {
                break candidate;
            }
        };
        let expires = now + self.ttl;
        mine.push_back(ticket.clone());
        tickets.insert(
            ticket.clone(),
            Ticket {
                user: user.to_owned(),
                tool: tool.to_owned(),
                args_digest,
                payload,
                expires,
            },
        );
        pending.by_expiry.push_back((expires, ticket.clone()));
        ticket
    }

    fn peek_at<R>(
        &self,
        now: Instant,
        ticket: &str,
        user: &str,
        look: impl FnOnce(&str, &P) -> R,
    ) -> Option<R> {
        let pending = self.lock();
        let found = pending.tickets.get(ticket)?;
        if found.user != user || now >= found.expires {
            return None;
        }
        Some(look(&found.tool, &found.payload))
    }

    fn redeem_at(&self, now: Instant, ticket: &str, user: &str) -> Result<Approved<P>, Refused> {
        let mut pending = self.lock();
        let outcome = match pending.tickets.get(ticket) {
            None => Err(Refused::Unknown),
            Some(found) if found.user != user => Err(Refused::WrongUser),
            Some(found) => {
                let expired = now >= found.expires;
                let found = pending.remove(ticket).expect("the ticket was just found");
                if expired {
                    Err(Refused::Expired)
                } else {
                    Ok(Approved {
                        tool: found.tool,
                        args_digest: found.args_digest,
                        payload: found.payload,
                    })
                }
            }
        };
        pending.purge_expired(now);
        outcome
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Pending<P>> {
        // Nothing panics while the lock is held except on a broken invariant, after which the
        // maps are still consistent: every change to them is a single insert or remove.
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<P> Pending<P> {
    fn remove(&mut self, ticket: &str) -> Option<Ticket<P>> {
        let removed = self.tickets.remove(ticket)?;
        if let Some(mine) = self.by_user.get_mut(&removed.user) {
            mine.retain(|t| t != ticket);
            if mine.is_empty() {
                self.by_user.remove(&removed.user);
            }
        }
        Some(removed)
    }

    fn purge_expired(&mut self, now: Instant) {
        while let Some((expires, _)) = self.by_expiry.front() {
            if now < *expires {
                break;
            }
            if let Some((_, ticket)) = self.by_expiry.pop_front() {
                self.remove(&ticket);
            }
        }
    }
}

impl<P> fmt::Debug for ApprovalStore<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Tickets are bearer secrets: never print them.
        f.debug_struct("ApprovalStore")
            .field("ttl", &self.ttl)
            .field("max_per_user", &self.max_per_user)
            .field("pending", &self.len())
            .finish()
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

    const TEN_MINUTES: Duration = Duration::from_secs(600);

    fn digest_of(v: Value) -> [u8; 32] {
        args_digest(&v)
    }

    #[test]
    fn ticket_is_128_bits_of_hex() {
        let store = ApprovalStore::new(TEN_MINUTES);
        let a = store.issue("dave", "delete_data", [0; 32], ());
        let b = store.issue("dave", "delete_data", [0; 32], ());
        assert_eq!(a.len(), 32);
        assert!(
            a.bytes()
                .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
        );
        assert_ne!(a, b);
    }

    #[test]
    fn redeems_exactly_the_parked_call_once() {
        let store = ApprovalStore::new(TEN_MINUTES);
        let digest = digest_of(json!({"scope": "old_logs"}));
        let ticket = store.issue("dave", "delete_data", digest, "payload");
        let approved = store.redeem(&ticket, "dave").unwrap();
        assert_eq!(
            approved,
            Approved {
                tool: "delete_data".into(),
                args_digest: digest,
                payload: "payload",
            }
        );
        assert_eq!(store.redeem(&ticket, "dave"), Err(Refused::Unknown));
        assert!(store.is_empty());
    }

    #[test]
    fn peeking_shows_the_owner_a_live_ticket_and_leaves_it_pending() {
        let store = ApprovalStore::new(TEN_MINUTES);
        let t0 = Instant::now();
        let ticket = store.issue_at(t0, "dave", "delete_data", [0; 32], "payload");
        let look = |tool: &str, payload: &&str| format!("{tool}:{payload}");
        assert_eq!(
            store.peek_at(t0, &ticket, "dave", look).as_deref(),
            Some("delete_data:payload")
        );
        assert_eq!(store.peek_at(t0, &ticket, "erin", look), None);
        assert_eq!(store.peek_at(t0, "forged", "dave", look), None);
        assert_eq!(store.peek_at(t0 + TEN_MINUTES, &ticket, "dave", look), None);
        assert!(
            store.redeem_at(t0, &ticket, "dave").is_ok(),
            "peeking takes nothing"
        );
    }

    #[test]
    fn forged_tickets_are_refused() {
        let store = ApprovalStore::new(TEN_MINUTES);
        let real = store.issue("dave", "delete_data", [0; 32], ());
        let forged = crate::hex::hex_token::<16>();
        assert_eq!(store.redeem(&forged, "dave"), Err(Refused::Unknown));
        assert_eq!(store.redeem("", "dave"), Err(Refused::Unknown));
        assert_eq!(
            store.redeem(&real.to_uppercase(), "dave"),
            Err(Refused::Unknown)
        );
        assert!(store.redeem(&real, "dave").is_ok());
    }

    #[test]
    fn expired_tickets_are_refused_and_removed() {
        let store = ApprovalStore::new(TEN_MINUTES);
        let t0 = Instant::now();
        let ticket = store.issue_at(t0, "dave", "delete_data", [0; 32], ());
        let fresh = store.issue_at(t0, "dave", "delete_data", [1; 32], ());
        assert!(
            store
                .redeem_at(t0 + TEN_MINUTES - Duration::from_millis(1), &fresh, "dave")
                .is_ok()
        );
        assert_eq!(
            store.redeem_at(t0 + TEN_MINUTES, &ticket, "dave"),
            Err(Refused::Expired)
        );
        assert_eq!(
            store.redeem_at(t0 + TEN_MINUTES, &ticket, "dave"),
            Err(Refused::Unknown)
        );
        assert!(store.is_empty());
    }

    #[test]
    fn expired_tickets_are_purged_on_the_way() {
        let store = ApprovalStore::new(TEN_MINUTES);
        let t0 = Instant::now();
        for user in ["alice", "bob", "carol"] {
            store.issue_at(t0, user, "delete_data", [0; 32], ());
        }
        let later = store.issue_at(t0 + TEN_MINUTES, "erin", "delete_customer", [0; 32], ());
        assert_eq!(store.len(), 1);
        assert_eq!(store.lock().by_user.len(), 1);
        assert!(store.redeem_at(t0 + TEN_MINUTES, &later, "erin").is_ok());
        assert!(store.lock().by_user.is_empty());
        // The redeemed ticket's place in the expiry queue goes when its time comes.
        assert_eq!(
            store.redeem_at(t0 + 2 * TEN_MINUTES, &later, "erin"),
            Err(Refused::Unknown)
        );
        assert!(store.lock().by_expiry.is_empty());
    }

    #[test]
    fn another_users_ticket_is_refused_and_left_for_its_owner() {
        let store = ApprovalStore::new(TEN_MINUTES);
        let ticket = store.issue("dave", "delete_data", [7; 32], 1);
        assert_eq!(store.redeem(&ticket, "alice"), Err(Refused::WrongUser));
        assert_eq!(store.redeem(&ticket, "alice"), Err(Refused::WrongUser));
        assert_eq!(store.redeem(&ticket, "dave").unwrap().payload, 1);
    }

    #[test]
    fn a_user_holds_a_bounded_number_of_tickets() {
        let store = ApprovalStore::new(TEN_MINUTES).with_max_per_user(3);
        let other = store.issue("erin", "delete_customer", [0; 32], 100);
        let tickets: Vec<String> = (0..5)
            .map(|n| store.issue("dave", "delete_data", [0; 32], n))
            .collect();
        assert_eq!(store.len(), 4);
        assert_eq!(store.redeem(&tickets[0], "dave"), Err(Refused::Unknown));
        assert_eq!(store.redeem(&tickets[1], "dave"), Err(Refused::Unknown));
        for (n, ticket) in tickets.iter().enumerate().skip(2) {
            assert_eq!(store.redeem(ticket, "dave").unwrap().payload, n);
        }
        assert_eq!(store.redeem(&other, "erin").unwrap().payload, 100);
    }

    #[test]
    fn redeemed_tickets_free_their_users_slots() {
        let store = ApprovalStore::new(TEN_MINUTES).with_max_per_user(2);
        let first = store.issue("dave", "delete_data", [0; 32], 1);
        let used = store.issue("dave", "delete_data", [0; 32], 2);
        store.redeem(&used, "dave").unwrap();
        store.issue("dave", "delete_data", [0; 32], 3);
        assert_eq!(store.redeem(&first, "dave").unwrap().payload, 1);
    }

    #[test]
    fn tickets_from_many_threads_are_all_distinct_and_redeemable() {
        let store = std::sync::Arc::new(ApprovalStore::new(TEN_MINUTES));
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let store = std::sync::Arc::clone(&store);
                std::thread::spawn(move || {
                    let user = format!("user{t}");
                    (0..20)
                        .map(|n| (user.clone(), store.issue(&user, "delete_data", [0; 32], n)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let issued: Vec<(String, String)> = threads
            .into_iter()
            .flat_map(|t| t.join().unwrap())
            .collect();
        assert_eq!(store.len(), 80);
        for (user, ticket) in &issued {
            assert!(store.redeem(ticket, user).is_ok());
        }
        assert!(store.is_empty());
    }

    #[test]
    fn debug_output_does_not_show_tickets() {
        let store = ApprovalStore::new(TEN_MINUTES);
        let ticket = store.issue("dave", "delete_data", [0; 32], ());
        assert!(!format!("{store:?}").contains(&ticket));
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
