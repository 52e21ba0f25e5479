//! The test harness: starts a local S3 store and the whole app, mints tokens, reads the
//! audit store, waits with deadlines ([`eventually`]) and runs the binary ([`Server`],
//! [`presignd`]).

mod binary;
mod wait;

pub use binary::{Server, ServerBuilder, command, output, presignd};
pub use wait::{DEADLINE, eventually};

use std::sync::Arc;
use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use figment::Figment;
use figment::providers::{Format, Toml};
use presignd::app::App;
use presignd::audit::{AuditEvent, AuditQuery, AuditStore};
use presignd::cli::dev::LocalS3;
use presignd::config::{Config, DEFAULT_TOML};
use serde_json::{Map, Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

pub const ISSUER: &str = "https://idp.test";
pub const SECRET: &str = "test-secret-test-secret-test-secret!";
pub const BUCKET: &str = "uploads";

/// The policy most tests run under.
pub const POLICY: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [
    { "Sid": "OwnFolder", "Effect": "Allow",
      "Action": ["s3:GetObject", "s3:PutObject"],
      "Resource": "arn:aws:s3:::uploads/${jwt:sub}/*" },
    { "Sid": "NoSecrets", "Effect": "Deny", "Action": "s3:*",
      "Resource": "arn:aws:s3:::*/secrets/*" },
    { "Sid": "OpsAudit", "Effect": "Allow", "Action": "presign:QueryAudit", "Resource": "*",
      "Condition": { "ForAnyValue:StringEquals": { "jwt:groups": "ops" } } }
  ]
}"#;

/// Which audit store the app writes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    /// A fresh database on the PostgreSQL at `POSTGRES_TEST_URL`, or this URL.
    Postgres(Option<String>),
    /// The store another app already uses (any `database_url`).
    Existing(String),
}

/// The configuration every test app shares: the test issuer, a policy file, an S3
/// endpoint and an audit store. Callers append whole tables of their own.
pub fn config_toml(
    bind: &str,
    policy_file: &std::path::Path,
    s3_endpoint: &str,
    database_url: &str,
) -> String {
    format!(
        r#"
        [server]
        bind = "{bind}"
        [[auth.issuers]]
        issuer = "{ISSUER}"
        audiences = ["presignd"]
        secret = "{SECRET}"
        [policy]
        file = "{policy}"
        [s3]
        region = "us-east-1"
        endpoint_url = "{s3_endpoint}"
        force_path_style = true
        [audit]
        database_url = "{database_url}"
        "#,
        policy = policy_file.display(),
    )
}

/// What a test may change before the app starts.
pub struct Options {
    pub backend: Backend,
    pub policy: String,
    /// Extra TOML merged over the test configuration.
    pub config: String,
    /// Expiry of the signing credentials; `None` never expires.
    pub credentials_expiry: Option<SystemTime>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            backend: Backend::Sqlite,
            policy: POLICY.into(),
            config: String::new(),
            credentials_expiry: None,
        }
    }
}

