//! Remote keys: a JWKS fetched from `jwks_url`, or from the `jwks_uri` that OIDC discovery
//! names. Fetched in the background from startup (an IdP that is down does not stop
//! presignd; its tokens are refused until keys arrive), refreshed on a timer and when a
//! token names an unknown `kid`. Refreshes are single-flight and those caused by unknown
//! kids are rate limited, so a flood of random kids costs the IdP one fetch per interval.
//! A failed, empty or invalid fetch never replaces keys that work. Every fetch is bounded
//! in time and size and goes to https (or loopback) only, redirects included.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use jsonwebtoken::Algorithm;
use serde_json::Value;
use url::{Host, Url};

use super::keys::{JwksError, KeySet, parse_jwks};

/// Largest JWKS or discovery document accepted, in bytes.
pub const MAX_DOCUMENT_BYTES: usize = 1024 * 1024;
/// Whole-fetch deadline: connect, TLS, headers and body.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// First retry delay after a failed fetch; doubles up to [`MAX_RETRY`].
const FIRST_RETRY: Duration = Duration::from_secs(1);
const MAX_RETRY: Duration = Duration::from_secs(60);
const MAX_REDIRECTS: usize = 3;

/// Whether presignd fetches keys from `url`: https anywhere, plain http only from this
/// machine, where no network can tamper with it.
pub fn fetch_url_allowed(url: &Url) -> bool {
    match url.scheme() {
        "https" => url.has_host(),
        "http" => match url.host() {
            Some(Host::Ipv4(ip)) => ip.is_loopback(),
            Some(Host::Ipv6(ip)) => ip.is_loopback(),
            Some(Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
            None => false,
        },
        _ => false,
    }
}

/// The HTTP client for every key fetch: bounded, and never redirected off https.
pub(crate) fn http_client() -> Result<reqwest::Client, reqwest::Error> {
    let redirects = reqwest::redirect::Policy::custom(|attempt| {
        if attempt.previous().len() >= MAX_REDIRECTS {
            attempt.error("too many redirects")
        } else if fetch_url_allowed(attempt.url()) {
            attempt.follow()
        } else {
            attempt.error("redirect to a URL that is not https")
        }
    });
    reqwest::Client::builder()
        .timeout(FETCH_TIMEOUT)
        .connect_timeout(CONNECT_TIMEOUT)
        .redirect(redirects)
        .user_agent(concat!("presignd/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// `url` as logged: without credentials, query or fragment, which may hold secrets.
fn shown(url: &Url) -> Url {
    let mut shown = url.clone();
    // Both fail only for URLs that cannot have them, which is fine.
    let _ = shown.set_password(None);
    let _ = shown.set_username("");
    shown.set_query(None);
    shown.set_fragment(None);
    shown
}

/// Why a fetch failed; logged, never shown to callers.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FetchError {
    #[error("GET {url}: {source}")]
    Http {
        url: Url,
        #[source]
        source: reqwest::Error,
    },
    #[error("GET {url}: status {status}")]
    Status { url: Url, status: u16 },
    #[error("GET {url}: document exceeds {MAX_DOCUMENT_BYTES} bytes")]
    TooLarge { url: Url },
    #[error("JWKS from {url}: {source}")]
    Jwks {
        url: Url,
        #[source]
        source: JwksError,
    },
    #[error("discovery document from {url}: {reason}")]
    Discovery { url: Url, reason: String },
}

/// Where the JWKS is.
#[derive(Debug)]
enum Location {
    Fixed(Url),
    /// `{issuer}/.well-known/openid-configuration`; the JWKS URL it names is remembered.
    Discovery {
        document: Url,
        jwks: Mutex<Option<Url>>,
    },
}

/// Timing of refreshes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Schedule {
    /// Between scheduled refreshes.
    pub refresh_every: Duration,
    /// Least time between two refreshes caused by unknown kids.
    pub min_on_demand: Duration,
}

/// The cached keys of one JWKS issuer.
pub(crate) struct RemoteKeys {
    issuer: String,
    allowed: Vec<Algorithm>,
    location: Location,
    client: reqwest::Client,
    schedule: Schedule,
    keys: ArcSwap<KeySet>,
    /// Completed fetch attempts, successful or not. Read before the keys, it tells a
    /// waiting caller whether someone refreshed while it waited (single flight).
    attempts: AtomicU64,
    /// Held for the whole of a refresh; holds when the last on-demand refresh started.
    refreshing: tokio::sync::Mutex<Option<Instant>>,
}

impl std::fmt::Debug for RemoteKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteKeys")
            .field("issuer", &self.issuer)
            .field("location", &self.location)
            .field("keys", &self.keys.load().len())
            .finish_non_exhaustive()
    }
}

