//! What the signature makes S3 enforce: a client that strays from the returned headers,
//! or comes back after expiry, is refused by S3 itself.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::harness::{BUCKET, Options, TestApp, send_presigned, send_presigned_with};

async fn put_url(app: &TestApp, key: &str, extra: Value) -> Value {
    let mut body = json!({"bucket": BUCKET, "key": key, "method": "PUT"});
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    app.presign_ok(&app.token("alice"), body).await
}

#[tokio::test]
async fn another_content_type_is_refused() {
    let app = TestApp::start().await;
    let put = put_url(&app, "alice/ct.png", json!({"content_type": "image/png"})).await;
    let refused =
        send_presigned_with(&put, Some(b"x".to_vec()), &[("content-type", "text/html")]).await;
    assert_eq!(refused.status(), 403);
    let accepted = send_presigned(&put, Some(b"x".to_vec())).await;
    assert!(accepted.status().is_success(), "{}", accepted.status());
}

#[tokio::test]
async fn another_length_is_refused() {
    let app = TestApp::start().await;
    let put = put_url(&app, "alice/len.bin", json!({"content_length": 4})).await;
    let refused =
        send_presigned_with(&put, Some(b"12345".to_vec()), &[("content-length", "5")]).await;
    assert_eq!(refused.status(), 403);
    let accepted = send_presigned(&put, Some(b"1234".to_vec())).await;
    assert!(accepted.status().is_success(), "{}", accepted.status());
}

#[tokio::test]
async fn bytes_that_do_not_match_the_checksum_are_refused() {
    use base64::Engine;
    let app = TestApp::start().await;
    let checksum = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(b"expected"));
    let put = put_url(&app, "alice/sum.bin", json!({"checksum_sha256": checksum})).await;
    let refused = send_presigned(&put, Some(b"tampered".to_vec())).await;
    assert_eq!(refused.status(), 400, "BadDigest");
    let accepted = send_presigned(&put, Some(b"expected".to_vec())).await;
    assert!(accepted.status().is_success(), "{}", accepted.status());
}

#[tokio::test]
async fn an_if_none_match_url_creates_but_never_overwrites() {
    let app = TestApp::start().await;
    let put = put_url(&app, "alice/once.txt", json!({"if_none_match": true})).await;
    let first = send_presigned(&put, Some(b"first".to_vec())).await;
    assert!(first.status().is_success(), "{}", first.status());
    let second = send_presigned(&put, Some(b"second".to_vec())).await;
    assert_eq!(second.status(), 412);
}

#[tokio::test]
async fn an_expired_url_is_refused() {
    let app = TestApp::start().await;
    let put = put_url(&app, "alice/late.txt", json!({"expires_in": 1})).await;
    // The lifetime has to pass for real; SigV4 expiry has one-second resolution.
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let refused = send_presigned(&put, Some(b"late".to_vec())).await;
    assert_eq!(refused.status(), 403);
}

#[tokio::test]
async fn a_tampered_audit_id_or_key_is_refused() {
    let app = TestApp::start().await;
    let put = put_url(&app, "alice/t.txt", json!({})).await;
    let url = put["url"].as_str().unwrap();
    let audit_id = put["audit_id"].as_str().unwrap();
    let other_id = uuid::Uuid::now_v7().to_string();
    for tampered in [
        url.replace(audit_id, &other_id),
        url.replace("alice/t.txt", "alice/u.txt"),
    ] {
        let mut forged = put.clone();
        forged["url"] = tampered.into();
        let refused = send_presigned(&forged, Some(b"x".to_vec())).await;
        assert_eq!(refused.status(), 403);
    }
}

/// Uploads of images only, never HTML: the allow list and the deny see the media type as
/// S3 and browsers read it.
const IMAGES_ONLY: &str = r#"{"Version": "2012-10-17", "Statement": [
  {"Sid": "Images", "Effect": "Allow", "Action": "s3:PutObject",
   "Resource": "arn:aws:s3:::uploads/${jwt:sub}/*",
   "Condition": {"StringLike": {"presign:ContentType": "image/*"}}},
  {"Sid": "AnyType", "Effect": "Allow", "Action": "s3:PutObject",
   "Resource": "arn:aws:s3:::uploads/${jwt:sub}/any/*"},
  {"Sid": "NoHtml", "Effect": "Deny", "Action": "s3:PutObject", "Resource": "*",
   "Condition": {"StringLike": {"presign:ContentType": "text/html*"}}}
]}"#;

#[tokio::test]
async fn the_policy_sees_one_media_type_and_s3_gets_the_value_verbatim() {
    let app = TestApp::start_with(Options {
        policy: IMAGES_ONLY.into(),
        ..Options::default()
    })
    .await;
    let token = app.token("alice");
    let put = |key: &str, content_type: &str| json!({"bucket": BUCKET, "key": key, "method": "PUT", "content_type": content_type});
    // A list would let a browser render the last type: refused before the policy runs.
    for list in ["image/png,text/html", "text/plain,text/html"] {
        let response = app.presign(&token, put("alice/a.png", list)).await;
        assert_eq!(response.status(), 400, "{list}");
        let problem: Value = response.json().await.unwrap();
        assert!(
            problem["detail"]
                .as_str()
                .unwrap()
                .starts_with("content_type: "),
            "{problem}"
        );
    }
    // Case and parameters do not slip past the deny.
    for html in ["Text/HTML", "text/html; charset=utf-8"] {
        let response = app.presign(&token, put("alice/any/a", html)).await;
        assert_eq!(response.status(), 403, "{html}");
    }
    // Parameters are not part of what the allow list sees, and are signed as sent.
    let exact = "image/png; charset=x";
    let presigned = app.presign_ok(&token, put("alice/p.png", exact)).await;
    assert_eq!(presigned["headers"]["content-type"], exact);
    let uploaded = send_presigned(&presigned, Some(b"png".to_vec())).await;
    assert!(uploaded.status().is_success(), "{}", uploaded.status());
    let issued = app.audit_rows().await;
    assert_eq!(issued[0].request["content_type"], exact);
}
