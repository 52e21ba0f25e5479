//! [`TrackedCredentials`]: the one cache of signing credentials, which remembers the expiry
//! of every access key it handed out, so that a URL's true lifetime can be read back from
//! the access key in its `X-Amz-Credential`.
//!
//! The SDK clients are built with no identity cache of their own, so every signature uses
//! credentials that passed through here.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider, future};

/// Credentials this close to expiry are refreshed before use.
const REFRESH_MARGIN: Duration = Duration::from_secs(300);
/// Bounds one fetch from the chain (IMDS, SSO, STS...).
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// How many access keys' expiries are remembered (a refresh adds one).
const REMEMBERED_KEYS: usize = 8;

#[derive(Debug, Clone)]
pub struct TrackedCredentials {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    source: SharedCredentialsProvider,
    current: RwLock<Option<Credentials>>,
    /// (access key id, expiry) of recently issued credentials, newest last.
    issued: Mutex<VecDeque<(String, Option<SystemTime>)>>,
    /// Single-flight: one fetch at a time.
    refresh: tokio::sync::Mutex<()>,
}

impl TrackedCredentials {
    pub fn new(source: SharedCredentialsProvider) -> Self {
        Self {
            inner: Arc::new(Inner {
                source,
                current: RwLock::new(None),
                issued: Mutex::new(VecDeque::new()),
                refresh: tokio::sync::Mutex::new(()),
            }),
        }
    }

    /// Usable credentials, fetched from the chain when missing or close to expiry.
    pub async fn current(&self) -> Result<Credentials, CredentialsError> {
        if let Some(fresh) = self.cached(REFRESH_MARGIN) {
            return Ok(fresh);
        }
        let _single_flight = self.inner.refresh.lock().await;
        if let Some(fresh) = self.cached(REFRESH_MARGIN) {
            return Ok(fresh);
        }
        let fetched = tokio::time::timeout(FETCH_TIMEOUT, self.inner.source.provide_credentials())
            .await
            .unwrap_or_else(|_| Err(CredentialsError::provider_timed_out(FETCH_TIMEOUT)));
        match fetched {
            Ok(credentials) => {
                self.remember(&credentials);
                Ok(credentials)
            }
            // A failed refresh keeps using credentials that have not yet expired.
            Err(error) => self.cached(Duration::ZERO).ok_or(error),
        }
    }

    /// The expiry of the credentials whose access key is `access_key_id`:
    /// `Some(None)` never expires, `None` is an access key this cache never issued.
    pub fn expiry_of(&self, access_key_id: &str) -> Option<Option<SystemTime>> {
        let issued = self.inner.issued.lock().unwrap_or_else(|e| e.into_inner());
        issued
            .iter()
            .rev()
            .find(|(key, _)| key == access_key_id)
            .map(|(_, expiry)| *expiry)
    }

    fn cached(&self, margin: Duration) -> Option<Credentials> {
        let current = self.inner.current.read().unwrap_or_else(|e| e.into_inner());
        let credentials = current.as_ref()?;
        match credentials.expiry() {
            None => Some(credentials.clone()),
            Some(expiry) if expiry > SystemTime::now() + margin => Some(credentials.clone()),
            Some(_) => None,
        }
    }

    fn remember(&self, credentials: &Credentials) {
        {
            let mut issued = self.inner.issued.lock().unwrap_or_else(|e| e.into_inner());
            issued.push_back((credentials.access_key_id().to_owned(), credentials.expiry()));
            while issued.len() > REMEMBERED_KEYS {
                issued.pop_front();
            }
        }
        *self
            .inner
            .current
            .write()
            .unwrap_or_else(|e| e.into_inner()) = Some(credentials.clone());
    }
}

impl ProvideCredentials for TrackedCredentials {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(self.current())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn remembers_expiry_by_access_key() {
        let expiry = SystemTime::now() + Duration::from_secs(3600);
        let tracked = TrackedCredentials::new(SharedCredentialsProvider::new(Credentials::new(
            "AKIDTEST",
            "secret",
            None,
            Some(expiry),
            "test",
        )));
        let credentials = tracked.current().await.unwrap();
        assert_eq!(credentials.access_key_id(), "AKIDTEST");
        assert_eq!(tracked.expiry_of("AKIDTEST"), Some(Some(expiry)));
        assert_eq!(tracked.expiry_of("OTHER"), None);
    }

    #[tokio::test]
    async fn short_lived_credentials_are_refetched_not_cached() {
        let expiry = SystemTime::now() + Duration::from_secs(60);
        let tracked = TrackedCredentials::new(SharedCredentialsProvider::new(Credentials::new(
            "AKIDSHORT",
            "secret",
            None,
            Some(expiry),
            "test",
        )));
        tracked.current().await.unwrap();
        tracked.current().await.unwrap();
        // Inside the refresh margin, each use asks the chain again.
        assert_eq!(tracked.inner.issued.lock().unwrap().len(), 2);
    }
}
