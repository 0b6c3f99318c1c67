//! Tickets kept in the process's memory: the default, for one instance.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::fmt;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::{ApprovalError, ApprovalStore, ParkedCall, Refused};
use crate::store::StoreFuture;

/// Pending tickets one user may hold by default; parking one more evicts their oldest.
pub const DEFAULT_MAX_PER_USER: usize = 32;

/// Calls waiting for a person's answer, each under an unguessable ticket, in this process.
///
/// Tickets die with the process, and another instance cannot redeem them: use `RedisApprovals`
/// for instances that share their users.
pub struct InMemoryApprovals {
    max_per_user: usize,
    pending: Mutex<Pending>,
}

struct Ticket {
    call: ParkedCall,
    expires: Instant,
}

#[derive(Default)]
struct Pending {
    tickets: HashMap<String, Ticket>,
    /// Each user's pending tickets, oldest first; a user with none has no entry.
    by_user: HashMap<String, VecDeque<String>>,
    /// Every ticket by the time it expires, soonest first. May still name tickets already
    /// redeemed or evicted: their entries go when their time comes.
    by_expiry: BinaryHeap<Reverse<(Instant, String)>>,
}

impl Default for InMemoryApprovals {
    fn default() -> Self {
        Self::new()
    }
}

impl InMemoryApprovals {
    /// An empty store.
    pub fn new() -> Self {
        InMemoryApprovals {
            max_per_user: DEFAULT_MAX_PER_USER,
            pending: Mutex::new(Pending::default()),
        }
    }

    /// Sets how many pending tickets one user may hold (at least 1); parking one more evicts
    /// that user's oldest.
    pub fn with_max_per_user(mut self, max: usize) -> Self {
        self.max_per_user = max.max(1);
        self
    }

    /// How many tickets are pending, expired ones not yet purged included.
    pub fn len(&self) -> usize {
        self.lock().tickets.len()
    }

    /// Whether no ticket is pending.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn park_at(&self, now: Instant, call: ParkedCall, ttl: Duration) -> String {
        let mut pending = self.lock();
        pending.purge_expired(now);

        let Pending {
            tickets, by_user, ..
        } = &mut *pending;
        let mine = by_user.entry(call.user.clone()).or_default();
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
        let expires = now
            .checked_add(ttl)
            .unwrap_or(now + Duration::from_secs(86_400 * 365));
        mine.push_back(ticket.clone());
        tickets.insert(ticket.clone(), Ticket { call, expires });
        pending.by_expiry.push(Reverse((expires, ticket.clone())));
        ticket
    }

    fn peek_at(&self, now: Instant, ticket: &str, user: &str) -> Option<ParkedCall> {
        let pending = self.lock();
        let found = pending.tickets.get(ticket)?;
        if found.call.user != user || now >= found.expires {
            return None;
        }
        Some(found.call.clone())
    }

    fn take_at(&self, now: Instant, ticket: &str, user: &str) -> Result<ParkedCall, Refused> {
        let mut pending = self.lock();
        let outcome = match pending.tickets.get(ticket) {
            None => Err(Refused::Unknown),
            Some(found) if found.call.user != user => Err(Refused::WrongUser),
            Some(found) => {
                let expired = now >= found.expires;
                match pending.remove(ticket) {
                    Some(found) if !expired => Ok(found.call),
                    _ => Err(Refused::Expired),
                }
            }
        };
        pending.purge_expired(now);
        outcome
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Pending> {
        // Nothing panics while the lock is held except on a broken invariant, after which the
        // maps are still consistent: every change to them is a single insert or remove.
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl ApprovalStore for InMemoryApprovals {
    fn park(
        &self,
        call: ParkedCall,
        ttl: Duration,
    ) -> StoreFuture<'_, Result<String, ApprovalError>> {
        StoreFuture::ready(Ok(self.park_at(Instant::now(), call, ttl)))
    }

    fn take<'a>(
        &'a self,
        ticket: &'a str,
        user: &'a str,
    ) -> StoreFuture<'a, Result<ParkedCall, ApprovalError>> {
        StoreFuture::ready(
            self.take_at(Instant::now(), ticket, user)
                .map_err(Into::into),
        )
    }

    fn peek<'a>(
        &'a self,
        ticket: &'a str,
        user: &'a str,
    ) -> StoreFuture<'a, Result<Option<ParkedCall>, ApprovalError>> {
        StoreFuture::ready(Ok(self.peek_at(Instant::now(), ticket, user)))
    }
}