pub struct TestApp {
    pub base: String,
    pub http: reqwest::Client,
    pub store: Arc<dyn AuditStore>,
    pub s3: LocalS3,
    pub dir: tempfile::TempDir,
    /// The audit store's URL, for a second app or a direct connection.
    pub database_url: String,
    /// `http://…` of the metrics listener, when the config sets `server.metrics_bind`.
    pub metrics_base: Option<String>,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl TestApp {
    pub async fn start() -> Self {
        Self::start_with(Options::default()).await
    }

    pub async fn start_with(options: Options) -> Self {
        // TEST_LOG=debug shows the app's logs (nextest captures them per test).
        if let Ok(level) = std::env::var("TEST_LOG") {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(level)
                .with_test_writer()
                .try_init();
        }
        let dir = tempfile::tempdir().unwrap();
        let s3 = LocalS3::start(
            &dir.path().join("s3"),
            "127.0.0.1:0".parse().unwrap(),
            &[BUCKET, "other-bucket"],
        )
        .await
        .unwrap();
        let database_url = match &options.backend {
            Backend::Sqlite => format!("sqlite://{}", dir.path().join("audit.db").display()),
            Backend::Postgres(Some(url)) | Backend::Existing(url) => url.clone(),
            Backend::Postgres(None) => fresh_postgres_database().await,
        };
        let policy_file = dir.path().join("policy.json");
        std::fs::write(&policy_file, &options.policy).unwrap();
        let base_toml = config_toml("127.0.0.1:0", &policy_file, &s3.endpoint, &database_url)
            + r#"
            # Load tests here send bursts from one caller; rate-limit tests set their own.
            [rate_limit]
            per_subject_per_second = 100000
            burst = 100000
            per_ip_per_second = 100000
            per_ip_burst = 100000
            "#;
        // Tests share two cores with other test processes: a starved writer must not turn
        // a correctness test into a timing test. Fault tests set their own.
        let patient_writer = "[audit]\ncommit_timeout_ms = 15000\n";
        let config = Config::from_figment(
            Figment::from(Toml::string(DEFAULT_TOML))
                .merge(Toml::string(&base_toml))
                .merge(Toml::string(patient_writer))
                .merge(Toml::string(&options.config)),
        )
        .unwrap();
        let credentials = Credentials::new(
            &s3.access_key,
            &s3.secret_key,
            None,
            options.credentials_expiry,
            "test",
        );
        let app = App::build(&config, Some(SharedCredentialsProvider::new(credentials)))
            .await
            .unwrap();
        let store = app.state().audit_store.clone();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        // Any free port instead of the configured address, as for the public listener.
        let metrics = match config.server.metrics_bind {
            Some(_) => Some(TcpListener::bind("127.0.0.1:0").await.unwrap()),
            None => None,
        };
        let metrics_base = metrics
            .as_ref()
            .map(|listener| format!("http://{}", listener.local_addr().unwrap()));
        let listeners = presignd::http::Listeners {
            public: listener,
            metrics,
        };
        let (shutdown, stop) = oneshot::channel::<()>();
        let server = tokio::spawn(app.run(listeners, async {
            let _ = stop.await;
        }));
        Self {
            base,
            http: http_client(),
            store,
            s3,
            dir,
            database_url,
            metrics_base,
            shutdown: Some(shutdown),
            server: Some(server),
        }
    }

    /// [`token_with`] for this app's issuer.
    pub fn token_with(&self, sub: &str, claims: Value) -> String {
        token_with(sub, claims)
    }

    /// [`token`] for this app's issuer.
    pub fn token(&self, sub: &str) -> String {
        token(sub)
    }

    /// `method path` with `token` and a JSON body; the status and the JSON answer (the text
    /// as a JSON string when it is not JSON).
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, value)
    }

    /// POSTs `body` to /presign with `token`.
    pub async fn presign(&self, token: &str, body: Value) -> reqwest::Response {
        self.http
            .post(format!("{}/presign", self.base))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// Presigns and expects a 200, returning the response body.
    pub async fn presign_ok(&self, token: &str, body: Value) -> Value {
        let response = self.presign(token, body.clone()).await;
        let status = response.status();
        let text = response.text().await.unwrap();
        assert_eq!(status, 200, "presign {body} answered {status}: {text}");
        serde_json::from_str(&text).unwrap()
    }

    /// Every audit row, newest first.
    pub async fn audit_rows(&self) -> Vec<AuditEvent> {
        self.store
            .query(&AuditQuery {
                limit: 10_000,
                ..AuditQuery::default()
            })
            .await
            .unwrap()
    }

    /// Breaks the SQLite store for real: the table the writer inserts into is gone.
    pub async fn break_audit_store(&self) {
        let pool = sqlx::SqlitePool::connect(&self.database_url).await.unwrap();
        sqlx::query("DROP TABLE audit_events")
            .execute(&pool)
            .await
            .unwrap();
    }

    /// Stops the app and waits for it to drain, as SIGTERM would.
    /// The app's files (its SQLite store among them) stay until the `TestApp` is dropped.
    pub async fn stop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.unwrap().unwrap();
        }
    }
}

/// An HTTP client whose every request gives up after [`DEADLINE`], so no test waits
/// forever on an answer.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(DEADLINE)
        .build()
        .unwrap()
}

/// Sends a presigned request the way a plain HTTP client would: the URL, the returned
/// headers, and the body.
pub async fn send_presigned(presigned: &Value, body: Option<Vec<u8>>) -> reqwest::Response {
    send_presigned_with(presigned, body, &[]).await
}

