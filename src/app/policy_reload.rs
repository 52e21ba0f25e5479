//! Keeps the policy in force current: reloads the policy file on SIGHUP and when it
//! changes on disk, and swaps the compiled [`Policy`] into `AppState.policy` atomically.
//!
//! Rules (DESIGN §1 rule 3, §4):
//! - **A bad policy never opens anything.** A file that cannot be read, parsed or
//!   validated leaves the running policy in force; the failure is logged at `error` with
//!   the file, the statement (Sid or `#index`) and the reason, and counted.
//! - **Requests never wait for a reload.** Reading and compiling run on the blocking
//!   pool; the swap is one `ArcSwap::store`. A request keeps the policy it loaded, whole.
//! - **Change detection watches the directory**, not the file: editors save by writing a
//!   new file and renaming it over the old one (the old inode's watch would go silent),
//!   and Kubernetes ConfigMaps swap a `..data` symlink next to the file. Only events
//!   naming the file (or the first hop of its symlink) count, so a busy SQLite audit
//!   database in the same directory does not keep the reloader awake. Events are
//!   debounced, then the file's SHA-256 is compared with the last version tried, so one
//!   save makes at most one reload and a `touch` none. SIGHUP always reloads.
//! - If the platform watcher cannot start (inotify limits, say), a 1-second polling
//!   watcher takes its place; with `policy.watch = false`, only SIGHUP reloads.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use notify::{EventKind, Watcher};
use sha2::{Digest, Sha256};
use tokio::sync::{Notify, oneshot};
use tokio::task::JoinHandle;

use crate::policy::{Policy, PolicyError};

/// Quiet time after the last file event before reloading: an editor's save is several
/// events (write, chmod, rename) within a few milliseconds.
pub const DEBOUNCE: Duration = Duration::from_millis(150);

/// Poll interval of the fallback watcher.
const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// Counts of reload attempts since startup (what the reloader's tests observe; the
/// `presignd_policy_reloads_total` metric counts the same). Startup's own load is not a
/// reload. File events whose content did not change are not attempts.
#[derive(Debug, Default)]
struct ReloadStats {
    succeeded: AtomicU64,
    failed: AtomicU64,
}

#[cfg(test)]
impl ReloadStats {
    fn succeeded(&self) -> u64 {
        self.succeeded.load(Ordering::Relaxed)
    }

    fn failed(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }
}

/// Why a policy file could not be loaded; names the file.
#[derive(Debug, thiserror::Error)]
pub enum PolicyLoadError {
    #[error("policy {}: cannot read: {error}", file.display())]
    Read {
        file: PathBuf,
        #[source]
        error: io::Error,
    },
    #[error("policy {}: {error}", file.display())]
    Invalid {
        file: PathBuf,
        #[source]
        error: PolicyError,
    },
}

/// A policy file read and compiled, with the digest of the bytes it came from.
#[derive(Debug)]
pub struct LoadedPolicy {
    pub policy: Policy,
    /// SHA-256 of the file's bytes, so a reload can tell whether anything changed.
    pub digest: [u8; 32],
}

/// Reads and compiles `file`; any fault names the file (and, for an invalid policy,
/// the statement and the reason).
pub fn load(file: &Path) -> Result<LoadedPolicy, PolicyLoadError> {
    let text = std::fs::read_to_string(file).map_err(|error| PolicyLoadError::Read {
        file: file.to_owned(),
        error,
    })?;
    let digest = Sha256::digest(text.as_bytes()).into();
    let policy = Policy::from_json(&text).map_err(|error| PolicyLoadError::Invalid {
        file: file.to_owned(),
        error,
    })?;
    Ok(LoadedPolicy { policy, digest })
}

/// What started a reload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Trigger {
    Signal,
    FileChange,
}

impl Trigger {
    fn as_str(self) -> &'static str {
        match self {
            Trigger::Signal => "SIGHUP",
            Trigger::FileChange => "file change",
        }
    }
}