impl Pending {
    fn remove(&mut self, ticket: &str) -> Option<Ticket> {
        let removed = self.tickets.remove(ticket)?;
        if let Some(mine) = self.by_user.get_mut(&removed.call.user) {
            mine.retain(|t| t != ticket);
            if mine.is_empty() {
                self.by_user.remove(&removed.call.user);
            }
        }
        Some(removed)
    }

    fn purge_expired(&mut self, now: Instant) {
        while let Some(Reverse((expires, _))) = self.by_expiry.peek() {
            if now < *expires {
                break;
            }
            if let Some(Reverse((_, ticket))) = self.by_expiry.pop() {
                self.remove(&ticket);
            }
        }
    }
}

impl fmt::Debug for InMemoryApprovals {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Tickets are bearer secrets: never print them.
        f.debug_struct("InMemoryApprovals")
            .field("max_per_user", &self.max_per_user)
            .field("pending", &self.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const TEN_MINUTES: Duration = Duration::from_secs(600);

    fn call(user: &str, tool: &str, n: u64) -> ParkedCall {
        let sent = json!({ "n": n });
        ParkedCall {
            user: user.into(),
            tool: tool.into(),
            args_digest: super::super::args_digest(&sent),
            shown: sent.clone(),
            sent,
        }
    }

    fn park(store: &InMemoryApprovals, user: &str, n: u64) -> String {
        store.park_at(Instant::now(), call(user, "delete_data", n), TEN_MINUTES)
    }

    fn take(store: &InMemoryApprovals, ticket: &str, user: &str) -> Result<ParkedCall, Refused> {
        store.take_at(Instant::now(), ticket, user)
    }

    #[test]
    fn ticket_is_128_bits_of_hex() {
        let store = InMemoryApprovals::new();
        let a = park(&store, "dave", 1);
        let b = park(&store, "dave", 1);
        assert_eq!(a.len(), 32);
        assert!(
            a.bytes()
                .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
        );
        assert_ne!(a, b);
    }

    #[test]
    fn takes_exactly_the_parked_call_once() {
        let store = InMemoryApprovals::new();
        let ticket = park(&store, "dave", 7);
        assert_eq!(
            take(&store, &ticket, "dave"),
            Ok(call("dave", "delete_data", 7))
        );
        assert_eq!(take(&store, &ticket, "dave"), Err(Refused::Unknown));
        assert!(store.is_empty());
    }

    #[test]
    fn peeking_shows_the_owner_a_live_ticket_and_leaves_it_pending() {
        let store = InMemoryApprovals::new();
        let t0 = Instant::now();
        let ticket = store.park_at(t0, call("dave", "delete_data", 1), TEN_MINUTES);
        assert_eq!(
            store.peek_at(t0, &ticket, "dave"),
            Some(call("dave", "delete_data", 1))
        );
        assert_eq!(store.peek_at(t0, &ticket, "erin"), None);
        assert_eq!(store.peek_at(t0, "forged", "dave"), None);
        assert_eq!(store.peek_at(t0 + TEN_MINUTES, &ticket, "dave"), None);
        assert!(
            store.take_at(t0, &ticket, "dave").is_ok(),
            "peeking takes nothing"
        );
    }

    #[test]
    fn forged_tickets_are_refused() {
        let store = InMemoryApprovals::new();
        let real = park(&store, "dave", 1);
        let forged = crate::hex::hex_token::<16>();
        assert_eq!(take(&store, &forged, "dave"), Err(Refused::Unknown));
        assert_eq!(take(&store, "", "dave"), Err(Refused::Unknown));
        assert_eq!(
            take(&store, &real.to_uppercase(), "dave"),
            Err(Refused::Unknown)
        );
        assert!(take(&store, &real, "dave").is_ok());
    }

    #[test]
    fn expired_tickets_are_refused_and_removed() {
        let store = InMemoryApprovals::new();
        let t0 = Instant::now();
        let ticket = store.park_at(t0, call("dave", "delete_data", 1), TEN_MINUTES);
        let fresh = store.park_at(t0, call("dave", "delete_data", 2), TEN_MINUTES);
        let almost = t0 + TEN_MINUTES - Duration::from_millis(1);
        assert!(store.take_at(almost, &fresh, "dave").is_ok());
        assert_eq!(
            store.take_at(t0 + TEN_MINUTES, &ticket, "dave"),
            Err(Refused::Expired)
        );
        assert_eq!(
            store.take_at(t0 + TEN_MINUTES, &ticket, "dave"),
            Err(Refused::Unknown)
        );
        assert!(store.is_empty());
    }

    #[test]
    fn expired_tickets_are_purged_on_the_way_whatever_their_ttl() {
        let store = InMemoryApprovals::new();
        let t0 = Instant::now();
        // A long-lived ticket parked first must not keep shorter ones behind it.
        let long = store.park_at(t0, call("zoe", "delete_data", 0), 3 * TEN_MINUTES);
        for user in ["alice", "bob", "carol"] {
            store.park_at(t0, call(user, "delete_data", 1), TEN_MINUTES);
        }
        let later = store.park_at(
            t0 + TEN_MINUTES,
            call("erin", "delete_customer", 1),
            TEN_MINUTES,
        );
        assert_eq!(store.len(), 2);
        assert_eq!(store.lock().by_user.len(), 2);
        assert!(store.take_at(t0 + TEN_MINUTES, &later, "erin").is_ok());
        assert!(store.take_at(t0 + TEN_MINUTES, &long, "zoe").is_ok());
        assert!(store.lock().by_user.is_empty());
        // The taken tickets' places in the expiry queue go when their time comes.
        assert_eq!(
            store.take_at(t0 + 4 * TEN_MINUTES, &later, "erin"),
            Err(Refused::Unknown)
        );
        assert!(store.lock().by_expiry.is_empty());
    }

    #[test]
    fn another_users_ticket_is_refused_and_left_for_its_owner() {
        let store = InMemoryApprovals::new();
        let ticket = park(&store, "dave", 1);
        assert_eq!(take(&store, &ticket, "alice"), Err(Refused::WrongUser));
        assert_eq!(take(&store, &ticket, "alice"), Err(Refused::WrongUser));
        assert_eq!(take(&store, &ticket, "dave").unwrap().sent, json!({"n": 1}));
    }

    #[test]
    fn a_user_holds_a_bounded_number_of_tickets() {
        let store = InMemoryApprovals::new().with_max_per_user(3);
        let other = park(&store, "erin", 100);
        let tickets: Vec<String> = (0..5).map(|n| park(&store, "dave", n)).collect();
        assert_eq!(store.len(), 4);
        assert_eq!(take(&store, &tickets[0], "dave"), Err(Refused::Unknown));
        assert_eq!(take(&store, &tickets[1], "dave"), Err(Refused::Unknown));
        for (n, ticket) in tickets.iter().enumerate().skip(2) {
            assert_eq!(
                take(&store, ticket, "dave").unwrap().sent,
                json!({ "n": n })
            );
        }
        assert_eq!(
            take(&store, &other, "erin").unwrap().sent,
            json!({"n": 100})
        );
    }

    #[test]
    fn taken_tickets_free_their_users_slots() {
        let store = InMemoryApprovals::new().with_max_per_user(2);
        let first = park(&store, "dave", 1);
        let used = park(&store, "dave", 2);
        take(&store, &used, "dave").unwrap();
        park(&store, "dave", 3);
        assert_eq!(take(&store, &first, "dave").unwrap().sent, json!({"n": 1}));
    }

    #[test]
    fn tickets_from_many_threads_are_all_distinct_and_redeemable() {
        let store = std::sync::Arc::new(InMemoryApprovals::new());
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let store = std::sync::Arc::clone(&store);
                std::thread::spawn(move || {
                    let user = format!("user{t}");
                    (0..20)
                        .map(|n| (user.clone(), park(&store, &user, n)))
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
            assert!(take(&store, ticket, user).is_ok());
        }
        assert!(store.is_empty());
    }

    #[test]
    fn debug_output_does_not_show_tickets() {
        let store = InMemoryApprovals::new();
        let ticket = park(&store, "dave", 1);
        assert!(!format!("{store:?}").contains(&ticket));
    }
}
