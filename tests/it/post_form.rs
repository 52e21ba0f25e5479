//! Browser form uploads (`"method": "POST"`): a SigV4 POST policy that the in-process S3
//! store checks for real, with its size range, exact key and fields.

use base64::Engine;
use serde_json::{Value, json};

use crate::harness::{Options, TestApp, http_client};

/// Own folder, and a 1 MiB ceiling on `small/` that only a form's range maximum can break.
const POLICY: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [
    { "Sid": "OwnFolder", "Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"],
      "Resource": "arn:aws:s3:::uploads/${jwt:sub}/*" },
    { "Sid": "SmallFolder", "Effect": "Deny", "Action": "s3:PutObject",
      "Resource": "arn:aws:s3:::uploads/*/small/*",
      "Condition": { "NumericGreaterThan": { "presign:ContentLength": 1048576 } } },
    { "Sid": "NoUploads", "Effect": "Deny", "Action": "s3:PutObject",
      "Resource": "arn:aws:s3:::uploads/*/readonly/*" }
  ]
}"#;

async fn start() -> TestApp {
    TestApp::start_with(Options {
        policy: POLICY.into(),
        ..Options::default()
    })
    .await
}

/// Sends the form as a browser would: every field, then `file` last.
async fn post_form(form: &Value, file: &[u8]) -> reqwest::Response {
    let boundary = "----presignd-test-boundary";
    let mut body = Vec::new();
    for (name, value) in form["fields"].as_object().unwrap() {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{}\r\n",
                value.as_str().unwrap()
            )
            .as_bytes(),
        );
    }
    body.extend_from_slice(
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes(),
    );
    body.extend_from_slice(file);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    http_client()
        .post(form["url"].as_str().unwrap())
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(body)
        .send()
        .await
        .unwrap()
}

