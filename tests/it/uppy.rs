//! `POST /s3/sign`, driven as `@uppy/aws-s3` 6.x `signRequest` mode drives it: presignd
//! signs, and the client sends every S3 request itself to the in-process S3 store.

use reqwest::Method;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::harness::{Options, TestApp, http_client};

const POLICY: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [
    { "Sid": "OwnFolder", "Effect": "Allow",
      "Action": ["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload",
                 "s3:ListMultipartUploadParts"],
      "Resource": "arn:aws:s3:::uploads/${jwt:sub}/*" },
    { "Sid": "SmallFolder", "Effect": "Deny", "Action": "s3:PutObject",
      "Resource": "arn:aws:s3:::uploads/*/small/*",
      "Condition": { "NumericGreaterThan": { "presign:ContentLength": 6291456 } } }
  ]
}"#;

const UPPY: &str =
    "[uppy]\nenabled = true\nbucket = \"uploads\"\nkey_template = \"${jwt:sub}/${key}\"\n";

async fn start() -> TestApp {
    TestApp::start_with(Options {
        policy: POLICY.into(),
        config: UPPY.into(),
        ..Options::default()
    })
    .await
}

/// What the app's `signRequest` does: POST Uppy's request object, read the answer.
async fn sign(app: &TestApp, token: &str, request: Value) -> (u16, Value) {
    let response = app
        .http
        .post(format!("{}/s3/sign", app.base))
        .bearer_auth(token)
        .json(&request)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

async fn sign_ok(app: &TestApp, token: &str, request: Value) -> Value {
    let (status, answer) = sign(app, token, request.clone()).await;
    assert_eq!(status, 200, "{request}: {answer}");
    answer
}

/// Sends a signed request as Uppy's XHR does: the URL, its headers, extra headers, a body.
async fn send(signed: &Value, extra: &[(&str, &str)], body: Vec<u8>) -> reqwest::Response {
    let method: Method = signed["method"].as_str().unwrap().parse().unwrap();
    let mut request = http_client().request(method, signed["url"].as_str().unwrap());
    if let Some(headers) = signed["headers"].as_object() {
        for (name, value) in headers {
            request = request.header(name, value.as_str().unwrap());
        }
    }
    for (name, value) in extra {
        request = request.header(*name, *value);
    }
    request.body(body).send().await.unwrap()
}

fn xml_value(xml: &str, tag: &str) -> String {
    let start = xml
        .find(&format!("<{tag}>"))
        .unwrap_or_else(|| panic!("no <{tag}> in {xml}"))
        + tag.len()
        + 2;
    let end = xml[start..].find(&format!("</{tag}>")).unwrap() + start;
    xml[start..end].to_owned()
}

async fn read_back(app: &TestApp, token: &str, key: &str) -> Vec<u8> {
    let url = app
        .presign_ok(
            token,
            json!({"bucket": "uploads", "key": key, "method": "GET"}),
        )
        .await;
    let response = http_client()
        .get(url["url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.bytes().await.unwrap().to_vec()
}

fn random_bytes(len: usize) -> Vec<u8> {
    use rand::RngCore;
    let mut data = vec![0; len];
    rand::rng().fill_bytes(&mut data);
    data
}

/// Opens an upload as the browser does: sign, then POST ?uploads itself with a
/// Content-Type the signer never saw. Returns (key, UploadId).
async fn create(app: &TestApp, token: &str, key: &str) -> (String, String) {
    let signed = sign_ok(app, token, json!({"method": "POST", "key": key})).await;
    let response = send(&signed, &[("content-type", "video/mp4")], Vec::new()).await;
    let status = response.status();
    let xml = response.text().await.unwrap();
    assert_eq!(status, 200, "{xml}");
    (
        signed["key"].as_str().unwrap().to_owned(),
        xml_value(&xml, "UploadId"),
    )
}

async fn put_part(
    app: &TestApp,
    token: &str,
    key: &str,
    upload_id: &str,
    number: u32,
    bytes: &[u8],
) -> String {
    let signed = sign_ok(
        app,
        token,
        json!({"method": "PUT", "key": key, "uploadId": upload_id, "partNumber": number}),
    )
    .await;
    let response = send(&signed, &[], bytes.to_vec()).await;
    assert_eq!(response.status(), 200);
    response.headers()["etag"].to_str().unwrap().to_owned()
}

fn completion_xml(etags: &[String]) -> Vec<u8> {
    let parts: String = etags
        .iter()
        .enumerate()
        .map(|(i, etag)| {
            format!(
                "<Part><PartNumber>{}</PartNumber><ETag>{etag}</ETag></Part>",
                i + 1
            )
        })
        .collect();
    format!("<CompleteMultipartUpload>{parts}</CompleteMultipartUpload>").into_bytes()
}

#[tokio::test]
async fn a_put_object_is_signed_for_the_templated_key() {
    let app = start().await;
    let alice = app.token("alice");
    let signed = sign_ok(
        &app,
        &alice,
        json!({"method": "PUT", "key": "photo.jpg", "contentType": "image/jpeg"}),
    )
    .await;
    assert_eq!(signed["key"], "alice/photo.jpg", "uppy.key_template");
    assert!(signed.get("fields").is_none(), "no size limit: a PUT");
    assert_eq!(signed["headers"]["content-type"], "image/jpeg");
    assert_eq!(
        send(&signed, &[], b"jpeg bytes".to_vec()).await.status(),
        200
    );
    assert_eq!(
        read_back(&app, &alice, "alice/photo.jpg").await,
        b"jpeg bytes"
    );
}

#[tokio::test]
async fn a_put_object_under_a_size_limit_is_answered_with_a_form() {
    let app = start().await;
    let alice = app.token("alice");
    let signed = sign_ok(
        &app,
        &alice,
        json!({"method": "PUT", "key": "small/a.txt", "contentType": "text/plain"}),
    )
    .await;
    let fields = signed["fields"].as_object().expect("a POST form");
    assert_eq!(signed["method"], "POST");
    assert_eq!(fields["key"], "alice/small/a.txt");
    assert_eq!(fields["Content-Type"], "text/plain");
}

#[tokio::test]
async fn a_multipart_upload_in_sign_request_mode_reads_back_identical() {
    let app = start().await;
    let alice = app.token("alice");
    let (key, upload_id) = create(&app, &alice, "movie.bin").await;
    assert_eq!(key, "alice/movie.bin");
    let data = random_bytes(5 * 1024 * 1024 + 77);
    let etags = vec![
        put_part(&app, &alice, &key, &upload_id, 1, &data[..5 * 1024 * 1024]).await,
        put_part(&app, &alice, &key, &upload_id, 2, &data[5 * 1024 * 1024..]).await,
    ];
    let list = sign_ok(
        &app,
        &alice,
        json!({"method": "GET", "key": key, "uploadId": upload_id}),
    )
    .await;
    let listed = send(&list, &[], Vec::new()).await;
    assert_eq!(listed.status(), 200);
    assert!(
        listed
            .text()
            .await
            .unwrap()
            .contains("<PartNumber>2</PartNumber>")
    );

    // Another subject gets nothing for alice's upload, whatever it asks.
    let bob = app.token("bob");
    for request in [
        json!({"method": "PUT", "key": key, "uploadId": upload_id, "partNumber": 3}),
        json!({"method": "GET", "key": key, "uploadId": upload_id}),
        json!({"method": "POST", "key": key, "uploadId": upload_id}),
        json!({"method": "DELETE", "key": key, "uploadId": upload_id}),
        json!({"method": "PUT", "key": "bob/x", "uploadId": upload_id, "partNumber": 3}),
    ] {
        let (status, problem) = sign(&app, &bob, request.clone()).await;
        assert_eq!(status, 403, "{request}: {problem}");
        assert!(
            problem["message"].is_string(),
            "/s3/* problems carry message: {problem}"
        );
    }

    let complete = sign_ok(
        &app,
        &alice,
        json!({"method": "POST", "key": key, "uploadId": upload_id}),
    )
    .await;
    let done = send(
        &complete,
        &[("content-type", "application/xml")],
        completion_xml(&etags),
    )
    .await;
    let status = done.status();
    assert_eq!(status, 200, "{}", done.text().await.unwrap());
    let stored = read_back(&app, &alice, &key).await;
    assert_eq!(Sha256::digest(&stored), Sha256::digest(&data));

    // Every signed request is audited under alice's session.
    let rows = app.audit_rows().await;
    let session_rows = rows
        .iter()
        .filter(|row| row.upload_id.is_some() && row.subject == "alice")
        .count();
    assert_eq!(session_rows, 4, "two parts, the list, the completion");
}

#[tokio::test]
async fn a_completion_over_the_policy_size_is_not_signed() {
    let app = start().await;
    let alice = app.token("alice");
    let (key, upload_id) = create(&app, &alice, "small/big.bin").await;
    let data = random_bytes(7 * 1024 * 1024);
    put_part(&app, &alice, &key, &upload_id, 1, &data[..5 * 1024 * 1024]).await;
    put_part(&app, &alice, &key, &upload_id, 2, &data[5 * 1024 * 1024..]).await;
    let (status, problem) = sign(
        &app,
        &alice,
        json!({"method": "POST", "key": key, "uploadId": upload_id}),
    )
    .await;
    assert_eq!(status, 403, "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("explicit deny"),
        "{problem}"
    );
    // Aborting is still signed.
    let abort = sign_ok(
        &app,
        &alice,
        json!({"method": "DELETE", "key": key, "uploadId": upload_id}),
    )
    .await;
    assert!(send(&abort, &[], Vec::new()).await.status().is_success());
}

#[tokio::test]
async fn shapes_uppy_does_not_send_are_refused_and_disabled_uppy_is_404() {
    let app = start().await;
    let alice = app.token("alice");
    for (request, status) in [
        (json!({"method": "PATCH", "key": "a"}), 400),
        (json!({"method": "GET", "key": "a"}), 400),
        (json!({"method": "PUT", "key": "a", "partNumber": 1}), 400),
        (
            json!({"method": "PUT", "key": "alice/a", "uploadId": "u", "partNumber": 0}),
            400,
        ),
        (json!({"method": "PUT", "key": "../a"}), 400),
        (json!({"method": "PUT", "key": "a", "extra": 1}), 400),
        (json!({"method": "DELETE", "key": "alice/a"}), 403),
    ] {
        let (got, problem) = sign(&app, &alice, request.clone()).await;
        assert_eq!(got, status, "{request}: {problem}");
        assert!(problem["message"].is_string(), "{problem}");
    }
    let plain = TestApp::start().await;
    let response = plain
        .http
        .post(format!("{}/s3/sign", plain.base))
        .bearer_auth(plain.token("alice"))
        .json(&json!({"method": "PUT", "key": "a"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
}