/// The background reloader. Stop it with [`PolicyReloader::stop`]; dropping it also
/// ends the task (without waiting for it).
pub struct PolicyReloader {
    #[cfg(test)]
    stats: Arc<ReloadStats>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl PolicyReloader {
    /// Starts reloading `file` into `policy`. `digest` is that of the version already
    /// loaded. Installs the SIGHUP handler before returning, so a SIGHUP sent once the
    /// service is ready never takes the default action (terminating the process).
    /// Must be called within a tokio runtime.
    pub fn spawn(
        file: PathBuf,
        policy: Arc<ArcSwap<Policy>>,
        digest: [u8; 32],
        watch: bool,
    ) -> io::Result<PolicyReloader> {
        let hangup = Hangup::install()?;
        let changed = Arc::new(Notify::new());
        let watcher = if watch {
            start_watcher(&file, changed.clone())
        } else {
            None
        };
        let (stop, stopped) = oneshot::channel();
        let stats = Arc::new(ReloadStats::default());
        let state = Reloader {
            file,
            policy,
            stats: Arc::clone(&stats),
            last: Some(Attempt::Read(digest)),
        };
        let task = tokio::spawn(state.run(hangup, changed, watcher, stopped));
        Ok(PolicyReloader {
            #[cfg(test)]
            stats,
            stop: Some(stop),
            task: Some(task),
        })
    }

    #[cfg(test)]
    fn stats(&self) -> &Arc<ReloadStats> {
        &self.stats
    }

    /// Stops watching and waits for the task to end (a reload in progress finishes).
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take()
            && let Err(error) = task.await
        {
            tracing::error!(error = %error, "policy reloader ended abnormally");
        }
    }
}

impl Drop for PolicyReloader {
    fn drop(&mut self) {
        // Dropping the sender wakes the task, which then ends.
        self.stop.take();
    }
}

/// The last version of the file a reload looked at, valid or not: a file event that
/// finds the same again has nothing new to report.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Attempt {
    Read([u8; 32]),
    Unreadable(io::ErrorKind),
}

struct Reloader {
    file: PathBuf,
    policy: Arc<ArcSwap<Policy>>,
    stats: Arc<ReloadStats>,
    last: Option<Attempt>,
}

impl Reloader {
    async fn run(
        mut self,
        mut hangup: Hangup,
        changed: Arc<Notify>,
        // Held for its lifetime: dropping the watcher stops its thread.
        _watcher: Option<Box<dyn Watcher + Send>>,
        mut stopped: oneshot::Receiver<()>,
    ) {
        loop {
            tokio::select! {
                _ = &mut stopped => break,
                () = hangup.recv() => self.reload(Trigger::Signal).await,
                () = changed.notified() => {
                    // Debounce: wait until the file has been quiet for DEBOUNCE.
                    loop {
                        tokio::select! {
                            _ = &mut stopped => return,
                            () = changed.notified() => continue,
                            () = tokio::time::sleep(DEBOUNCE) => break,
                        }
                    }
                    self.reload(Trigger::FileChange).await;
                }
            }
        }
    }

    async fn reload(&mut self, trigger: Trigger) {
        let file = self.file.clone();
        let read = tokio::task::spawn_blocking(move || std::fs::read(&file)).await;
        let bytes = match read {
            Ok(Ok(bytes)) => bytes,
            Ok(Err(error)) => {
                let attempt = Attempt::Unreadable(error.kind());
                if trigger == Trigger::FileChange && self.last.as_ref() == Some(&attempt) {
                    return;
                }
                self.last = Some(attempt);
                return self.failed(trigger, None, format!("cannot read: {error}"));
            }
            Err(join) => return self.failed(trigger, None, format!("reader task: {join}")),
        };
        let attempt = Attempt::Read(Sha256::digest(&bytes).into());
        if trigger == Trigger::FileChange && self.last.as_ref() == Some(&attempt) {
            tracing::debug!(file = %self.file.display(), "policy file event without a content change");
            return;
        }
        self.last = Some(attempt);
        let compiled = tokio::task::spawn_blocking(move || match String::from_utf8(bytes) {
            Ok(text) => Policy::from_json(&text).map_err(|e| (e.statement, e.reason)),
            Err(_) => Err((None, "the file is not UTF-8".to_owned())),
        })
        .await;
        match compiled {
            Ok(Ok(policy)) => {
                let statements = policy.statement_count();
                self.policy.store(Arc::new(policy));
                self.stats.succeeded.fetch_add(1, Ordering::Relaxed);
                metrics::counter!(crate::telemetry::POLICY_RELOADS, "result" => "ok").increment(1);
                tracing::info!(
                    file = %self.file.display(),
                    statements,
                    trigger = trigger.as_str(),
                    "policy reloaded"
                );
            }
            Ok(Err((statement, reason))) => self.failed(trigger, statement, reason),
            Err(join) => self.failed(trigger, None, format!("compiler task: {join}")),
        }
    }