/// As [`send_presigned`], with some headers replaced or added.
pub async fn send_presigned_with(
    presigned: &Value,
    body: Option<Vec<u8>>,
    overrides: &[(&str, &str)],
) -> reqwest::Response {
    let url = presigned["url"].as_str().unwrap();
    let method: reqwest::Method = presigned["method"].as_str().unwrap().parse().unwrap();
    let mut headers = reqwest::header::HeaderMap::new();
    for (name, value) in presigned["headers"].as_object().unwrap() {
        headers.insert(
            reqwest::header::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.as_str().unwrap().parse().unwrap(),
        );
    }
    for (name, value) in overrides {
        headers.insert(
            reqwest::header::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
    }
    let client = http_client();
    let mut request = client
        .request(method, reqwest::Url::parse(url).unwrap())
        .headers(headers);
    if let Some(body) = body {
        request = request.body(body);
    }
    request.send().await.unwrap()
}

/// The value of query parameter `name` in `url`.
pub fn query_param(url: &str, name: &str) -> Option<String> {
    reqwest::Url::parse(url)
        .unwrap()
        .query_pairs()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

/// An HS256 token from the test issuer ([`ISSUER`], [`SECRET`]) for `sub`, audience
/// `presignd`, valid for ten minutes; `claims` are added (an `exp` among them wins).
/// Every test mints its valid tokens here; only the attack suite forges its own.
pub fn token_with(sub: &str, claims: Value) -> String {
    let mut all: Map<String, Value> = claims.as_object().cloned().unwrap_or_default();
    let now = jsonwebtoken::get_current_timestamp();
    all.insert("iss".into(), ISSUER.into());
    all.insert("sub".into(), sub.into());
    all.insert("aud".into(), "presignd".into());
    all.insert("iat".into(), now.into());
    all.entry("exp").or_insert_with(|| (now + 600).into());
    jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &all,
        &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap()
}

/// [`token_with`] without extra claims.
pub fn token(sub: &str) -> String {
    token_with(sub, json!({}))
}

/// The PostgreSQL of the PostgreSQL tests, from `POSTGRES_TEST_URL`. Those tests (every
/// name contains `postgres`) are left out by `.config/nextest.toml`'s default filter, so
/// nextest reports them skipped; when they are asked for (`--profile ci`), a missing URL
/// fails them rather than passing them untested.
pub fn postgres_url() -> String {
    match std::env::var("POSTGRES_TEST_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => panic!(
            "this PostgreSQL test needs POSTGRES_TEST_URL \
             (e.g. postgres://postgres@127.0.0.1:5432/postgres); \
             `cargo nextest run` without a profile skips it"
        ),
    }
}

/// Creates an empty database and returns its URL. Test databases older than an hour
/// (their names carry a UUIDv7) are dropped on the way, so runs leave nothing behind.
pub async fn fresh_postgres_database() -> String {
    let admin_url = postgres_url();
    let admin = sqlx::PgPool::connect(&admin_url)
        .await
        .expect("POSTGRES_TEST_URL is set but PostgreSQL does not answer");
    let names: Vec<String> =
        sqlx::query_scalar("SELECT datname FROM pg_database WHERE datname LIKE 'presignd_test_%'")
            .fetch_all(&admin)
            .await
            .unwrap();
    let hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    for name in names {
        let stale = uuid::Uuid::parse_str(name.trim_start_matches("presignd_test_"))
            .ok()
            .and_then(|id| id.get_timestamp())
            .map(|ts| {
                let (secs, _) = ts.to_unix();
                std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs) < hour_ago
            })
            .unwrap_or(false);
        if stale {
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
            )))
            .execute(&admin)
            .await;
        }
    }
    let name = format!("presignd_test_{}", uuid::Uuid::now_v7().simple());
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
        .execute(&admin)
        .await
        .unwrap();
    let mut url = url::Url::parse(&admin_url).unwrap();
    url.set_path(&name);
    url.to_string()
}

/// A TCP forwarder between the app and its database, so a test can cut the database
/// off (`stop`) and bring it back (`resume`) without touching the server others share.
pub struct TcpProxy {
    pub address: std::net::SocketAddr,
    target: std::net::SocketAddr,
    tasks: Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl TcpProxy {
    pub async fn start(target: std::net::SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy = Self {
            address: listener.local_addr().unwrap(),
            target,
            tasks: Arc::default(),
        };
        proxy.serve(listener);
        proxy
    }

    fn serve(&self, listener: TcpListener) {
        let target = self.target;
        let tasks = self.tasks.clone();
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let connection = tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                tasks.lock().unwrap().push(connection);
            }
        });
        self.tasks.lock().unwrap().push(accept);
    }

    /// Refuses new connections and cuts the open ones, as a dead server would.
    pub fn stop(&self) {
        for task in self.tasks.lock().unwrap().drain(..) {
            task.abort();
        }
    }

    /// Accepts again on the same address.
    pub async fn resume(&self) {
        let listener = TcpListener::bind(self.address).await.unwrap();
        self.serve(listener);
    }

    /// `url` with its host and port replaced by this proxy's.
    pub fn route(&self, url: &str) -> String {
        let mut url = url::Url::parse(url).unwrap();
        url.set_ip_host(self.address.ip()).unwrap();
        url.set_port(Some(self.address.port())).unwrap();
        url.to_string()
    }
}
