//! The group-commit writer: requests enqueue their row and await the commit of the batch
//! that carries it. While one batch commits, the next fills, so throughput comes from
//! batching and no request waits on a timer. A full queue or a failed batch fails its
//! waiters, who answer 503 and issue nothing.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::{AuditError, AuditEvent, AuditStore};
use crate::telemetry;

/// Tuning of the writer.
#[derive(Debug, Clone, Copy)]
pub struct WriterSettings {
    /// Rows waiting beyond this are refused at once (503) rather than queued.
    pub queue_capacity: usize,
    /// Most rows in one INSERT.
    pub max_batch: usize,
    /// How long a request waits for its row to commit.
    pub commit_timeout: Duration,
}

impl Default for WriterSettings {
    fn default() -> Self {
        Self {
            queue_capacity: 8192,
            max_batch: 512,
            commit_timeout: Duration::from_secs(2),
        }
    }
}

struct Pending {
    event: AuditEvent,
    committed: oneshot::Sender<Result<(), Arc<AuditError>>>,
}

/// A cheap handle to the writer task. The task ends, after committing everything queued,
/// when every handle is dropped.
#[derive(Clone, Debug)]
pub struct AuditWriter {
    queue: mpsc::Sender<Pending>,
    commit_timeout: Duration,
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pending")
            .field("id", &self.event.id)
            .finish()
    }
}

impl AuditWriter {
    /// Starts the writer task over `store`.
    pub fn spawn(store: Arc<dyn AuditStore>, settings: WriterSettings) -> (Self, JoinHandle<()>) {
        let (queue, receiver) = mpsc::channel(settings.queue_capacity);
        let task = tokio::spawn(run(store, receiver, settings.max_batch));
        let writer = Self {
            queue,
            commit_timeout: settings.commit_timeout,
        };
        (writer, task)
    }

    /// Enqueues `event` and returns once it is committed. An error means it may not be.
    pub async fn record(&self, event: AuditEvent) -> Result<(), AuditError> {
        let (committed, outcome) = oneshot::channel();
        self.queue
            .try_send(Pending { event, committed })
            .map_err(|error| match error {
                mpsc::error::TrySendError::Full(_) => AuditError::QueueFull,
                mpsc::error::TrySendError::Closed(_) => AuditError::WriterStopped,
            })?;
        match tokio::time::timeout(self.commit_timeout, outcome).await {
            Err(_) => Err(AuditError::Timeout),
            Ok(Err(_)) => Err(AuditError::WriterStopped),
            Ok(Ok(result)) => result.map_err(AuditError::Batch),
        }
    }
}

async fn run(store: Arc<dyn AuditStore>, mut receiver: mpsc::Receiver<Pending>, max_batch: usize) {
    let mut batch = Vec::with_capacity(max_batch);
    while receiver.recv_many(&mut batch, max_batch).await > 0 {
        metrics::gauge!(telemetry::AUDIT_QUEUE_DEPTH).set(receiver.len() as f64);
        metrics::histogram!(telemetry::AUDIT_BATCH_ROWS).record(batch.len() as f64);
        let (events, waiters): (Vec<AuditEvent>, Vec<_>) = batch
            .drain(..)
            .map(|pending| (pending.event, pending.committed))
            .unzip();
        let started = std::time::Instant::now();
        let result = store.insert_batch(&events).await.map_err(Arc::new);
        metrics::histogram!(telemetry::AUDIT_COMMIT).record(started.elapsed().as_secs_f64());
        if let Err(error) = &result {
            metrics::counter!(telemetry::AUDIT_FAILURES).increment(1);
            tracing::error!(error = %error, source = ?std::error::Error::source(&**error), rows = events.len(), "audit batch failed");
        } else {
            tracing::debug!(rows = events.len(), "audit batch committed");
        }
        for waiter in waiters {
            // A waiter that gave up (timeout) no longer listens; nothing to tell it.
            let _ = waiter.send(result.clone());
        }
    }
}
