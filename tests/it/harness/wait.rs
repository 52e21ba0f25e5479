//! Waiting in tests: every wait polls until a condition holds and fails, naming what it
//! waited for, once its deadline passes. No test sleeps and hopes.

use std::fmt::Debug;
use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

/// Long enough for a debug build on a busy 2-core machine; reached only on failure.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// How often [`eventually`] asks again.
const INTERVAL: Duration = Duration::from_millis(50);

/// What one attempt of [`eventually`] yields: done with a value, or not yet (with what
/// was seen, for the failure message).
pub trait Attempt {
    type Output;
    fn done(self) -> Result<Self::Output, Option<String>>;
}

impl Attempt for bool {
    type Output = ();
    fn done(self) -> Result<(), Option<String>> {
        if self { Ok(()) } else { Err(None) }
    }
}

impl<T> Attempt for Option<T> {
    type Output = T;
    fn done(self) -> Result<T, Option<String>> {
        self.ok_or(None)
    }
}

impl<T, E: Debug> Attempt for Result<T, E> {
    type Output = T;
    fn done(self) -> Result<T, Option<String>> {
        self.map_err(|error| Some(format!("{error:?}")))
    }
}

/// Polls `attempt` until it yields `true`, `Some` or `Ok` and returns what it yielded;
/// panics naming `what` (and the last `Err`) once `deadline` has passed. An attempt that
/// hangs is cut off at the deadline too.
pub async fn eventually<F, Fut>(
    what: &str,
    deadline: Duration,
    mut attempt: F,
) -> <Fut::Output as Attempt>::Output
where
    F: FnMut() -> Fut,
    Fut: Future,
    Fut::Output: Attempt,
{
    let give_up = Instant::now() + deadline;
    let mut last = None;
    loop {
        // Tokio polls the attempt before its timer, so one made at the deadline still runs.
        match tokio::time::timeout_at(give_up, attempt()).await {
            Ok(outcome) => match outcome.done() {
                Ok(value) => return value,
                Err(seen) => last = seen.or(last),
            },
            Err(_) => last = Some("the last attempt did not finish".into()),
        }
        if Instant::now() >= give_up {
            match last {
                Some(seen) => {
                    panic!("timed out after {deadline:?} waiting for {what}; last: {seen}")
                }
                None => panic!("timed out after {deadline:?} waiting for {what}"),
            }
        }
        tokio::time::sleep_until(give_up.min(Instant::now() + INTERVAL)).await;
    }
}
