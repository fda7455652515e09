//! The hand-off from requests to the statistics writer.
//!
//! Requests append records to one shared buffer; the writer swaps it for the buffer it wrote
//! last time, emptied. The two buffers take turns, so records are written into memory that is
//! already mapped and likely still cached, instead of a fresh allocation per record or per
//! block of records. A channel carries only a wake-up when the buffer stops being empty (one per
//! batch, not one per record) and flush requests.
//!
//! The buffer holds at most `limit` records (`STATS_QUEUE_LIMIT`, default `DEFAULT_LIMIT`): a
//! writer that falls behind takes everything that has gathered and writes it in transactions of
//! at most `BATCH` rows; a writer whose database is away puts its batch back (`requeue`) and
//! tries again later. Past the limit new records are dropped and counted (in O(1): the buffer is
//! never shifted), so a database
//! that stays away costs bounded memory and the loss is visible (log, `/v1/stats`).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::{mpsc, oneshot};
use uni_api_core::stats::RequestRecord;

/// Most records written in one transaction.
const BATCH: usize = 5000;
/// How long the writer lets records gather before writing them: long enough that a busy
/// gateway commits a few dozen transactions a second rather than thousands, short enough that
/// the buffers stay small (see BENCHMARKS.md, "Cost of statistics").
const BATCH_WINDOW: std::time::Duration = std::time::Duration::from_millis(100);
/// A buffer grown larger than this by a burst is freed after use rather than kept.
const KEEP_CAPACITY: usize = 4 * BATCH;
/// Records kept while the database is away (a record is a few hundred bytes).
pub const DEFAULT_LIMIT: usize = 100_000;

/// What the requests' side and the writer share besides the buffer.
struct Shared {
    limit: usize,
    dropped: AtomicU64,
    /// Whether records are being dropped now (to log the start and end of a loss once).
    dropping: AtomicBool,
}

/// What travels on the channel.
pub(super) enum Signal {
    /// The buffer was empty and now holds a record.
    Records,
    /// Answered once everything queued before it is written.
    Flush(oneshot::Sender<()>),
}

/// The requests' side; cloned into every store handle.
#[derive(Clone)]
pub(super) struct Queue {
    pending: Arc<Mutex<Vec<RequestRecord>>>,
    signals: mpsc::UnboundedSender<Signal>,
    shared: Arc<Shared>,
}

/// The writer's side.
pub(super) struct Intake {
    pending: Arc<Mutex<Vec<RequestRecord>>>,
    signals: mpsc::UnboundedReceiver<Signal>,
    /// The emptied buffer of the last batch, swapped in for the next one.
    spare: Vec<RequestRecord>,
    last_batch: usize,
    shared: Arc<Shared>,
    /// Flushes of requeued batches, answered when a later batch is written.
    held_acks: Vec<oneshot::Sender<()>>,
}

/// Records to write, and who to tell once they are written.
pub(super) struct Batch {
    records: Vec<RequestRecord>,
    acks: Vec<oneshot::Sender<()>>,
}

impl Batch {
    /// The records, a transaction's worth at a time.
    pub fn transactions(&self) -> std::slice::Chunks<'_, RequestRecord> {
        self.records.chunks(BATCH)
    }
}

/// Logs a transaction the database refused: its records are lost, the writer goes on.
pub(super) fn lost(error: &dyn std::fmt::Display, records: usize) {
    tracing::error!(error = %error, lost = records, "could not write statistics");
}

pub(super) fn queue(limit: usize) -> (Queue, Intake) {
    let pending = Arc::new(Mutex::new(Vec::new()));
    let (tx, rx) = mpsc::unbounded_channel();
    let shared = Arc::new(Shared { limit: limit.max(1), dropped: AtomicU64::new(0), dropping: AtomicBool::new(false) });
    let intake = Intake {
        pending: pending.clone(),
        signals: rx,
        spare: Vec::new(),
        last_batch: 0,
        shared: shared.clone(),
        held_acks: Vec::new(),
    };
    (Queue { pending, signals: tx, shared }, intake)
}

