//! Graceful shutdown of the real binary under load: SIGTERM stops accepting, in-flight
//! requests finish, the audit writer flushes, the process exits 0, and every request that
//! was answered 200 has its row; idle, half-open and stuck connections cannot hold the
//! process past `server.shutdown_grace_ms`.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::harness::{DEADLINE, POLICY, Server, eventually, http_client, token};

/// Presigns in `workers` loops until the server goes away; the audit ids answered 200.
struct Load {
    answered: Arc<std::sync::Mutex<Vec<String>>>,
    count: Arc<AtomicUsize>,
    workers: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    fn start(base: &str, workers: usize) -> Self {
        let token = token("alice");
        let answered = Arc::new(std::sync::Mutex::new(Vec::new()));
        let count = Arc::new(AtomicUsize::new(0));
        let workers = (0..workers)
            .map(|worker| {
                let (base, token, answered, count) =
                    (base.to_owned(), token.clone(), answered.clone(), count.clone());
                tokio::spawn(async move {
                    let http = http_client();
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

    async fn answered_at_least(&self, n: usize) {
        eventually(&format!("{n} answered presigns"), DEADLINE, || async {
            self.count.load(Ordering::Relaxed) >= n
        })
        .await;
    }

    /// Waits for the workers to stop (the server went away); the ids answered.
    async fn finish(self) -> Vec<String> {
        for worker in self.workers {
            tokio::time::timeout(DEADLINE, worker)
                .await
                .expect("the workers stop once presignd is gone")
                .unwrap();
        }
        self.answered.lock().unwrap().clone()
    }
}

/// Ids of every committed audit row.
async fn stored_ids(server: &Server) -> HashSet<String> {
    let pool = sqlx::SqlitePool::connect(&server.database_url)
        .await
        .unwrap();
    sqlx::query_scalar::<_, uuid::Uuid>("SELECT id FROM audit_events")
        .fetch_all(&pool)
        .await
        .unwrap()
        .into_iter()
        .map(|id| id.to_string())
        .collect()
}

fn assert_all_stored(answered: &[String], stored: &HashSet<String>) {
    let missing: Vec<_> = answered.iter().filter(|id| !stored.contains(*id)).collect();
    assert!(
        missing.is_empty(),
        "{} answered rows missing: {missing:?}",
        missing.len()
    );
}

const NO_RATE_LIMITS: &str = "[rate_limit]\nper_subject_per_second = 0\nper_ip_per_second = 0\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_loses_no_answered_row() {
    let mut server = Server::builder(POLICY).config(NO_RATE_LIMITS).spawn().await;
    let load = Load::start(&server.base(), 16);
    load.answered_at_least(300).await;
    let (exit, log) = server.terminate().await;
    let answered = load.finish().await;
    assert!(exit.success(), "presignd exited with {exit}\n{log}");
    assert!(answered.len() >= 300);
    assert_all_stored(&answered, &stored_ids(&server).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_exits_within_the_grace_period_whatever_the_connections_do() {
    let grace = Duration::from_secs(3);
    let mut server = Server::builder(POLICY)
        .config(NO_RATE_LIMITS)
        .env(
            "PRESIGND_SERVER__SHUTDOWN_GRACE_MS",
            &grace.as_millis().to_string(),
        )
        .env("PRESIGND_SERVER__HEADER_READ_TIMEOUT_MS", "60000")
        .spawn()
        .await;
    let address = server.addr.to_string();
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
                token("alice")
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
            token("alice"),
            body.len(),
            &body[..10]
        )
        .as_bytes(),
    )
    .await
    .unwrap();

    let load = Load::start(&server.base(), 4);
    load.answered_at_least(50).await;
    let signalled = Instant::now();
    server.signal("-TERM").await;
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
    let (exit, log) = server.terminate().await;
    assert!(exit.success(), "presignd exited with {exit}\n{log}");
    assert!(
        signalled.elapsed() < grace + Duration::from_secs(5),
        "{:?}",
        signalled.elapsed()
    );
    assert_all_stored(&answered, &stored_ids(&server).await);
}
