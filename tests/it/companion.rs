//! The Companion-compatible routes, driven as `@uppy/aws-s3` drives them in 5.x
//! `endpoint` mode (Bearer header) and 6.x `companionEndpoint` mode (cookie).

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::harness::{Options, TestApp, http_client};

const POLICY: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [
    { "Sid": "OwnFolder", "Effect": "Allow",
      "Action": ["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload",
                 "s3:ListMultipartUploadParts"],
      "Resource": "arn:aws:s3:::uploads/${jwt:sub}/*" }
  ]
}"#;

const UPPY: &str = "[uppy]\nenabled = true\nbucket = \"uploads\"\nkey_template = \"${jwt:sub}/${key}\"\nauth_cookie = \"presignd_token\"\n";

async fn start() -> TestApp {
    TestApp::start_with(Options {
        policy: POLICY.into(),
        config: UPPY.into(),
        ..Options::default()
    })
    .await
}

enum Auth<'a> {
    Bearer(&'a str),
    Cookie(&'a str, Option<&'a str>),
}

async fn call(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    auth: Auth<'_>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = app.http.request(method, format!("{}{path}", app.base));
    request = match auth {
        Auth::Bearer(token) => request.bearer_auth(token),
        Auth::Cookie(token, origin) => {
            let request = request.header("cookie", format!("other=1; presignd_token={token}"));
            match origin {
                Some(origin) => request.header("origin", origin),
                None => request,
            }
        }
    };
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn params_answers_a_post_form_for_the_templated_key() {
    let app = start().await;
    let alice = app.token("alice");
    let (status, form) = call(
        &app,
        reqwest::Method::GET,
        "/s3/params?filename=a.txt&type=text/plain&metadata[origin]=test",
        Auth::Bearer(&alice),
        None,
    )
    .await;
    assert_eq!(status, 200, "{form}");
    assert_eq!(form["method"], "POST");
    assert_eq!(form["fields"]["key"], "alice/a.txt");
    assert_eq!(form["fields"]["x-amz-meta-origin"], "test");
    assert!(form["expires"].as_u64().unwrap() > 0);
    let (status, problem) = call(
        &app,
        reqwest::Method::GET,
        "/s3/params?type=text/plain",
        Auth::Bearer(&alice),
        None,
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        problem["message"].as_str().unwrap().contains("filename"),
        "{problem}"
    );
}

#[tokio::test]
async fn a_multipart_upload_through_companion_routes_reads_back_identical() {
    let app = start().await;
    let alice = app.token("alice");
    // 6.x companion mode: the cookie, from the API's own origin.
    let auth = || Auth::Cookie(&alice, None);
    let (status, created) = call(
        &app,
        reqwest::Method::POST,
        "/s3/multipart",
        auth(),
        Some(json!({"filename": "clip.bin", "type": "video/mp4", "metadata": {}})),
    )
    .await;
    assert_eq!(status, 200, "{created}");
    assert_eq!(created["key"], "alice/clip.bin");
    assert_eq!(created["bucket"], "uploads");
    let upload_id = created["uploadId"].as_str().unwrap();
    let key = "alice/clip.bin";
    let data: Vec<u8> = (0..5 * 1024 * 1024 + 9).map(|i| (i % 251) as u8).collect();
    let mut parts = Vec::new();
    for (number, chunk) in [(1, &data[..5 * 1024 * 1024]), (2, &data[5 * 1024 * 1024..])] {
        let (status, signed) = call(
            &app,
            reqwest::Method::GET,
            &format!("/s3/multipart/{upload_id}/{number}?key={key}"),
            auth(),
            None,
        )
        .await;
        assert_eq!(status, 200, "{signed}");
        let put = http_client()
            .put(signed["url"].as_str().unwrap())
            .body(chunk.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(put.status(), 200);
        parts.push(json!({"PartNumber": number, "ETag": put.headers()["etag"].to_str().unwrap()}));
    }
    let (status, listed) = call(
        &app,
        reqwest::Method::GET,
        &format!("/s3/multipart/{upload_id}?key={key}"),
        auth(),
        None,
    )
    .await;
    assert_eq!(status, 200, "{listed}");
    assert_eq!(listed.as_array().unwrap().len(), 2);
    assert_eq!(listed[1]["PartNumber"], 2);

    // Someone else's token gets nothing, by header or cookie.
    let bob = app.token("bob");
    let (status, _) = call(
        &app,
        reqwest::Method::GET,
        &format!("/s3/multipart/{upload_id}/3?key={key}"),
        Auth::Bearer(&bob),
        None,
    )
    .await;
    assert_eq!(status, 403);
    let (status, _) = call(
        &app,
        reqwest::Method::DELETE,
        &format!("/s3/multipart/{upload_id}?key={key}"),
        Auth::Cookie(&bob, None),
        None,
    )
    .await;
    assert_eq!(status, 403);
    // The cookie is refused from another site.
    let (status, _) = call(
        &app,
        reqwest::Method::GET,
        &format!("/s3/multipart/{upload_id}?key={key}"),
        Auth::Cookie(&alice, Some("https://evil.example")),
        None,
    )
    .await;
    assert_eq!(status, 401);

    let (status, done) = call(
        &app,
        reqwest::Method::POST,
        &format!("/s3/multipart/{upload_id}/complete?key={key}"),
        auth(),
        Some(json!({"parts": parts})),
    )
    .await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["key"], key);
    assert!(
        done["location"]
            .as_str()
            .unwrap()
            .ends_with("/uploads/alice/clip.bin"),
        "{done}"
    );
    let get = app
        .presign_ok(
            &alice,
            json!({"bucket": "uploads", "key": key, "method": "GET"}),
        )
        .await;
    let stored = http_client()
        .get(get["url"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(Sha256::digest(&stored), Sha256::digest(&data));
}

#[tokio::test]
async fn an_aborted_companion_upload_answers_empty_and_then_conflict() {
    let app = start().await;
    let alice = app.token("alice");
    let (_, created) = call(
        &app,
        reqwest::Method::POST,
        "/s3/multipart",
        Auth::Bearer(&alice),
        Some(json!({"filename": "x.bin", "type": "application/octet-stream"})),
    )
    .await;
    let upload_id = created["uploadId"].as_str().unwrap();
    let path = format!("/s3/multipart/{upload_id}?key=alice/x.bin");
    let (status, answer) = call(
        &app,
        reqwest::Method::DELETE,
        &path,
        Auth::Bearer(&alice),
        None,
    )
    .await;
    assert_eq!((status, answer), (200, json!({})));
    let (status, _) = call(
        &app,
        reqwest::Method::DELETE,
        &path,
        Auth::Bearer(&alice),
        None,
    )
    .await;
    assert_eq!(status, 409);
    let (status, _) = call(
        &app,
        reqwest::Method::GET,
        "/s3/multipart/unknown?key=alice/x.bin",
        Auth::Bearer(&alice),
        None,
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = call(
        &app,
        reqwest::Method::GET,
        &format!("/s3/multipart/{upload_id}"),
        Auth::Bearer(&alice),
        None,
    )
    .await;
    assert_eq!(status, 400, "no ?key=");
}
