//! The audit log on PostgreSQL under faults: a role that loses INSERT, a database that
//! goes away and comes back, and two presignd processes sharing one log. Needs
//! POSTGRES_TEST_URL; `cargo nextest run` skips them (see `.config/nextest.toml`).

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::harness::{
    BUCKET, Backend, Options, TcpProxy, TestApp, eventually, fresh_postgres_database,
};

async fn status_of_presign(app: &TestApp, token: &str, key: &str) -> (u16, String) {
    let response = app
        .presign(
            token,
            json!({"bucket": BUCKET, "key": key, "method": "PUT"}),
        )
        .await;
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

#[tokio::test]
async fn a_role_without_insert_gets_503_and_recovers_without_restart() {
    let database = fresh_postgres_database().await;
    // presignd runs as its own unprivileged role, as in production.
    let role = format!("presignd_role_{}", uuid::Uuid::now_v7().simple());
    let admin = sqlx::PgPool::connect(&database).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE ROLE {role} LOGIN")))
        .execute(&admin)
        .await
        .unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "GRANT ALL ON SCHEMA public TO {role}"
    )))
    .execute(&admin)
    .await
    .unwrap();
    let mut app_url = url::Url::parse(&database).unwrap();
    app_url.set_username(&role).unwrap();
    let app = TestApp::start_with(Options {
        backend: Backend::Postgres(Some(app_url.to_string())),
        ..Options::default()
    })
    .await;
    let token = app.token("alice");
    assert_eq!(status_of_presign(&app, &token, "alice/1").await.0, 200);

    sqlx::query(sqlx::AssertSqlSafe(format!(
        "REVOKE INSERT ON audit_events FROM {role}"
    )))
    .execute(&admin)
    .await
    .unwrap();
    let (status, body) = status_of_presign(&app, &token, "alice/2").await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("audit_unavailable"), "{body}");
    assert!(!body.contains("X-Amz"), "no URL: {body}");

    sqlx::query(sqlx::AssertSqlSafe(format!(
        "GRANT INSERT ON audit_events TO {role}"
    )))
    .execute(&admin)
    .await
    .unwrap();
    assert_eq!(status_of_presign(&app, &token, "alice/3").await.0, 200);
    let keys: Vec<String> = app
        .audit_rows()
        .await
        .into_iter()
        .filter_map(|row| row.key)
        .collect();
    assert!(keys.contains(&"alice/1".to_owned()) && keys.contains(&"alice/3".to_owned()));
    assert!(
        !keys.contains(&"alice/2".to_owned()),
        "the refused request left no row"
    );
}

#[tokio::test]
async fn a_dead_database_fails_fast_and_heals_on_its_own() {
    let database = fresh_postgres_database().await;
    let parsed = url::Url::parse(&database).unwrap();
    let server: SocketAddr = format!(
        "{}:{}",
        parsed.host_str().unwrap(),
        parsed.port().unwrap_or(5432)
    )
    .parse()
    .unwrap();
    let proxy = TcpProxy::start(server).await;
    let app = TestApp::start_with(Options {
        backend: Backend::Postgres(Some(proxy.route(&database))),
        // The production default: fast failure must not depend on a long test timeout.
        config: "[audit]\ncommit_timeout_ms = 2000\n".into(),
        ..Options::default()
    })
    .await;
    let token = app.token("alice");
    assert_eq!(status_of_presign(&app, &token, "alice/before").await.0, 200);

    proxy.stop();
    let started = Instant::now();
    let (status, body) = status_of_presign(&app, &token, "alice/during").await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("audit_unavailable"), "{body}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "a dead database answers 503 fast, took {:?}",
        started.elapsed()
    );
    let readyz = app
        .http
        .get(format!("{}/readyz", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(readyz.status(), 503);

    proxy.resume().await;
    // The pool reconnects by itself; allow it a few attempts.
    eventually("presigning to recover", Duration::from_secs(10), || async {
        match status_of_presign(&app, &token, "alice/after").await {
            (200, _) => Ok(()),
            other => Err(other),
        }
    })
    .await;
    let readyz = app
        .http
        .get(format!("{}/readyz", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(readyz.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_on_one_database_form_one_complete_log() {
    let database = fresh_postgres_database().await;
    let start = || {
        TestApp::start_with(Options {
            backend: Backend::Postgres(Some(database.clone())),
            ..Options::default()
        })
    };
    let first = Arc::new(start().await);
    let second = Arc::new(start().await);
    let token = first.token("alice");
    let mut tasks = Vec::new();
    for i in 0..100 {
        let app = if i % 2 == 0 {
            first.clone()
        } else {
            second.clone()
        };
        let token = token.clone();
        tasks.push(tokio::spawn(async move {
            let presigned = app
                .presign_ok(
                    &token,
                    json!({"bucket": BUCKET, "key": format!("alice/{i}"), "method": "GET"}),
                )
                .await;
            presigned["audit_id"].as_str().unwrap().to_owned()
        }));
    }
    let mut ids = HashSet::new();
    for task in tasks {
        ids.insert(task.await.unwrap());
    }
    let stored: HashSet<String> = first
        .audit_rows()
        .await
        .iter()
        .map(|row| row.id.to_string())
        .collect();
    assert_eq!(stored, ids);
}
