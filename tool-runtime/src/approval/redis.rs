//! Tickets kept in Redis: one approval store for every instance of an application.

use std::fmt;
use std::time::Duration;

use ::redis::Script;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{ApprovalError, ApprovalStore, DEFAULT_MAX_PER_USER, ParkedCall, Refused};
use crate::hex::hex;
use crate::redis_link::{RedisLink, RedisOptions, RedisSetupError};
use crate::store::{StoreFuture, StoreUnreachable};

/// Parks a call: `KEYS[1]` the ticket's hash, `KEYS[2]` its user's pending tickets, in the
/// order they were parked (a sorted set scored by a sequence number). `ARGV`: ticket, user, call,
/// ttl in ms, the most tickets a user may hold, the prefix of ticket keys. Returns 0 if the
/// ticket is taken (a collision, which 128 random bits make theoretical), 1 once parked.
///
/// Tickets that expired are dropped from the user's set, and the oldest beyond the cap are
/// evicted, in the same atomic step, so that instances parking for one user at once cannot
/// leave more than the cap between them. The set holds at most the cap, so the walk is short.
/// Ticket keys are built in the script from the prefix: this needs one Redis, not a cluster.
const PARK: &str = r#"
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
local max = tonumber(ARGV[5])
local live = {}
for _, ticket in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
  if redis.call('EXISTS', ARGV[6] .. ticket) == 1 then
    table.insert(live, ticket)
  else
    redis.call('ZREM', KEYS[2], ticket)
  end
end
for i = 1, #live - max + 1 do
  redis.call('DEL', ARGV[6] .. live[i])
  redis.call('ZREM', KEYS[2], live[i])
end
local last = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')
local seq = 1
if last[2] then
  seq = tonumber(last[2]) + 1
