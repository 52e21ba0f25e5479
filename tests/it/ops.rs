//! Operational routes and the edges of the route table.

use crate::harness::TestApp;

#[tokio::test]
async fn health_readiness_and_spec() {
    let app = TestApp::start().await;
    let get = |path: &str| app.http.get(format!("{}{path}", app.base)).send();
    assert_eq!(get("/healthz").await.unwrap().status(), 200);
    assert_eq!(get("/readyz").await.unwrap().status(), 200);
    let spec = get("/openapi.yaml").await.unwrap();
    assert_eq!(spec.status(), 200);
    assert!(spec.text().await.unwrap().contains("/presign"));
}

#[tokio::test]
async fn readiness_fails_when_the_audit_store_is_broken() {
    let app = TestApp::start().await;
    let readyz = || async {
        app.http
            .get(format!("{}/readyz", app.base))
            .send()
            .await
            .unwrap()
            .status()
    };
    assert_eq!(readyz().await, 200);
    app.break_audit_store().await;
    assert_eq!(readyz().await, 503);
    // Liveness is not readiness: the process still runs.
    assert_eq!(
        app.http
            .get(format!("{}/healthz", app.base))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn unknown_routes_and_methods_are_problems_with_request_ids() {
    let app = TestApp::start().await;
    let response = app
        .http
        .get(format!("{}/nope", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["code"], "not_found");

    let response = app
        .http
        .get(format!("{}/presign", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["code"], "invalid_request");

    // A caller's request id is kept and echoed.
    let response = app
        .http
        .get(format!("{}/nope", app.base))
        .header("x-request-id", "caller-chosen-42")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "caller-chosen-42");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["request_id"], "caller-chosen-42");
}

#[tokio::test]
async fn cors_preflight_allows_configured_origins_only() {
    let app = crate::harness::TestApp::start_with(crate::harness::Options {
        config: "[cors]\nallowed_origins = [\"https://app.example.com\"]\n".into(),
        ..Default::default()
    })
    .await;
    let preflight = |origin: &'static str| {
        app.http
            .request(reqwest::Method::OPTIONS, format!("{}/presign", app.base))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization,content-type",
            )
            .send()
    };
    let allowed = preflight("https://app.example.com").await.unwrap();
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
    let methods = allowed.headers()["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(methods.contains("POST"), "{methods}");
    let refused = preflight("https://evil.example.com").await.unwrap();
    assert!(
        refused
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
}

#[tokio::test]
async fn rate_limits_answer_429_with_retry_after_per_caller() {
    let app = crate::harness::TestApp::start_with(crate::harness::Options {
        config: "[rate_limit]\nper_subject_per_second = 1\nburst = 3\nper_ip_per_second = 1000\nper_ip_burst = 1000\n".into(),
        ..Default::default()
    })
    .await;
    let alice = app.token("alice");
    let bob = app.token("bob");
    let body = |key: &str| serde_json::json!({"bucket": "uploads", "key": key, "method": "GET"});
    for _ in 0..3 {
        assert_eq!(app.presign(&alice, body("alice/a")).await.status(), 200);
    }
    let limited = app.presign(&alice, body("alice/a")).await;
    assert_eq!(limited.status(), 429);
    assert_eq!(limited.headers()["retry-after"], "1");
    let problem: serde_json::Value = limited.json().await.unwrap();
    assert_eq!(problem["code"], "rate_limited");
    // Alice's burst is hers alone.
    assert_eq!(app.presign(&bob, body("bob/a")).await.status(), 200);
    // The limited request is audited too: an authenticated caller over its limit.
    let rows = app.audit_rows().await;
    assert_eq!(rows.len(), 5);
    let limited_rows: Vec<_> = rows
        .iter()
        .filter(|row| row.outcome == presignd::audit::Outcome::Denied)
        .collect();
    assert_eq!(limited_rows.len(), 1, "{rows:?}");
    assert_eq!(limited_rows[0].subject, "alice");
    assert!(
        limited_rows[0]
            .reason
            .as_deref()
            .is_some_and(|reason| reason.contains("too many requests")),
        "{:?}",
        limited_rows[0].reason
    );
}

#[tokio::test]
async fn a_flood_of_bad_tokens_is_cut_off_by_address_before_verification() {
    let app = crate::harness::TestApp::start_with(crate::harness::Options {
        config: "[rate_limit]\nper_ip_per_second = 1\nper_ip_burst = 5\n".into(),
        ..Default::default()
    })
    .await;
    let mut statuses = Vec::new();
    for _ in 0..8 {
        statuses.push(
            app.presign("not-a-token", serde_json::json!({}))
                .await
                .status()
                .as_u16(),
        );
    }
    assert_eq!(statuses, [401, 401, 401, 401, 401, 429, 429, 429]);
}

#[tokio::test]
async fn metrics_count_requests_decisions_and_audit_batches() {
    let app = TestApp::start().await;
    let token = app.token("alice");
    app.presign_ok(
        &token,
        serde_json::json!({"bucket": "uploads", "key": "alice/m", "method": "PUT"}),
    )
    .await;
    app.presign(
        &token,
        serde_json::json!({"bucket": "uploads", "key": "bob/m", "method": "PUT"}),
    )
    .await;
    app.presign("bad", serde_json::json!({})).await;
    let response = app
        .http
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    for needle in [
        r#"presignd_http_requests_total{route="/presign",method="POST",status="200"}"#,
        r#"presignd_decisions_total{action="s3:PutObject",outcome="issued"}"#,
        r#"presignd_decisions_total{action="s3:PutObject",outcome="denied"}"#,
        r#"presignd_auth_failures_total{reason="malformed"}"#,
        r#"presignd_http_request_duration_seconds_bucket{route="/presign",le="0.005"}"#,
        "presignd_audit_commit_duration_seconds_count",
        "presignd_audit_batch_rows_bucket",
        "# HELP presignd_decisions_total",
    ] {
        assert!(
            text.contains(needle),
            "{needle} missing from /metrics:\n{text}"
        );
    }
    assert!(!text.contains("alice"), "no subject in metric labels");
}
