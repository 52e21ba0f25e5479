//! Stock Uppy 6.3.1 in headless Chromium (`tests/browser/`), on a page served from its own
//! origin, uploading through presignd to the in-process S3 store; every object is read back
//! and hashed here. Every test name contains `browser`: the default nextest profile leaves
//! them out, as they need Debian's `chromium` and `npm ci` in `tests/browser` (`.ci/run`
//! installs both and runs them with `--profile ci`).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;

use crate::harness::{BUCKET, Options, TestApp, http_client};

const MIB: usize = 1024 * 1024;
/// The auth cookie of the Companion routes (`uppy.auth_cookie`).
const COOKIE: &str = "presignd_token";
/// How long one plan of scenarios may take in a debug build on a loaded 2-core machine.
const RUN_DEADLINE: Duration = Duration::from_secs(240);

/// Each subject's own folder, multipart included, and a size ceiling (2 MiB) on `small/`
/// folders: a POST form's range there, or a completed multipart total, can break it.
const POLICY: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [
    { "Sid": "OwnFolder", "Effect": "Allow",
      "Action": ["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload",
                 "s3:ListMultipartUploadParts"],
      "Resource": "arn:aws:s3:::uploads/${jwt:sub}/*" },
    { "Sid": "SmallFolder", "Effect": "Deny", "Action": "s3:PutObject",
      "Resource": "arn:aws:s3:::uploads/*/small/*",
      "Condition": { "NumericGreaterThan": { "presign:ContentLength": 2097152 } } }
  ]
}"#;

/// `[uppy]` as the issue's browser test asks for it.
const UPPY: &str = r#"
[uppy]
enabled = true
bucket = "uploads"
key_template = "${jwt:sub}/${key}"
auth_cookie = "presignd_token"
"#;

/// presignd, and the test page on its own origin (another port), which also forwards
/// `/s3/*` to presignd, as a same-origin deployment of the Companion routes would.
struct Site {
    app: TestApp,
    /// `http://127.0.0.1:PORT/` of the page.
    page: String,
    files: PathBuf,
}

impl Site {
    async fn start(extra_config: &str) -> Self {
        let bundle = bundle_page();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let origin = format!("http://{}", listener.local_addr().unwrap());
        let app = TestApp::start_with(Options {
            policy: POLICY.into(),
            config: format!("[cors]\nallowed_origins = [\"{origin}\"]\n{extra_config}"),
            ..Options::default()
        })
        .await;
        let router = Router::new()
            .route("/", get(|| async { page_file("text/html", index_html()) }))
            .route(
                "/main.js",
                get(move || async move { page_file("text/javascript", bundle) }),
            )
            .route("/s3/{*rest}", any(forward))
            .with_state(Arc::new(app.base.clone()));
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        let files = app.dir.path().join("files");
        std::fs::create_dir_all(&files).unwrap();
        Self {
            app,
            page: format!("{origin}/"),
            files,
        }
    }

    /// A file of `size` random-looking bytes named `name`, and its hex SHA-256. One random
    /// MiB, each copy stamped with its index and a random number: no two MiB (so no two
    /// parts) alike, without drawing 120 MiB from a debug-built generator.
    fn file(&self, name: &str, size: usize) -> (PathBuf, String) {
        use rand::{Rng, RngCore};
        use std::io::Write;
        let path = self.files.join(name);
        let mut out = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        let mut hash = Sha256::new();
        let mut chunk = vec![0; MIB];
        rand::rng().fill_bytes(&mut chunk);
        let mut left = size;
        for index in 0u64.. {
            if left == 0 {
                break;
            }
            chunk[..8].copy_from_slice(&index.to_le_bytes());
            chunk[8..16].copy_from_slice(&rand::rng().random::<u64>().to_le_bytes());
            let n = left.min(MIB);
            hash.update(&chunk[..n]);
            out.write_all(&chunk[..n]).unwrap();
            left -= n;
        }
        out.flush().unwrap();
        (path, hex::encode(hash.finalize()))
    }

    /// A scenario uploading `file` as `sub`, with what every scenario shares: the page, the
    /// API and the store.
    fn scenario(&self, name: &str, mode: &str, file: &Path, sub: &str) -> Value {
        json!({
            "name": name,
            "mode": mode,
            "page": self.page,
            "file": file,
            "api": self.app.base,
            "sub": sub,
            "token": self.app.token(sub),
            "s3": self.app.s3.endpoint,
            // For the bare signer only: the baseline that signs in the page itself.
            "accessKey": self.app.s3.access_key,
            "secretKey": self.app.s3.secret_key,
            "cookie": COOKIE,
        })
    }

