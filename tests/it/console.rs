//! The ops console and the endpoints it is built on: `GET /console` (embedded, strict
//! CSP), `GET /audit/stats`, `POST /policy/simulate` and `GET /uploads`. The test whose
//! name contains `browser` drives the page in headless Chromium (`tests/browser/console.mjs`);
//! it runs under the `ci` profile, as the upload browser tests do.

use std::path::{Path, PathBuf};
use std::time::Duration;

use presignd::audit::{AuditEvent, Outcome};
use reqwest::StatusCode;
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::harness::{BUCKET, Backend, Options, TestApp, http_client};

/// Users write their own folder and share from it; ops (`groups: ops`) read the log, see
/// and revoke every link and upload, and simulate the policy.
const POLICY: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [
    { "Sid": "OwnFolder", "Effect": "Allow",
      "Action": ["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload",
                 "s3:ListMultipartUploadParts", "presign:CreateLink"],
      "Resource": "arn:aws:s3:::uploads/${jwt:sub}/*" },
    { "Sid": "NoSecrets", "Effect": "Deny", "Action": "s3:*",
      "Resource": "arn:aws:s3:::*/secrets/*" },
    { "Sid": "Ops", "Effect": "Allow",
      "Action": ["presign:QueryAudit", "presign:ListLinks", "presign:RevokeLink",
                 "presign:ListUploads", "presign:SimulatePolicy",
                 "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"],
      "Resource": "*",
      "Condition": { "ForAnyValue:StringEquals": { "jwt:groups": "ops" } } }
  ]
}"#;

async fn start(backend: Backend) -> TestApp {
    TestApp::start_with(Options {
        backend,
        policy: POLICY.into(),
        ..Options::default()
    })
    .await
}

fn ops(app: &TestApp) -> String {
    app.token_with("olga", json!({"groups": ["ops"]}))
}

async fn get(app: &TestApp, path: &str, token: &str) -> (u16, Value) {
    app.call(reqwest::Method::GET, path, token, None).await
}

async fn post(app: &TestApp, path: &str, token: &str, body: Value) -> (u16, Value) {
    app.call(reqwest::Method::POST, path, token, Some(body))
        .await
}

/// alice: three GET URLs and one denial (her `secrets/`); returns the first URL.
async fn some_history(app: &TestApp) -> String {
    let alice = app.token("alice");
    let mut first = None;
    for name in ["a.txt", "b.txt", "c.txt"] {
        let issued = app
            .presign_ok(
                &alice,
                json!({"bucket": BUCKET, "key": format!("alice/{name}"), "method": "GET"}),
            )
            .await;
        first.get_or_insert(issued["url"].as_str().unwrap().to_owned());
    }
    let denied = app
        .presign(
            &alice,
            json!({"bucket": BUCKET, "key": "alice/secrets/k", "method": "GET"}),
        )
        .await;
    assert_eq!(denied.status(), StatusCode::FORBIDDEN);
    first.unwrap()
}

