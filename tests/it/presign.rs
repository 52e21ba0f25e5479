//! The whole path: token → policy → presign → audit, with URLs used against a real
//! SigV4-checking S3 store.

use serde_json::json;
use sha2::{Digest, Sha256};

use crate::harness::{BUCKET, Options, TestApp, query_param, send_presigned};

/// Keys whose characters an HTTP stack or a signer could mangle.
const AWKWARD_KEYS: &[&str] = &[
    "alice/with space.txt",
    "alice/ünïcödé-日本.txt",
    "alice/100%.txt",
    "alice/hash#tag",
    "alice/what?.txt",
    "alice/a+b.txt",
    "alice/!$&'()*,;=:@.txt",
    "alice/nested/deeper/file",
];

#[tokio::test]
async fn uploads_and_downloads_awkward_keys_through_presigned_urls() {
    let app = TestApp::start().await;
    let token = app.token("alice");
    for key in AWKWARD_KEYS {
        let body = format!("contents of {key}").into_bytes();
        let put = app
            .presign_ok(
                &token,
                json!({"bucket": BUCKET, "key": key, "method": "PUT", "content_type": "text/plain"}),
            )
            .await;
        assert_eq!(put["method"], "PUT");
        assert_eq!(put["headers"]["content-type"], "text/plain");
        let uploaded = send_presigned(&put, Some(body.clone())).await;
        assert!(
            uploaded.status().is_success(),
            "PUT {key}: {}",
            uploaded.status()
        );

        let get = app
            .presign_ok(
                &token,
                json!({"bucket": BUCKET, "key": key, "method": "GET"}),
            )
            .await;
        let downloaded = send_presigned(&get, None).await;
        assert!(
            downloaded.status().is_success(),
            "GET {key}: {}",
            downloaded.status()
        );
        assert_eq!(
            downloaded.bytes().await.unwrap().as_ref(),
            body.as_slice(),
            "{key}"
        );
    }
}

#[tokio::test]
async fn every_signed_put_option_is_returned_and_accepted() {
    let app = TestApp::start().await;
    let token = app.token("alice");
    let body = b"{\"hello\": \"world\"}".to_vec();
    let checksum = base64_sha256(&body);
    let put = app
        .presign_ok(
            &token,
            json!({
                "bucket": BUCKET, "key": "alice/full.json", "method": "PUT",
                "content_type": "application/json",
                "content_length": body.len(),
                "checksum_sha256": checksum,
                "metadata": {"Origin": "test", "batch": "7"},
                "if_none_match": true,
                "content_disposition": "attachment; filename=\"full.json\"",
                "expires_in": 300,
            }),
        )
        .await;
    let headers = put["headers"].as_object().unwrap();
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(headers["content-length"], body.len().to_string());
    assert_eq!(headers["x-amz-checksum-sha256"], checksum);
    assert_eq!(headers["x-amz-meta-origin"], "test");
    assert_eq!(headers["x-amz-meta-batch"], "7");
    assert_eq!(headers["if-none-match"], "*");
    assert_eq!(
        headers["content-disposition"],
        "attachment; filename=\"full.json\""
    );
    assert!(
        headers
            .keys()
            .all(|name| name == &name.to_ascii_lowercase()),
        "header names are lower case: {headers:?}"
    );
    // No checksum or header the client was not told about.
    let url = put["url"].as_str().unwrap();
    assert!(!url.contains("x-amz-sdk-checksum-algorithm"), "{url}");
    assert!(!url.contains("x-amz-checksum-crc32"), "{url}");
    assert_eq!(put["expires_in"], 300);
    assert_eq!(query_param(url, "X-Amz-Expires").as_deref(), Some("300"));

    let uploaded = send_presigned(&put, Some(body.clone())).await;
    assert!(uploaded.status().is_success(), "{}", uploaded.status());

    let get = app
        .presign_ok(
            &token,
            json!({"bucket": BUCKET, "key": "alice/full.json", "method": "GET",
                   "content_type": "text/plain", "content_disposition": "inline"}),
        )
        .await;
    let downloaded = send_presigned(&get, None).await;
    assert!(downloaded.status().is_success());
    assert_eq!(downloaded.headers()["content-type"], "text/plain");
    assert_eq!(downloaded.headers()["content-disposition"], "inline");
    assert_eq!(downloaded.bytes().await.unwrap().as_ref(), body.as_slice());
}

