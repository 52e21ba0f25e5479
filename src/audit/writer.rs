//! The group-commit writer: requests enqueue their row and await the commit of the batch
//! that carries it. While batches commit (as many at once as the store allows), the next
//! fills, so throughput comes from batching and no request waits on a timer. A full queue
//! fails its request at once, who answers 503 and issues nothing.
//!
//! One caller's row must never fail another's: every row is made storable before it is
//! queued ([`AuditEvent::sanitized`]), and should the database still refuse a batch, its
//! rows are tried one by one, so only a row that fails on its own fails its waiter. A store
//! that is down fails the whole batch at once, without being asked again for each row.
//!
//! A committed batch is answered only after [`AuditStore::sync`] has made it durable. The
//! sync runs in its own task, once for every batch committed since the last one, so that
//! the next batch is written while the disk flushes the previous ones.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};
use tokio::task::{JoinHandle, JoinSet};

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

/// One request's rows, committed together: a batch presign's answer waits for all of them.
struct Queued {
    rows: Vec<AuditEvent>,
    committed: Waiter,
}

/// A value that may leave the process only once its audit row is durable: the only way
/// to a [`Committed`] value is [`AuditWriter::commit`] (or [`AuditWriter::commit_all`]).
#[derive(Debug)]
#[must_use = "nothing may be answered before its audit row commits"]
pub struct Pending<T> {
    row: AuditEvent,
    value: T,
}

impl<T> Pending<T> {
    pub fn new(row: AuditEvent, value: T) -> Self {
        Self { row, value }
    }

    /// The same row with `f` of the value: a batch holds signed and refused items alike.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Pending<U> {
        Pending {
            row: self.row,
            value: f(self.value),
        }
    }
}

/// A value whose audit row has committed and is durable.
#[derive(Debug)]
pub struct Committed<T>(T);

impl<T> Committed<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T, E> Committed<Result<T, E>> {
    /// A committed outcome as a committed value or its error: a batch item's row commits
    /// whether the item was signed or refused.
    pub fn transpose(self) -> Result<Committed<T>, E> {
        self.0.map(Committed)
    }
}

/// A cheap handle to the writer task. The task ends, after committing everything queued,
/// when every handle is dropped.
#[derive(Clone, Debug)]
pub struct AuditWriter {
    queue: mpsc::Sender<Queued>,
    commit_timeout: Duration,
}