    /// The SHA-256 of `key` as presignd lets `token` download it, or `None` if S3 has no
    /// such object.
    async fn stored_sha256(&self, token: &str, key: &str) -> Option<String> {
        self.stored(token, key).await.map(|(sha256, _)| sha256)
    }

    /// [`Site::stored_sha256`], with the object's headers.
    async fn stored(&self, token: &str, key: &str) -> Option<(String, header::HeaderMap)> {
        let get = self
            .app
            .presign_ok(
                token,
                json!({"bucket": BUCKET, "key": key, "method": "GET"}),
            )
            .await;
        let mut response = http_client()
            .get(get["url"].as_str().unwrap())
            .send()
            .await
            .unwrap();
        if response.status() == StatusCode::NOT_FOUND {
            return None;
        }
        assert_eq!(response.status(), 200, "GET {key}");
        let headers = response.headers().clone();
        let mut hash = Sha256::new();
        while let Some(chunk) = response.chunk().await.unwrap() {
            hash.update(&chunk);
        }
        Some((hex::encode(hash.finalize()), headers))
    }
}

fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

fn index_html() -> String {
    std::fs::read_to_string(browser_dir().join("page/index.html")).unwrap()
}

fn page_file(content_type: &'static str, body: String) -> Response {
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

/// The page's module bundled from the pinned packages, fresh for each test (esbuild takes
/// a tenth of a second; a stale committed bundle could test old code).
fn bundle_page() -> String {
    let dir = browser_dir();
    let esbuild = dir.join("node_modules/.bin/esbuild");
    assert!(
        esbuild.exists(),
        "{} is missing: run `npm ci` in tests/browser (.ci/run does), and install \
         Debian's chromium",
        esbuild.display()
    );
    let output = std::process::Command::new(esbuild)
        .current_dir(&dir)
        .args([
            "page/main.js",
            "--bundle",
            "--format=esm",
            "--target=es2022",
            "--log-level=warning",
        ])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "esbuild: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// `/s3/*` on the page's origin, forwarded to presignd with the cookie: the Companion
/// routes' same-origin deployment (6.x companion mode sends no token header).
async fn forward(State(api): State<Arc<String>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let body = axum::body::to_bytes(body, MIB).await.unwrap();
    let mut forwarded = http_client()
        .request(parts.method, format!("{api}{path}"))
        .body(body);
    // Every header, as a reverse proxy passes them (Origin and Cookie among them); the
    // connection's own are the client's to set.
    for (name, value) in &parts.headers {
        if ![
            header::HOST,
            header::CONTENT_LENGTH,
            header::CONNECTION,
            header::TRANSFER_ENCODING,
        ]
        .contains(name)
        {
            forwarded = forwarded.header(name, value);
        }
    }
    let answer = forwarded.send().await.unwrap();
    let status = answer.status();
    let content_type = answer.headers().get(header::CONTENT_TYPE).cloned();
    let bytes = answer.bytes().await.unwrap();
    let mut response = (status, bytes).into_response();
    if let Some(content_type) = content_type {
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, content_type);
    }
    response
}

/// Runs `scenarios` in one headless Chromium; each result by scenario name, with what the
/// page's console and network reported while it ran.
async fn run(site: &Site, scenarios: Vec<Value>) -> std::collections::HashMap<String, Value> {
    let plan = site.app.dir.path().join("plan.json");
    std::fs::write(&plan, json!({"scenarios": scenarios}).to_string()).unwrap();
    let child = tokio::process::Command::new("node")
        .arg(browser_dir().join("run.mjs"))
        .arg(&plan)
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(RUN_DEADLINE, child)
        .await
        .expect("the browser run outlived its deadline")
        .expect("node runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "run.mjs failed: {stderr}");
    let results: Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("run.mjs printed no JSON ({e}): {stderr}"));
    results["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|result| (result["name"].as_str().unwrap().to_owned(), result.clone()))
        .collect()
}

/// The scenario succeeded with nothing on the console: no CORS refusal, no failed
/// request, no page error.
fn assert_clean_success(result: &Value) -> &str {
    assert_eq!(result["ok"], true, "{result:#}");
    assert_eq!(result["console"], json!([]), "{result:#}");
    result["key"].as_str().unwrap()
}

/// The scenario failed the way a refusal does: an error Uppy reported, no page error, no
/// CORS refusal (which would hide the answer from the page).
fn assert_refused(result: &Value) -> String {
    assert_eq!(result["ok"], false, "{result:#}");
    for line in result["console"].as_array().unwrap() {
        let line = line.as_str().unwrap();
        assert!(
            !line.starts_with("pageerror") && !line.contains("CORS"),
            "{result:#}"
        );
    }
    result["error"].as_str().unwrap().to_owned()
}

/// Uppy's signRequest over `POST /presign`, from another origin (CORS preflights with
/// `authorization`): a PUT, a POST form whose range the policy sets (the stored object
/// carries its audit id), and a form over that range, refused by the store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_puts_and_posts_through_presign_from_another_origin() {
    let site = Site::start("").await;
    let token = site.app.token("alice");
    let (file, sha256) = site.file("one-mib.bin", MIB);
    let (big, _) = site.file("three-mib.bin", 3 * MIB);
    let mut form = site.scenario("presign-form", "presign", &file, "alice");
    form["form"] = true.into();
    form["prefix"] = "small/".into();
    let mut too_big = site.scenario("presign-form-too-big", "presign", &big, "alice");
    too_big["form"] = true.into();
    too_big["prefix"] = "small/".into();
    let results = run(
        &site,
        vec![
            site.scenario("presign-put", "presign", &file, "alice"),
            form,
            too_big,
        ],
    )
    .await;

    let key = assert_clean_success(&results["presign-put"]);
    assert_eq!(key, "alice/one-mib.bin");
    assert_eq!(
        site.stored_sha256(&token, key).await.as_deref(),
        Some(sha256.as_str())
    );
    let rows = site.app.audit_rows().await;
    let row = rows
        .iter()
        .find(|row| row.action == "s3:PutObject" && row.key.as_deref() == Some(key))
        .expect("an audit row for the PUT");
    assert_eq!(row.subject, "alice");
    assert_eq!(row.outcome.as_str(), "issued");
    assert!(
        row.user_agent
            .as_deref()
            .is_some_and(|agent| agent.contains("HeadlessChrome")),
        "{row:?}"
    );

    let form = &results["presign-form"];
    let key = assert_clean_success(form);
    assert_eq!(key, "alice/small/one-mib.bin");
    assert_eq!(form["signs"][0]["answer"]["fields"], true, "{form:#}");
    let (stored, headers) = site.stored(&token, key).await.expect("the form's object");
    assert_eq!(stored, sha256);
    let audit_id = headers["x-amz-meta-presignd-id"].to_str().unwrap();
    assert!(
        rows.iter()
            .any(|row| row.id.to_string() == audit_id && row.key.as_deref() == Some(key)),
        "no audit row {audit_id}"
    );

    let error = assert_refused(&results["presign-form-too-big"]);
    assert!(error.contains("400"), "{error}");
    assert_eq!(
        site.stored_sha256(&token, "alice/small/three-mib.bin")
            .await,
        None
    );
}

/// A POST form for `key` signed with the store's own keys (no presignd), objects of at
/// most `max` bytes: `(url, fields)`.
fn bare_post_form(site: &Site, key: &str, max: usize) -> (String, Value) {
    use base64::Engine;
    let s3 = &site.app.s3;
    let now = std::time::SystemTime::now();
    let date = time::OffsetDateTime::from(now)
        .format(time::macros::format_description!(
            "[year][month][day]T[hour][minute][second]Z"
        ))
        .unwrap();
    let credential = format!("{}/{}/us-east-1/s3/aws4_request", s3.access_key, &date[..8]);
    let policy = json!({
        "expiration": "2100-01-01T00:00:00Z",
        "conditions": [
            {"bucket": BUCKET},
            {"key": key},
            {"success_action_status": "201"},
            ["content-length-range", 0, max],
            {"x-amz-algorithm": "AWS4-HMAC-SHA256"},
            {"x-amz-credential": credential},
            {"x-amz-date": date},
        ],
    });
    let policy = base64::engine::general_purpose::STANDARD.encode(policy.to_string());
    let signing_key =
        aws_sigv4::sign::v4::generate_signing_key(&s3.secret_key, now, "us-east-1", "s3");
    let signature = aws_sigv4::sign::v4::calculate_signature(signing_key, policy.as_bytes());
    let fields = json!({
        "key": key,
        "success_action_status": "201",
        "policy": policy,
        "x-amz-algorithm": "AWS4-HMAC-SHA256",
        "x-amz-credential": credential,
        "x-amz-date": date,
        "x-amz-signature": signature,
    });
    (format!("{}/{BUCKET}", s3.endpoint), fields)
}

/// Browser POST forms reach the store whole, every time: s3s-fs's form parser alone fails
/// about 2 % of them (`BoundaryBufferTooLarge`), so 40 uploads would likely see one. A
/// form over its `content-length-range` is refused by the store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_post_forms_reach_the_store_whole() {
    let site = Site::start("").await;
    let (file, sha256) = site.file("form.bin", MIB);
    let (big, _) = site.file("big-form.bin", 3 * MIB);
    let (url, fields) = bare_post_form(&site, "alice/form.bin", 2 * MIB);
    let (big_url, big_fields) = bare_post_form(&site, "alice/big-form.bin", 2 * MIB);
    let mut forms = site.scenario("forms", "fields", &file, "alice");
    forms["url"] = url.into();
    forms["fields"] = fields;
    forms["repeat"] = 40.into();
    let mut too_big = site.scenario("too-big", "fields", &big, "alice");
    too_big["url"] = big_url.into();
    too_big["fields"] = big_fields;
    let results = run(&site, vec![forms, too_big]).await;

    let forms = &results["forms"];
    assert_eq!(forms["errors"], json!([]), "{forms:#}");
    let key = assert_clean_success(forms);
    assert_eq!(key, "alice/form.bin");
    let token = site.app.token("alice");
    assert_eq!(
        site.stored_sha256(&token, key).await.as_deref(),
        Some(sha256.as_str())
    );

    let error = assert_refused(&results["too-big"]);
    assert!(error.contains("400"), "{error}");
    assert_eq!(site.stored_sha256(&token, "alice/big-form.bin").await, None);
}

