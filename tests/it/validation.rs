//! Bad input: every answer is problem+json with a stable code, the request id, and a detail
//! naming what was wrong. Never a 500.

use serde_json::{Value, json};

use crate::harness::{BUCKET, TestApp};

async fn problem(response: reqwest::Response) -> (u16, Value, reqwest::header::HeaderMap) {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    assert_eq!(
        headers.get("content-type").map(|v| v.to_str().unwrap()),
        Some("application/problem+json"),
        "status {status}"
    );
    let body: Value = response.json().await.unwrap();
    let request_id = headers["x-request-id"].to_str().unwrap();
    assert_eq!(body["request_id"], request_id);
    assert_eq!(body["status"], status);
    for field in ["type", "title", "detail", "code"] {
        assert!(body[field].is_string(), "{field} in {body}");
    }
    (status, body, headers)
}

#[tokio::test]
async fn invalid_fields_are_400_naming_the_field() {
    let app = TestApp::start().await;
    let token = app.token("alice");
    let long_key = format!("alice/{}", "k".repeat(1020));
    let cases: Vec<(Value, &str)> = vec![
        (json!({"key": "alice/a", "method": "GET"}), "bucket"),
        (json!({"bucket": BUCKET, "method": "GET"}), "key"),
        (json!({"bucket": BUCKET, "key": "alice/a"}), "method"),
        (
            json!({"bucket": BUCKET, "key": "alice/a", "method": "DELETE"}),
            "method",
        ),
        (
            json!({"bucket": "Bad_Bucket", "key": "alice/a", "method": "GET"}),
            "bucket",
        ),
        (
            json!({"bucket": "ab", "key": "alice/a", "method": "GET"}),
            "bucket",
        ),
        (
            json!({"bucket": "192.168.0.1", "key": "alice/a", "method": "GET"}),
            "bucket",
        ),
        (json!({"bucket": BUCKET, "key": "", "method": "GET"}), "key"),
        (
            json!({"bucket": BUCKET, "key": "/alice/a", "method": "GET"}),
            "key",
        ),
        (
            json!({"bucket": BUCKET, "key": "alice/../bob/a", "method": "GET"}),
            "key",
        ),
        (
            json!({"bucket": BUCKET, "key": "alice/./a", "method": "GET"}),
            "key",
        ),
        (
            json!({"bucket": BUCKET, "key": "alice/a\u{0}b", "method": "GET"}),
            "key",
        ),
        (
            json!({"bucket": BUCKET, "key": "alice/a\nb", "method": "GET"}),
            "key",
        ),
        (
            json!({"bucket": BUCKET, "key": long_key, "method": "GET"}),
            "key",
        ),
        (json!({"bucket": BUCKET, "key": 7, "method": "GET"}), "key"),
        (
            json!({"bucket": BUCKET, "key": "alice/a", "method": "GET", "expires_in": 0}),
            "expires_in",
        ),
        (
            json!({"bucket": BUCKET, "key": "alice/a", "method": "GET", "expires_in": -5}),
            "expires_in",
        ),
        (
            json!({"bucket": BUCKET, "key": "alice/a", "method": "GET", "expires_in": 604801}),
            "expires_in",
        ),
        (
            json!({"bucket": BUCKET, "key": "alice/a", "method": "GET", "expires_in": "900"}),
            "expires_in",
        ),
        (
            json!({"bucket": BUCKET, "key": "alice/a", "method": "GET", "content_length": 3}),
            "content_length",
        ),
        (
            json!({"bucket": BUCKET, "key": "alice/a", "method": "GET", "checksum_sha256": "x"}),
            "checksum_sha256",
        ),
        (
            json!({"bucket": BUCKET, "key": "alice/a", "method": "GET", "metadata": {}}),
            "metadata",
        ),
        (
            json!({"bucket": BUCKET, "key": "alice/a", "method": "GET", "if_none_match": true}),
            "if_none_match",
        ),
        (
            json!({"bucket": BUCKET, "key": "alice/a", "method": "PUT", "version_id": "v1"}),
            "version_id",
        ),
        (
            json!({"bucket": BUCKET, "key": "alice/a", "method": "PUT", "content_length": -1}),
            "content_length",
        ),
        (
            json!({"bucket": BUCKET, "key": "alice/a", "method": "PUT", "checksum_sha256": "AAAA"}),
            "checksum_sha256",
        ),
        (
            json!({"bucket": BUCKET, "key": "alice/a", "method": "PUT", "checksum_sha256": "not base64!"}),
            "checksum_sha256",
        ),
        (
            json!({"bucket": BUCKET, "key": "alice/a", "method": "PUT", "content_type": "text/plain\r\nx: y"}),
            "content_type",
        ),
        (
            json!({"bucket": BUCKET, "key": "alice/a", "method": "PUT", "content_type": ""}),
            "content_type",
        ),
        (
            json!({"bucket": BUCKET, "key": "alice/a", "method": "PUT", "content_type": "ünï"}),
            "content_type",
        ),
        (
            json!({"bucket": BUCKET, "key": "alice/a", "method": "PUT", "metadata": {"bad name": "v"}}),
            "metadata.bad name",
        ),
        (
            json!({"bucket": BUCKET, "key": "alice/a", "method": "PUT", "metadata": {"a": "x\ny"}}),
            "metadata.a",
        ),
        (
            json!({"bucket": BUCKET, "key": "alice/a", "method": "PUT", "metadata": {"A": "1", "a": "2"}}),
            "metadata.a",
        ),
        (
            json!({"bucket": BUCKET, "key": "alice/a", "method": "PUT", "metadata": {"big": "v".repeat(2100)}}),
            "metadata",
        ),
        (
            json!({"bucket": BUCKET, "key": "alice/a", "method": "PUT", "metadata": {"n": 1}}),
            "metadata",
        ),
        (
            json!({"bucket": BUCKET, "key": "alice/a", "method": "PUT", "if_none_match": "yes"}),
            "if_none_match",
        ),
        (
            json!({"bucket": BUCKET, "key": "alice/a", "method": "PUT", "acl": "public-read"}),
            "acl",
        ),
        (
            json!({"bucket": BUCKET, "key": "alice/a", "method": "GET", "version_id": ""}),
            "version_id",
        ),
        (json!([1, 2, 3]), "invalid JSON body"),
        // serde's derived structs also take their fields as an array, in order; we do not.
        (json!([BUCKET, "alice/a", "GET"]), "expected a JSON object"),
        (json!("just a string"), "invalid JSON body"),
    ];
    let count = cases.len();
    for (body, field) in cases.clone() {
        let (status, problem, _) = problem(app.presign(&token, body.clone()).await).await;
        assert_eq!(status, 400, "{body}: {problem}");
        assert_eq!(problem["code"], "invalid_request", "{body}");
        let detail = problem["detail"].as_str().unwrap();
        assert!(
            detail.contains(field),
            "{body}: detail {detail:?} should name {field:?}"
        );
    }
    // Each refusal of an authenticated caller is audited, its reason naming the field.
    let rows = app.audit_rows().await;
    assert_eq!(rows.len(), count, "{rows:?}");
    for (_, field) in cases {
        assert!(
            rows.iter()
                .any(|row| row.outcome == presignd::audit::Outcome::Denied
                    && row.subject == "alice"
                    && row.reason.as_deref().is_some_and(|r| r.contains(field))),
            "no denied row naming {field:?}: {rows:?}"
        );
    }
}

