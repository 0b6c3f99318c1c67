//! Group commit: the records of concurrent calls share one transaction and one flush.
//!
//! Each call hands its row to a queue and waits; one writer takes everything queued, writes it
//! in one transaction, commits (the one flush), then answers each waiting call with the
//! batch's result. While a batch is being flushed the next one gathers, so under load batches
//! grow by themselves and a lone call is never held back waiting for company.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};

use super::AuditError;

/// The most rows one transaction takes; past it the rest wait for the next one, so that a
/// flood of records cannot make one transaction (and every caller in it) wait arbitrarily long.
pub(super) const MAX_BATCH: usize = 512;

/// Calls waiting for the writer to take their rows, at most; past it a call waits for room.
const QUEUE: usize = 4096;

/// The callers' end.
#[derive(Debug)]
pub(super) struct Queue<R> {
    sender: mpsc::Sender<Waiting<R>>,
    stats: Arc<Stats>,
}

/// The writer's end.
pub(super) struct Batches<R> {
    receiver: mpsc::Receiver<Waiting<R>>,
    stats: Arc<Stats>,
    /// How many rows the last batch held: under steady load, about how many callers will be
    /// back with their next row soon.
    last: usize,
}

/// The longest the writer waits for callers of the last batch to come back with their next
/// row before committing what it has: a flush costs far more than this, and a batch as large
/// as the load allows takes the most calls past each flush.
const LINGER: Duration = Duration::from_micros(100);

/// A row and the call waiting for it to be durable.
pub(super) struct Waiting<R> {
    pub(super) row: R,
    done: oneshot::Sender<Result<(), Arc<str>>>,
}

/// How many transactions committed, and how many rows they held.
#[derive(Debug, Default)]
pub(super) struct Stats {
    commits: AtomicU64,
    rows: AtomicU64,
}

impl Stats {
    pub(super) fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }

    pub(super) fn rows(&self) -> u64 {
        self.rows.load(Ordering::Relaxed)
    }
}

pub(super) fn queue<R>() -> (Queue<R>, Batches<R>) {
    let (sender, receiver) = mpsc::channel(QUEUE);
    let stats = Arc::new(Stats::default());
    (
        Queue {
            sender,
            stats: Arc::clone(&stats),
        },
        Batches {
            receiver,
            stats,
            last: 0,
        },
    )
}

impl<R> Queue<R> {
    /// Waits until `row` is committed, or says why it is not.
    pub(super) async fn submit(&self, row: R) -> Result<(), AuditError> {
        let (done, answer) = oneshot::channel();
        self.sender
            .send(Waiting { row, done })
            .await
            .map_err(|_| AuditError::other("the audit writer has stopped"))?;
        match answer.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(cause)) => Err(AuditError::other(cause.to_string())),
            Err(_) => Err(AuditError::other(
                "the audit writer stopped before committing the record",
            )),
        }
    }

    pub(super) fn stats(&self) -> &Stats {
        &self.stats
    }
}

impl<R> Batches<R> {
    /// The next batch, waiting on this thread for its first row; `None` once every caller's
    /// end is gone. For a writer on its own thread (a blocking database driver).
    #[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
    pub(super) fn next_blocking(&mut self) -> Option<Vec<Waiting<R>>> {
        let first = self.receiver.blocking_recv()?;
        let mut batch = vec![first];
        let lingering = Instant::now();
        while self.gather(&mut batch, lingering) {
            std::thread::yield_now();
        }
        Some(self.close(batch))
    }

    /// The next batch; `None` once every caller's end is gone. For a writer task.
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    pub(super) async fn next(&mut self) -> Option<Vec<Waiting<R>>> {
        let first = self.receiver.recv().await?;
        let mut batch = vec![first];
        let lingering = Instant::now();
        while self.gather(&mut batch, lingering) {
            tokio::task::yield_now().await;
        }
        Some(self.close(batch))
    }