/// Stock Uppy 6 `signRequest` mode over `POST /s3/sign`, from another origin: a 1 MiB file
/// as a POST form (its folder has a size limit) and as a PUT (no limit), a 120 MiB
/// multipart upload (24 parts) timed next to the same upload with a bare signer, and every
/// refusal: another subject on the first one's uploadId, a multipart total over the
/// policy's size (refused at Complete), a form over its range (refused by the store).
// Two workers, as presignd runs in production: the in-process store's hashing of 240 MiB
// must not hold up presignd's answers on one thread, or the figure measures the test.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_uploads_with_sign_request() {
    let site = Site::start(UPPY).await;
    let token = site.app.token("alice");
    let (small, small_sha256) = site.file("one-mib.bin", MIB);
    let (medium, _) = site.file("twelve-mib.bin", 12 * MIB);
    let (three, _) = site.file("three-mib.bin", 3 * MIB);
    let (big, big_sha256) = site.file("big.bin", 120 * MIB);
    let with = |mut scenario: Value, extra: Value| {
        for (name, value) in extra.as_object().unwrap() {
            scenario[name] = value.clone();
        }
        scenario
    };
    let scenarios = vec![
        with(
            site.scenario("form", "sign", &small, "alice"),
            json!({"prefix": "small/"}),
        ),
        site.scenario("put", "sign", &small, "alice"),
        // Twice each, alternating, so neither side alone pays for a cold start.
        with(
            site.scenario("bare-multipart", "bare", &big, "alice"),
            json!({"prefix": "bare/", "repeat": 2}),
        ),
        with(
            site.scenario("multipart", "sign", &big, "alice"),
            json!({"repeat": 2}),
        ),
        with(
            site.scenario("other-subject", "sign", &medium, "alice"),
            json!({"multipart": true, "prefix": "other/", "laterToken": site.app.token("bob")}),
        ),
        with(
            site.scenario("multipart-too-big", "sign", &medium, "alice"),
            json!({"multipart": true, "prefix": "small/"}),
        ),
        with(
            site.scenario("form-too-big", "sign", &three, "alice"),
            json!({"prefix": "small/"}),
        ),
    ];
    let results = run(&site, scenarios).await;

    let form = &results["form"];
    let key = assert_clean_success(form);
    assert_eq!(key, "alice/small/one-mib.bin");
    assert_eq!(form["signs"][0]["answer"]["fields"], true, "{form:#}");
    assert_eq!(
        site.stored_sha256(&token, key).await.as_deref(),
        Some(small_sha256.as_str())
    );

    let put = &results["put"];
    let key = assert_clean_success(put);
    assert_eq!(key, "alice/one-mib.bin");
    assert_eq!(put["signs"][0]["answer"]["fields"], false, "{put:#}");
    assert_eq!(
        site.stored_sha256(&token, key).await.as_deref(),
        Some(small_sha256.as_str())
    );

    let multipart = &results["multipart"];
    let key = assert_clean_success(multipart);
    assert_eq!(key, "alice/big.bin");
    assert_eq!(multipart["parts"], json!((1..=24).collect::<Vec<_>>()));
    assert_eq!(
        site.stored_sha256(&token, key).await.as_deref(),
        Some(big_sha256.as_str())
    );
    assert!(
        site.app
            .audit_rows()
            .await
            .iter()
            .any(|row| row.key.as_deref() == Some(key) && row.outcome.as_str() == "issued"),
        "no audit row for {key}"
    );

    let bare = &results["bare-multipart"];
    assert_eq!(assert_clean_success(bare), "bare/big.bin");
    let bare_bytes = std::fs::read(site.app.dir.path().join("s3/uploads/bare/big.bin")).unwrap();
    assert_eq!(hex::encode(Sha256::digest(&bare_bytes)), big_sha256);
    // The figure the issue asks for (visible with --no-capture), and where it goes: the
    // page's wait for each of the last upload's 26 answers from POST /s3/sign.
    let mut signs: Vec<f64> = multipart["signs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|sign| sign["ms"].as_f64().unwrap())
        .collect();
    signs.sort_by(f64::total_cmp);
    eprintln!(
        "120 MiB Uppy multipart, ms per upload: through presignd {} / bare signer {}; \
         POST /s3/sign answers: {} in {:.0} ms, median {:.1} ms, max {:.1} ms",
        multipart["times"],
        bare["times"],
        signs.len(),
        signs.iter().sum::<f64>(),
        signs[signs.len() / 2],
        signs[signs.len() - 1],
    );

    let other = &results["other-subject"];
    let error = assert_refused(other);
    assert!(error.contains("403"), "{other:#}");
    let signs = other["signs"].as_array().unwrap();
    assert!(signs[0]["answer"].is_object(), "alice's create: {other:#}");
    assert!(
        signs[1]["error"].as_str().unwrap().contains("403"),
        "bob's first part: {other:#}"
    );
    assert_eq!(
        site.stored_sha256(&token, "alice/other/twelve-mib.bin")
            .await,
        None
    );
    assert!(
        site.app
            .audit_rows()
            .await
            .iter()
            .any(|row| row.subject == "bob" && row.outcome.as_str() == "denied"),
        "no denied row for bob"
    );

    let too_big = &results["multipart-too-big"];
    let error = assert_refused(too_big);
    assert!(error.contains("403"), "{too_big:#}");
    let last = too_big["signs"].as_array().unwrap().last().unwrap();
    assert_eq!(
        last["request"]["method"], "POST",
        "refused at Complete: {too_big:#}"
    );
    assert!(last["request"]["uploadId"].is_string(), "{too_big:#}");
    assert_eq!(
        site.stored_sha256(&token, "alice/small/twelve-mib.bin")
            .await,
        None
    );

    let error = assert_refused(&results["form-too-big"]);
    assert!(error.contains("400"), "{error}");
    assert_eq!(
        site.stored_sha256(&token, "alice/small/three-mib.bin")
            .await,
        None
    );
}