#[tokio::test]
async fn malformed_non_json_and_oversized_bodies() {
    let app = TestApp::start().await;
    let token = app.token("alice");
    let url = format!("{}/presign", app.base);
    let send = |content_type: &'static str, body: Vec<u8>| {
        app.http
            .post(&url)
            .bearer_auth(&token)
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    let (status, body, _) = problem(
        send("application/json", b"{\"bucket\": ".to_vec())
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("invalid_request"))
    );
    let (status, body, _) = problem(
        send("application/json", b"\xff\xfe".to_vec())
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("invalid_request"))
    );
    let (status, body, _) = problem(send("text/plain", b"{}".to_vec()).await.unwrap()).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (415, Some("unsupported_media_type"))
    );
    let huge = format!(
        r#"{{"bucket":"uploads","key":"{}","method":"GET"}}"#,
        "k".repeat(70_000)
    );
    let (status, body, _) =
        problem(send("application/json", huge.into_bytes()).await.unwrap()).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (413, Some("payload_too_large"))
    );
}

#[tokio::test]
async fn bad_tokens_are_401_with_www_authenticate() {
    let app = TestApp::start().await;
    let url = format!("{}/presign", app.base);
    let body = json!({"bucket": BUCKET, "key": "alice/a", "method": "GET"});
    let expired = app.token_with("alice", json!({"exp": 1_000_000_000}));
    let mut forged = app.token("alice");
    forged.push('x');
    let cases: Vec<(&str, Option<String>)> = vec![
        ("missing", None),
        ("not bearer", Some("Basic YWxpY2U6cHc=".into())),
        ("garbage", Some("Bearer garbage".into())),
        ("expired", Some(format!("Bearer {expired}"))),
        ("bad signature", Some(format!("Bearer {forged}"))),
        ("empty", Some("Bearer ".into())),
    ];
    for (name, authorization) in cases {
        let mut request = app.http.post(&url).json(&body);
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        let (status, problem, headers) = problem(request.send().await.unwrap()).await;
        assert_eq!(status, 401, "{name}");
        assert_eq!(problem["code"], "invalid_token", "{name}");
        assert_eq!(
            headers["www-authenticate"], r#"Bearer error="invalid_token""#,
            "{name}"
        );
        // The same answer for every failure: the reason is for the log only.
        assert_eq!(problem["detail"], "invalid token", "{name}");
    }
    // Authentication comes before the body: a bad body with a bad token is still 401.
    let response = app
        .http
        .post(&url)
        .header("content-type", "text/plain")
        .body("nonsense")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert!(app.audit_rows().await.is_empty());
}

