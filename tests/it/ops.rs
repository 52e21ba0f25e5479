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
    let db = app.dir.path().join("audit.db");
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    sqlx::query("DROP TABLE audit_events")
        .execute(&pool)
        .await
        .unwrap();
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
