//! Share links end to end: create, follow the redirect into the SigV4-checking store, count
//! uses under concurrency, revoke, and refuse what a visitor or another caller must not
//! get. The PostgreSQL tests (names with `postgres`) run two replicas on one database.

use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{BUCKET, Backend, Options, TestApp, eventually, fresh_postgres_database};

/// The test policy, plus links: each subject shares its own folder; ops list and revoke all.
pub const LINK_POLICY: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [
    { "Sid": "OwnFolder", "Effect": "Allow",
      "Action": ["s3:GetObject", "s3:PutObject", "presign:CreateLink"],
      "Resource": "arn:aws:s3:::uploads/${jwt:sub}/*" },
    { "Sid": "NoSecrets", "Effect": "Deny", "Action": "s3:*",
      "Resource": "arn:aws:s3:::*/secrets/*" },
    { "Sid": "OpsLinks", "Effect": "Allow",
      "Action": ["presign:ListLinks", "presign:RevokeLink", "presign:QueryAudit"], "Resource": "*",
      "Condition": { "ForAnyValue:StringEquals": { "jwt:groups": "ops" } } }
  ]
}"#;

async fn start(config: &str) -> TestApp {
    TestApp::start_with(Options {
        policy: LINK_POLICY.into(),
        config: config.into(),
        ..Options::default()
    })
    .await
}

/// A client that does not follow redirects: the 302 is what is tested.
fn visitor() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(crate::harness::DEADLINE)
        .build()
        .unwrap()
}

/// Puts `body` at `key` through a presigned PUT.
async fn upload(app: &TestApp, token: &str, key: &str, body: &[u8]) {
    let put = app
        .presign_ok(
            token,
            json!({"bucket": BUCKET, "key": key, "method": "PUT"}),
        )
        .await;
    let sent = crate::harness::send_presigned(&put, Some(body.to_vec())).await;
    assert!(sent.status().is_success(), "upload: {}", sent.status());
}

async fn create(app: &TestApp, token: &str, body: Value) -> (StatusCode, Value) {
    let response = app
        .http
        .post(format!("{}/links", app.base))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap())
}

async fn create_ok(app: &TestApp, token: &str, body: Value) -> Value {
    let (status, answer) = create(app, token, body).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    answer
}

/// The link's URL on this app (the test binds its own port, not `server.bind`).
fn local(app: &TestApp, link: &Value) -> String {
    let url = link["url"].as_str().unwrap();
    let path = &url[url.find("/l/").unwrap()..];
    format!("{}{path}", app.base)
}

fn token_of(link: &Value) -> String {
    let url = link["url"].as_str().unwrap();
    url[url.find("/l/").unwrap() + 3..].to_owned()
}

async fn follow(app: &TestApp, link: &Value) -> reqwest::Response {
    visitor().get(local(app, link)).send().await.unwrap()
}

async fn code(response: reqwest::Response) -> (StatusCode, String) {
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    (status, body["code"].as_str().unwrap_or_default().to_owned())
}