end
local ttl = tonumber(ARGV[4])
redis.call('HSET', KEYS[1], 'user', ARGV[2], 'call', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('ZADD', KEYS[2], seq, ARGV[1])
if redis.call('PTTL', KEYS[2]) < ttl then
  redis.call('PEXPIRE', KEYS[2], ttl)
end
return 1
"#;

/// Takes a call: `KEYS` and `ARGV[1]` (the ticket) as for `PARK`, `ARGV[2]` the user presenting
/// it. Returns `{0, ''}` for no such ticket (never parked, taken, evicted or expired: Redis drops
/// it at its ttl), `{1, ''}` for another user's ticket, which stays, and `{2, call}` once taken.
const TAKE: &str = r#"
local owner = redis.call('HGET', KEYS[1], 'user')
if not owner then
  return {0, ''}
end
if owner ~= ARGV[2] then
  return {1, ''}
end
local call = redis.call('HGET', KEYS[1], 'call')
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return {2, call}
"#;

/// Shares the calls waiting for approval between every instance of an application through
/// Redis: a call parked on one instance is approved (or denied) on any other, once.
///
/// Each ticket is a hash `{prefix}:approval:{ticket}` that expires with the ticket, and each
/// user's pending tickets a sorted set `{prefix}:approvals:{user}`, so that a user holds at most
/// [`with_max_per_user`](Self::with_max_per_user) of them (32 by default) across all instances.
/// Parking and taking are each one Lua script, so two instances taking one ticket at once
/// cannot both get it. An expired ticket reads as unknown: Redis has already dropped it.
///
/// The call's arguments (`#[secret]` ones included: the approved call needs them) are kept in
/// Redis until the ticket is taken or expires: protect that Redis as the application's data.
///
/// Fails closed: when Redis cannot answer within the connect and command timeouts, parking or
/// taking fails with [`ApprovalError::Unavailable`], the call is `internal`, and nothing runs.
/// The connection comes back by itself once Redis does.
#[derive(Clone)]
pub struct RedisApprovals {
    link: RedisLink,
    park: Script,
    take: Script,
    max_per_user: usize,
}

/// The call as kept in Redis: the digest as hex, the rest as it is.
#[derive(Serialize, Deserialize)]
struct Stored {
    tool: String,
    digest: String,
    sent: Value,
    shown: Value,
}

impl RedisApprovals {
    /// Connects to the Redis at `url`, with keys under `options.prefix`.
    ///
    /// Fails when Redis cannot be reached now; later outages are survived.
    pub async fn connect(url: &str, options: RedisOptions) -> Result<Self, RedisSetupError> {
        Ok(RedisApprovals {
            link: RedisLink::connect(url, options).await?,
            park: Script::new(PARK),
            take: Script::new(TAKE),
            max_per_user: DEFAULT_MAX_PER_USER,
        })
    }

    /// Sets how many pending tickets one user may hold across all instances (at least 1);
    /// parking one more evicts that user's oldest.
    pub fn with_max_per_user(mut self, max: usize) -> Self {
        self.max_per_user = max.max(1);
        self
    }

    fn ticket_key(&self, ticket: &str) -> String {
        format!("{}:approval:{ticket}", self.link.prefix)
    }

    fn user_key(&self, user: &str) -> String {
        format!("{}:approvals:{user}", self.link.prefix)
    }

    async fn park_call(&self, call: ParkedCall, ttl: Duration) -> Result<String, ApprovalError> {
        let body = serde_json::to_string(&Stored {
            tool: call.tool,
            digest: hex(&call.args_digest),
            sent: call.sent,
            shown: call.shown,
        })
        .map_err(ApprovalError::unavailable)?;
        // Redis counts a key's life in whole milliseconds, and 0 would mean "already gone".
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let ticket_prefix = format!("{}:approval:", self.link.prefix);
        loop {
            let ticket = crate::hex::hex_token::<16>();
            let mut invocation = self.park.key(self.ticket_key(&ticket));
            invocation
                .key(self.user_key(&call.user))
                .arg(&ticket)
                .arg(&call.user)
                .arg(&body)
                .arg(ttl_ms)
                .arg(self.max_per_user)
                .arg(&ticket_prefix);
            let parked = self
                .link
                .run(|mut c| async move { invocation.invoke_async::<i64>(&mut c).await })
                .await
                .map_err(ApprovalError::unavailable)?;
            if parked == 1 {
                return Ok(ticket);
            }
        }
    }

    async fn take_call(&self, ticket: &str, user: &str) -> Result<ParkedCall, ApprovalError> {
        // Only a ticket this store could have issued reaches Redis: no key of the model's
        // choosing is ever built.
        if !is_ticket(ticket) {
            return Err(Refused::Unknown.into());
        }
        let mut invocation = self.take.key(self.ticket_key(ticket));
        invocation.key(self.user_key(user)).arg(ticket).arg(user);
        let (code, body): (i64, String) = self
            .link
            .run(|mut c| async move { invocation.invoke_async(&mut c).await })
            .await
            .map_err(ApprovalError::unavailable)?;
        match (code, body) {
            (2, body) => decode(user, &body),
            (1, _) => Err(Refused::WrongUser.into()),
            _ => Err(Refused::Unknown.into()),
        }
    }

    async fn peek_call(
        &self,
        ticket: &str,
        user: &str,
    ) -> Result<Option<ParkedCall>, ApprovalError> {
        if !is_ticket(ticket) {
            return Ok(None);
        }
        let key = self.ticket_key(ticket);
        let (owner, body): (Option<String>, Option<String>) = self
            .link
            .run(|mut c| async move {
                ::redis::cmd("HMGET")
                    .arg(key)
                    .arg("user")
                    .arg("call")
                    .query_async(&mut c)
                    .await
            })
            .await
            .map_err(ApprovalError::unavailable)?;
        match (owner, body) {
            (Some(owner), Some(body)) if owner == user => decode(user, &body).map(Some),
            _ => Ok(None),
        }
    }
}

fn is_ticket(text: &str) -> bool {
    text.len() == 32 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn decode(user: &str, body: &str) -> Result<ParkedCall, ApprovalError> {
    // Only this store writes these keys; one it cannot read is a fault, not a refusal.
    let stored: Stored = serde_json::from_str(body)
        .map_err(|_| ApprovalError::unavailable("a pending approval in Redis is unreadable"))?;
    let args_digest = unhex32(&stored.digest)
        .ok_or_else(|| ApprovalError::unavailable("a pending approval in Redis is unreadable"))?;
    Ok(ParkedCall {
        user: user.to_owned(),
        tool: stored.tool,
        args_digest,
        sent: stored.sent,
        shown: stored.shown,
    })
}

fn unhex32(text: &str) -> Option<[u8; 32]> {
    let bytes = crate::hex::unhex(text)?;
    bytes.try_into().ok()
}

impl ApprovalStore for RedisApprovals {
    fn park(
        &self,
        call: ParkedCall,
        ttl: Duration,
    ) -> StoreFuture<'_, Result<String, ApprovalError>> {
        StoreFuture::new(self.park_call(call, ttl))
    }

    fn take<'a>(
        &'a self,
        ticket: &'a str,
        user: &'a str,
    ) -> StoreFuture<'a, Result<ParkedCall, ApprovalError>> {
        StoreFuture::new(self.take_call(ticket, user))
    }

    fn peek<'a>(
        &'a self,
        ticket: &'a str,
        user: &'a str,
    ) -> StoreFuture<'a, Result<Option<ParkedCall>, ApprovalError>> {
        StoreFuture::new(self.peek_call(ticket, user))
    }

    fn health(&self) -> StoreFuture<'_, Result<(), StoreUnreachable>> {
        StoreFuture::new(self.link.ping())
    }
}

impl fmt::Debug for RedisApprovals {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisApprovals")
            .field("prefix", &self.link.prefix)
            .field("max_per_user", &self.max_per_user)
            .finish_non_exhaustive()
    }
}