#[tokio::test]
async fn content_length_over_the_single_put_limit_is_refused() {
    let app = TestApp::start().await;
    let token = app.token("alice");
    const FIVE_GIB: u64 = 5 * 1024 * 1024 * 1024;
    for length in [FIVE_GIB + 1, u64::MAX] {
        let body = json!({"bucket": BUCKET, "key": "alice/big", "method": "PUT", "content_length": length});
        let (status, problem, _) = problem(app.presign(&token, body).await).await;
        assert_eq!(status, 400, "{length}: {problem}");
        let detail = problem["detail"].as_str().unwrap();
        assert!(
            detail.starts_with("content_length: ") && detail.contains("5368709120"),
            "{detail}"
        );
    }
    let body =
        json!({"bucket": BUCKET, "key": "alice/big", "method": "PUT", "content_length": FIVE_GIB});
    let presigned = app.presign_ok(&token, body).await;
    assert_eq!(presigned["headers"]["content-length"], "5368709120");
}

#[tokio::test]
async fn keys_with_a_backslash_are_refused() {
    let app = TestApp::start().await;
    let body = json!({"bucket": BUCKET, "key": "alice\\..\\bob/a", "method": "GET"});
    let (status, problem, _) = problem(app.presign(&app.token("alice"), body).await).await;
    assert_eq!(status, 400);
    assert_eq!(problem["detail"], "key: must not contain a backslash");
}

#[tokio::test]
async fn keys_with_invisible_or_reordering_characters_are_refused() {
    let app = TestApp::start().await;
    let token = app.token("alice");
    // Right-to-left override (shows as "exe.png"), zero-width space, line separator, BOM.
    for (key, code) in [
        ("alice/\u{202E}gnp.exe", "U+202E"),
        ("alice/a\u{200B}b", "U+200B"),
        ("alice/a\u{2028}b", "U+2028"),
        ("alice/\u{FEFF}a", "U+FEFF"),
    ] {
        let body = json!({"bucket": BUCKET, "key": key, "method": "PUT"});
        let (status, problem, _) = problem(app.presign(&token, body).await).await;
        assert_eq!(status, 400, "{code}");
        assert_eq!(
            problem["detail"],
            format!("key: must not contain control, format or separator characters (found {code})")
        );
    }
}

#[tokio::test]
async fn content_type_lists_and_non_media_types_are_refused() {
    let app = TestApp::start().await;
    let token = app.token("alice");
    for (content_type, rule) in [
        ("image/png,text/html", "not a list"),
        ("text/plain, text/html", "not a list"),
        ("image/", "one media type"),
        ("png", "one media type"),
    ] {
        for method in ["PUT", "GET"] {
            let body = json!({"bucket": BUCKET, "key": "alice/a", "method": method, "content_type": content_type});
            let (status, problem, _) = problem(app.presign(&token, body).await).await;
            assert_eq!(status, 400, "{content_type} {method}");
            let detail = problem["detail"].as_str().unwrap();
            assert!(
                detail.starts_with("content_type: ") && detail.contains(rule),
                "{content_type}: {detail}"
            );
        }
    }
}