#[tokio::test]
async fn a_link_redirects_to_a_fresh_audited_get_that_downloads_the_bytes() {
    let app = start("[links]\npublic_base_url = \"https://files.example.com/\"").await;
    let alice = app.token("alice");
    upload(&app, &alice, "alice/report.txt", b"quarterly numbers").await;
    let link = create_ok(
        &app,
        &alice,
        json!({"bucket": BUCKET, "key": "alice/report.txt", "note": "for Bob"}),
    )
    .await;
    let url = link["url"].as_str().unwrap();
    let token = token_of(&link);
    assert!(url.starts_with("https://files.example.com/l/"), "{url}");
    assert!(token.len() >= 22, "at least 128 bits: {token}");
    assert_eq!(link["max_uses"], Value::Null);
    assert_eq!(link["id"], link["audit_id"]);

    let redirect = follow(&app, &link).await;
    assert_eq!(redirect.status(), StatusCode::FOUND);
    assert_eq!(redirect.headers()["cache-control"], "no-store");
    assert_eq!(redirect.headers()["referrer-policy"], "no-referrer");
    let location = redirect.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.contains("X-Amz-Signature="), "{location}");
    let expires = crate::harness::query_param(&location, "X-Amz-Expires").unwrap();
    assert_eq!(expires, "60", "links.redirect_expires_in");
    let bytes = reqwest::get(&location).await.unwrap();
    assert_eq!(bytes.status(), 200);
    assert_eq!(bytes.bytes().await.unwrap().as_ref(), b"quarterly numbers");

    // Creation and redemption are audited under the link's id; the token is nowhere.
    let id: uuid::Uuid = link["id"].as_str().unwrap().parse().unwrap();
    let rows = app.audit_rows().await;
    let mine: Vec<_> = rows.iter().filter(|row| row.link_id == Some(id)).collect();
    let actions: Vec<&str> = mine.iter().map(|row| row.action.as_str()).collect();
    assert_eq!(
        actions,
        ["s3:GetObject", "presign:CreateLink"],
        "newest first"
    );
    assert_eq!(mine[1].statement.as_deref(), Some("OwnFolder,OwnFolder"));
    assert!(
        mine[1].expires_at.is_some(),
        "the creation row says until when"
    );
    let presignd_id = crate::harness::query_param(&location, "x-presignd-id").unwrap();
    assert_eq!(mine[0].id.to_string(), presignd_id);
    assert!(mine[0].signature_sha256.is_some());
    let all = serde_json::to_string(&rows).unwrap();
    assert!(!all.contains(&token), "the token is in an audit row");
    assert!(!all.contains("for Bob"), "the note is not audited");

    // The link as its creator reads it: never the token.
    let read: Value = app
        .http
        .get(format!("{}/links/{id}", app.base))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(read["state"], "active");
    assert_eq!(read["note"], "for Bob");
    assert!(!read.to_string().contains(&token));
}

#[tokio::test]
async fn a_one_time_link_is_gone_after_its_use_and_refusals_are_audited() {
    let app = start("").await;
    let alice = app.token("alice");
    upload(&app, &alice, "alice/once.txt", b"once").await;
    let link = create_ok(
        &app,
        &alice,
        json!({"bucket": BUCKET, "key": "alice/once.txt", "max_uses": 1}),
    )
    .await;
    assert_eq!(follow(&app, &link).await.status(), StatusCode::FOUND);
    let (status, problem) = code(follow(&app, &link).await).await;
    assert_eq!((status, problem.as_str()), (StatusCode::GONE, "gone"));

    let id: uuid::Uuid = link["id"].as_str().unwrap().parse().unwrap();
    let rows = app.audit_rows().await;
    let refused = rows
        .iter()
        .find(|row| row.link_id == Some(id) && row.outcome == presignd::audit::Outcome::Denied)
        .expect("the refused redemption has a row");
    assert_eq!(refused.reason.as_deref(), Some("the link has been used up"));
    let read: Value = app
        .http
        .get(format!("{}/links/{id}", app.base))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (read["state"].as_str(), read["uses"].as_u64()),
        (Some("used_up"), Some(1))
    );
}