impl RemoteKeys {
    /// Keys from a fixed JWKS URL.
    pub fn from_jwks_url(
        issuer: &str,
        url: Url,
        allowed: Vec<Algorithm>,
        client: reqwest::Client,
        schedule: Schedule,
    ) -> Self {
        Self::new(issuer, Location::Fixed(url), allowed, client, schedule)
    }

    /// Keys found through OIDC discovery. `issuer` must be a URL.
    pub fn from_discovery(
        issuer: &str,
        allowed: Vec<Algorithm>,
        client: reqwest::Client,
        schedule: Schedule,
    ) -> Result<Self, url::ParseError> {
        // OpenID Connect Discovery 1.0 §4: drop one terminating "/" before appending.
        let base = issuer.strip_suffix('/').unwrap_or(issuer);
        let document = Url::parse(&format!("{base}/.well-known/openid-configuration"))?;
        let location = Location::Discovery {
            document,
            jwks: Mutex::new(None),
        };
        Ok(Self::new(issuer, location, allowed, client, schedule))
    }

    fn new(
        issuer: &str,
        location: Location,
        allowed: Vec<Algorithm>,
        client: reqwest::Client,
        schedule: Schedule,
    ) -> Self {
        Self {
            issuer: issuer.to_owned(),
            allowed,
            location,
            client,
            schedule,
            keys: ArcSwap::from_pointee(KeySet::default()),
            attempts: AtomicU64::new(0),
            refreshing: tokio::sync::Mutex::new(None),
        }
    }

    /// The attempt count, then the keys: pass the count to [`Self::refresh_for_unknown_kid`].
    pub fn snapshot(&self) -> (u64, Arc<KeySet>) {
        let attempts = self.attempts.load(Ordering::SeqCst);
        (attempts, self.keys.load_full())
    }

    pub fn has_keys(&self) -> bool {
        !self.keys.load().is_empty()
    }

    /// A token named a kid that `snapshot` (taken when the count was `seen`) lacks: fetch
    /// again, unless someone fetched since `seen` (then their result is as fresh) or an
    /// on-demand refresh ran less than `min_on_demand` ago (then the kid stays unknown).
    pub async fn refresh_for_unknown_kid(&self, seen: u64) {
        let mut last_on_demand = self.refreshing.lock().await;
        if self.attempts.load(Ordering::SeqCst) != seen {
            return;
        }
        if last_on_demand.is_some_and(|at| at.elapsed() < self.schedule.min_on_demand) {
            return;
        }
        *last_on_demand = Some(Instant::now());
        if let Err(error) = self.fetch_and_store(false).await {
            tracing::warn!(issuer = %self.issuer, error = %error, "JWKS refresh for an unknown kid failed; keeping the current keys");
        }
    }

    /// One scheduled refresh (also the first fetch at startup).
    async fn scheduled_refresh(&self) -> Result<(), FetchError> {
        let _single_flight = self.refreshing.lock().await;
        self.fetch_and_store(true).await
    }

    /// Fetches the JWKS and, if it has usable keys, makes it the current set. Call with
    /// `refreshing` held. `rediscover` re-reads the discovery document first.
    async fn fetch_and_store(&self, rediscover: bool) -> Result<(), FetchError> {
        let result = self.fetch_keys(rediscover).await;
        if let Ok(keys) = &result {
            tracing::info!(issuer = %self.issuer, keys = keys.len(), kids = ?keys.kids(), "JWKS loaded");
        }
        let outcome = if result.is_ok() { "ok" } else { "error" };
        // Issuers come from the configuration, so the label stays bounded.
        metrics::counter!(crate::telemetry::JWKS_FETCHES, "issuer" => self.issuer.clone(), "result" => outcome)
            .increment(1);
        let result = result.map(|keys| self.keys.store(Arc::new(keys)));
        // Counted after the store: a caller that sees the new count sees the new keys.
        self.attempts.fetch_add(1, Ordering::SeqCst);
        result
    }

    async fn fetch_keys(&self, rediscover: bool) -> Result<KeySet, FetchError> {
        let url = self.jwks_url(rediscover).await?;
        let document = self.get(&url).await?;
        let (keys, skipped) =
            parse_jwks(&document, &self.allowed).map_err(|source| FetchError::Jwks {
                url: shown(&url),
                source,
            })?;
        if !skipped.is_empty() {
            tracing::info!(issuer = %self.issuer, skipped = ?skipped, "JWKS keys ignored");
        }
        Ok(keys)
    }