    fn failed(&self, trigger: Trigger, statement: Option<String>, reason: String) {
        self.stats.failed.fetch_add(1, Ordering::Relaxed);
        metrics::counter!(crate::telemetry::POLICY_RELOADS, "result" => "error").increment(1);
        tracing::error!(
            file = %self.file.display(),
            statement = statement.as_deref().unwrap_or("-"),
            reason = %reason,
            trigger = trigger.as_str(),
            "policy reload failed; the running policy stays in force"
        );
    }
}

/// SIGHUP where there is one; elsewhere a future that never completes.
struct Hangup {
    #[cfg(unix)]
    signal: tokio::signal::unix::Signal,
}

impl Hangup {
    fn install() -> io::Result<Hangup> {
        Ok(Hangup {
            #[cfg(unix)]
            signal: tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?,
        })
    }

    async fn recv(&mut self) {
        #[cfg(unix)]
        if self.signal.recv().await.is_some() {
            return;
        }
        // No signals (or the stream ended): never complete, so select! ignores this arm.
        std::future::pending::<()>().await
    }
}

/// Watches the file's directory and wakes `changed` on events that concern the file.
/// `None` (logged) when no watcher can start: SIGHUP still works.
fn start_watcher(file: &Path, changed: Arc<Notify>) -> Option<Box<dyn Watcher + Send>> {
    let dir = match file.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
        _ => PathBuf::from("."),
    };
    let names = watched_names(file);
    let handler = move |event: notify::Result<notify::Event>| match event {
        Ok(event) => {
            let concerns_file = event.paths.iter().any(|path| {
                path.file_name()
                    .is_some_and(|n| names.iter().any(|w| w == n))
            });
            if concerns_file && changes_content(&event.kind) {
                changed.notify_one();
            }
        }
        Err(error) => {
            // Events may have been lost (queue overflow): re-check to be safe.
            tracing::warn!(error = %error, "policy file watcher");
            changed.notify_one();
        }
    };
    let native = notify::recommended_watcher(handler.clone()).and_then(|mut watcher| {
        watcher.watch(&dir, notify::RecursiveMode::NonRecursive)?;
        Ok(Box::new(watcher) as Box<dyn Watcher + Send>)
    });
    let error = match native {
        Ok(watcher) => return Some(watcher),
        Err(error) => error,
    };
    tracing::warn!(
        dir = %dir.display(),
        error = %error,
        "cannot watch the policy directory natively; polling it every second"
    );
    let config = notify::Config::default().with_poll_interval(POLL_INTERVAL);
    let polled = notify::PollWatcher::new(handler, config).and_then(|mut watcher| {
        watcher.watch(&dir, notify::RecursiveMode::NonRecursive)?;
        Ok(Box::new(watcher) as Box<dyn Watcher + Send>)
    });
    match polled {
        Ok(watcher) => Some(watcher),
        Err(error) => {
            tracing::error!(
                dir = %dir.display(),
                error = %error,
                "cannot watch the policy file; it reloads on SIGHUP only"
            );
            None
        }
    }
}

