//! The hand-off from requests to the statistics writer.
//!
//! Requests append records to one shared buffer; the writer swaps it for the buffer it wrote
//! last time, emptied. The two buffers take turns, so records are written into memory that is
//! already mapped and likely still cached, instead of a fresh allocation per record or per
//! block of records. A channel carries only a wake-up when the buffer stops being empty (one per
//! batch, not one per record) and flush requests.
//!
//! Invariant: nothing is dropped. The buffer is unbounded; a writer that falls behind takes
//! everything that has gathered and writes it in transactions of at most `BATCH` rows.

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
}

/// The writer's side.
pub(super) struct Intake {
    pending: Arc<Mutex<Vec<RequestRecord>>>,
    signals: mpsc::UnboundedReceiver<Signal>,
    /// The emptied buffer of the last batch, swapped in for the next one.
    spare: Vec<RequestRecord>,
    last_batch: usize,
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

pub(super) fn queue() -> (Queue, Intake) {
    let pending = Arc::new(Mutex::new(Vec::new()));
    let (tx, rx) = mpsc::unbounded_channel();
    (Queue { pending: pending.clone(), signals: tx }, Intake { pending, signals: rx, spare: Vec::new(), last_batch: 0 })
}

/// A poisoned lock only means a thread panicked mid-push; the records are still whole.
fn lock(pending: &Mutex<Vec<RequestRecord>>) -> MutexGuard<'_, Vec<RequestRecord>> {
    pending.lock().unwrap_or_else(|e| e.into_inner())
}

impl Queue {
    pub fn push(&self, record: RequestRecord) {
        let first = {
            let mut pending = lock(&self.pending);
            pending.push(record);
            pending.len() == 1
        };
        if first && self.signals.send(Signal::Records).is_err() {
            tracing::error!("statistics writer has stopped; records are not kept");
        }
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

    /// Answers the batch's flushes and keeps its buffer for the next batch.
    pub fn done(&mut self, batch: Batch) {
        for ack in batch.acks {
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
        let (queue, mut intake) = queue();
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
        let (queue, mut intake) = queue();
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
        let (queue, mut intake) = queue();
        drop(queue);
        assert!(intake.wait().await.is_none());
    }
}
