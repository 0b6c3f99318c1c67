//! The handler's time limit.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

/// A future stopped at a deadline. Unlike `tokio::time::timeout`, the timer is only armed if the
/// future does not finish on its first poll: most handlers answer at once, and arming a timer
/// costs more than the rest of the dispatch.
pub(super) struct Deadline<F> {
    fut: F,
    /// `None`: a limit so long the clock cannot express it, which is no limit.
    at: Option<Instant>,
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<F> Deadline<F> {
    pub(super) fn new(fut: F, at: Option<Instant>) -> Self {
        Deadline {
            fut,
            at,
            timer: None,
        }
    }
}

impl<F: Future + Unpin> Future for Deadline<F> {
    /// `None` when the deadline passed first.
    type Output = Option<F::Output>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if let Poll::Ready(out) = Pin::new(&mut self.fut).poll(cx) {
            return Poll::Ready(Some(out));
        }
        let Some(at) = self.at.map(tokio::time::Instant::from) else {
            return Poll::Pending;
        };
        let timer = self
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(at)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}
