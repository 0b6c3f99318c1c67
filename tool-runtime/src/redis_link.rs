//! The one way this crate reaches Redis: the options, the connection with its timeouts, and the
//! health check, shared by [`RedisRateLimiter`](crate::rate_limit::RedisRateLimiter) and
//! [`RedisApprovals`](crate::approval::RedisApprovals).

use std::time::Duration;

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ::redis::{Client, RedisError};

use crate::store::StoreUnreachable;

/// How to reach Redis and how long to wait for it.
#[derive(Clone, Debug)]
pub struct RedisOptions {
    /// Each key starts with `{prefix}:`: one prefix per application sharing a Redis.
    pub prefix: String,
    /// The most a (re)connection attempt waits. Default 1 s.
    pub connect_timeout: Duration,
    /// The most one check waits for its answer. Default 500 ms.
    pub command_timeout: Duration,
}

impl RedisOptions {
    /// The default timeouts, with keys under `prefix`.
    pub fn new(prefix: impl Into<String>) -> Self {
        RedisOptions {
            prefix: prefix.into(),
            connect_timeout: Duration::from_secs(1),
            command_timeout: Duration::from_millis(500),
        }
    }
}

/// Why a Redis store could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RedisSetupError {
    /// The URL is not a Redis URL.
    #[error("`{0}` is not a Redis URL (redis://host:port/db or rediss://...)")]
    Url(String),
    /// The prefix is empty or holds `:` or whitespace.
    #[error("the key prefix `{0}` must be non-empty, without `:` or whitespace")]
    Prefix(String),
    /// Redis did not answer.
    #[error("could not reach Redis: {0}")]
    Unreachable(#[source] RedisError),
    /// Redis did not answer within the connect timeout.
    #[error("Redis did not answer within {0:?}")]
    Timeout(Duration),
}

/// A connection to Redis that reconnects by itself, and the most one command may wait.
#[derive(Clone)]
pub(crate) struct RedisLink {
    pub(crate) connection: ConnectionManager,
    pub(crate) prefix: String,
    pub(crate) deadline: Duration,
}

impl RedisLink {
    /// Connects to the Redis at `url`, with keys under `options.prefix`.
    ///
    /// Fails when Redis cannot be reached now: a server that starts with a wrong URL says so at
    /// once rather than failing every call. Later outages are survived.
    pub(crate) async fn connect(url: &str, options: RedisOptions) -> Result<Self, RedisSetupError> {
        if options.prefix.is_empty()
            || options
                .prefix
                .chars()
                .any(|c| c == ':' || c.is_whitespace())
        {
            return Err(RedisSetupError::Prefix(options.prefix));
        }
        // The URL may carry a password: the error shows only its scheme.
        let client = Client::open(url).map_err(|_| {
            RedisSetupError::Url(url.split("://").next().unwrap_or_default().to_owned() + "://...")
        })?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(options.connect_timeout))
            .set_response_timeout(Some(options.command_timeout))
            // Reconnection is retried in the background a few times, with backoff; a command
            // made meanwhile fails at once rather than queueing behind it.
            .set_number_of_retries(3)
            .set_max_delay(options.connect_timeout);
        let deadline = options.connect_timeout + options.command_timeout;
        let connection =
            tokio::time::timeout(deadline, ConnectionManager::new_with_config(client, config))
                .await
                .map_err(|_| RedisSetupError::Timeout(deadline))?
                .map_err(RedisSetupError::Unreachable)?;
        Ok(RedisLink {
            connection,
            prefix: options.prefix,
            deadline,
        })
    }

    /// Runs one command (or script) against Redis within the deadline; a late or failed answer
    /// is said in words for the audit log, never with the URL.
    pub(crate) async fn run<T, F>(
        &self,
        command: impl FnOnce(ConnectionManager) -> F,
    ) -> Result<T, String>
    where
        F: std::future::Future<Output = Result<T, RedisError>>,
    {
        tokio::time::timeout(self.deadline, command(self.connection.clone()))
            .await
            .map_err(|_| format!("Redis did not answer within {:?}", self.deadline))?
            .map_err(|e| format!("Redis failed: {e}"))
    }

    /// Whether Redis answers a `PING` now.
    pub(crate) async fn ping(&self) -> Result<(), StoreUnreachable> {
        self.run(|mut c| async move { ::redis::cmd("PING").query_async::<String>(&mut c).await })
            .await
            .map(drop)
            .map_err(|cause| StoreUnreachable::new("Redis", cause))
    }
}