#[tokio::test]
async fn unknown_and_malformed_tokens_are_404_with_a_row_that_names_no_link() {
    let app = start("").await;
    let unknown = "A".repeat(43);
    for token in [unknown.as_str(), "short", "a%2Fb", "a%00b", "%FF%FE"] {
        let response = visitor()
            .get(format!("{}/l/{token}", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(response.headers()["cache-control"], "no-store");
        let (status, problem) = code(response).await;
        assert_eq!(
            (status, problem.as_str()),
            (StatusCode::NOT_FOUND, "not_found"),
            "{token}"
        );
    }
    let rows = app.audit_rows().await;
    assert_eq!(rows.len(), 5);
    for row in &rows {
        assert_eq!(row.link_id, None);
        assert_eq!(row.action, "GET /l/{token}");
        assert!(!serde_json::to_string(row).unwrap().contains(&unknown));
    }
    // HEAD never redeems: a link previewer cannot spend a use.
    let head = visitor()
        .head(format!("{}/l/{unknown}", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_redemptions_of_a_five_use_link_give_exactly_five_redirects() {
    let app = Arc::new(start("").await);
    let alice = app.token("alice");
    let link = create_ok(
        &app,
        &alice,
        json!({"bucket": BUCKET, "key": "alice/popular.txt", "max_uses": 5}),
    )
    .await;
    let statuses = redeem_concurrently(std::slice::from_ref(&app), &link, 50).await;
    assert_eq!(count(&statuses, StatusCode::FOUND), 5, "{statuses:?}");
    assert_eq!(count(&statuses, StatusCode::GONE), 45, "{statuses:?}");
}

/// Redeems `link` `n` times at once, spread over `apps` (replicas).
async fn redeem_concurrently(apps: &[Arc<TestApp>], link: &Value, n: usize) -> Vec<StatusCode> {
    let client = visitor();
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let app = apps[i % apps.len()].clone();
            let url = local(&app, link);
            let client = client.clone();
            tokio::spawn(async move { client.get(url).send().await.unwrap().status() })
        })
        .collect();
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap());
    }
    statuses
}

fn count(statuses: &[StatusCode], status: StatusCode) -> usize {
    statuses.iter().filter(|s| **s == status).count()
}

#[tokio::test]
async fn another_callers_link_is_404_and_only_its_creator_or_ops_revoke_it() {
    let app = start("").await;
    let alice = app.token("alice");
    let mallory = app.token("mallory");
    let ops = app.token_with("ops-1", json!({"groups": ["ops"]}));
    let link = create_ok(
        &app,
        &alice,
        json!({"bucket": BUCKET, "key": "alice/a.txt"}),
    )
    .await;
    let id = link["id"].as_str().unwrap();
    let links = format!("{}/links", app.base);

    for (method, url) in [
        (reqwest::Method::GET, format!("{links}/{id}")),
        (reqwest::Method::DELETE, format!("{links}/{id}")),
        (reqwest::Method::GET, format!("{links}/not-a-uuid")),
        (
            reqwest::Method::DELETE,
            format!("{links}/{}", uuid::Uuid::now_v7()),
        ),
        (reqwest::Method::DELETE, format!("{links}/%00")),
        (reqwest::Method::GET, format!("{links}/%FF")),
    ] {
        let response = app
            .http
            .request(method.clone(), &url)
            .bearer_auth(&mallory)
            .send()
            .await
            .unwrap();
        let (status, problem) = code(response).await;
        assert_eq!(
            (status, problem.as_str()),
            (StatusCode::NOT_FOUND, "not_found"),
            "{method} {url}"
        );
    }
    // Mallory's list holds her own links only; asking for Alice's is refused.
    let own: Value = app
        .http
        .get(&links)
        .bearer_auth(&mallory)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(own["links"], json!([]));
    let theirs = app
        .http
        .get(format!("{links}?subject=alice"))
        .bearer_auth(&mallory)
        .send()
        .await
        .unwrap();
    assert_eq!(theirs.status(), StatusCode::FORBIDDEN);
    let all: Value = app
        .http
        .get(&links)
        .bearer_auth(&ops)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(all["links"][0]["id"], link["id"]);
    assert_eq!(
        follow(&app, &link).await.status(),
        StatusCode::FOUND,
        "still active"
    );

    // Ops revoke it (allowed by presign:RevokeLink); the link is gone at once.
    let revoked = app
        .http
        .delete(format!("{links}/{id}"))
        .bearer_auth(&ops)
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), StatusCode::OK);
    let revoked: Value = revoked.json().await.unwrap();
    assert_eq!(revoked["state"], "revoked");
    let (status, problem) = code(follow(&app, &link).await).await;
    assert_eq!((status, problem.as_str()), (StatusCode::GONE, "gone"));

    // The creator revokes her own without any policy statement for it.
    let second = create_ok(
        &app,
        &alice,
        json!({"bucket": BUCKET, "key": "alice/b.txt"}),
    )
    .await;
    let response = app
        .http
        .delete(format!("{links}/{}", second["id"].as_str().unwrap()))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let second_id: uuid::Uuid = second["id"].as_str().unwrap().parse().unwrap();
    let rows = app.audit_rows().await;
    let revocation = rows
        .iter()
        .find(|row| row.link_id == Some(second_id) && row.action == "presign:RevokeLink")
        .expect("the revocation is audited");
    assert_eq!(revocation.statement.as_deref(), Some("(creator)"));
    let mallory_tries = rows
        .iter()
        .filter(|row| row.subject == "mallory" && row.action == "presign:RevokeLink")
        .count();
    assert_eq!(
        mallory_tries, 3,
        "each of mallory's revocation attempts is audited"
    );
}

