//! Graceful shutdown of the real binary under load: SIGTERM stops accepting, in-flight
//! requests finish, the audit writer flushes, the process exits 0, and every request that
//! was answered 200 has its row.

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::harness::{ISSUER, POLICY, SECRET, config_toml};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_loses_no_answered_row() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.json");
    std::fs::write(&policy, POLICY).unwrap();
    let db = dir.path().join("audit.db");
    let config = dir.path().join("presignd.toml");
    let database_url = format!("sqlite://{}", db.display());
    let toml = config_toml("127.0.0.1:0", &policy, "http://127.0.0.1:9", &database_url)
        + "[rate_limit]\nper_subject_per_second = 0\nper_ip_per_second = 0\n[log]\nformat = \"json\"\n";
    std::fs::write(&config, toml).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_presignd"))
        .args(["--config", config.to_str().unwrap(), "serve"])
        .env("AWS_ACCESS_KEY_ID", "AKIDSHUTDOWNTEST")
        .env("AWS_SECRET_ACCESS_KEY", "shutdown-test-secret")
        .env_remove("RUST_LOG")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    // The log's "listening" line carries the bound address.
    let mut log = BufReader::new(child.stderr.take().unwrap());
    let deadline = Instant::now() + Duration::from_secs(30);
    let address = loop {
        assert!(Instant::now() < deadline, "presignd did not start");
        let mut line = String::new();
        if log.read_line(&mut line).unwrap() == 0 {
            panic!("presignd exited during startup");
        }
        if line.contains("presignd listening") {
            let event: serde_json::Value = serde_json::from_str(&line).unwrap();
            break event["address"].as_str().unwrap().to_owned();
        }
    };
    // Keep draining the log so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in log.lines() {});

    let base = format!("http://{address}");
    let token = {
        let now = jsonwebtoken::get_current_timestamp();
        jsonwebtoken::encode(
            &jsonwebtoken::Header::default(),
            &json!({"iss": ISSUER, "aud": "presignd", "sub": "alice", "exp": now + 600}),
            &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
        )
        .unwrap()
    };
    let answered = Arc::new(std::sync::Mutex::new(Vec::new()));
    let count = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    for worker in 0..16 {
        let (base, token, answered, count) =
            (base.clone(), token.clone(), answered.clone(), count.clone());
        workers.push(tokio::spawn(async move {
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
                    let body: serde_json::Value = response.json().await.unwrap();
                    answered.lock().unwrap().push(body["audit_id"].as_str().unwrap().to_owned());
                    count.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    while count.load(Ordering::Relaxed) < 300 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    for worker in workers {
        worker.await.unwrap();
    }
    let exit = child.wait().unwrap();
    assert!(exit.success(), "presignd exited with {exit}");

    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    let stored: HashSet<String> = sqlx::query_scalar("SELECT id FROM audit_events")
        .fetch_all(&pool)
        .await
        .unwrap()
        .into_iter()
        .collect();
    let answered = answered.lock().unwrap().clone();
    assert!(answered.len() >= 300);
    let missing: Vec<_> = answered.iter().filter(|id| !stored.contains(*id)).collect();
    assert!(
        missing.is_empty(),
        "{} answered rows missing: {missing:?}",
        missing.len()
    );
}
