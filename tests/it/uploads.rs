//! Multipart upload sessions through HTTP against the in-process S3 store: the bytes read
//! back identical, every completion refusal, ownership, bad input, the sweeper, the
//! `presignd uploads` commands, and two replicas on one PostgreSQL.

use reqwest::Method;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::harness::{Backend, DEADLINE, Options, TestApp, eventually, presignd, send_presigned};

const MIB: usize = 1024 * 1024;

/// The test policy plus the multipart actions on one's own folder, and a size ceiling on
/// `small/` folders that only the completed total can break.
const POLICY: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [
    { "Sid": "OwnFolder", "Effect": "Allow",
      "Action": ["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload",
                 "s3:ListMultipartUploadParts"],
      "Resource": "arn:aws:s3:::uploads/${jwt:sub}/*" },
    { "Sid": "SmallFolder", "Effect": "Deny", "Action": "s3:PutObject",
      "Resource": "arn:aws:s3:::uploads/*/small/*",
      "Condition": { "NumericGreaterThan": { "presign:ContentLength": 6291456 } } },
    { "Sid": "OpsAudit", "Effect": "Allow", "Action": "presign:QueryAudit", "Resource": "*",
      "Condition": { "ForAnyValue:StringEquals": { "jwt:groups": "ops" } } }
  ]
}"#;

async fn start() -> TestApp {
    start_with(Backend::Sqlite, "").await
}

async fn start_with(backend: Backend, config: &str) -> TestApp {
    TestApp::start_with(Options {
        backend,
        policy: POLICY.into(),
        config: config.into(),
        ..Options::default()
    })
    .await
}

/// Opens a session; panics unless 201.
async fn create(app: &TestApp, token: &str, body: Value) -> Value {
    let (status, answer) = app
        .call(Method::POST, "/uploads", token, Some(body.clone()))
        .await;
    assert_eq!(status, 201, "create {body}: {answer}");
    answer
}

/// Signs `sizes.len()` parts and uploads `data` cut into them; returns each part's
/// (number, ETag) as S3 answered.
async fn upload_parts(
    app: &TestApp,
    token: &str,
    id: &str,
    data: &[u8],
    sizes: &[usize],
) -> Vec<(u32, String)> {
    let parts: Vec<Value> = (1..=sizes.len())
        .map(|n| json!({"part_number": n}))
        .collect();
    let (status, signed) = app
        .call(
            Method::POST,
            &format!("/uploads/{id}/parts"),
            token,
            Some(json!({"parts": parts})),
        )
        .await;
    assert_eq!(status, 200, "{signed}");
    let mut offset = 0;
    let mut etags = Vec::new();
    for (part, size) in signed["parts"].as_array().unwrap().iter().zip(sizes) {
        let bytes = data[offset..offset + size].to_vec();
        offset += size;
        let presigned = json!({"url": part["url"], "method": "PUT", "headers": part["headers"]});
        let response = send_presigned(&presigned, Some(bytes)).await;
        assert_eq!(response.status(), 200, "part {part}");
        let etag = response.headers()["etag"].to_str().unwrap().to_owned();
        etags.push((part["part_number"].as_u64().unwrap() as u32, etag));
    }
    etags
}

fn completion(parts: &[(u32, String)]) -> Value {
    json!({"parts": parts.iter().map(|(n, etag)| json!({"part_number": n, "etag": etag})).collect::<Vec<_>>()})
}

/// Random bytes (a pattern S3 could not confuse with another part's).
fn random_bytes(len: usize) -> Vec<u8> {
    use rand::RngCore;
    let mut data = vec![0; len];
    rand::rng().fill_bytes(&mut data);
    data
}

/// The object's bytes, through a presigned GET.
async fn read_back(app: &TestApp, token: &str, key: &str) -> Vec<u8> {
    let url = app
        .presign_ok(
            token,
            json!({"bucket": "uploads", "key": key, "method": "GET"}),
        )
        .await;
    let response = send_presigned(&url, None).await;
    assert_eq!(response.status(), 200);
    response.bytes().await.unwrap().to_vec()
}

async fn audit_for(app: &TestApp, upload_id: &str) -> Vec<Value> {
    let ops = app.token_with("ops", json!({"groups": ["ops"]}));
    let (status, page) = app
        .call(
            Method::GET,
            &format!("/audit?upload_id={upload_id}"),
            &ops,
            None,
        )
        .await;
    assert_eq!(status, 200, "{page}");
    page["events"].as_array().unwrap().clone()
}

