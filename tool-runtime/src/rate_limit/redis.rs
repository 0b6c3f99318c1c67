//! Rate limits shared by every instance of an application, in Redis.

use std::fmt;
use std::time::Duration;

use ::redis::Script;

use super::{Quota, RateLimitError, RateLimiter, StoreFuture};
use crate::redis_link::RedisLink;
pub use crate::redis_link::{RedisOptions, RedisSetupError};
use crate::store::StoreUnreachable;

/// GCRA exactly as `governor` computes it for [`InMemoryRateLimiter`](super::InMemoryRateLimiter),
/// in one atomic step on the server's clock (every instance shares it, whatever their own
/// clocks say).
///
/// `t` is the time one call's budget takes to come back (period/N), `tau = t * (N - 1)`, and the
/// state is the theoretical arrival time `tat`: a call at `now` is refused while
/// `now < tat - tau`, with `tat - tau - now` to wait; else `tat = max(tat, now) + t`.
///
/// Lua numbers are doubles, exact only up to 2^53, and nanoseconds since 1970 are past that: so
/// `tat` is kept in nanoseconds from the start of the second of the last check (`base`), which
/// keeps it below `t * N` plus one second. Every value the script computes is then an exact
/// integer. The key expires once `tat` is past, when its state is that of a full budget.
const GCRA: &str = r#"
local t = tonumber(ARGV[1])
local tau = tonumber(ARGV[2])
local clock = redis.call('TIME')
local sec = tonumber(clock[1])
local now = tonumber(clock[2]) * 1000
local state = redis.call('HMGET', KEYS[1], 'base', 'tat')
local tat = now
if state[1] and state[2] then
  tat = tonumber(state[2]) - (sec - tonumber(state[1])) * 1000000000
end
local earliest = tat - tau
if now < earliest then
  return earliest - now
end
local next = math.max(tat, now) + t
redis.call('HSET', KEYS[1], 'base', string.format('%d', sec), 'tat', string.format('%.0f', next))
redis.call('PEXPIRE', KEYS[1], math.floor((next - now) / 1000000) + 1)
return -1
"#;

/// The largest `t * N` (in nanoseconds) the script computes exactly: 2^53 less a second, about
/// 104 days. A quota's period is at most that.
const MAX_PERIOD_NANOS: u128 = (1 << 53) - 1_000_000_000;

/// Shares every user's budgets between all the instances of an application through Redis.
///
/// The same semantics as [`InMemoryRateLimiter`](super::InMemoryRateLimiter) (`governor`'s
/// GCRA: a burst of N, then one call every period/N, the same retry-after), computed atomically
/// by one Lua script per check (`EVALSHA`) on the server's clock, so N instances hammering one
/// budget together allow exactly the budget. Keys are `{prefix}:rate:{tool}:{N}/{period
/// ns}:{user}` and expire as soon as the budget is full again.
///
/// Fails closed: when Redis cannot answer within the connect and command timeouts, the check
/// fails with [`RateLimitError::Unavailable`], the call is `internal` and its handler does not
/// run. The connection is re-established in the background, so checks succeed again by
/// themselves once Redis is back.
#[derive(Clone)]
pub struct RedisRateLimiter {
    link: RedisLink,
    script: Script,
}

impl RedisRateLimiter {
    /// Connects to the Redis at `url`, with keys under `options.prefix`.
    ///
    /// Fails when Redis cannot be reached now: a server that starts with a wrong URL says so at
    /// once rather than failing every call. Later outages are survived.
    pub async fn connect(url: &str, options: RedisOptions) -> Result<Self, RedisSetupError> {
        Ok(RedisRateLimiter {
            link: RedisLink::connect(url, options).await?,
            script: Script::new(GCRA),
        })
    }

    async fn spend(&self, user: &str, tool: &str, quota: Quota) -> Result<(), RateLimitError> {
        // governor's emission interval, to the nanosecond.
        let t = (quota.per / quota.count.get()).max(Duration::from_nanos(1));
        let t_nanos = t.as_nanos();
        let tau_nanos = t_nanos * u128::from(quota.count.get() - 1);
        if t_nanos + tau_nanos > MAX_PERIOD_NANOS {
            return Err(RateLimitError::unavailable(format!(
                "the quota {quota} has a period longer than the Redis limiter counts (about 104 days)"
            )));
        }
        let key = format!(
            "{}:rate:{tool}:{}/{}:{user}",
            self.link.prefix,
            quota.count,
            quota.per.as_nanos()
        );
        let mut invocation = self.script.key(key);
        invocation
            .arg(t_nanos.to_string())
            .arg(tau_nanos.to_string());
        let answer = self
            .link
            .run(|mut c| async move { invocation.invoke_async::<i64>(&mut c).await })
            .await
            .map_err(RateLimitError::unavailable)?;
        match u64::try_from(answer) {
            Ok(wait) => Err(RateLimitError::Exceeded(Duration::from_nanos(wait))),
            Err(_) => Ok(()),
        }
    }
}

impl RateLimiter for RedisRateLimiter {
    fn check<'a>(
        &'a self,
        user: &'a str,
        tool: &'a str,
        quota: Quota,
    ) -> StoreFuture<'a, Result<(), RateLimitError>> {
        StoreFuture::new(self.spend(user, tool, quota))
    }

    fn health(&self) -> StoreFuture<'_, Result<(), StoreUnreachable>> {
        StoreFuture::new(self.link.ping())
    }
}

impl fmt::Debug for RedisRateLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisRateLimiter")
            .field("prefix", &self.link.prefix)
            .field("deadline", &self.link.deadline)
            .finish_non_exhaustive()
    }
}
