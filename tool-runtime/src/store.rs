//! What the store traits ([`AuditSink`](crate::AuditSink), [`RateLimiter`](crate::RateLimiter),
//! [`ApprovalStore`](crate::approval::ApprovalStore)) return: an answer a store has at once,
//! or one it must wait for on the network or a disk.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// The answer of a store, now or later.
///
/// An in-memory store answers with [`ready`](Self::ready), which allocates nothing; a store that
/// waits on I/O wraps its `async` block with [`new`](Self::new), and the caller's task awaits it
/// without blocking a runtime thread. Either way the trait stays object-safe (`Arc<dyn ...>`).
#[must_use = "a store's answer does nothing unless awaited"]
pub struct StoreFuture<'a, T>(Inner<'a, T>);

enum Inner<'a, T> {
    Ready(Option<T>),
    Waiting(Pin<Box<dyn Future<Output = T> + Send + 'a>>),
}

impl<'a, T> StoreFuture<'a, T> {
    /// An answer known now.
    pub fn ready(value: T) -> Self {
        StoreFuture(Inner::Ready(Some(value)))
    }

    /// An answer `future` will give.
    pub fn new(future: impl Future<Output = T> + Send + 'a) -> Self {
        StoreFuture(Inner::Waiting(Box::pin(future)))
    }
}

impl<T: Unpin> Future for StoreFuture<'_, T> {
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        match &mut self.get_mut().0 {
            // Polled again after it answered: a caller bug, not a store's; there is nothing
            // left to answer, so it never completes rather than panicking.
            Inner::Ready(value) => value.take().map_or(Poll::Pending, Poll::Ready),
            Inner::Waiting(future) => future.as_mut().poll(cx),
        }
    }
}

impl<T> fmt::Debug for StoreFuture<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.0 {
            Inner::Ready(Some(_)) => "ready",
            Inner::Ready(None) => "answered",
            Inner::Waiting(_) => "waiting",
        };
        f.debug_tuple("StoreFuture").field(&state).finish()
    }
}

/// A store that cannot be reached now, as a health check reports it: for the operator's log,
/// never for the model.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{store} is unreachable: {cause}")]
pub struct StoreUnreachable {
    /// Which store: `Redis`, `PostgreSQL`, ...
    pub store: &'static str,
    /// What failed.
    pub cause: String,
}

impl StoreUnreachable {
    /// `store` failed with `cause`.
    pub fn new(store: &'static str, cause: impl fmt::Display) -> Self {
        StoreUnreachable {
            store,
            cause: cause.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn ready_and_waiting_answers_arrive() {
        assert_eq!(StoreFuture::ready(7).await, 7);
        let later = StoreFuture::new(async {
            tokio::task::yield_now().await;
            8
        });
        assert_eq!(later.await, 8);
    }

    #[test]
    fn a_store_future_is_send() {
        fn send<T: Send>(_: &T) {}
        send(&StoreFuture::ready(1));
        send(&StoreFuture::new(async { 1 }));
    }
}