#[tokio::test]
async fn the_console_is_embedded_and_served_under_a_strict_csp() {
    let app = start(Backend::Sqlite).await;
    let page = http_client()
        .get(format!("{}/console", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let headers = page.headers().clone();
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let csp = headers["content-security-policy"].to_str().unwrap();
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(directive), "{csp}");
    }
    assert!(!csp.contains("unsafe"), "{csp}");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    let html = page.text().await.unwrap();
    // No inline script: every <script> loads a file from /console.
    for script in html.split("<script").skip(1) {
        let tag = &script[..script.find('>').unwrap()];
        assert!(
            tag.contains("src=\"/console/"),
            "inline or foreign script: {tag}"
        );
    }
    for (path, content_type) in [
        ("/console/console.js", "text/javascript"),
        ("/console/console.css", "text/css"),
        ("/console/icon.svg", "image/svg+xml"),
    ] {
        let asset = http_client()
            .get(format!("{}{path}", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(asset.status(), 200, "{path}");
        assert!(
            asset.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with(content_type),
            "{path}"
        );
        let body = asset.text().await.unwrap();
        // Nothing is fetched from the internet (the SVG namespace is a name, not a fetch).
        let foreign = body
            .replace("http://www.w3.org/2000/svg", "")
            .contains("://");
        assert!(!foreign, "{path} names another origin");
    }
}

async fn stats_are_counted_per_bucket_and_action(backend: Backend) {
    let app = start(backend).await;
    some_history(&app).await;
    let (status, stats) = get(&app, "/audit/stats?interval=minute", &ops(&app)).await;
    assert_eq!(status, 200, "{stats}");
    assert_eq!(stats["interval"], "minute");
    assert_eq!(
        stats["by_action"]["s3:GetObject"],
        json!({"issued": 3, "denied": 1})
    );
    // The window's every minute is a bucket, and the buckets add up to the totals.
    let buckets = stats["buckets"].as_array().unwrap();
    assert!(buckets.len() >= 24 * 60, "{}", buckets.len());
    let sum = |field: &str| {
        buckets
            .iter()
            .map(|b| b[field].as_u64().unwrap())
            .sum::<u64>()
    };
    assert_eq!(sum("issued"), stats["total"]["issued"].as_u64().unwrap());
    assert_eq!(sum("denied"), stats["total"]["denied"].as_u64().unwrap());
    let busy = buckets.iter().filter(|b| b["issued"] != 0).count();
    assert!(
        (1..=2).contains(&busy),
        "the rows fell in one minute or two"
    );

    // Filters as /audit takes them.
    let (_, denied) = get(
        &app,
        "/audit/stats?outcome=denied&subject=alice",
        &ops(&app),
    )
    .await;
    assert_eq!(denied["total"], json!({"issued": 0, "denied": 1}));

    // A window of too many buckets is a 400 naming the field; no ops rights is a 403.
    let (status, problem) = get(
        &app,
        "/audit/stats?interval=minute&since=2026-01-01T00:00:00Z&until=2026-02-01T00:00:00Z",
        &ops(&app),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        problem["detail"].as_str().unwrap().starts_with("interval"),
        "{problem}"
    );
    let (status, problem) = get(&app, "/audit/stats", &app.token("alice")).await;
    assert_eq!(status, 403);
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("presign:QueryAudit"),
        "{problem}"
    );
    // The two answered stats queries and alice's refused one are in the log.
    let rows = app.audit_rows().await;
    let stats_rows = rows
        .iter()
        .filter(|row| row.action == "presign:QueryAudit" && row.request.get("stats").is_some())
        .count();
    assert_eq!(stats_rows, 3);
    assert!(rows.iter().any(|row| row.action == "presign:QueryAudit"
        && row.subject == "alice"
        && row.outcome.as_str() == "denied"));
}

#[tokio::test]
async fn audit_stats_count_issued_and_denied_per_bucket() {
    stats_are_counted_per_bucket_and_action(Backend::Sqlite).await;
}

#[tokio::test]
async fn postgres_audit_stats_count_issued_and_denied_per_bucket() {
    stats_are_counted_per_bucket_and_action(Backend::Postgres(None)).await;
}

/// A row of `action` and `outcome` at `time`, as the writer would have written it then.
fn row_at(time: OffsetDateTime, action: &str, outcome: Outcome) -> AuditEvent {
    AuditEvent {
        id: uuid::Uuid::now_v7(),
        time,
        request_id: "back-dated".into(),
        outcome,
        reason: (outcome == Outcome::Denied).then(|| "no statement allows this".into()),
        issuer: "https://idp.example".into(),
        subject: "alice".into(),
        client_ip: None,
        user_agent: None,
        action: action.into(),
        bucket: Some(BUCKET.into()),
        key: Some("uploads/alice/a.txt".into()),
        expires_at: None,
        expires_in: None,
        statement: None,
        signature_sha256: None,
        request: json!({}),
        link_id: None,
        upload_id: None,
    }
}

fn rfc3339(time: OffsetDateTime) -> String {
    time.format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

/// The GET and PUT counts of each bucket (the stats queries' own rows left out).
fn object_counts(stats: &Value) -> Vec<(String, Value)> {
    stats["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|bucket| {
            let by_action = &bucket["by_action"];
            let counts = json!([by_action["s3:GetObject"], by_action["s3:PutObject"]]);
            (bucket["start"].as_str().unwrap().to_owned(), counts)
        })
        .collect()
}

async fn long_windows_are_answered_from_the_hourly_counts(backend: Backend) {
    let app = start(backend).await;
    let now = OffsetDateTime::now_utc();
    let hours_ago = |hours: i64| now - time::Duration::hours(hours);
    let get_issued = |time| row_at(time, "s3:GetObject", Outcome::Issued);
    app.store
        .insert_batch(&[
            get_issued(hours_ago(50)),
            get_issued(hours_ago(50)),
            get_issued(hours_ago(49)),
            row_at(hours_ago(30), "s3:PutObject", Outcome::Issued),
            row_at(hours_ago(30), "s3:PutObject", Outcome::Issued),
            row_at(hours_ago(30), "s3:GetObject", Outcome::Denied),
            // In an hour not yet closed: never counted, always read from the rows.
            get_issued(now - time::Duration::minutes(1)),
        ])
        .await
        .unwrap();
    let hourly = format!(
        "/audit/stats?interval=hour&since={}&until={}",
        rfc3339(hours_ago(72)),
        rfc3339(now + time::Duration::minutes(1)),
    );
    let (status, from_rows) = get(&app, &hourly, &ops(&app)).await;
    assert_eq!(status, 200, "{from_rows}");
    let expected = json!({"issued": 4, "denied": 1});
    assert_eq!(from_rows["by_action"]["s3:GetObject"], expected);
    assert_eq!(from_rows["by_action"]["s3:PutObject"]["issued"], 2);

    presignd::audit::roll_up_all(app.store.as_ref())
        .await
        .unwrap();
    let closed = |time: OffsetDateTime| (time - time::Duration::minutes(5)).unix_timestamp() / 3600;
    let through = app.store.counted_through().await.unwrap().unwrap();
    assert!(
        (closed(now)..=closed(OffsetDateTime::now_utc())).contains(&through),
        "counted through hour {through}"
    );
    // The same answer, bucket by bucket, with the closed hours read from the counts and
    // the window's partial first hour and open hours from the rows.
    let (_, mixed) = get(&app, &hourly, &ops(&app)).await;
    assert_eq!(mixed["by_action"]["s3:GetObject"], expected);
    assert_eq!(object_counts(&mixed), object_counts(&from_rows));
    let day = 86_400;
    let today = now.unix_timestamp() / day * day;
    let daily = format!(
        "/audit/stats?interval=day&since={}&until={}&action=s3:GetObject",
        rfc3339(OffsetDateTime::from_unix_timestamp(today - 3 * day).unwrap()),
        rfc3339(OffsetDateTime::from_unix_timestamp(today + day).unwrap()),
    );
    let (_, by_day) = get(&app, &daily, &ops(&app)).await;
    assert_eq!(by_day["total"], expected);

    // Retention: the rows before the cutoff go first, and the chart keeps their counts
    // until the counts of the hours before it go too.
    let cutoff = hours_ago(40);
    let deleted = app.store.delete_older_than(cutoff, 1000).await.unwrap();
    assert_eq!(deleted, 3);
    let (_, counted) = get(&app, &hourly, &ops(&app)).await;
    assert_eq!(counted["by_action"]["s3:GetObject"], expected);
    app.store
        .forget_hours_before(cutoff.unix_timestamp() / 3600)
        .await
        .unwrap();
    let (_, forgotten) = get(&app, &hourly, &ops(&app)).await;
    assert_eq!(
        forgotten["by_action"]["s3:GetObject"],
        json!({"issued": 1, "denied": 1})
    );
}

#[tokio::test]
async fn long_stats_windows_are_answered_from_the_hourly_counts() {
    long_windows_are_answered_from_the_hourly_counts(Backend::Sqlite).await;
}

#[tokio::test]
async fn postgres_long_stats_windows_are_answered_from_the_hourly_counts() {
    long_windows_are_answered_from_the_hourly_counts(Backend::Postgres(None)).await;
}

#[tokio::test]
async fn the_policy_simulator_decides_as_the_running_policy_and_is_audited() {
    let app = start(Backend::Sqlite).await;
    let simulate = |body: Value| {
        let app = &app;
        async move { post(app, "/policy/simulate", &ops(app), body).await }
    };
    let (status, allowed) = simulate(json!({
        "subject": "alice", "action": "s3:GetObject", "resource": "uploads/alice/a.txt"
    }))
    .await;
    assert_eq!(status, 200, "{allowed}");
    assert_eq!(allowed["decision"], "allow");
    assert_eq!(allowed["statement"], "OwnFolder");
    assert_eq!(allowed["context"]["presign:Method"], "GET");
    assert_eq!(allowed["context"]["presign:ExpiresIn"], "900");

    let (_, implicit) = simulate(json!({
        "subject": "mallory", "action": "s3:GetObject", "resource": "uploads/alice/a.txt"
    }))
    .await;
    assert_eq!(implicit["decision"], "deny");
    assert_eq!(implicit["statement"], Value::Null);
    assert!(
        implicit["reason"]
            .as_str()
            .unwrap()
            .starts_with("implicit deny")
    );
    let tried: Vec<&str> = implicit["tried"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["statement"].as_str().unwrap())
        .collect();
    assert_eq!(tried, ["OwnFolder"]);

    let (_, explicit) = simulate(json!({
        "subject": "alice", "action": "s3:getobject", "resource": "uploads/alice/secrets/k"
    }))
    .await;
    assert_eq!(explicit["decision"], "deny");
    assert_eq!(explicit["statement"], "NoSecrets");

    // Claims and context as a token and a request carry them.
    let (_, ops_view) = simulate(json!({
        "subject": "bob", "claims": {"groups": ["ops"]}, "action": "presign:QueryAudit",
        "resource": "*", "context": {"aws:SourceIp": "10.0.0.1"}
    }))
    .await;
    assert_eq!(ops_view["decision"], "allow", "{ops_view}");
    assert_eq!(ops_view["context"]["aws:SourceIp"], "10.0.0.1");

    for (body, field) in [
        (
            json!({"subject": "a", "action": "s3:DeleteObject", "resource": "uploads/a"}),
            "action",
        ),
        (
            json!({"subject": "a", "action": "s3:GetObject", "resource": "uploads/../x"}),
            "resource",
        ),
        (
            json!({"subject": "a", "action": "s3:GetObject", "resource": "uploads/a",
                   "context": {"presign:ContentLength": "lots"}}),
            "context",
        ),
        (
            json!({"subject": "a", "action": "s3:GetObject", "resource": "uploads/a",
                   "context": {"aws:SourceIp": ["10.0.0.1"]}}),
            "context.aws:SourceIp",
        ),
        (
            json!({"subject": "a", "action": "s3:GetObject"}),
            "resource",
        ),
    ] {
        let (status, problem) = simulate(body.clone()).await;
        assert_eq!(status, 400, "{body}: {problem}");
        assert!(
            problem["detail"].as_str().unwrap().contains(field),
            "{body}: {problem}"
        );
    }

    let (status, problem) = post(
        &app,
        "/policy/simulate",
        &app.token("alice"),
        json!({"subject": "alice", "action": "s3:GetObject", "resource": "uploads/alice/a"}),
    )
    .await;
    assert_eq!(status, 403);
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("presign:SimulatePolicy")
    );

    let rows = app.audit_rows().await;
    let simulations: Vec<_> = rows
        .iter()
        .filter(|row| row.action == "presign:SimulatePolicy")
        .collect();
    assert!(simulations.len() >= 10, "{}", simulations.len());
    assert!(
        simulations
            .iter()
            .any(|row| row.subject == "alice" && row.outcome.as_str() == "denied")
    );
    let allowed_row = simulations
        .iter()
        .find(|row| row.request["subject"] == "mallory")
        .unwrap();
    assert_eq!(allowed_row.statement.as_deref(), Some("Ops"));
}