/// Directory entries whose events concern `file`: its own name, and the first hop of a
/// relative symlink (Kubernetes mounts `policy.json -> ..data/policy.json` and updates
/// by renaming a new `..data` into place).
fn watched_names(file: &Path) -> Vec<std::ffi::OsString> {
    let mut names: Vec<_> = file
        .file_name()
        .map(ToOwned::to_owned)
        .into_iter()
        .collect();
    if let Ok(target) = std::fs::read_link(file)
        && target.is_relative()
        && let Some(std::path::Component::Normal(first)) = target.components().next()
    {
        names.push(first.to_owned());
    }
    names
}

/// Whether an event can mean new content. Opening or reading (our own reads included)
/// cannot; a write being closed can.
fn changes_content(kind: &EventKind) -> bool {
    use notify::event::{AccessKind, AccessMode};
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        EventKind::Any
        | EventKind::Create(_)
        | EventKind::Modify(_)
        | EventKind::Remove(_)
        | EventKind::Other => true,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    const ALLOW_A: &str = r#"{"Version":"2012-10-17","Statement":{"Sid":"A","Effect":"Allow","Action":"s3:GetObject","Resource":"*"}}"#;
    const ALLOW_B: &str = r#"{"Version":"2012-10-17","Statement":{"Sid":"B","Effect":"Allow","Action":"s3:GetObject","Resource":"*"}}"#;
    const ALLOW_C: &str = r#"{"Version":"2012-10-17","Statement":{"Sid":"C","Effect":"Allow","Action":"s3:GetObject","Resource":"*"}}"#;
    const INVALID: &str = r#"{"Version":"2012-10-17","Statement":{"Sid":"Bad","Effect":"Allow","Action":"s3:GetObjcet","Resource":"*"}}"#;

    /// The Sid that allows a GetObject under `policy`.
    fn deciding(policy: &ArcSwap<Policy>) -> String {
        let claims = serde_json::Map::new();
        let context = crate::policy::Context {
            claims: &claims,
            issuer: "test",
            source_ip: None,
            current_time: time::OffsetDateTime::now_utc(),
            method: Some("GET"),
            content_type: None,
            content_length: None,
            expires_in: Some(60),
            max_uses: None,
            link_expires_in: None,
        };
        match policy.load().evaluate(&crate::policy::Request {
            action: crate::policy::Action::GetObject,
            resource: "arn:aws:s3:::b/k",
            context: &context,
        }) {
            crate::policy::Decision::Allow { statement } => statement,
            other => panic!("{other:?}"),
        }
    }

    /// Polls `done` until it holds, for at most 10 s.
    async fn eventually(what: &str, done: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !done() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    struct Fixture {
        dir: tempfile::TempDir,
        file: PathBuf,
        policy: Arc<ArcSwap<Policy>>,
        reloader: PolicyReloader,
    }

    fn start(watch: bool) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("policy.json");
        std::fs::write(&file, ALLOW_A).unwrap();
        let loaded = load(&file).unwrap();
        let policy = Arc::new(ArcSwap::from_pointee(loaded.policy));
        let reloader =
            PolicyReloader::spawn(file.clone(), policy.clone(), loaded.digest, watch).unwrap();
        Fixture {
            dir,
            file,
            policy,
            reloader,
        }
    }

    /// Replaces the file the way editors do: write a sibling, rename it over.
    fn replace(dir: &Path, file: &Path, text: &str) {
        let tmp = dir.join(".policy.json.swp");
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, file).unwrap();
    }

    #[tokio::test]
    async fn file_changes_reload_and_invalid_versions_are_kept_out() {
        let f = start(true);
        assert_eq!(deciding(&f.policy), "A");
        // In-place write.
        std::fs::write(&f.file, ALLOW_B).unwrap();
        eventually("in-place write", || deciding(&f.policy) == "B").await;
        // Rename over the file (vim, most editors, `mv`).
        replace(f.dir.path(), &f.file, ALLOW_C);
        eventually("rename", || deciding(&f.policy) == "C").await;
        let stats = f.reloader.stats().clone();
        eventually("two successes", || stats.succeeded() == 2).await;
        // Invalid: counted, and the running policy stays.
        std::fs::write(&f.file, INVALID).unwrap();
        eventually("a failure", || stats.failed() == 1).await;
        assert_eq!(deciding(&f.policy), "C");
        // Deleted: also a failure, still the same policy.
        std::fs::remove_file(&f.file).unwrap();
        eventually("a second failure", || stats.failed() == 2).await;
        assert_eq!(deciding(&f.policy), "C");
        // Back, valid.
        replace(f.dir.path(), &f.file, ALLOW_A);
        eventually("recovery", || deciding(&f.policy) == "A").await;
        assert_eq!(stats.succeeded(), 3);
        f.reloader.stop().await;
    }

    #[tokio::test]
    async fn unrelated_files_and_unchanged_content_do_not_reload() {
        let f = start(true);
        let stats = f.reloader.stats().clone();
        std::fs::write(f.dir.path().join("audit.db"), "x").unwrap();
        // Same bytes again: an event, but nothing new.
        std::fs::write(&f.file, ALLOW_A).unwrap();
        // A real change afterwards proves the reloader was awake the whole time.
        std::fs::write(&f.file, ALLOW_B).unwrap();
        eventually("the real change", || deciding(&f.policy) == "B").await;
        assert_eq!((stats.succeeded(), stats.failed()), (1, 0));
        f.reloader.stop().await;
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn symlink_swaps_are_seen() {
        // The Kubernetes ConfigMap layout: policy.json -> ..data/policy.json.
        let dir = tempfile::tempdir().unwrap();
        let v1 = dir.path().join("v1");
        let v2 = dir.path().join("v2");
        for (version, text) in [(&v1, ALLOW_A), (&v2, ALLOW_B)] {
            std::fs::create_dir(version).unwrap();
            std::fs::write(version.join("policy.json"), text).unwrap();
        }
        std::os::unix::fs::symlink("v1", dir.path().join("..data")).unwrap();
        let file = dir.path().join("policy.json");
        std::os::unix::fs::symlink("..data/policy.json", &file).unwrap();
        let loaded = load(&file).unwrap();
        let policy = Arc::new(ArcSwap::from_pointee(loaded.policy));
        let reloader = PolicyReloader::spawn(file, policy.clone(), loaded.digest, true).unwrap();
        assert_eq!(deciding(&policy), "A");
        std::os::unix::fs::symlink("v2", dir.path().join("..data_tmp")).unwrap();
        std::fs::rename(dir.path().join("..data_tmp"), dir.path().join("..data")).unwrap();
        eventually("the symlink swap", || deciding(&policy) == "B").await;
        reloader.stop().await;
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn sighup_reloads_even_without_a_watcher() {
        let f = start(false);
        let stats = f.reloader.stats().clone();
        std::fs::write(&f.file, ALLOW_B).unwrap();
        // Signals go to the whole process; other tests in this binary may send theirs,
        // so this waits for an outcome rather than counting exactly.
        let pid = std::process::id().to_string();
        let status = std::process::Command::new("kill")
            .args(["-HUP", &pid])
            .status()
            .unwrap();
        assert!(status.success());
        eventually("SIGHUP reload", || deciding(&f.policy) == "B").await;
        assert!(stats.succeeded() >= 1);
        f.reloader.stop().await;
    }

    #[tokio::test]
    async fn stop_ends_the_task() {
        let f = start(true);
        tokio::time::timeout(Duration::from_secs(10), f.reloader.stop())
            .await
            .expect("the reloader stops promptly");
    }

    #[test]
    fn load_names_the_file_statement_and_reason() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("p.json");
        std::fs::write(&file, INVALID).unwrap();
        let message = load(&file).unwrap_err().to_string();
        assert!(message.contains(&*file.to_string_lossy()), "{message}");
        assert!(message.contains("statement Bad:"), "{message}");
        assert!(message.contains("s3:GetObjcet"), "{message}");
        let missing = load(&dir.path().join("nope.json")).unwrap_err().to_string();
        assert!(missing.contains("nope.json: cannot read"), "{missing}");
    }
}