impl Shared {
    fn dropped(&self, n: usize) {
        self.dropped.fetch_add(n as u64, Ordering::Relaxed);
        if !self.dropping.swap(true, Ordering::Relaxed) {
            tracing::error!(
                limit = self.limit,
                "statistics queue full (STATS_QUEUE_LIMIT): new records are dropped until the database takes the queued ones"
            );
        }
    }

    /// A batch was written: if records were being dropped, say how many in all.
    fn written(&self) {
        if self.dropping.swap(false, Ordering::Relaxed) {
            let total = self.dropped.load(Ordering::Relaxed);
            tracing::warn!(dropped_total = total, "statistics are being written again");
        }
    }
}

/// A poisoned lock only means a thread panicked mid-push; the records are still whole.
fn lock(pending: &Mutex<Vec<RequestRecord>>) -> MutexGuard<'_, Vec<RequestRecord>> {
    pending.lock().unwrap_or_else(|e| e.into_inner())
}

impl Queue {
    pub fn push(&self, record: RequestRecord) {
        let first = {
            let mut pending = lock(&self.pending);
            if pending.len() >= self.shared.limit {
                drop(pending);
                self.shared.dropped(1);
                return;
            }
            pending.push(record);
            pending.len() == 1
        };
        if first && self.signals.send(Signal::Records).is_err() {
            tracing::error!("statistics writer has stopped; records are not kept");
        }
    }

    /// Records waiting for the writer.
    pub fn depth(&self) -> usize {
        lock(&self.pending).len()
    }

    /// Records dropped since start because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// Waits until every record queued so far is written.
    pub async fn flush(&self) {
        let (tx, rx) = oneshot::channel();
        if self.signals.send(Signal::Flush(tx)).is_ok() {
            let _ = rx.await;
        }
    }
}

impl Intake {
    /// The next batch, for a writer on a thread of its own; `None` once every `Queue` is gone.
    pub fn next_blocking(&mut self) -> Option<Batch> {
        let first = self.signals.blocking_recv()?;
        if self.worth_waiting(&first) {
            std::thread::sleep(BATCH_WINDOW);
        }
        Some(self.take(first))
    }

    /// The next batch, for a writer task; `None` once every `Queue` is gone.
    pub async fn next(&mut self) -> Option<Batch> {
        let first = self.wait().await?;
        if self.worth_waiting(&first) {
            tokio::time::sleep(BATCH_WINDOW).await;
        }
        Some(self.take(first))
    }

    async fn wait(&mut self) -> Option<Signal> {
        self.signals.recv().await
    }

    /// After `delay`, everything queued (a requeued batch and what came since), without waiting
    /// for a wake-up: for a writer trying again after its database went away.
    pub async fn retry_after(&mut self, delay: std::time::Duration) -> Batch {
        tokio::time::sleep(delay).await;
        let mut acks = Vec::new();
        while let Ok(signal) = self.signals.try_recv() {
            if let Signal::Flush(ack) = signal {
                acks.push(ack);
            }
        }
        let records = std::mem::replace(&mut *lock(&self.pending), std::mem::take(&mut self.spare));
        self.last_batch = records.len();
        Batch { records, acks }
    }

    /// Puts the batch's records from `from` on back in front of what has queued since (the
    /// newest dropped past the limit); its flushes wait for a batch that is written.
    pub fn requeue(&mut self, batch: Batch, from: usize) {
        let mut records = batch.records;
        records.drain(..from.min(records.len()));
        self.held_acks.extend(batch.acks);
        let mut pending = lock(&self.pending);
        records.append(&mut pending);
        let excess = records.len().saturating_sub(self.shared.limit);
        if excess > 0 {
            records.truncate(self.shared.limit);
            self.shared.dropped(excess);
        }
        *pending = records;
    }

    /// Whether to let more records gather before taking a batch: not for a flush, and not
    /// while the writer is behind (its last batch filled a transaction), so a sustained burst
    /// is written as fast as the database allows.
    fn worth_waiting(&self, first: &Signal) -> bool {
        matches!(first, Signal::Records) && self.last_batch < BATCH
    }

    /// Everything queued so far. Signals are read before the buffer is taken, so a flush's
    /// records (queued before it was asked for) are in the batch that answers it.
    fn take(&mut self, first: Signal) -> Batch {
        let mut acks = Vec::new();
        let mut next = Some(first);
        while let Some(signal) = next {
            if let Signal::Flush(ack) = signal {
                acks.push(ack);
            }
            next = self.signals.try_recv().ok();
        }
        let records = std::mem::replace(&mut *lock(&self.pending), std::mem::take(&mut self.spare));
        self.last_batch = records.len();
        Batch { records, acks }
    }