#[tokio::test]
async fn a_multipart_upload_reads_back_identical_and_every_step_is_audited() {
    let app = start().await;
    let alice = app.token("alice");
    let data = random_bytes(12 * MIB + 3);
    let session = create(
        &app,
        &alice,
        json!({"bucket": "uploads", "key": "alice/video.bin", "content_type": "video/mp4",
               "content_length": data.len(), "if_none_match": true}),
    )
    .await;
    assert_eq!(session["max_parts"], 10000);
    assert_eq!(session["part_size"], 8 * MIB);
    let id = session["id"].as_str().unwrap();

    let parts = upload_parts(&app, &alice, id, &data, &[5 * MIB, 5 * MIB, 2 * MIB + 3]).await;
    let (status, listed) = app
        .call(Method::GET, &format!("/uploads/{id}"), &alice, None)
        .await;
    assert_eq!(status, 200, "{listed}");
    assert_eq!(listed["state"], "open");
    let sizes: Vec<u64> = listed["parts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["size"].as_u64().unwrap())
        .collect();
    assert_eq!(sizes, [5 * MIB as u64, 5 * MIB as u64, 2 * MIB as u64 + 3]);

    let (status, done) = app
        .call(
            Method::POST,
            &format!("/uploads/{id}/complete"),
            &alice,
            Some(completion(&parts)),
        )
        .await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["size"], data.len());
    assert_eq!(done["key"], "alice/video.bin");
    let stored = read_back(&app, &alice, "alice/video.bin").await;
    assert_eq!(
        Sha256::digest(&stored),
        Sha256::digest(&data),
        "the object is the bytes sent"
    );

    let (_, after) = app
        .call(Method::GET, &format!("/uploads/{id}"), &alice, None)
        .await;
    assert_eq!(after["state"], "completed");
    assert_eq!(after["size"], data.len());

    let rows = audit_for(&app, id).await;
    let operations: Vec<(&str, &str)> = rows
        .iter()
        .rev()
        .map(|row| {
            (
                row["action"].as_str().unwrap(),
                row["outcome"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        operations,
        [
            ("s3:PutObject", "issued"), // create
            ("s3:PutObject", "issued"), // three part URLs
            ("s3:PutObject", "issued"),
            ("s3:PutObject", "issued"),
            ("s3:ListMultipartUploadParts", "issued"),
            ("s3:PutObject", "issued"), // complete
            ("s3:ListMultipartUploadParts", "issued"),
        ]
    );
    let part_rows = &rows[rows.len() - 4..rows.len() - 1];
    for row in part_rows {
        assert!(row["signature_sha256"].is_string(), "{row}");
        assert_eq!(row["request"]["operation"], "UploadPart");
    }
    let complete_row = &rows[1];
    assert_eq!(complete_row["request"]["result"]["size"], data.len());
    assert_eq!(complete_row["request"]["result"]["etag"], done["etag"]);
    // The part URLs carry their rows' ids.
    let text = serde_json::to_string(&rows).unwrap();
    assert!(!text.contains("X-Amz-Signature"), "no signature in the log");
}

#[tokio::test]
async fn another_caller_gets_404_on_every_route_and_the_probe_is_audited() {
    let app = start().await;
    let alice = app.token("alice");
    let bob = app.token("bob");
    let session = create(
        &app,
        &alice,
        json!({"bucket": "uploads", "key": "alice/mine.bin"}),
    )
    .await;
    let id = session["id"].as_str().unwrap();
    let parts = json!({"parts": [{"part_number": 1}]});
    let complete = json!({"parts": [{"part_number": 1, "etag": "abc"}]});
    for (method, path, body) in [
        (
            Method::POST,
            format!("/uploads/{id}/parts"),
            Some(parts.clone()),
        ),
        (Method::GET, format!("/uploads/{id}"), None),
        (
            Method::POST,
            format!("/uploads/{id}/complete"),
            Some(complete.clone()),
        ),
        (Method::DELETE, format!("/uploads/{id}"), None),
    ] {
        let (status, problem) = app.call(method.clone(), &path, &bob, body).await;
        assert_eq!(status, 404, "{method} {path}: {problem}");
        assert_eq!(problem["code"], "not_found");
    }
    // Unknown and malformed ids look the same.
    for id in [uuid::Uuid::now_v7().to_string(), "not-an-id".into()] {
        let (status, _) = app
            .call(Method::GET, &format!("/uploads/{id}"), &alice, None)
            .await;
        assert_eq!(status, 404, "{id}");
    }
    let probes: Vec<Value> = audit_for(&app, id)
        .await
        .into_iter()
        .filter(|row| row["subject"] == "bob")
        .collect();
    assert_eq!(probes.len(), 4, "{probes:?}");
    assert!(probes.iter().all(|row| row["outcome"] == "denied"));
    // Alice's session is untouched.
    let (status, own) = app
        .call(Method::GET, &format!("/uploads/{id}"), &alice, None)
        .await;
    assert_eq!((status, own["state"].as_str()), (200, Some("open")));
}

#[tokio::test]
async fn completion_refusals_name_the_reason_and_leave_the_session_open() {
    let app = start().await;
    let alice = app.token("alice");
    let data = random_bytes(5 * MIB + 4 * MIB + 10);
    let session = create(
        &app,
        &alice,
        json!({"bucket": "uploads", "key": "alice/checked.bin", "content_length": 9 * MIB}),
    )
    .await;
    let id = session["id"].as_str().unwrap();
    // Part 2 is under 5 MiB and not the last; part 3 brings the total past the declared.
    let parts = upload_parts(&app, &alice, id, &data, &[5 * MIB, 4 * MIB, 10]).await;
    let path = format!("/uploads/{id}/complete");
    let refusals = [
        (
            completion(&[parts[0].clone(), (4, parts[1].1.clone())]),
            "part 4 was never uploaded",
        ),
        (completion(&parts), "must be at least 5242880 bytes"),
    ];
    for (body, reason) in refusals {
        let (status, problem) = app
            .call(Method::POST, &path, &alice, Some(body.clone()))
            .await;
        assert_eq!(status, 409, "{body}: {problem}");
        assert_eq!(problem["code"], "conflict");
        assert!(
            problem["detail"].as_str().unwrap().contains(reason),
            "{problem}"
        );
    }
    let (status, listed) = app
        .call(Method::GET, &format!("/uploads/{id}"), &alice, None)
        .await;
    assert_eq!(
        (status, listed["state"].as_str()),
        (200, Some("open")),
        "refusals leave it open"
    );
    // Parts left out of a completion are dropped by S3; what was named is the object.
    let first_only = completion(&parts[..1]);
    let (status, done) = app
        .call(Method::POST, &path, &alice, Some(first_only.clone()))
        .await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["size"], 5 * MIB);
    let stored = read_back(&app, &alice, "alice/checked.bin").await;
    assert_eq!(Sha256::digest(&stored), Sha256::digest(&data[..5 * MIB]));
    // Done is done.
    let (status, problem) = app
        .call(Method::POST, &path, &alice, Some(first_only))
        .await;
    assert_eq!(status, 409, "{problem}");
    assert!(
        problem["detail"].as_str().unwrap().contains("completed"),
        "{problem}"
    );
}

#[tokio::test]
async fn a_total_over_the_declared_size_or_the_policy_is_refused() {
    let app = start().await;
    let alice = app.token("alice");
    let data = random_bytes(7 * MIB);

    let declared = create(
        &app,
        &alice,
        json!({"bucket": "uploads", "key": "alice/declared.bin", "content_length": 6 * MIB}),
    )
    .await;
    let id = declared["id"].as_str().unwrap();
    let parts = upload_parts(&app, &alice, id, &data, &[5 * MIB, 2 * MIB]).await;
    let (status, problem) = app
        .call(
            Method::POST,
            &format!("/uploads/{id}/complete"),
            &alice,
            Some(completion(&parts)),
        )
        .await;
    assert_eq!(status, 409, "{problem}");
    assert!(
        problem["detail"].as_str().unwrap().contains("declared"),
        "{problem}"
    );

    // No size declared, so the create passes the 6 MiB ceiling; the listed total does not.
    let undeclared = create(
        &app,
        &alice,
        json!({"bucket": "uploads", "key": "alice/small/a.bin"}),
    )
    .await;
    let id = undeclared["id"].as_str().unwrap();
    let parts = upload_parts(&app, &alice, id, &data, &[5 * MIB, 2 * MIB]).await;
    let (status, problem) = app
        .call(
            Method::POST,
            &format!("/uploads/{id}/complete"),
            &alice,
            Some(completion(&parts)),
        )
        .await;
    assert_eq!(status, 403, "{problem}");
    assert_eq!(problem["code"], "access_denied");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("explicit deny"),
        "{problem}"
    );
    // ...and a declared size over the ceiling is refused at create.
    let (status, _) = app
        .call(
            Method::POST,
            "/uploads",
            &alice,
            Some(
                json!({"bucket": "uploads", "key": "alice/small/b.bin", "content_length": 7 * MIB}),
            ),
        )
        .await;
    assert_eq!(status, 403);
    // Within the ceiling, the same session completes.
    let (status, done) = app
        .call(
            Method::POST,
            &format!("/uploads/{id}/complete"),
            &alice,
            Some(completion(&parts[..1])),
        )
        .await;
    assert_eq!(status, 200, "{done}");
}

#[tokio::test]
async fn a_write_once_session_never_overwrites() {
    let app = start().await;
    let alice = app.token("alice");
    let data = random_bytes(1000);
    let put = app
        .presign_ok(
            &alice,
            json!({"bucket": "uploads", "key": "alice/once.bin", "method": "PUT"}),
        )
        .await;
    assert_eq!(
        send_presigned(&put, Some(b"first".to_vec())).await.status(),
        200
    );
    let session = create(
        &app,
        &alice,
        json!({"bucket": "uploads", "key": "alice/once.bin", "if_none_match": true}),
    )
    .await;
    let id = session["id"].as_str().unwrap();
    let parts = upload_parts(&app, &alice, id, &data, &[1000]).await;
    let (status, problem) = app
        .call(
            Method::POST,
            &format!("/uploads/{id}/complete"),
            &alice,
            Some(completion(&parts)),
        )
        .await;
    assert_eq!(status, 409, "{problem}");
    assert!(
        problem["detail"].as_str().unwrap().contains("write-once"),
        "{problem}"
    );
    assert_eq!(read_back(&app, &alice, "alice/once.bin").await, b"first");
}

#[tokio::test]
async fn bad_input_gets_a_problem_naming_the_field() {
    let app = start().await;
    let alice = app.token("alice");
    let session = create(
        &app,
        &alice,
        json!({"bucket": "uploads", "key": "alice/bad.bin"}),
    )
    .await;
    let id = session["id"].as_str().unwrap();
    let parts_path = format!("/uploads/{id}/parts");
    let complete_path = format!("/uploads/{id}/complete");
    let too_many: Vec<Value> = (1..=1001).map(|n| json!({"part_number": n})).collect();
    let cases = [
        (
            "/uploads",
            json!({"bucket": "uploads", "key": "alice/x", "content_length": 6_000_000_000_000_u64}),
            "content_length",
        ),
        (
            "/uploads",
            json!({"bucket": "uploads", "key": "alice/x", "part_size": 1024}),
            "part_size",
        ),
        (
            "/uploads",
            json!({"bucket": "uploads", "key": "../x"}),
            "key",
        ),
        (
            "/uploads",
            json!({"bucket": "uploads", "key": "alice/x", "method": "PUT"}),
            "method",
        ),
        (parts_path.as_str(), json!({"parts": []}), "parts"),
        (
            parts_path.as_str(),
            json!({"parts": [{"part_number": 0}]}),
            "parts[0].part_number",
        ),
        (
            parts_path.as_str(),
            json!({"parts": [{"part_number": 10001}]}),
            "parts[0].part_number",
        ),
        (
            parts_path.as_str(),
            json!({"parts": [{"part_number": 2}, {"part_number": 2}]}),
            "parts[1].part_number",
        ),
        (
            parts_path.as_str(),
            json!({"parts": [{"part_number": 1, "content_length": 6_000_000_000_u64}]}),
            "parts[0].content_length",
        ),
        (parts_path.as_str(), json!({"parts": too_many}), "parts"),
        (
            complete_path.as_str(),
            json!({"parts": [{"part_number": 2, "etag": "a"}, {"part_number": 1, "etag": "b"}]}),
            "parts[1].part_number",
        ),
        (
            complete_path.as_str(),
            json!({"parts": [{"part_number": 1, "etag": "\"<script>\""}]}),
            "parts[0].etag",
        ),
        (
            complete_path.as_str(),
            json!({"parts": [{"part_number": 1}]}),
            "etag",
        ),
    ];
    for (path, body, field) in cases {
        let (status, problem) = app
            .call(Method::POST, path, &alice, Some(body.clone()))
            .await;
        assert_eq!(status, 400, "{path} {body}: {problem}");
        assert_eq!(problem["code"], "invalid_request");
        assert!(
            problem["detail"].as_str().unwrap().contains(field),
            "{field}: {problem}"
        );
    }
    // A body over server.max_body_bytes.
    let huge: Vec<Value> = (1..=10000)
        .map(|n| json!({"part_number": n, "etag": "d41d8cd98f00b204e9800998ecf8427e"}))
        .collect();
    let (status, problem) = app
        .call(
            Method::POST,
            &complete_path,
            &alice,
            Some(json!({"parts": huge})),
        )
        .await;
    assert_eq!(status, 413, "{problem}");
    // Nothing above closed the session.
    let (_, listed) = app
        .call(Method::GET, &format!("/uploads/{id}"), &alice, None)
        .await;
    assert_eq!(listed["state"], "open");
}

#[tokio::test]
async fn an_aborted_session_refuses_further_calls() {
    let app = start().await;
    let alice = app.token("alice");
    let session = create(
        &app,
        &alice,
        json!({"bucket": "uploads", "key": "alice/gone.bin"}),
    )
    .await;
    let id = session["id"].as_str().unwrap();
    let data = random_bytes(100);
    upload_parts(&app, &alice, id, &data, &[100]).await;
    let (status, answer) = app
        .call(Method::DELETE, &format!("/uploads/{id}"), &alice, None)
        .await;
    assert_eq!((status, answer), (200, json!({})));
    let (status, problem) = app
        .call(
            Method::POST,
            &format!("/uploads/{id}/parts"),
            &alice,
            Some(json!({"parts": [{"part_number": 2}]})),
        )
        .await;
    assert_eq!(status, 409, "{problem}");
    assert!(
        problem["detail"].as_str().unwrap().contains("aborted"),
        "{problem}"
    );
    let (status, _) = app
        .call(Method::DELETE, &format!("/uploads/{id}"), &alice, None)
        .await;
    assert_eq!(status, 409);
    let (_, listed) = app
        .call(Method::GET, &format!("/uploads/{id}"), &alice, None)
        .await;
    assert_eq!(listed["state"], "aborted");
    assert_eq!(listed["parts"], json!([]));
    let rows = audit_for(&app, id).await;
    assert!(
        rows.iter()
            .any(|row| row["action"] == "s3:AbortMultipartUpload" && row["outcome"] == "issued")
    );
}

#[tokio::test]
async fn the_sweeper_aborts_expired_sessions_in_s3() {
    // Long enough for one part to go up on a loaded machine, short for a test.
    let app = start_with(Backend::Sqlite, "[uploads]\nsession_expires_in = 5\n").await;
    let alice = app.token("alice");
    let session = create(
        &app,
        &alice,
        json!({"bucket": "uploads", "key": "alice/slow.bin"}),
    )
    .await;
    let id = session["id"].as_str().unwrap().to_owned();
    let s3_upload_id = session["s3_upload_id"].as_str().unwrap().to_owned();
    let data = random_bytes(100);
    let signed = upload_parts(&app, &alice, &id, &data, &[100]).await;
    // s3s-fs keeps an open upload (its record, its parts) in files named after its UploadId.
    let part_files = || {
        std::fs::read_dir(app.dir.path().join("s3"))
            .unwrap()
            .filter_map(|entry| entry.ok())
            .filter(|entry| entry.file_name().to_string_lossy().contains(&s3_upload_id))
            .count()
    };
    assert!(part_files() > 0, "the upload and its part are in S3");
    eventually("the sweeper ends the session", DEADLINE, || async {
        let rows = audit_for(&app, &id).await;
        rows.iter()
            .any(|row| row["subject"] == "upload-sweeper")
            .then_some(())
    })
    .await;
    assert_eq!(part_files(), 0, "aborted in S3: the part is gone");
    let (_, listed) = app
        .call(Method::GET, &format!("/uploads/{id}"), &alice, None)
        .await;
    assert_eq!(listed["state"], "expired");
    let (status, _) = app
        .call(
            Method::POST,
            &format!("/uploads/{id}/complete"),
            &alice,
            Some(completion(&signed)),
        )
        .await;
    assert_eq!(status, 409);
}

#[tokio::test]
async fn ops_list_and_abort_sessions_from_the_command_line() {
    let app = start().await;
    let alice = app.token("alice");
    let first = create(
        &app,
        &alice,
        json!({"bucket": "uploads", "key": "alice/one.bin"}),
    )
    .await;
    let second = create(
        &app,
        &alice,
        json!({"bucket": "uploads", "key": "alice/two.bin", "content_length": 42}),
    )
    .await;
    let config = app.dir.path().join("cli.toml");
    std::fs::write(
        &config,
        format!(
            "[s3]\nregion = \"us-east-1\"\nendpoint_url = \"{}\"\nforce_path_style = true\n[audit]\ndatabase_url = \"{}\"\n",
            app.s3.endpoint, app.database_url
        ),
    )
    .unwrap();
    let config = config.display().to_string();
    let env = [
        ("AWS_ACCESS_KEY_ID", app.s3.access_key.as_str()),
        ("AWS_SECRET_ACCESS_KEY", app.s3.secret_key.as_str()),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ];
    let listed = presignd(
        &[
            "uploads", "list", "--config", &config, "--state", "open", "--format", "json",
        ],
        &env,
    )
    .await;
    assert!(
        listed.status.success(),
        "{}",
        String::from_utf8_lossy(&listed.stderr)
    );
    let lines: Vec<Value> = String::from_utf8(listed.stdout)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["id"], second["id"], "newest first");
    assert_eq!(lines[0]["declared_size"], 42);

    let id = first["id"].as_str().unwrap();
    let aborted = presignd(&["uploads", "abort", "--config", &config, id], &env).await;
    assert!(
        aborted.status.success(),
        "{}",
        String::from_utf8_lossy(&aborted.stderr)
    );
    let (_, session) = app
        .call(Method::GET, &format!("/uploads/{id}"), &alice, None)
        .await;
    assert_eq!(session["state"], "aborted");
    let rows = audit_for(&app, id).await;
    assert!(
        rows.iter()
            .any(|row| row["issuer"] == "presignd" && row["subject"] == "cli"),
        "{rows:?}"
    );
    // Twice is an error naming the session's state.
    let again = presignd(&["uploads", "abort", "--config", &config, id], &env).await;
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already aborted"));
    let table = presignd(&["uploads", "list", "--config", &config], &env).await;
    let table = String::from_utf8(table.stdout).unwrap();
    assert!(table.starts_with("created_at"), "{table}");
    assert_eq!(table.lines().count(), 3, "{table}");
}