    /// The JWKS URL: the configured one, or the one discovery names. A failed discovery
    /// falls back to the URL found before, if any.
    async fn jwks_url(&self, rediscover: bool) -> Result<Url, FetchError> {
        let (document, known) = match &self.location {
            Location::Fixed(url) => return Ok(url.clone()),
            Location::Discovery { document, jwks } => (document, jwks),
        };
        let previous = known.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if let (Some(url), false) = (&previous, rediscover) {
            return Ok(url.clone());
        }
        match self.discover(document).await {
            Ok(url) => {
                *known.lock().unwrap_or_else(|e| e.into_inner()) = Some(url.clone());
                Ok(url)
            }
            Err(error) => match previous {
                Some(url) => {
                    tracing::warn!(issuer = %self.issuer, error = %error, "OIDC discovery failed; using the JWKS URL found before");
                    Ok(url)
                }
                None => Err(error),
            },
        }
    }

    async fn discover(&self, document_url: &Url) -> Result<Url, FetchError> {
        let bad = |reason: &str| FetchError::Discovery {
            url: shown(document_url),
            reason: reason.to_owned(),
        };
        let document = self.get(document_url).await?;
        let document: Value = serde_json::from_slice(&document).map_err(|_| bad("not JSON"))?;
        // OpenID Connect Discovery 1.0 §4.3: the document's issuer must be exactly ours, or
        // another party's keys would verify tokens in our issuer's name.
        match document.get("issuer") {
            Some(Value::String(issuer)) if *issuer == self.issuer => {}
            _ => return Err(bad("its \"issuer\" is not exactly the configured issuer")),
        }
        let Some(Value::String(jwks_uri)) = document.get("jwks_uri") else {
            return Err(bad("no \"jwks_uri\" string"));
        };
        let url = Url::parse(jwks_uri).map_err(|_| bad("\"jwks_uri\" is not a URL"))?;
        if !fetch_url_allowed(&url) {
            return Err(bad("\"jwks_uri\" is not https"));
        }
        Ok(url)
    }

    /// GET `url`, reading at most [`MAX_DOCUMENT_BYTES`] of a 2xx answer.
    async fn get(&self, url: &Url) -> Result<Vec<u8>, FetchError> {
        let http = |source: reqwest::Error| FetchError::Http {
            url: shown(url),
            source: source.without_url(),
        };
        let mut response = self
            .client
            .get(url.clone())
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(http)?;
        if !response.status().is_success() {
            return Err(FetchError::Status {
                url: shown(url),
                status: response.status().as_u16(),
            });
        }
        let too_large = || FetchError::TooLarge { url: shown(url) };
        if response
            .content_length()
            .is_some_and(|len| len > MAX_DOCUMENT_BYTES as u64)
        {
            return Err(too_large());
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(http)? {
            if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

/// Keeps `keys` fresh until it is dropped: fetches now, then every `refresh_every`; after a
/// failure, retries sooner with a doubling delay. Holds only a weak reference between
/// fetches, so dropping the verifier ends the task.
pub(crate) async fn keep_fresh(keys: Weak<RemoteKeys>) {
    let mut retry = FIRST_RETRY;
    loop {
        let delay = {
            let Some(keys) = keys.upgrade() else { return };
            match keys.scheduled_refresh().await {
                Ok(()) => {
                    retry = FIRST_RETRY;
                    keys.schedule.refresh_every
                }
                Err(error) => {
                    let state = if keys.has_keys() {
                        "keeping the current keys"
                    } else {
                        "its tokens are refused until keys arrive"
                    };
                    tracing::warn!(issuer = %keys.issuer, error = %error, retry_in_s = retry.as_secs(), "JWKS fetch failed; {state}");
                    let delay = retry.min(keys.schedule.refresh_every);
                    retry = (retry * 2).min(MAX_RETRY);
                    delay
                }
            }
        };
        tokio::time::sleep(delay).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fetches_only_from_https_or_loopback() {
        let allowed = [
            "https://idp.example.com/jwks",
            "https://10.0.0.1/keys",
            "http://127.0.0.1:8080/jwks",
            "http://127.9.9.9/jwks",
            "http://[::1]:9000/jwks",
            "http://localhost/jwks",
            "http://LOCALHOST:1/jwks",
        ];
        for url in allowed {
            assert!(fetch_url_allowed(&Url::parse(url).unwrap()), "{url}");
        }
        let refused = [
            "http://idp.example.com/jwks",
            "http://10.0.0.1/jwks",
            "http://169.254.169.254/latest/meta-data",
            "http://localhost.evil.com/jwks",
            "http://127.0.0.1.nip.io/jwks",
            "ftp://127.0.0.1/jwks",
            "file:///etc/passwd",
            "data:application/json,{}",
        ];
        for url in refused {
            assert!(!fetch_url_allowed(&Url::parse(url).unwrap()), "{url}");
        }
    }

    #[test]
    fn logged_urls_hide_credentials() {
        let url = Url::parse("https://user:hunter2@idp.example.com/jwks?key=abc#frag").unwrap();
        assert_eq!(shown(&url).as_str(), "https://idp.example.com/jwks");
    }
}
