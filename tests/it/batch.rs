//! `POST /presign/batch`: per-item results in order, one audit row per item, URLs that
//! work against the SigV4-checking store, limits, per-item rate limits, and fail-closed.

use presignd::audit::Outcome;
use serde_json::{Value, json};

use crate::harness::{BUCKET, Options, TestApp, send_presigned};

impl TestApp {
    /// POSTs `body` to /presign/batch with `token`.
    pub async fn batch(&self, token: &str, body: &Value) -> reqwest::Response {
        self.http
            .post(format!("{}/presign/batch", self.base))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .unwrap()
    }
}

#[tokio::test]
async fn each_item_is_decided_signed_and_audited_on_its_own() {
    let app = TestApp::start().await;
    let token = app.token("alice");
    for name in ["a", "b"] {
        let put = app
            .presign_ok(
                &token,
                json!({"bucket": BUCKET, "key": format!("alice/{name}"), "method": "PUT"}),
            )
            .await;
        let uploaded = send_presigned(&put, Some(format!("bytes of {name}").into_bytes())).await;
        assert!(uploaded.status().is_success());
    }
    let before = app.audit_rows().await.len();

    let items = json!({"items": [
        {"bucket": BUCKET, "key": "alice/a", "method": "GET"},
        {"bucket": BUCKET, "key": "bob/a", "method": "GET"},
        {"bucket": BUCKET, "key": "alice/b", "method": "GET", "expires_in": 60},
        {"bucket": BUCKET, "key": "alice/c", "method": "GET", "acl": "public-read"},
        {"bucket": BUCKET, "key": "alice/new", "method": "PUT", "content_type": "text/plain"},
        "not an object",
        [BUCKET, "alice/a", "GET"],
    ]});
    let response = app.batch(&token, &items).await;
    assert_eq!(response.status(), 200);
    let answer: Value = response.json().await.unwrap();
    let results = answer["results"].as_array().unwrap();
    assert_eq!(results.len(), 7, "{answer}");

    for (index, name) in [(0, "a"), (2, "b")] {
        let ok = &results[index]["ok"];
        let downloaded = send_presigned(ok, None).await;
        assert_eq!(downloaded.status(), 200, "item {index}: {ok}");
        assert_eq!(downloaded.text().await.unwrap(), format!("bytes of {name}"));
    }
    assert_eq!(results[2]["ok"]["expires_in"], 60);
    let put = &results[4]["ok"];
    assert_eq!(put["headers"]["content-type"], "text/plain");
    assert!(
        send_presigned(put, Some(b"new".to_vec()))
            .await
            .status()
            .is_success()
    );

    let denied = &results[1]["error"];
    assert_eq!(denied["status"], 403, "{denied}");
    assert_eq!(denied["code"], "access_denied");
    assert!(denied["detail"].as_str().unwrap().contains("bob/a"));
    for (index, names) in [(3, "acl"), (5, "items[5]"), (6, "expected a JSON object")] {
        let invalid = &results[index]["error"];
        assert_eq!(invalid["code"], "invalid_request", "{invalid}");
        assert!(
            invalid["detail"].as_str().unwrap().contains(names),
            "{invalid}"
        );
    }

    // One row per item, the denial and the invalid items included.
    let rows = app.audit_rows().await;
    assert_eq!(rows.len() - before, 7, "{rows:?}");
    for index in [0, 2, 4] {
        let id = results[index]["ok"]["audit_id"].as_str().unwrap();
        let row = rows.iter().find(|row| row.id.to_string() == id).unwrap();
        assert_eq!(row.outcome, Outcome::Issued);
        assert!(row.signature_sha256.is_some());
    }
    let denial = rows
        .iter()
        .find(|row| row.key.as_deref() == Some("bob/a"))
        .expect("the denied item has its row");
    assert_eq!(denial.outcome, Outcome::Denied);
    assert_eq!(denial.reason.as_deref(), Some("no statement allows"));
    let refused = rows
        .iter()
        .filter(|row| row.outcome == Outcome::Denied && row.key.is_none())
        .count();
    assert_eq!(refused, 3, "every invalid item is audited");
}