    /// Answers the batch's flushes (and those held from requeued batches) and keeps its buffer
    /// for the next batch.
    pub fn done(&mut self, batch: Batch) {
        if !batch.records.is_empty() {
            self.shared.written();
        }
        for ack in batch.acks.into_iter().chain(self.held_acks.drain(..)) {
            let _ = ack.send(());
        }
        let mut records = batch.records;
        if records.capacity() <= KEEP_CAPACITY {
            records.clear();
            self.spare = records;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(model: &str) -> RequestRecord {
        RequestRecord { model: model.into(), ..RequestRecord::default() }
    }

    #[tokio::test]
    async fn one_wake_up_per_batch_and_buffers_take_turns() {
        let (queue, mut intake) = queue(DEFAULT_LIMIT);
        queue.push(record("a"));
        queue.push(record("b"));
        let first = intake.wait().await.expect("signal");
        assert!(intake.worth_waiting(&first));
        let batch = intake.take(first);
        assert_eq!(batch.records.iter().map(|r| r.model.as_str()).collect::<Vec<_>>(), ["a", "b"]);
        assert!(intake.signals.try_recv().is_err(), "two records, one wake-up");
        let buffer = batch.records.as_ptr();
        intake.done(batch);

        queue.push(record("c"));
        let signal = intake.wait().await.expect("signal");
        let batch = intake.take(signal);
        intake.done(batch);
        queue.push(record("d"));
        let signal = intake.wait().await.expect("signal");
        let batch = intake.take(signal);
        assert_eq!(batch.records.as_ptr(), buffer, "the first batch's buffer is used again");
        assert_eq!(batch.records.len(), 1);
    }

    #[tokio::test]
    async fn a_flush_is_answered_with_the_records_queued_before_it() {
        let (queue, mut intake) = queue(DEFAULT_LIMIT);
        queue.push(record("a"));
        let flushing = tokio::spawn({
            let queue = queue.clone();
            async move { queue.flush().await }
        });
        // The wake-up for "a" comes first; the flush is read with it.
        let first = intake.wait().await.expect("signal");
        while intake.signals.is_empty() {
            tokio::task::yield_now().await;
        }
        let batch = intake.take(first);
        assert_eq!(batch.records.len(), 1);
        assert!(!flushing.is_finished());
        intake.done(batch);
        flushing.await.expect("flush answered");
    }

    #[tokio::test]
    async fn the_writer_stops_when_every_queue_is_gone() {
        let (queue, mut intake) = queue(DEFAULT_LIMIT);
        drop(queue);
        assert!(intake.wait().await.is_none());
    }
}

#[cfg(test)]
mod limits {
    use super::*;

    fn record(model: &str) -> RequestRecord {
        RequestRecord { model: model.into(), ..RequestRecord::default() }
    }

    fn models(batch: &Batch) -> Vec<&str> {
        batch.records.iter().map(|r| r.model.as_str()).collect()
    }

    #[tokio::test]
    async fn past_the_limit_new_records_are_dropped_and_counted() {
        let (queue, mut intake) = queue(3);
        for m in ["a", "b", "c", "d"] {
            queue.push(record(m));
        }
        assert_eq!(queue.dropped(), 1);
        let first = intake.wait().await.unwrap();
        let batch = intake.take(first);
        assert_eq!(models(&batch), ["a", "b", "c"]);

        // The database is away: the batch goes back in front of what came since.
        queue.push(record("e"));
        intake.requeue(batch, 1);
        let retried = intake.retry_after(std::time::Duration::ZERO).await;
        assert_eq!(models(&retried), ["b", "c", "e"]);
        assert_eq!(queue.dropped(), 1);
        queue.push(record("f"));
        queue.push(record("g"));
        intake.requeue(retried, 0);
        assert_eq!(queue.dropped(), 3, "f and g had no room");
        let again = intake.retry_after(std::time::Duration::ZERO).await;
        assert_eq!(models(&again), ["b", "c", "e"]);
    }
}