impl std::fmt::Debug for Queued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queued")
            .field("rows", &self.rows.len())
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

    /// Writes `pending`'s row and releases its value once the row is durable. An error
    /// means the row may not be: the value is dropped, never answered.
    pub async fn commit<T>(&self, pending: Pending<T>) -> Result<Committed<T>, AuditError> {
        self.write(vec![pending.row]).await?;
        Ok(Committed(pending.value))
    }

    /// Writes every row at once (one request's), releasing all values or none.
    pub async fn commit_all<T>(
        &self,
        pending: Vec<Pending<T>>,
    ) -> Result<Vec<Committed<T>>, AuditError> {
        let (rows, values): (Vec<_>, Vec<_>) =
            pending.into_iter().map(|p| (p.row, p.value)).unzip();
        self.write(rows).await?;
        Ok(values.into_iter().map(Committed).collect())
    }

    /// Enqueues `rows`, each made storable first ([`AuditEvent::sanitized`]: NUL replaced,
    /// lengths bounded), and returns once they are committed. An error means they may not be.
    async fn write(&self, rows: Vec<AuditEvent>) -> Result<(), AuditError> {
        let (committed, outcome) = oneshot::channel();
        let rows = rows.into_iter().map(AuditEvent::sanitized).collect();
        self.queue
            .try_send(Queued { rows, committed })
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

/// Told once whether its row is durable.
type Waiter = oneshot::Sender<Result<(), Arc<AuditError>>>;

/// A batch that has committed and waits to be durable.
struct Written {
    started: Instant,
    waiters: Vec<Waiter>,
}

async fn run(store: Arc<dyn AuditStore>, mut receiver: mpsc::Receiver<Queued>, max_batch: usize) {
    let concurrent_batches = store.concurrent_batches().max(1);
    let (to_sync, committed) = mpsc::unbounded_channel();
    let syncing = tokio::spawn(sync(store.clone(), committed));
    let mut committing = JoinSet::new();
    loop {
        // Rows that arrive while every slot is busy wait in the queue, and so join a
        // larger batch.
        while committing.len() >= concurrent_batches {
            committing.join_next().await;
        }
        let mut batch = Vec::with_capacity(max_batch);
        if receiver.recv_many(&mut batch, max_batch).await == 0 {
            break;
        }
        metrics::gauge!(telemetry::AUDIT_QUEUE_DEPTH).set(receiver.len() as f64);
        committing.spawn(commit(store.clone(), batch, to_sync.clone()));
    }
    while committing.join_next().await.is_some() {}
    drop(to_sync);
    let _ = syncing.await;
}

async fn commit(
    store: Arc<dyn AuditStore>,
    batch: Vec<Queued>,
    to_sync: mpsc::UnboundedSender<Written>,
) {
    // One request's rows are contiguous in `events`: `requests` holds how many, in order.
    let mut events = Vec::with_capacity(batch.len());
    let mut requests = Vec::with_capacity(batch.len());
    for queued in batch {
        requests.push((queued.rows.len(), queued.committed));
        events.extend(queued.rows);
    }
    metrics::histogram!(telemetry::AUDIT_BATCH_ROWS).record(events.len() as f64);
    let started = Instant::now();
    let waiters = match store.insert_batch(&events).await {
        Ok(()) => requests.into_iter().map(|(_, waiter)| waiter).collect(),
        // Requests tried alone can fare better only when the database refused the
        // statement; an unreachable one would just be asked again for each of them.
        Err(error) if requests.len() == 1 || !refused_statement(&error) => {
            let waiters = requests.into_iter().map(|(_, waiter)| waiter).collect();
            return fail(waiters, Arc::new(error), "audit batch failed");
        }
        Err(error) => {
            tracing::warn!(error = %error, source = ?std::error::Error::source(&error), rows = events.len(), "audit batch failed; retrying each request's rows on their own");
            one_by_one(&*store, &events, requests).await
        }
    };
    if !waiters.is_empty() {
        // The sync task outlives every commit task; should it be gone, the dropped
        // waiters answer 503.
        drop(to_sync.send(Written { started, waiters }));
    }
}

/// Inserts each request's rows on their own after their batch failed; fails the waiters
/// whose rows fail again and returns those whose rows committed. A request whose waiter
/// has given up (timed out, so it answered 503 and issued nothing) is skipped: that bounds
/// the retries by the commit timeout when the store itself is down.
async fn one_by_one(
    store: &dyn AuditStore,
    events: &[AuditEvent],
    requests: Vec<(usize, Waiter)>,
) -> Vec<Waiter> {
    let mut committed = Vec::with_capacity(requests.len());
    let mut start = 0;
    let mut requests = requests.into_iter();
    while let Some((count, waiter)) = requests.next() {
        let rows = &events[start..start + count];
        start += count;
        if waiter.is_closed() {
            continue;
        }
        match store.insert_batch(rows).await {
            Ok(()) => committed.push(waiter),
            Err(error) if refused_statement(&error) => {
                fail(vec![waiter], Arc::new(error), "audit row failed");
            }
            // The store itself failed: every request left fails with it.
            Err(error) => {
                let left = std::iter::once(waiter)
                    .chain(requests.map(|(_, waiter)| waiter))
                    .collect();
                fail(left, Arc::new(error), "audit batch failed");
                break;
            }
        }
    }
    committed
}

/// Whether the database (or the driver, encoding a value) refused the statement itself,
/// as PostgreSQL refuses a NUL in text, rather than being unreachable or timing out.
fn refused_statement(error: &AuditError) -> bool {
    matches!(
        error,
        AuditError::Database(sqlx::Error::Database(_) | sqlx::Error::Encode(_))
    )
}

/// Makes committed batches durable, all those waiting at once, and answers their waiters.
async fn sync(store: Arc<dyn AuditStore>, mut committed: mpsc::UnboundedReceiver<Written>) {
    let mut batches = Vec::new();
    while committed.recv_many(&mut batches, usize::MAX).await > 0 {
        match store.sync().await {
            Ok(()) => {
                for batch in batches.drain(..) {
                    metrics::histogram!(telemetry::AUDIT_COMMIT)
                        .record(batch.started.elapsed().as_secs_f64());
                    tracing::debug!(rows = batch.waiters.len(), "audit batch committed");
                    for waiter in batch.waiters {
                        // A waiter that gave up (timeout) no longer listens.
                        let _ = waiter.send(Ok(()));
                    }
                }
            }
            Err(error) => {
                let waiters = batches.drain(..).flat_map(|batch| batch.waiters).collect();
                fail(waiters, Arc::new(error), "audit sync failed");
            }
        }
    }
}

fn fail(waiters: Vec<Waiter>, error: Arc<AuditError>, what: &'static str) {
    metrics::counter!(telemetry::AUDIT_FAILURES).increment(1);
    tracing::error!(error = %error, source = ?std::error::Error::source(&*error), rows = waiters.len(), "{what}");
    for waiter in waiters {
        let _ = waiter.send(Err(error.clone()));
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    use async_trait::async_trait;
    use time::OffsetDateTime;
    use tokio::sync::Semaphore;

    use uuid::Uuid;

    use super::*;
    use crate::audit::{AuditQuery, sample_event};

    /// Keeps rows in memory; its sync waits for a permit, so a test decides when the
    /// disk "finishes", and can be told to fail.
    #[derive(Debug)]
    struct ScriptedStore {
        rows: Mutex<Vec<Uuid>>,
        syncs: AtomicUsize,
        sync_permits: Semaphore,
        fail_sync: AtomicBool,
        fail_insert: AtomicBool,
        /// A batch holding a row with this subject fails as a whole, as PostgreSQL fails a
        /// multi-row INSERT with one bad value.
        refused_subject: Mutex<Option<String>>,
        inserts: AtomicUsize,
    }

    impl Default for ScriptedStore {
        fn default() -> Self {
            Self {
                rows: Mutex::default(),
                syncs: AtomicUsize::default(),
                sync_permits: Semaphore::new(0),
                fail_sync: AtomicBool::default(),
                fail_insert: AtomicBool::default(),
                refused_subject: Mutex::default(),
                inserts: AtomicUsize::default(),
            }
        }
    }

    #[async_trait]
    impl AuditStore for ScriptedStore {
        async fn migrate(&self) -> Result<(), AuditError> {
            Ok(())
        }
        async fn insert_batch(&self, events: &[AuditEvent]) -> Result<(), AuditError> {
            self.inserts.fetch_add(1, Ordering::SeqCst);
            if self.fail_insert.load(Ordering::SeqCst) {
                return Err(AuditError::Corrupt("insert refused".into()));
            }
            let refused = self.refused_subject.lock().unwrap().clone();
            if events.iter().any(|e| Some(&e.subject) == refused.as_ref()) {
                return Err(sqlx::Error::Encode("row refused".into()).into());
            }
            let mut rows = self.rows.lock().unwrap();
            rows.extend(events.iter().map(|event| event.id));
            Ok(())
        }
        async fn sync(&self) -> Result<(), AuditError> {
            self.sync_permits.acquire().await.unwrap().forget();
            self.syncs.fetch_add(1, Ordering::SeqCst);
            if self.fail_sync.load(Ordering::SeqCst) {
                return Err(AuditError::Corrupt("fsync failed".into()));
            }
            Ok(())
        }
        async fn query(&self, _: &AuditQuery) -> Result<Vec<AuditEvent>, AuditError> {
            Ok(Vec::new())
        }
        async fn stats(
            &self,
            _: &crate::audit::StatsQuery,
        ) -> Result<Vec<crate::audit::StatsRow>, AuditError> {
            Ok(Vec::new())
        }
        async fn counted_through(&self) -> Result<Option<i64>, AuditError> {
            Ok(None)
        }
        async fn oldest_time(&self) -> Result<Option<OffsetDateTime>, AuditError> {
            Ok(None)
        }
        async fn save_hourly(
            &self,
            _: std::ops::Range<i64>,
            _: &[crate::audit::StatsRow],
        ) -> Result<(), AuditError> {
            Ok(())
        }
        async fn hourly_stats(
            &self,
            _: &crate::audit::StatsQuery,
            _: std::ops::Range<i64>,
        ) -> Result<Vec<crate::audit::StatsRow>, AuditError> {
            Ok(Vec::new())
        }
        async fn forget_hours_before(&self, _: i64) -> Result<(), AuditError> {
            Ok(())
        }
        async fn ping(&self) -> Result<(), AuditError> {
            Ok(())
        }
        async fn delete_older_than(&self, _: OffsetDateTime, _: u32) -> Result<u64, AuditError> {
            Ok(0)
        }
    }

    fn start(store: &Arc<ScriptedStore>) -> AuditWriter {
        AuditWriter::spawn(store.clone(), WriterSettings::default()).0
    }

    async fn record(writer: &AuditWriter) -> Result<(), AuditError> {
        writer
            .commit(Pending::new(sample_event(), ()))
            .await
            .map(drop)
    }

    fn record_in_background(writer: &AuditWriter) -> JoinHandle<Result<(), AuditError>> {
        let writer = writer.clone();
        tokio::spawn(async move { record(&writer).await })
    }

    async fn until_committed(store: &ScriptedStore, rows: usize) {
        while store.rows.lock().unwrap().len() < rows {
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test]
    async fn a_row_is_answered_only_after_a_sync_that_follows_its_commit() {
        let store = Arc::new(ScriptedStore::default());
        let writer = start(&store);
        let recorded = record_in_background(&writer);
        // Committed, yet unanswered while the sync has not finished.
        until_committed(&store, 1).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!recorded.is_finished(), "answered before the sync");

        store.sync_permits.add_permits(1);
        recorded.await.unwrap().expect("durable after the sync");
        assert_eq!(store.syncs.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn one_sync_answers_every_batch_committed_while_the_last_one_ran() {
        let store = Arc::new(ScriptedStore::default());
        let writer = start(&store);
        let first = record_in_background(&writer);
        until_committed(&store, 1).await;
        // The first sync is under way (waiting for its permit); these commit meanwhile.
        let later: Vec<_> = (0..20).map(|_| record_in_background(&writer)).collect();
        until_committed(&store, 21).await;
        store.sync_permits.add_permits(2);
        first.await.unwrap().unwrap();
        for recorded in later {
            recorded.await.unwrap().unwrap();
        }
        assert_eq!(store.syncs.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_bad_row_fails_only_its_own_waiter_and_the_others_still_wait_for_sync() {
        let store = Arc::new(ScriptedStore::default());
        *store.refused_subject.lock().unwrap() = Some("mallory".into());
        let mut batch = Vec::new();
        let mut outcomes = Vec::new();
        for n in 0..11 {
            let mut event = sample_event();
            if n == 5 {
                event.subject = "mallory".into();
            }
            let (committed, outcome) = oneshot::channel();
            batch.push(Queued {
                rows: vec![event],
                committed,
            });
            outcomes.push(outcome);
        }
        let (to_sync, mut committed) = mpsc::unbounded_channel();
        commit(store.clone(), batch, to_sync).await;

        assert_eq!(
            store.inserts.load(Ordering::SeqCst),
            1 + 11,
            "the batch, then each row alone"
        );
        assert_eq!(store.rows.lock().unwrap().len(), 10);
        let bad = outcomes.remove(5).try_recv().unwrap().unwrap_err();
        assert!(
            matches!(&*bad, AuditError::Database(sqlx::Error::Encode(e)) if e.to_string() == "row refused"),
            "{bad:?}"
        );
        // The others are handed to the sync task, not answered yet.
        let to_answer = committed
            .try_recv()
            .expect("the good rows await their sync");
        assert_eq!(to_answer.waiters.len(), 10);
        for outcome in &mut outcomes {
            assert!(outcome.try_recv().is_err(), "answered before the sync");
        }
    }

    #[tokio::test]
    async fn a_store_that_is_down_is_not_asked_again_for_each_row() {
        let store = Arc::new(ScriptedStore::default());
        store.fail_insert.store(true, Ordering::SeqCst);
        let (batch, outcomes): (Vec<_>, Vec<_>) = (0..3)
            .map(|_| {
                let (committed, outcome) = oneshot::channel();
                let event = sample_event();
                (
                    Queued {
                        rows: vec![event],
                        committed,
                    },
                    outcome,
                )
            })
            .unzip();
        let (to_sync, mut committed) = mpsc::unbounded_channel();
        commit(store.clone(), batch, to_sync).await;
        assert_eq!(store.inserts.load(Ordering::SeqCst), 1);
        for mut outcome in outcomes {
            assert!(outcome.try_recv().unwrap().is_err());
        }
        assert!(committed.try_recv().is_err(), "nothing to sync");
    }

    #[tokio::test]
    async fn a_bad_row_in_a_running_writer_fails_alone() {
        let store = Arc::new(ScriptedStore::default());
        *store.refused_subject.lock().unwrap() = Some("mallory".into());
        store.sync_permits.add_permits(100);
        let writer = start(&store);
        let good: Vec<_> = (0..20).map(|_| record_in_background(&writer)).collect();
        let mut event = sample_event();
        event.subject = "mallory".into();
        assert!(writer.commit(Pending::new(event, ())).await.is_err());
        for recorded in good {
            recorded.await.unwrap().expect("a good row commits");
        }
    }

    #[tokio::test]
    async fn rows_are_sanitized_before_they_are_queued() {
        let store = Arc::new(ScriptedStore::default());
        // A store that refuses NUL, as PostgreSQL does.
        *store.refused_subject.lock().unwrap() = Some("a\0b".into());
        store.sync_permits.add_permits(1);
        let writer = start(&store);
        let mut event = sample_event();
        event.subject = "a\0b".into();
        writer
            .commit(Pending::new(event, ()))
            .await
            .expect("NUL never reaches the store");
    }

    #[tokio::test]
    async fn a_failed_sync_or_insert_fails_its_waiters() {
        let store = Arc::new(ScriptedStore::default());
        store.sync_permits.add_permits(10);
        let writer = start(&store);

        store.fail_sync.store(true, Ordering::SeqCst);
        let error = record(&writer).await.unwrap_err();
        assert!(
            matches!(&error, AuditError::Batch(cause) if cause.to_string().contains("fsync failed")),
            "{error:?}"
        );

        store.fail_sync.store(false, Ordering::SeqCst);
        store.fail_insert.store(true, Ordering::SeqCst);
        let syncs = store.syncs.load(Ordering::SeqCst);
        let error = record(&writer).await.unwrap_err();
        assert!(
            matches!(&error, AuditError::Batch(cause) if cause.to_string().contains("insert refused")),
            "{error:?}"
        );
        assert_eq!(store.syncs.load(Ordering::SeqCst), syncs, "nothing to sync");

        store.fail_insert.store(false, Ordering::SeqCst);
        record(&writer).await.expect("the writer goes on");
    }
}