#[tokio::test]
async fn batch_limits_are_its_own() {
    let app = TestApp::start_with(Options {
        config:
            "[server]\nmax_body_bytes = 4096\nmax_batch_items = 300\nmax_batch_body_bytes = 40000\n"
                .into(),
        ..Default::default()
    })
    .await;
    let token = app.token("alice");
    let item = |n: usize| json!({"bucket": BUCKET, "key": format!("alice/{n}"), "method": "GET"});

    let empty = app.batch(&token, &json!({"items": []})).await;
    assert_eq!(empty.status(), 400);
    let problem: Value = empty.json().await.unwrap();
    assert!(problem["detail"].as_str().unwrap().contains("items"));

    // The body is an object: the array form serde's derived structs also take is refused.
    let bare = app.batch(&token, &json!([[item(0)]])).await;
    assert_eq!(bare.status(), 400);
    let problem: Value = bare.json().await.unwrap();
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("expected a JSON object"),
        "{problem}"
    );

    // More than max_body_bytes allows for /presign, within the batch's own limit.
    let many: Vec<Value> = (0..300).map(item).collect();
    let body = json!({ "items": many });
    assert!(body.to_string().len() > 4096);
    let within = app.batch(&token, &body).await;
    assert_eq!(within.status(), 200);
    let answer: Value = within.json().await.unwrap();
    assert_eq!(answer["results"].as_array().unwrap().len(), 300);
    assert!(
        answer["results"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["ok"].is_object())
    );

    let too_many: Vec<Value> = (0..301).map(item).collect();
    let refused = app.batch(&token, &json!({ "items": too_many })).await;
    assert_eq!(refused.status(), 400);
    let problem: Value = refused.json().await.unwrap();
    assert!(
        problem["detail"].as_str().unwrap().contains("1..=300"),
        "{problem}"
    );

    let padded_item = json!({"bucket": BUCKET, "key": "alice/x", "method": "GET",
        "content_disposition": "x".repeat(1000)});
    let padded = json!({ "items": vec![padded_item; 50] });
    let oversized = app.batch(&token, &padded).await;
    assert_eq!(oversized.status(), 413);
    let problem: Value = oversized.json().await.unwrap();
    assert!(
        problem["detail"].as_str().unwrap().contains("40000"),
        "{problem}"
    );
}

#[tokio::test]
async fn each_item_is_charged_to_the_callers_rate_limit() {
    let app = TestApp::start_with(Options {
        config: "[rate_limit]\nper_subject_per_second = 1\nburst = 3\nper_ip_per_second = 1000\nper_ip_burst = 1000\n".into(),
        ..Default::default()
    })
    .await;
    let token = app.token("alice");
    let items: Vec<Value> = (0..5)
        .map(|n| json!({"bucket": BUCKET, "key": format!("alice/{n}"), "method": "GET"}))
        .collect();
    let response = app.batch(&token, &json!({ "items": items })).await;
    assert_eq!(response.status(), 200);
    let answer: Value = response.json().await.unwrap();
    let results = answer["results"].as_array().unwrap();
    assert!(results[..3].iter().all(|r| r["ok"].is_object()), "{answer}");
    for limited in &results[3..] {
        assert_eq!(limited["error"]["code"], "rate_limited", "{answer}");
        assert_eq!(limited["error"]["status"], 429);
    }
    let rows = app.audit_rows().await;
    assert_eq!(rows.len(), 5);
    assert_eq!(
        rows.iter().filter(|r| r.outcome == Outcome::Denied).count(),
        2
    );
}

#[tokio::test]
async fn no_url_leaves_when_the_rows_cannot_commit() {
    let app = TestApp::start_with(Options {
        config: "[audit]\ncommit_timeout_ms = 2000\n".into(),
        ..Default::default()
    })
    .await;
    let token = app.token("alice");
    app.break_audit_store().await;
    let items = json!({"items": [
        {"bucket": BUCKET, "key": "alice/a", "method": "GET"},
        {"bucket": BUCKET, "key": "bob/a", "method": "GET"},
    ]});
    let response = app.batch(&token, &items).await;
    assert_eq!(response.status(), 503);
    let text = response.text().await.unwrap();
    assert!(text.contains("audit_unavailable"), "{text}");
    assert!(!text.contains("X-Amz-Signature"), "{text}");
}

#[tokio::test]
async fn the_access_log_has_one_outcome_for_the_batch() {
    let mut server = crate::harness::Server::builder(crate::harness::POLICY)
        .spawn()
        .await;
    let alice = crate::harness::token("alice");
    let client = crate::harness::http_client();
    let post = |items: Value| {
        client
            .post(format!("{}/presign/batch", server.base()))
            .bearer_auth(&alice)
            .json(&json!({ "items": items }))
            .send()
    };
    let mixed = post(json!([
        {"bucket": BUCKET, "key": "alice/a", "method": "GET"},
        {"bucket": BUCKET, "key": "bob/a", "method": "GET"},
    ]))
    .await
    .unwrap();
    assert_eq!(mixed.status(), 200);
    let denied = post(json!([{"bucket": BUCKET, "key": "bob/a", "method": "GET"}]))
        .await
        .unwrap();
    assert_eq!(denied.status(), 200);
    server.wait_for_log(&["/presign/batch", "denied"]).await;

    let access: Vec<Value> = server
        .log()
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|line| line["span"]["route"] == "/presign/batch")
        .collect();
    let outcomes: Vec<&Value> = access.iter().map(|line| &line["span"]["outcome"]).collect();
    assert_eq!(outcomes, ["issued", "denied"], "{access:?}");
}