#[tokio::test]
async fn two_replicas_on_one_postgres_share_sessions() {
    let first = start_with(Backend::Postgres(None), "").await;
    let second = start_with(Backend::Existing(first.database_url.clone()), "").await;
    let alice = first.token("alice");
    let data = random_bytes(5 * MIB + 7);
    let session = create(
        &first,
        &alice,
        json!({"bucket": "uploads", "key": "alice/shared.bin"}),
    )
    .await;
    let id = session["id"].as_str().unwrap();
    // The second replica signs parts for a session the first opened. Both replicas'
    // S3 stores differ, so the parts go to the first one's, which holds the upload.
    let (status, signed) = second
        .call(
            Method::POST,
            &format!("/uploads/{id}/parts"),
            &alice,
            Some(json!({"parts": [{"part_number": 1}]})),
        )
        .await;
    assert_eq!(status, 200, "{signed}");
    let bob = second.token("bob");
    let (status, _) = second
        .call(Method::GET, &format!("/uploads/{id}"), &bob, None)
        .await;
    assert_eq!(status, 404, "ownership holds on every replica");
    let parts = upload_parts(&first, &alice, id, &data, &[5 * MIB + 7]).await;
    let (status, done) = first
        .call(
            Method::POST,
            &format!("/uploads/{id}/complete"),
            &alice,
            Some(completion(&parts)),
        )
        .await;
    assert_eq!(status, 200, "{done}");
    let (status, problem) = second
        .call(Method::DELETE, &format!("/uploads/{id}"), &alice, None)
        .await;
    assert_eq!(
        status, 409,
        "the other replica sees it completed: {problem}"
    );
}
