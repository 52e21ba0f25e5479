//! The OpenAPI document: the committed `openapi.yaml` is exactly what the code generates
//! and `/openapi.yaml` serves, and real responses of the running app conform to it
//! (status documented, documented headers present and valid, content type declared, body
//! valid against the schema, formats included).

use std::path::PathBuf;

use serde_json::{Value, json};

use crate::harness::{BUCKET, Options, TestApp};

/// How to bring the committed copy up to date; the only way a test writes a repository file.
/// Not `PRESIGND_`-prefixed: the binaries that tests spawn read that prefix as configuration.
const REGENERATE: &str = "UPDATE_OPENAPI=1 cargo nextest run openapi";

fn committed_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("openapi.yaml")
}

async fn served_spec(app: &TestApp) -> String {
    let response = app
        .http
        .get(format!("{}/openapi.yaml", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/yaml");
    response.text().await.unwrap()
}

#[tokio::test]
async fn committed_spec_matches_the_code() {
    let app = TestApp::start().await;
    let served = served_spec(&app).await;
    let path = committed_path();
    if std::env::var_os("UPDATE_OPENAPI").is_some_and(|v| v == "1") {
        std::fs::write(&path, &served).unwrap();
        eprintln!("rewrote {}", path.display());
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    if committed != served {
        let (line, (want, have)) = served
            .lines()
            .chain(std::iter::repeat(""))
            .zip(committed.lines().chain(std::iter::repeat("")))
            .enumerate()
            .find(|(_, (want, have))| want != have)
            .unwrap_or((0, ("", "")));
        panic!(
            "openapi.yaml is stale: it differs from what the code generates, first at line {}:\n  \
             generated: {want:?}\n  committed: {have:?}\nRegenerate it with: {REGENERATE}",
            line + 1
        );
    }
}

/// The served document, parsed, and the checks of one response against it.
struct Spec {
    doc: Value,
}

impl Spec {
    async fn load(app: &TestApp) -> Self {
        let doc: Value = yaml_serde::from_str(&served_spec(app).await).unwrap();
        assert_eq!(doc["openapi"], "3.1.0");
        Self { doc }
    }

    /// The JSON pointer of the response that `path`/`method` documents for `status`,
    /// following a `$ref` into `components/responses`.
    fn response_pointer(&self, path: &str, method: &str, status: u16) -> String {
        let pointer = format!("/paths/{}/{method}/responses/{status}", escape(path));
        let response = self
            .doc
            .pointer(&pointer)
            .unwrap_or_else(|| panic!("{method} {path}: status {status} is not documented"));
        match response.get("$ref").and_then(Value::as_str) {
            Some(reference) => reference.trim_start_matches('#').to_owned(),
            None => pointer,
        }
    }

    /// Checks a real response against the operation `method path` of the document (for
    /// statuses with no route of their own, such as 404, against the `Problem` schema) and
    /// returns its body as JSON (or as a string when it is not JSON).
    async fn check(&self, path: &str, method: &str, response: reqwest::Response) -> Value {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        let what = format!("{method} {path} → {status} {text}");
        let content_type = headers
            .get("content-type")
            .map(|v| {
                v.to_str()
                    .unwrap()
                    .split(';')
                    .next()
                    .unwrap()
                    .trim()
                    .to_owned()
            })
            .unwrap_or_else(|| panic!("{what}: no content-type"));
        let is_json = content_type == "application/json" || content_type.ends_with("+json");
        let body = if is_json {
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{what}: not JSON: {e}"))
        } else {
            Value::String(text)
        };

        let (schema_pointer, documented_headers) = if status == 404 {
            assert_eq!(content_type, "application/problem+json", "{what}");
            (
                "/components/schemas/Problem".to_owned(),
                json!({ "x-request-id": { "$ref": "#/components/headers/RequestId" } }),
            )
        } else {
            let response = self.response_pointer(path, method, status);
            let content = self.doc.pointer(&format!("{response}/content")).unwrap();
            assert!(
                content.get(&content_type).is_some(),
                "{what}: content type {content_type} is not among {content}"
            );
            (
                format!("{response}/content/{}/schema", escape(&content_type)),
                self.doc
                    .pointer(&format!("{response}/headers"))
                    .unwrap()
                    .clone(),
            )
        };
        self.validate(&schema_pointer, &body, &what);

        let documented = documented_headers.as_object().unwrap();
        assert!(documented.contains_key("x-request-id"), "{what}");
        for (name, header) in documented {
            let value = headers
                .get(name.as_str())
                .unwrap_or_else(|| panic!("{what}: documented header {name} is missing"));
            let header = match header.get("$ref").and_then(Value::as_str) {
                Some(reference) => self.doc.pointer(reference.trim_start_matches('#')).unwrap(),
                None => header,
            };
            let schema = header["schema"].clone();
            let value = value.to_str().unwrap();
            // Header values are text; a numeric schema (Retry-After) is checked as a number.
            let instance = if schema["type"] == "integer" {
                json!(
                    value
                        .parse::<u64>()
                        .unwrap_or_else(|_| panic!("{what}: {name}"))
                )
            } else {
                json!(value)
            };
            let validator = jsonschema::draft202012::options()
                .should_validate_formats(true)
                .build(&schema)
                .unwrap();
            assert!(
                validator.is_valid(&instance),
                "{what}: header {name}: {value:?}"
            );
        }
        body
    }

    fn validate(&self, pointer: &str, instance: &Value, what: &str) {
        let errors = self.violations(pointer, instance);
        assert!(errors.is_empty(), "{what}: schema violations: {errors:#?}");
    }

    /// What is wrong with `instance` under the schema at `pointer`, which may `$ref`
    /// anywhere in the document: the whole document is the root, so every reference resolves.
    fn violations(&self, pointer: &str, instance: &Value) -> Vec<String> {
        let mut root = self.doc.clone();
        root.as_object_mut()
            .unwrap()
            .insert("$ref".into(), json!(format!("#{pointer}")));
        let validator = jsonschema::draft202012::options()
            .should_validate_formats(true)
            .build(&root)
            .unwrap();
        validator
            .iter_errors(instance)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect()
    }
}

/// JSON Pointer escaping of one reference token (RFC 6901).
fn escape(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

#[tokio::test]
async fn real_responses_conform_to_the_spec() {
    let app = TestApp::start().await;
    let spec = Spec::load(&app).await;
    let alice = app.token("alice");
    let presign = |token: Option<&str>, body: Value| {
        let mut request = app.http.post(format!("{}/presign", app.base)).json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send()
    };

    // 200: an upload with every PUT option, and a download with every GET option. The
    // requests themselves are valid PresignRequests.
    let put = json!({
        "bucket": BUCKET, "key": "alice/a.png", "method": "PUT", "expires_in": 300,
        "content_type": "image/png", "content_length": 5,
        "checksum_sha256": "LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ=",
        "metadata": { "purpose": "avatar" }, "if_none_match": true,
        "content_disposition": "attachment; filename=\"a.png\""
    });
    let get = json!({
        "bucket": BUCKET, "key": "alice/a.png", "method": "GET",
        "content_type": "image/png", "content_disposition": "inline", "version_id": "v1"
    });
    let mut answer = Value::Null;
    for body in [&put, &get] {
        spec.validate("/components/schemas/PresignRequest", body, "request");
        answer = spec
            .check(
                "/presign",
                "post",
                presign(Some(&alice), body.clone()).await.unwrap(),
            )
            .await;
        assert_eq!(answer["method"], body["method"]);
    }
    // The checker itself can fail: formats and enums are enforced.
    for (field, bad) in [
        ("audit_id", "0193"),
        ("expires_at", "tomorrow"),
        ("method", "DELETE"),
    ] {
        let mut tampered = answer.clone();
        tampered[field] = json!(bad);
        let errors = spec.violations("/components/schemas/PresignResponse", &tampered);
        assert!(!errors.is_empty(), "{field} = {bad:?} passed");
    }

    // The request schema refuses what the service refuses by name: an unknown field.
    let unknown = json!({ "bucket": BUCKET, "key": "alice/a", "method": "GET", "colour": "red" });
    assert!(
        !spec
            .violations("/components/schemas/PresignRequest", &unknown)
            .is_empty(),
        "additionalProperties must be false"
    );

    let cases: Vec<(u16, &str, reqwest::Response)> = vec![
        (
            400,
            "invalid_request",
            presign(Some(&alice), unknown.clone()).await.unwrap(),
        ),
        (
            400,
            "invalid_request",
            presign(
                Some(&alice),
                json!({ "bucket": "x", "key": "a", "method": "GET" }),
            )
            .await
            .unwrap(),
        ),
        (
            401,
            "invalid_token",
            presign(None, get.clone()).await.unwrap(),
        ),
        (
            401,
            "invalid_token",
            presign(Some("not.a.jwt"), get.clone()).await.unwrap(),
        ),
        (
            403,
            "access_denied",
            presign(
                Some(&alice),
                json!({ "bucket": BUCKET, "key": "bob/a", "method": "GET" }),
            )
            .await
            .unwrap(),
        ),
        (
            405,
            "invalid_request",
            app.http
                .get(format!("{}/presign", app.base))
                .bearer_auth(&alice)
                .send()
                .await
                .unwrap(),
        ),
        (
            413,
            "payload_too_large",
            app.http
                .post(format!("{}/presign", app.base))
                .bearer_auth(&alice)
                .header("content-type", "application/json")
                .body(format!(r#"{{"key":"{}"}}"#, "k".repeat(70_000)))
                .send()
                .await
                .unwrap(),
        ),
        (
            415,
            "unsupported_media_type",
            app.http
                .post(format!("{}/presign", app.base))
                .bearer_auth(&alice)
                .header("content-type", "text/plain")
                .body(put.to_string())
                .send()
                .await
                .unwrap(),
        ),
    ];
    for (status, code, response) in cases {
        assert_eq!(response.status(), status);
        let problem = spec.check("/presign", "post", response).await;
        assert_eq!(problem["code"], code);
        assert_eq!(problem["status"], status);
    }

    let not_found = app
        .http
        .get(format!("{}/no/such/route", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(not_found.status(), 404);
    assert_eq!(
        spec.check("/no/such/route", "get", not_found).await["code"],
        "not_found"
    );

    // /audit: a page (with the rows written above), a bad filter, no token, no permission.
    let ops = app.token_with("olga", json!({ "groups": ["ops"] }));
    let audit = |token: Option<&str>, query: &str| {
        let mut request = app.http.get(format!("{}/audit{query}", app.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send()
    };
    let page = spec
        .check(
            "/audit",
            "get",
            audit(Some(&ops), "?limit=2").await.unwrap(),
        )
        .await;
    assert_eq!(page["events"].as_array().unwrap().len(), 2);
    let cursor = page["next_cursor"].as_str().unwrap().to_owned();
    let page = spec
        .check(
            "/audit",
            "get",
            audit(Some(&ops), &format!("?outcome=issued&cursor={cursor}"))
                .await
                .unwrap(),
        )
        .await;
    assert!(!page["events"].as_array().unwrap().is_empty());
    for (status, token, query) in [
        (400, Some(ops.as_str()), "?limit=0"),
        (400, Some(ops.as_str()), "?colour=red"),
        (401, None, ""),
        (403, Some(alice.as_str()), ""),
    ] {
        let response = audit(token, query).await.unwrap();
        assert_eq!(response.status(), status, "/audit{query}");
        spec.check("/audit", "get", response).await;
    }

    // The operational routes.
    for path in ["/healthz", "/readyz", "/metrics", "/openapi.yaml"] {
        let response = app
            .http
            .get(format!("{}{path}", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
        spec.check(path, "get", response).await;
    }
}

#[tokio::test]
async fn rate_limited_responses_conform_to_the_spec() {
    let app = TestApp::start_with(Options {
        config: "[rate_limit]\nper_subject_per_second = 1\nburst = 1\n".into(),
        ..Options::default()
    })
    .await;
    let spec = Spec::load(&app).await;
    let ops = app.token_with("olga", json!({ "groups": ["ops"] }));
    let body = json!({ "bucket": BUCKET, "key": "olga/a", "method": "GET" });
    for (path, method) in [("/presign", "post"), ("/audit", "get")] {
        let mut statuses = Vec::new();
        for _ in 0..3 {
            let request = match method {
                "post" => app.http.post(format!("{}{path}", app.base)).json(&body),
                _ => app.http.get(format!("{}{path}", app.base)),
            };
            let response = request.bearer_auth(&ops).send().await.unwrap();
            let status = response.status().as_u16();
            statuses.push(status);
            if status == 429 {
                assert_eq!(
                    spec.check(path, method, response).await["code"],
                    "rate_limited"
                );
            }
        }
        assert!(statuses.contains(&429), "{path}: {statuses:?}");
    }
}