/// Stock Uppy 6 `companionEndpoint` mode on the Companion-compatible routes, from a page
/// whose origin serves them (6.x sends them neither headers nor cross-origin cookies, so
/// the token is the `uppy.auth_cookie` cookie): a 12 MiB multipart upload and a 1 MiB POST
/// form, read back whole; without the cookie, refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_uploads_through_companion_routes() {
    let site = Site::start(UPPY).await;
    let token = site.app.token("alice");
    let (small, small_sha256) = site.file("one-mib.bin", MIB);
    let (medium, medium_sha256) = site.file("twelve-mib.bin", 12 * MIB);
    let mut multipart = site.scenario("multipart", "companion", &medium, "alice");
    multipart["multipart"] = true.into();
    let mut anonymous = site.scenario("no-cookie", "companion", &small, "alice");
    anonymous["token"] = Value::Null;
    let results = run(
        &site,
        vec![
            multipart,
            site.scenario("form", "companion", &small, "alice"),
            anonymous,
        ],
    )
    .await;

    for (name, file, sha256) in [
        ("multipart", "twelve-mib.bin", &medium_sha256),
        ("form", "one-mib.bin", &small_sha256),
    ] {
        let result = &results[name];
        let key = assert_clean_success(result);
        assert!(
            key.starts_with("alice/") && key.ends_with(file),
            "{name}: {key}"
        );
        assert_eq!(
            site.stored_sha256(&token, key).await.as_deref(),
            Some(sha256.as_str()),
            "{name}"
        );
    }
    let multipart_key = results["multipart"]["key"].as_str().unwrap();
    assert!(
        site.app.audit_rows().await.iter().any(|row| {
            row.key.as_deref() == Some(multipart_key)
                && row.subject == "alice"
                && row.upload_id.is_some()
        }),
        "no session audit row for {multipart_key}"
    );
    let refused = &results["no-cookie"];
    let error = assert_refused(refused);
    assert!(error.contains("Unauthorized"), "{refused:#}");
}