#[tokio::test]
async fn uploads_are_listed_as_ones_own_or_all_for_ops_who_may_abort_any() {
    let app = start(Backend::Sqlite).await;
    let alice = app.token("alice");
    let bob = app.token("bob");
    let (status, created) = post(
        &app,
        "/uploads",
        &alice,
        json!({"bucket": BUCKET, "key": "alice/big.bin"}),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap();

    let (status, own) = get(&app, "/uploads", &alice).await;
    assert_eq!(status, 200);
    assert_eq!(own["uploads"][0]["id"], id);
    assert_eq!(own["uploads"][0]["state"], "open");
    assert_eq!(own["uploads"][0]["subject"], "alice");
    let (_, bobs) = get(&app, "/uploads", &bob).await;
    assert_eq!(bobs["uploads"], json!([]));
    let (status, problem) = get(&app, "/uploads?subject=alice", &bob).await;
    assert_eq!(status, 403);
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("presign:ListUploads")
    );
    let (status, _) = get(&app, "/uploads?state=sideways", &alice).await;
    assert_eq!(status, 400);

    // Someone else's session stays a 404 for bob, and is reachable for ops.
    let (status, _) = app
        .call(
            reqwest::Method::DELETE,
            &format!("/uploads/{id}"),
            &bob,
            None,
        )
        .await;
    assert_eq!(status, 404);
    let (_, all) = get(&app, "/uploads?state=open", &ops(&app)).await;
    assert_eq!(all["uploads"][0]["id"], id);
    let (status, session) = get(&app, &format!("/uploads/{id}"), &ops(&app)).await;
    assert_eq!(status, 200, "{session}");
    let (status, aborted) = app
        .call(
            reqwest::Method::DELETE,
            &format!("/uploads/{id}"),
            &ops(&app),
            None,
        )
        .await;
    assert_eq!(status, 200, "{aborted}");
    let (_, after) = get(&app, "/uploads", &alice).await;
    assert_eq!(after["uploads"][0]["state"], "aborted");
    // Ops may not add parts to someone else's upload: that is the owner's alone.
    let (status, _) = post(
        &app,
        &format!("/uploads/{id}/parts"),
        &ops(&app),
        json!({"parts": [{"part_number": 1}]}),
    )
    .await;
    assert_eq!(status, 404);
    let abort_row = app
        .audit_rows()
        .await
        .into_iter()
        .find(|row| row.action == "s3:AbortMultipartUpload" && row.outcome.as_str() == "issued")
        .unwrap();
    assert_eq!(abort_row.subject, "olga");
    assert_eq!(abort_row.statement.as_deref(), Some("Ops"));
}

fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

/// Where screenshots go: `$CI_ARTIFACTS_DIR/console`, else `target/artifacts/console`
/// (`.ci/run` lists them at the end of the run).
fn screenshot_dir() -> PathBuf {
    std::env::var_os("CI_ARTIFACTS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/artifacts"))
        .join("console")
}

/// A person signs in with an ops token, searches alice's rows, opens one, finds who a
/// leaked URL was issued to, sees the chart with data, revokes a link, lists uploads,
/// simulates a denial, looks on a phone; a user without ops rights sees which permission
/// is missing. No console error, no CSP violation, no failed request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_works_in_a_browser_for_ops_and_explains_a_403_to_others() {
    assert!(
        browser_dir().join("node_modules/puppeteer-core").exists(),
        "run `npm ci` in tests/browser (.ci/run does), and install Debian's chromium"
    );
    let app = start(Backend::Sqlite).await;
    let leaked_url = some_history(&app).await;
    let alice = app.token("alice");
    let (status, link) = post(
        &app,
        "/links",
        &alice,
        json!({"bucket": BUCKET, "key": "alice/a.txt", "max_uses": 3}),
    )
    .await;
    assert_eq!(status, 201, "{link}");
    let link_id = link["id"].as_str().unwrap().to_owned();
    let (status, upload) = post(
        &app,
        "/uploads",
        &alice,
        json!({"bucket": BUCKET, "key": "alice/video.mp4", "content_length": 104857600}),
    )
    .await;
    assert_eq!(status, 201, "{upload}");

    let screenshots = screenshot_dir();
    let plan = app.dir.path().join("console-plan.json");
    let plan_body = json!({
        "console": format!("{}/console", app.base),
        "token": ops(&app),
        "user_token": app.token("bob"),
        "subject": "alice",
        "leaked_url": leaked_url,
        "link_id": link_id,
        "screenshots": screenshots,
    });
    std::fs::write(&plan, plan_body.to_string()).unwrap();
    let child = tokio::process::Command::new("node")
        .arg(browser_dir().join("console.mjs"))
        .arg(&plan)
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(180), child)
        .await
        .expect("the console run outlived its deadline")
        .expect("node runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "console.mjs failed: {stderr}");
    let seen: Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("console.mjs printed no JSON ({e}): {stderr}"));

    assert_eq!(seen["error"], Value::Null, "{seen:#}");
    assert_eq!(seen["console"], json!([]), "{seen:#}");
    assert!(seen["who"].as_str().unwrap().contains("olga"), "{seen:#}");
    assert_eq!(seen["token_in_session_storage"], true);
    // alice's six rows, newest first: the upload's create, the link, the denial, three URLs.
    let rows = seen["audit_rows"].as_array().unwrap();
    let actions: Vec<&str> = rows.iter().map(|row| row[3].as_str().unwrap()).collect();
    assert_eq!(
        actions,
        [
            "s3:PutObject",
            "presign:CreateLink",
            "s3:GetObject",
            "s3:GetObject",
            "s3:GetObject",
            "s3:GetObject"
        ],
        "{seen:#}"
    );
    assert_eq!(rows[2][1], "denied");
    assert!(
        rows[2][6].as_str().unwrap().contains("explicit deny"),
        "{seen:#}"
    );
    assert!(rows.iter().all(|row| row[2] == "alice"));
    assert_eq!(seen["audit_times_have_utc_titles"], true);
    assert!(seen["detail_hash"].as_str().unwrap().starts_with("#audit/"));
    assert!(
        seen["detail"]
            .as_str()
            .unwrap()
            .contains("signature_sha256")
    );
    assert_eq!(seen["keyboard_focus"], "tab-leak");
    let leak = seen["leak"].as_str().unwrap();
    assert!(
        leak.contains("valid") && !leak.contains("invalid"),
        "{leak}"
    );
    assert!(
        leak.contains("alice (https://idp.test)") && leak.contains("uploads/alice/a.txt"),
        "{leak}"
    );
    assert!(seen["chart_bars"].as_u64().unwrap() >= 1, "{seen:#}");
    assert!(
        seen["activity"].as_str().unwrap().contains("issued"),
        "{seen:#}"
    );
    assert_eq!(seen["link_state"], "revoked", "{seen:#}");
    let (_, link_now) = get(&app, &format!("/links/{link_id}"), &alice).await;
    assert_eq!(link_now["state"], "revoked");
    assert_eq!(seen["uploads"], json!(["uploads/alice/video.mp4"]));
    let simulation = seen["simulation"].as_str().unwrap();
    assert!(
        simulation.contains("deny") && simulation.contains("OwnFolder"),
        "{simulation}"
    );
    assert_eq!(
        seen["phone_overflow"], false,
        "the page scrolls sideways on a phone"
    );
    let forbidden = seen["forbidden"].as_str().unwrap();
    assert!(
        forbidden.contains("Permission missing") && forbidden.contains("presign:QueryAudit"),
        "{forbidden}"
    );
    // The only thing the browser may report for bob is the 403 itself.
    for line in seen["user_console"].as_array().unwrap() {
        assert!(line.as_str().unwrap().contains("403"), "{seen:#}");
    }
    let shots = seen["screenshots"].as_array().unwrap();
    assert_eq!(shots.len(), 9);
    for shot in shots {
        let size = std::fs::metadata(shot.as_str().unwrap()).unwrap().len();
        assert!(size > 5_000, "{shot} is {size} bytes");
    }
}
