//! Graceful shutdown of the real binary under load: SIGTERM stops accepting, in-flight
//! requests finish, the audit writer flushes, the process exits 0, and every request that
//! was answered 200 has its row.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::json;

use crate::harness::{DEADLINE, POLICY, Server, eventually, http_client, token};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_loses_no_answered_row() {
    let mut server = Server::builder(POLICY)
        .config("[rate_limit]\nper_subject_per_second = 0\nper_ip_per_second = 0\n")
        .spawn()
        .await;
    let base = server.base();
    let token = token("alice");
    let answered = Arc::new(std::sync::Mutex::new(Vec::new()));
    let count = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    for worker in 0..16 {
        let (base, token, answered, count) =
            (base.clone(), token.clone(), answered.clone(), count.clone());
        workers.push(tokio::spawn(async move {
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
                    let body: serde_json::Value = response.json().await.unwrap();
                    answered.lock().unwrap().push(body["audit_id"].as_str().unwrap().to_owned());
                    count.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    eventually("300 answered presigns", DEADLINE, || async {
        count.load(Ordering::Relaxed) >= 300
    })
    .await;
    let (exit, log) = server.terminate().await;
    for worker in workers {
        tokio::time::timeout(DEADLINE, worker)
            .await
            .expect("the workers stop once presignd is gone")
            .unwrap();
    }
    assert!(exit.success(), "presignd exited with {exit}\n{log}");

    let pool = sqlx::SqlitePool::connect(&server.database_url)
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