#[tokio::test]
async fn bulk_revocation_takes_what_the_filters_name_and_needs_revoke_link() {
    let app = start("").await;
    let alice = app.token("alice");
    let bob = app.token("bob");
    let ops = app.token_with("ops-1", json!({"groups": ["ops"]}));
    let a1 = create_ok(&app, &alice, json!({"bucket": BUCKET, "key": "alice/x/1"})).await;
    let a2 = create_ok(&app, &alice, json!({"bucket": BUCKET, "key": "alice/y/2"})).await;
    let b1 = create_ok(&app, &bob, json!({"bucket": BUCKET, "key": "bob/x/1"})).await;
    let revoke = |token: String, body: Value| {
        let app = &app;
        async move {
            let response = app
                .http
                .post(format!("{}/links/revoke", app.base))
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = response.status();
            (status, response.json::<Value>().await.unwrap())
        }
    };
    let (status, _) = revoke(alice.clone(), json!({"subject": "alice"})).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "needs presign:RevokeLink on *"
    );
    let (status, problem) = revoke(ops.clone(), json!({})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
    let (status, problem) = revoke(ops.clone(), json!({"created_before": "tomorrow"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("created_before"),
        "{problem}"
    );

    let (status, answer) = revoke(
        ops.clone(),
        json!({"subject": "alice", "bucket": BUCKET, "key_prefix": "alice/x/"}),
    )
    .await;
    assert_eq!((status, answer), (StatusCode::OK, json!({"revoked": 1})));
    assert_eq!(follow(&app, &a1).await.status(), StatusCode::GONE);
    assert_eq!(follow(&app, &a2).await.status(), StatusCode::FOUND);
    assert_eq!(follow(&app, &b1).await.status(), StatusCode::FOUND);

    let now = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let (_, answer) = revoke(ops.clone(), json!({"created_before": now})).await;
    assert_eq!(
        answer,
        json!({"revoked": 2}),
        "the rest; a1 was revoked already"
    );
    assert_eq!(follow(&app, &b1).await.status(), StatusCode::GONE);
    let b1_id: uuid::Uuid = b1["id"].as_str().unwrap().parse().unwrap();
    let rows = app.audit_rows().await;
    assert!(
        rows.iter()
            .any(|row| row.link_id == Some(b1_id) && row.action == "presign:RevokeLink"),
        "each revoked link has its own row"
    );
}

#[tokio::test]
async fn addresses_outside_allowed_cidrs_are_403_as_trusted_proxies_say() {
    let app = start("[server]\ntrust_forwarded_for = [\"127.0.0.1/32\"]").await;
    let alice = app.token("alice");
    let link = create_ok(
        &app,
        &alice,
        json!({"bucket": BUCKET, "key": "alice/a.txt", "allowed_cidrs": ["10.0.0.0/8", "2001:db8::1"]}),
    )
    .await;
    let from = |address: &'static str| {
        let url = local(&app, &link);
        async move {
            visitor()
                .get(url)
                .header("x-forwarded-for", address)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(from("10.1.2.3").await, StatusCode::FOUND);
    assert_eq!(from("2001:db8::1").await, StatusCode::FOUND);
    assert_eq!(from("192.0.2.1").await, StatusCode::FORBIDDEN);
    // The loopback peer itself is not in the list.
    assert_eq!(follow(&app, &link).await.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn creation_is_validated_and_decided_by_the_policy() {
    let app = start("[links]\nmax_expires_in = 3600").await;
    let alice = app.token("alice");
    let cases = [
        (
            json!({"bucket": BUCKET, "key": "alice/a", "allowed_cidrs": ["10.0.0.0/33"]}),
            "allowed_cidrs[0]",
        ),
        (
            json!({"bucket": BUCKET, "key": "alice/a", "allowed_cidrs": []}),
            "allowed_cidrs",
        ),
        (
            json!({"bucket": BUCKET, "key": "alice/a", "expires_in": 3601}),
            "expires_in",
        ),
        (
            json!({"bucket": BUCKET, "key": "alice/a", "max_uses": 0}),
            "max_uses",
        ),
        (
            json!({"bucket": BUCKET, "key": "alice/a", "note": "a\u{0}b"}),
            "note",
        ),
        (
            json!({"bucket": BUCKET, "key": "alice/a", "token": "mine"}),
            "token",
        ),
        (json!({"bucket": BUCKET, "key": "/alice/a"}), "key"),
    ];
    for (body, field) in cases {
        let (status, problem) = create(&app, &alice, body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {problem}");
        assert!(
            problem["detail"].as_str().unwrap().contains(field),
            "{body}: {problem}"
        );
    }
    let (status, _) = create(&app, &alice, json!({"bucket": BUCKET, "key": "bob/a"})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = create(
        &app,
        &alice,
        json!({"bucket": BUCKET, "key": "alice/secrets/a"}),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let link = create_ok(&app, &alice, json!({"bucket": BUCKET, "key": "alice/a"})).await;
    let expires_at = time::OffsetDateTime::parse(
        link["expires_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let lifetime = expires_at - time::OffsetDateTime::now_utc();
    assert!(
        lifetime <= time::Duration::seconds(3600),
        "default capped by max_expires_in"
    );
    let unauthenticated = app
        .http
        .post(format!("{}/links", app.base))
        .json(&json!({"bucket": BUCKET, "key": "alice/a"}))
        .send()
        .await
        .unwrap();
    assert_eq!(unauthenticated.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_policy_that_takes_the_creators_access_away_stops_their_links() {
    let app = start("").await;
    let alice = app.token("alice");
    let link = create_ok(
        &app,
        &alice,
        json!({"bucket": BUCKET, "key": "alice/a.txt"}),
    )
    .await;
    assert_eq!(follow(&app, &link).await.status(), StatusCode::FOUND);
    // Alice's reading is taken away; creating links stays.
    let stricter = LINK_POLICY.replace(
        r#""Action": ["s3:GetObject", "s3:PutObject", "presign:CreateLink"]"#,
        r#""Action": ["s3:PutObject", "presign:CreateLink"]"#,
    );
    std::fs::write(app.dir.path().join("policy.json"), stricter).unwrap();
    eventually(
        "the reloaded policy to refuse the link",
        crate::harness::DEADLINE,
        || async { follow(&app, &link).await.status() == StatusCode::FORBIDDEN },
    )
    .await;
}

#[tokio::test]
async fn postgres_fifty_concurrent_redemptions_over_two_replicas_give_exactly_five() {
    let database = fresh_postgres_database().await;
    let replica = || {
        TestApp::start_with(Options {
            backend: Backend::Postgres(Some(database.clone())),
            policy: LINK_POLICY.into(),
            ..Options::default()
        })
    };
    let first = Arc::new(replica().await);
    let second = Arc::new(replica().await);
    let alice = first.token("alice");
    let link = create_ok(
        &first,
        &alice,
        json!({"bucket": BUCKET, "key": "alice/popular.txt", "max_uses": 5}),
    )
    .await;
    let statuses = redeem_concurrently(&[first.clone(), second.clone()], &link, 50).await;
    assert_eq!(count(&statuses, StatusCode::FOUND), 5, "{statuses:?}");
    assert_eq!(count(&statuses, StatusCode::GONE), 45, "{statuses:?}");
}

#[tokio::test]
async fn postgres_a_revocation_on_one_replica_is_refused_on_the_other_at_once() {
    let database = fresh_postgres_database().await;
    let replica = || {
        TestApp::start_with(Options {
            backend: Backend::Postgres(Some(database.clone())),
            policy: LINK_POLICY.into(),
            ..Options::default()
        })
    };
    let first = replica().await;
    let second = replica().await;
    let alice = first.token("alice");
    let link = create_ok(
        &first,
        &alice,
        json!({"bucket": BUCKET, "key": "alice/a.txt"}),
    )
    .await;
    assert_eq!(follow(&second, &link).await.status(), StatusCode::FOUND);
    let revoked = first
        .http
        .delete(format!(
            "{}/links/{}",
            first.base,
            link["id"].as_str().unwrap()
        ))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), StatusCode::OK);
    let (status, problem) = code(follow(&second, &link).await).await;
    assert_eq!((status, problem.as_str()), (StatusCode::GONE, "gone"));
    // Both replicas' rows are in the one log.
    let id: uuid::Uuid = link["id"].as_str().unwrap().parse().unwrap();
    let rows = second.audit_rows().await;
    assert_eq!(rows.iter().filter(|row| row.link_id == Some(id)).count(), 4);
}

#[tokio::test]
async fn the_cli_creates_lists_and_revokes_links_on_the_configured_database() {
    let app = start("").await;
    let config = app.dir.path().join("cli.toml");
    std::fs::write(
        &config,
        format!(
            "[[auth.issuers]]\nissuer = \"{issuer}\"\naudiences = [\"presignd\"]\nsecret = \"{secret}\"\n\
             [policy]\nfile = \"{policy}\"\n[audit]\ndatabase_url = \"{db}\"\n\
             [links]\npublic_base_url = \"{base}\"\n",
            issuer = crate::harness::ISSUER,
            secret = crate::harness::SECRET,
            policy = app.dir.path().join("policy.json").display(),
            db = app.database_url,
            base = app.base,
        ),
    )
    .unwrap();
    let config = config.to_str().unwrap();
    let run = |args: Vec<&str>| {
        let mut all = vec!["--config", config, "links"];
        all.extend(args);
        let all: Vec<String> = all.into_iter().map(str::to_owned).collect();
        async move {
            let args: Vec<&str> = all.iter().map(String::as_str).collect();
            crate::harness::presignd(&args, &[]).await
        }
    };
    let denied = run(vec![
        "create", "--sub", "alice", "--bucket", BUCKET, "--key", "bob/x",
    ])
    .await;
    assert_eq!(denied.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&denied.stderr).contains("access_denied"));

    let created = run(vec![
        "create",
        "--sub",
        "alice",
        "--bucket",
        BUCKET,
        "--key",
        "alice/cli.txt",
        "--max-uses",
        "1",
        "--expires-in",
        "1h",
    ])
    .await;
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let url = String::from_utf8(created.stdout).unwrap().trim().to_owned();
    assert!(url.starts_with(&format!("{}/l/", app.base)), "{url}");
    let listed = run(vec!["list", "--subject", "alice", "--format", "json"]).await;
    let view: Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(
        (view["max_uses"].as_u64(), view["state"].as_str()),
        (Some(1), Some("active"))
    );
    assert!(!String::from_utf8_lossy(&listed.stdout).contains(&url[url.len() - 43..]));

    let revoked = run(vec![
        "revoke",
        view["id"].as_str().unwrap(),
        "--operator",
        "oncall",
    ])
    .await;
    assert!(
        revoked.status.success(),
        "{}",
        String::from_utf8_lossy(&revoked.stderr)
    );
    let gone = visitor().get(&url).send().await.unwrap();
    assert_eq!(gone.status(), StatusCode::GONE);
    let rows = app.audit_rows().await;
    let revocation = rows.iter().find(|row| row.subject == "oncall").unwrap();
    assert_eq!(
        (revocation.issuer.as_str(), revocation.statement.as_deref()),
        ("presignd-cli", Some("(operator)"))
    );
    let bulk = run(vec!["revoke", "--subject", "alice"]).await;
    assert_eq!(
        String::from_utf8_lossy(&bulk.stdout).trim(),
        "revoked 0 links"
    );
}

#[tokio::test]
async fn the_token_never_reaches_the_log() {
    let mut server = crate::harness::Server::builder(LINK_POLICY)
        .config("[log]\nlevel = \"debug\"\n")
        .spawn()
        .await;
    let alice = crate::harness::token("alice");
    let client = crate::harness::http_client();
    let link: Value = client
        .post(format!("{}/links", server.base()))
        .bearer_auth(&alice)
        .json(&json!({"bucket": BUCKET, "key": "alice/a.txt", "max_uses": 1}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = token_of(&link);
    let path = format!("{}/l/{token}", server.base());
    for _ in 0..2 {
        // A redirect, then a 410: both logged, neither with the token.
        visitor().get(&path).send().await.unwrap();
    }
    server.wait_for_log(&["/l/{token}", "410"]).await;
    let log = server.log();
    assert!(log.contains(r#""route":"/l/{token}""#), "{log}");
    assert!(!log.contains(&token), "the token is in the log:\n{log}");
}
