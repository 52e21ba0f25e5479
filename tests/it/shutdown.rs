//! Graceful shutdown of the real binary under load: SIGTERM stops accepting, in-flight
//! requests finish, the audit writer flushes, the process exits 0 within
//! `server.shutdown_grace_ms` whatever its clients do, and every request that was answered
//! 200 has its row.

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::harness::{ISSUER, POLICY, SECRET, config_toml};

/// A `presignd serve` process on a SQLite audit store, its address read from its log.
struct Presignd {
    child: Child,
    base: String,
    database: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Presignd {
    /// Starts the binary with the test configuration and `env` (`PRESIGND_*` overrides).
    fn start(env: &[(&str, String)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let policy = dir.path().join("policy.json");
        std::fs::write(&policy, POLICY).unwrap();
        let database = dir.path().join("audit.db");
        let config = dir.path().join("presignd.toml");
        let database_url = format!("sqlite://{}", database.display());
        let toml = config_toml("127.0.0.1:0", &policy, "http://127.0.0.1:9", &database_url)
            + "[rate_limit]\nper_subject_per_second = 0\nper_ip_per_second = 0\n[log]\nformat = \"json\"\n";
        std::fs::write(&config, toml).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_presignd"))
            .args(["--config", config.to_str().unwrap(), "serve"])
            .env("AWS_ACCESS_KEY_ID", "AKIDSHUTDOWNTEST")
            .env("AWS_SECRET_ACCESS_KEY", "shutdown-test-secret")
            .env_remove("RUST_LOG")
            .envs(env.iter().map(|(name, value)| (name, value)))
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();

        // The log's "listening" line carries the bound address.
        let mut log = BufReader::new(child.stderr.take().unwrap());
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut line = String::new();
        let address = loop {
            assert!(Instant::now() < deadline, "presignd did not start");
            let last = std::mem::take(&mut line);
            if log.read_line(&mut line).unwrap() == 0 {
                panic!("presignd exited during startup: {last}");
            }
            if line.contains("presignd listening") {
                let event: serde_json::Value = serde_json::from_str(&line).unwrap();
                break event["address"].as_str().unwrap().to_owned();
            }
        };
        // Keep draining the log so the child never blocks on a full pipe.
        std::thread::spawn(move || for _ in log.lines() {});
        Self {
            child,
            base: format!("http://{address}"),
            database,
            _dir: dir,
        }
    }

    fn address(&self) -> &str {
        self.base.trim_start_matches("http://")
    }

    fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits for the process to exit, at most `limit`; kills it and fails past that.
    async fn exit_within(&mut self, limit: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("presignd still running {limit:?} after SIGTERM");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Ids of every committed audit row.
    async fn stored_ids(&self) -> HashSet<String> {
        let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", self.database.display()))
            .await
            .unwrap();
        sqlx::query_scalar("SELECT id FROM audit_events")
            .fetch_all(&pool)
            .await
            .unwrap()
            .into_iter()
            .collect()
    }
}

fn token() -> String {
    let now = jsonwebtoken::get_current_timestamp();
    jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &json!({"iss": ISSUER, "aud": "presignd", "sub": "alice", "exp": now + 600}),
        &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap()
}

/// Presigns in `workers` loops until the server goes away; the audit ids answered 200.
struct Load {
    answered: Arc<std::sync::Mutex<Vec<String>>>,
    count: Arc<AtomicUsize>,
    workers: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    fn start(base: &str, workers: usize) -> Self {
        let token = token();
        let answered = Arc::new(std::sync::Mutex::new(Vec::new()));
        let count = Arc::new(AtomicUsize::new(0));
        let workers = (0..workers)
            .map(|worker| {
                let (base, token, answered, count) =
                    (base.to_owned(), token.clone(), answered.clone(), count.clone());
                tokio::spawn(async move {
                    let http = reqwest::Client::new();
                    for i in 0.. {
                        let sent = http
                            .post(format!("{base}/presign"))
                            .bearer_auth(&token)
                            .json(&json!({"bucket": "uploads", "key": format!("alice/{worker}-{i}"), "method": "PUT"}))
                            .send()
                            .await;
                        let Ok(response) = sent else { break };
                        if response.status() == 200 {
                            let Ok(body) = response.json::<serde_json::Value>().await else {
                                break;
                            };
                            answered.lock().unwrap().push(body["audit_id"].as_str().unwrap().to_owned());
                            count.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                })
            })
            .collect();
        Self {
            answered,
            count,
            workers,
        }
    }

    /// Waits until `n` presigns were answered, at most 60 s.
    async fn answered_at_least(&self, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.count.load(Ordering::Relaxed) < n {
            assert!(Instant::now() < deadline, "load never reached {n} answers");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Waits for the workers to stop (the server went away); the ids answered.
    async fn finish(self) -> Vec<String> {
        for worker in self.workers {
            worker.await.unwrap();
        }
        self.answered.lock().unwrap().clone()
    }
}

fn assert_all_stored(answered: &[String], stored: &HashSet<String>) {
    let missing: Vec<_> = answered.iter().filter(|id| !stored.contains(*id)).collect();
    assert!(
        missing.is_empty(),
        "{} answered rows missing: {missing:?}",
        missing.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_loses_no_answered_row() {
    let mut presignd = Presignd::start(&[]);
    let load = Load::start(&presignd.base, 16);
    load.answered_at_least(300).await;
    presignd.terminate();
    let answered = load.finish().await;
    let exit = presignd.exit_within(Duration::from_secs(30)).await;
    assert!(exit.success(), "presignd exited with {exit}");
    assert!(answered.len() >= 300);
    assert_all_stored(&answered, &presignd.stored_ids().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_exits_within_the_grace_period_whatever_the_connections_do() {
    let grace = Duration::from_secs(3);
    let mut presignd = Presignd::start(&[
        (
            "PRESIGND_SERVER__SHUTDOWN_GRACE_MS",
            grace.as_millis().to_string(),
        ),
        ("PRESIGND_SERVER__HEADER_READ_TIMEOUT_MS", "60000".into()),
    ]);
    let address = presignd.address().to_owned();
    // Idle keep-alive: one request answered, the connection left open.
    let mut idle = TcpStream::connect(&address).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    while !answer.ends_with(b"\r\n\r\nok") {
        let mut chunk = [0; 512];
        let read = tokio::time::timeout(Duration::from_secs(10), idle.read(&mut chunk))
            .await
            .expect("no answer on the keep-alive connection")
            .unwrap();
        assert!(
            read > 0,
            "closed early: {}",
            String::from_utf8_lossy(&answer)
        );
        answer.extend_from_slice(&chunk[..read]);
    }
    // Half-open: connected, never a byte.
    let _silent = TcpStream::connect(&address).await.unwrap();
    // Halfway through its headers.
    let mut partial = TcpStream::connect(&address).await.unwrap();
    partial
        .write_all(b"POST /presign HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    // In flight and stuck: a request whose body never arrives.
    let mut stuck = TcpStream::connect(&address).await.unwrap();
    stuck
        .write_all(
            format!(
                "POST /presign HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
                 Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"bucket\"",
                token()
            )
            .as_bytes(),
        )
        .await
        .unwrap();

    // In flight and slow: its body ends only after SIGTERM, and it is still answered.
    let body = json!({"bucket": "uploads", "key": "alice/slow", "method": "PUT"}).to_string();
    let mut slow = TcpStream::connect(&address).await.unwrap();
    slow.write_all(
        format!(
            "POST /presign HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{}",
            token(),
            body.len(),
            &body[..10]
        )
        .as_bytes(),
    )
    .await
    .unwrap();

    let load = Load::start(&presignd.base, 4);
    load.answered_at_least(50).await;
    let signalled = Instant::now();
    presignd.terminate();
    // A slow client, not a readiness wait: the rest of the body comes late.
    tokio::time::sleep(Duration::from_millis(300)).await;
    slow.write_all(&body.as_bytes()[10..]).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(grace, slow.read_to_end(&mut answer))
        .await
        .expect("the slow request was not answered within the grace period")
        .unwrap();
    let answer = String::from_utf8(answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200 "), "{answer}");
    let (_, json) = answer.split_once("\r\n\r\n").unwrap();
    let issued: serde_json::Value = serde_json::from_str(json).unwrap();
    let mut answered = load.finish().await;
    answered.push(issued["audit_id"].as_str().unwrap().to_owned());
    // The grace period, plus the time to commit the queue and exit.
    let exit = presignd.exit_within(grace + Duration::from_secs(5)).await;
    assert!(exit.success(), "presignd exited with {exit}");
    assert!(
        signalled.elapsed() < grace + Duration::from_secs(5),
        "{:?}",
        signalled.elapsed()
    );
    assert_all_stored(&answered, &presignd.stored_ids().await);
}