#[tokio::test]
async fn the_response_and_audit_row_agree_and_the_url_carries_the_audit_id() {
    let app = TestApp::start().await;
    let token = app.token("alice");
    let put = app
        .presign_ok(
            &token,
            json!({"bucket": BUCKET, "key": "alice/a.txt", "method": "PUT"}),
        )
        .await;
    let url = put["url"].as_str().unwrap();
    let audit_id = put["audit_id"].as_str().unwrap();
    assert_eq!(query_param(url, "x-presignd-id").as_deref(), Some(audit_id));
    assert_eq!(put["expires_in"], 900, "the configured default lifetime");

    let rows = app.audit_rows().await;
    assert_eq!(rows.len(), 1);
    let row = &rows[0];
    assert_eq!(row.id.to_string(), audit_id);
    assert_eq!(row.outcome.as_str(), "issued");
    assert_eq!(row.subject, "alice");
    assert_eq!(row.issuer, crate::harness::ISSUER);
    assert_eq!(row.action, "s3:PutObject");
    assert_eq!(row.bucket.as_deref(), Some(BUCKET));
    assert_eq!(row.key.as_deref(), Some("alice/a.txt"));
    assert_eq!(row.statement.as_deref(), Some("OwnFolder"));
    assert_eq!(row.client_ip.as_deref(), Some("127.0.0.1"));
    assert_eq!(row.expires_in, Some(900));
    let expires_at = time::OffsetDateTime::parse(
        put["expires_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert_eq!(row.expires_at, Some(expires_at));
    let signature = query_param(url, "X-Amz-Signature").unwrap();
    assert_eq!(
        row.signature_sha256.as_deref(),
        Some(hex::encode(Sha256::digest(&signature)).as_str())
    );
}

#[tokio::test]
async fn expires_at_is_the_true_expiry() {
    let app = TestApp::start().await;
    let token = app.token("alice");
    let before = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap();
    let put = app
        .presign_ok(
            &token,
            json!({"bucket": BUCKET, "key": "alice/e.txt", "method": "PUT", "expires_in": 120}),
        )
        .await;
    let url = put["url"].as_str().unwrap();
    let expires_at = time::OffsetDateTime::parse(
        put["expires_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let signed_at = time::PrimitiveDateTime::parse(
        &query_param(url, "X-Amz-Date").unwrap(),
        time::macros::format_description!("[year][month][day]T[hour][minute][second]Z"),
    )
    .unwrap()
    .assume_utc();
    assert!(signed_at >= before);
    assert_eq!(expires_at, signed_at + time::Duration::seconds(120));
}

#[tokio::test]
async fn a_lifetime_is_cut_to_what_the_credentials_can_back() {
    let expiry = std::time::SystemTime::now() + std::time::Duration::from_secs(100);
    let app = TestApp::start_with(Options {
        credentials_expiry: Some(expiry),
        ..Options::default()
    })
    .await;
    let token = app.token("alice");
    let put = app
        .presign_ok(
            &token,
            json!({"bucket": BUCKET, "key": "alice/c.txt", "method": "PUT", "expires_in": 3600}),
        )
        .await;
    let expires_in = put["expires_in"].as_u64().unwrap();
    assert!((90..=100).contains(&expires_in), "expires_in {expires_in}");
    let expires_at = time::OffsetDateTime::parse(
        put["expires_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert!(expires_at <= time::OffsetDateTime::from(expiry));
    let x_amz_expires: u64 = query_param(put["url"].as_str().unwrap(), "X-Amz-Expires")
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        x_amz_expires <= 100,
        "the URL itself is signed for {x_amz_expires}s"
    );
    let rows = app.audit_rows().await;
    assert_eq!(rows[0].expires_in, Some(expires_in as i64));
}

#[tokio::test]
async fn denials_are_403_and_audited_without_naming_statements() {
    let app = TestApp::start().await;
    let token = app.token("alice");
    let cases = [
        ("uploads", "bob/a.txt", "no statement allows"),
        ("uploads", "alice/secrets/key.pem", "explicit deny"),
        ("other-bucket", "alice/a.txt", "no statement allows"),
    ];
    for (bucket, key, why) in cases {
        let response = app
            .presign(
                &token,
                json!({"bucket": bucket, "key": key, "method": "GET"}),
            )
            .await;
        assert_eq!(response.status(), 403);
        let problem: serde_json::Value = response.json().await.unwrap();
        assert_eq!(problem["code"], "access_denied");
        let detail = problem["detail"].as_str().unwrap();
        assert!(detail.contains("s3:GetObject"), "{detail}");
        assert!(
            detail.contains(&format!("arn:aws:s3:::{bucket}/{key}")),
            "{detail}"
        );
        assert!(detail.contains(why), "{detail}");
        assert!(
            !detail.contains("NoSecrets"),
            "statement ids stay in the audit log: {detail}"
        );
    }
    let rows = app.audit_rows().await;
    assert_eq!(rows.len(), 3);
    assert!(rows.iter().all(|row| row.outcome.as_str() == "denied"));
    assert!(
        rows.iter()
            .all(|row| row.signature_sha256.is_none() && row.expires_at.is_none())
    );
    let explicit = rows
        .iter()
        .find(|row| row.key.as_deref() == Some("alice/secrets/key.pem"))
        .unwrap();
    assert_eq!(explicit.statement.as_deref(), Some("NoSecrets"));
    assert_eq!(explicit.reason.as_deref(), Some("explicit deny"));
}

#[tokio::test]
async fn a_claim_with_wildcards_is_a_literal_in_the_policy() {
    let app = TestApp::start().await;
    // sub "*" must not match every user's folder.
    let token = app.token("*");
    let response = app
        .presign(
            &token,
            json!({"bucket": BUCKET, "key": "alice/a.txt", "method": "GET"}),
        )
        .await;
    assert_eq!(response.status(), 403);
}

#[tokio::test]
async fn no_secret_reaches_the_audit_log() {
    let app = TestApp::start().await;
    let token = app.token("alice");
    let mut signatures = Vec::new();
    for method in ["PUT", "GET"] {
        let presigned = app
            .presign_ok(
                &token,
                json!({"bucket": BUCKET, "key": "alice/s.txt", "method": method}),
            )
            .await;
        signatures
            .push(query_param(presigned["url"].as_str().unwrap(), "X-Amz-Signature").unwrap());
    }
    app.presign(
        &token,
        json!({"bucket": BUCKET, "key": "bob/s.txt", "method": "GET"}),
    )
    .await;
    let dump = serde_json::to_string(&app.audit_rows().await).unwrap();
    for signature in &signatures {
        assert!(!dump.contains(signature.as_str()));
    }
    assert!(!dump.contains(&token));
    assert!(
        !dump.contains(token.split('.').nth(2).unwrap()),
        "token signature"
    );
    assert!(!dump.contains(&app.s3.secret_key));
    assert!(!dump.contains("X-Amz-Signature"));
}

#[tokio::test]
async fn audit_failure_means_503_and_no_url() {
    let app = TestApp::start().await;
    let token = app.token("alice");
    app.break_audit_store().await;
    for method in ["PUT", "GET"] {
        let response = app
            .presign(
                &token,
                json!({"bucket": BUCKET, "key": "alice/x.txt", "method": method}),
            )
            .await;
        assert_eq!(response.status(), 503);
        let text = response.text().await.unwrap();
        let problem: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(problem["code"], "audit_unavailable");
        assert!(!text.contains("X-Amz"), "no URL in {text}");
    }
    // A denial is not answered without its row either.
    let response = app
        .presign(
            &token,
            json!({"bucket": BUCKET, "key": "bob/x.txt", "method": "GET"}),
        )
        .await;
    assert_eq!(response.status(), 503);
}

#[tokio::test]
async fn per_bucket_overrides_pick_the_buckets_region() {
    let app = TestApp::start_with(Options {
        config: "[s3.buckets.other-bucket]\nregion = \"eu-west-1\"\n".into(),
        policy: r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::*"}]}"#
            .into(),
        ..Options::default()
    })
    .await;
    let token = app.token("alice");
    let region_of = |presigned: &serde_json::Value| {
        let credential =
            query_param(presigned["url"].as_str().unwrap(), "X-Amz-Credential").unwrap();
        credential.split('/').nth(2).unwrap().to_owned()
    };
    let default = app
        .presign_ok(
            &token,
            json!({"bucket": BUCKET, "key": "k", "method": "GET"}),
        )
        .await;
    let other = app
        .presign_ok(
            &token,
            json!({"bucket": "other-bucket", "key": "k", "method": "GET"}),
        )
        .await;
    assert_eq!(region_of(&default), "us-east-1");
    assert_eq!(region_of(&other), "eu-west-1");
}

#[tokio::test]
async fn graceful_stop_keeps_every_answered_row() {
    let mut app = TestApp::start().await;
    let token = app.token("alice");
    let mut ids = Vec::new();
    for i in 0..20 {
        let presigned = app
            .presign_ok(
                &token,
                json!({"bucket": BUCKET, "key": format!("alice/{i}"), "method": "PUT"}),
            )
            .await;
        ids.push(presigned["audit_id"].as_str().unwrap().to_owned());
    }
    let store = app.store.clone();
    app.stop().await;
    let rows = store
        .query(&presignd::audit::AuditQuery {
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap();
    let stored: std::collections::HashSet<String> =
        rows.iter().map(|row| row.id.to_string()).collect();
    for id in ids {
        assert!(stored.contains(&id), "{id} answered but not stored");
    }
}

fn base64_sha256(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(bytes))
}