/// The form's decoded POST policy.
fn policy_of(form: &Value) -> Value {
    let encoded = form["fields"]["policy"].as_str().unwrap();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

fn range_of(form: &Value) -> (u64, u64) {
    let policy = policy_of(form);
    let range = policy["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c[0] == "content-length-range")
        .unwrap()
        .clone();
    (range[1].as_u64().unwrap(), range[2].as_u64().unwrap())
}

#[tokio::test]
async fn a_form_uploads_within_its_range_and_s3_refuses_outside_it() {
    let app = start().await;
    let alice = app.token("alice");
    let form = app
        .presign_ok(
            &alice,
            json!({"bucket": "uploads", "key": "alice/form.txt", "method": "POST",
                   "content_type": "text/plain", "metadata": {"origin": "test"},
                   "content_length_range": [1, 100]}),
        )
        .await;
    assert_eq!(form["method"], "POST");
    let fields = &form["fields"];
    assert_eq!(fields["key"], "alice/form.txt");
    assert_eq!(fields["success_action_status"], "201");
    assert_eq!(fields["x-amz-meta-presignd-id"], form["audit_id"]);
    assert_eq!(fields["Content-Type"], "text/plain");
    assert_eq!(range_of(&form), (1, 100));

    let too_big = post_form(&form, &[b'x'; 101]).await;
    assert_eq!(too_big.status(), 400, "over the range");
    let created = post_form(&form, b"hello form").await;
    assert_eq!(created.status(), 201, "{}", created.text().await.unwrap());

    let get = app
        .presign_ok(
            &alice,
            json!({"bucket": "uploads", "key": "alice/form.txt", "method": "GET"}),
        )
        .await;
    let stored = http_client()
        .get(get["url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(
        stored.headers()["x-amz-meta-presignd-id"],
        form["audit_id"].as_str().unwrap(),
        "the object names its issuance"
    );
    assert_eq!(stored.bytes().await.unwrap().as_ref(), b"hello form");

    // The audit row keeps the range, never the signature.
    let row = app
        .audit_rows()
        .await
        .into_iter()
        .find(|row| row.id.to_string() == form["audit_id"].as_str().unwrap())
        .unwrap();
    assert_eq!(row.request["content_length_range"], json!([1, 100]));
    let signature = fields["x-amz-signature"].as_str().unwrap();
    assert!(!serde_json::to_string(&row).unwrap().contains(signature));
    assert!(row.signature_sha256.is_some());
}

#[tokio::test]
async fn every_signed_field_is_enforced_by_s3() {
    let app = start().await;
    let alice = app.token("alice");
    let form = app
        .presign_ok(
            &alice,
            json!({"bucket": "uploads", "key": "alice/exact.txt", "method": "POST",
                   "content_type": "text/plain", "content_length_range": [0, 100]}),
        )
        .await;
    for (field, value) in [
        ("key", "alice/other.txt"),
        ("Content-Type", "text/html"),
        ("x-amz-meta-presignd-id", "forged"),
        ("success_action_status", "200"),
    ] {
        let mut tampered = form.clone();
        tampered["fields"][field] = json!(value);
        // AWS answers 403 (policy) or 400; s3s-fs 400. Refused either way.
        let status = post_form(&tampered, b"x").await.status();
        assert!(
            status.is_client_error(),
            "{field} changed to {value}: {status}"
        );
    }
    assert_eq!(
        post_form(&form, b"x").await.status(),
        201,
        "untampered, it works"
    );
}

#[tokio::test]
async fn without_a_range_the_policy_sets_the_largest_size() {
    let app = start().await;
    let alice = app.token("alice");
    let open = app
        .presign_ok(
            &alice,
            json!({"bucket": "uploads", "key": "alice/any.bin", "method": "POST"}),
        )
        .await;
    assert_eq!(
        range_of(&open),
        (0, 5 * 1024u64.pow(4)),
        "uploads.max_object_bytes"
    );
    let small = app
        .presign_ok(
            &alice,
            json!({"bucket": "uploads", "key": "alice/small/a.bin", "method": "POST"}),
        )
        .await;
    assert_eq!(range_of(&small), (0, 1_048_576), "the policy's ceiling");
    assert_eq!(post_form(&small, &vec![0; 1_048_577]).await.status(), 400);
    assert_eq!(post_form(&small, &vec![0; 1_048_576]).await.status(), 201);
    // A range over the ceiling is denied; no size at all, too.
    let over = app
        .presign(
            &alice,
            json!({"bucket": "uploads", "key": "alice/small/b.bin", "method": "POST",
                   "content_length_range": [0, 1_048_577]}),
        )
        .await;
    assert_eq!(over.status(), 403);
    let none = app
        .presign(
            &alice,
            json!({"bucket": "uploads", "key": "alice/readonly/c.bin", "method": "POST"}),
        )
        .await;
    assert_eq!(none.status(), 403);
}

#[tokio::test]
async fn fields_that_do_not_apply_to_post_are_refused_by_name() {
    let app = start().await;
    let alice = app.token("alice");
    let base = json!({"bucket": "uploads", "key": "alice/x", "method": "POST"});
    let cases = [
        (json!({"content_length": 5}), "content_length"),
        (
            json!({"checksum_sha256": "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="}),
            "checksum_sha256",
        ),
        (json!({"if_none_match": true}), "if_none_match"),
        (json!({"version_id": "v1"}), "version_id"),
        (
            json!({"content_length_range": [10, 5]}),
            "content_length_range",
        ),
        (
            json!({"content_length_range": [0, 6_000_000_000_000_u64]}),
            "content_length_range",
        ),
        (json!({"content_length_range": [0]}), "content_length_range"),
    ];
    for (extra, field) in cases {
        let mut body = base.clone();
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let response = app.presign(&alice, body.clone()).await;
        assert_eq!(response.status(), 400, "{body}");
        let problem: Value = response.json().await.unwrap();
        assert!(
            problem["detail"].as_str().unwrap().contains(field),
            "{field}: {problem}"
        );
    }
    let put_with_range = app
        .presign(
            &alice,
            json!({"bucket": "uploads", "key": "alice/x", "method": "PUT", "content_length_range": [0, 1]}),
        )
        .await;
    assert_eq!(put_with_range.status(), 400);
}