    /// Takes what is queued into `batch`; `true` while it is worth waiting for more. A lone
    /// caller (the last batch held one row) is never held back; under load, the writer lets
    /// the callers it just answered catch up, up to [`LINGER`].
    fn gather(&mut self, batch: &mut Vec<Waiting<R>>, lingering: Instant) -> bool {
        while batch.len() < MAX_BATCH {
            match self.receiver.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        batch.len() < self.last.min(MAX_BATCH) && lingering.elapsed() < LINGER
    }

    fn close(&mut self, mut batch: Vec<Waiting<R>>) -> Vec<Waiting<R>> {
        self.last = batch.len();
        // A caller that stopped waiting (its own deadline passed, or its task was dropped) has
        // already been answered `internal`: its record is not written as though it had a reply.
        batch.retain(|waiting| !waiting.done.is_closed());
        batch
    }

    /// Answers every call in `batch` with the batch's result.
    pub(super) fn finish<E: std::fmt::Display>(
        &self,
        batch: Vec<Waiting<R>>,
        result: Result<(), E>,
    ) {
        let result = match result {
            Ok(()) => {
                self.stats.commits.fetch_add(1, Ordering::Relaxed);
                self.stats
                    .rows
                    .fetch_add(batch.len() as u64, Ordering::Relaxed);
                Ok(())
            }
            Err(e) => Err(Arc::<str>::from(e.to_string())),
        };
        for waiting in batch {
            // The caller may have given up meanwhile; there is no one left to tell.
            let _ = waiting.done.send(result.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn under_load_the_writer_waits_briefly_for_the_callers_it_just_answered() {
        let (queue, mut batches) = queue::<u32>();
        let queue = Arc::new(queue);
        let submit = |n: u32| {
            let queue = Arc::clone(&queue);
            tokio::spawn(async move { queue.submit(n).await })
        };
        // A lone caller is not held back: there was no batch before it.
        let lone = submit(0);
        let batch = batches.next().await.unwrap();
        assert_eq!(batch.len(), 1);
        batches.finish(batch, Ok::<(), &str>(()));
        lone.await.unwrap().unwrap();

        // A batch of ten; then one caller comes back first, and the others while the writer
        // lingers (they run when it yields, on this one-thread runtime).
        let callers: Vec<_> = (0..10).map(submit).collect();
        while queue.sender.capacity() > QUEUE - 10 {
            tokio::task::yield_now().await;
        }
        let batch = batches.next().await.unwrap();
        assert_eq!(batch.len(), 10);
        batches.finish(batch, Ok::<(), &str>(()));
        for caller in callers {
            caller.await.unwrap().unwrap();
        }
        let first = submit(10);
        while queue.sender.capacity() > QUEUE - 1 {
            tokio::task::yield_now().await;
        }
        let rest: Vec<_> = (11..20).map(submit).collect();
        let batch = batches.next().await.unwrap();
        assert_eq!(
            batch.len(),
            10,
            "the callers that came back during the wait joined it"
        );
        batches.finish(batch, Ok::<(), &str>(()));
        first.await.unwrap().unwrap();
        for caller in rest {
            caller.await.unwrap().unwrap();
        }

        // Nobody else comes: the writer commits what it has once the wait is over.
        let alone = submit(20);
        let started = Instant::now();
        let batch = batches.next().await.unwrap();
        assert_eq!(batch.len(), 1);
        assert!(started.elapsed() >= LINGER);
        batches.finish(batch, Ok::<(), &str>(()));
        alone.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn each_caller_gets_its_batch_result() {
        let (queue, mut batches) = queue::<u32>();
        let queue = Arc::new(queue);
        let callers: Vec<_> = (0..10)
            .map(|n| {
                let queue = Arc::clone(&queue);
                tokio::spawn(async move { queue.submit(n).await })
            })
            .collect();
        // Let every caller queue its row before the writer starts.
        while queue.sender.capacity() > QUEUE - 10 {
            tokio::task::yield_now().await;
        }
        let batch = batches.next().await.unwrap();
        let mut rows: Vec<u32> = batch.iter().map(|w| w.row).collect();
        rows.sort_unstable();
        assert_eq!(rows, (0..10).collect::<Vec<_>>());
        batches.finish(batch, Err("disk full"));
        for caller in callers {
            let err = caller.await.unwrap().unwrap_err();
            assert!(err.to_string().contains("disk full"), "{err}");
        }
        assert_eq!(queue.stats().commits(), 0);
    }

    #[tokio::test]
    async fn a_stopped_writer_fails_the_call() {
        let (queue, batches) = queue::<u32>();
        drop(batches);
        assert!(queue.submit(1).await.is_err());
    }
}
