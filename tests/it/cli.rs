//! The `presignd` binary itself: startup errors name the key, and the `migrate`, `token`
//! and `audit` commands work on a real store.

use std::process::{Output, Stdio};
use std::time::Duration;

use serde_json::json;

use crate::harness::{BUCKET, TestApp, command, presignd};
use tokio::io::{AsyncBufReadExt, BufReader};

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[tokio::test]
async fn startup_errors_name_the_key_and_exit_2() {
    let cases: [(&[(&str, &str)], &str); 4] = [
        (&[("PRESIGND_SERVER__BINDD", "x")], "BINDD"),
        (
            &[("PRESIGND_SERVER__MAX_BODY_BYTES", "lots")],
            "MAX_BODY_BYTES",
        ),
        (
            &[("PRESIGND_S3__MAX_EXPIRES_IN", "999999999")],
            "s3.max_expires_in",
        ),
        (&[], "auth.issuers"),
    ];
    for (env, key) in cases {
        let output = presignd(&["serve"], env).await;
        assert_eq!(output.status.code(), Some(2), "{env:?}");
        assert!(
            stderr(&output).contains(key),
            "{env:?}: {}",
            stderr(&output)
        );
    }
}

#[tokio::test]
async fn migrate_creates_the_sqlite_store() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("nested/audit.db").display());
    let output = presignd(&["migrate"], &[("PRESIGND_AUDIT__DATABASE_URL", &url)]).await;
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(dir.path().join("nested/audit.db").exists());
}

#[tokio::test]
async fn token_mints_for_the_configured_issuer() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("presignd.toml");
    std::fs::write(
        &config,
        "[[auth.issuers]]\nissuer = \"https://idp.test\"\naudiences = [\"presignd\"]\nsecret = \"0123456789abcdef0123456789abcdef\"\n",
    )
    .unwrap();
    let output = presignd(
        &[
            "--config",
            config.to_str().unwrap(),
            "token",
            "--sub",
            "bob",
            "--claim",
            "groups=[\"ops\"]",
            "--ttl",
            "5m",
        ],
        &[],
    )
    .await;
    assert!(output.status.success(), "{}", stderr(&output));
    let token = String::from_utf8(output.stdout).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.set_audience(&["presignd"]);
    let claims = jsonwebtoken::decode::<serde_json::Value>(
        token.trim(),
        &jsonwebtoken::DecodingKey::from_secret(b"0123456789abcdef0123456789abcdef"),
        &validation,
    )
    .unwrap()
    .claims;
    assert_eq!(claims["sub"], "bob");
    assert_eq!(claims["iss"], "https://idp.test");
    assert_eq!(claims["groups"], json!(["ops"]));
    let lifetime = claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap();
    assert_eq!(lifetime, 300);
}

#[tokio::test]
async fn audit_command_reads_the_log_in_every_format() {
    let app = TestApp::start().await;
    let token = app.token("alice");
    let put = app
        .presign_ok(
            &token,
            json!({"bucket": BUCKET, "key": "alice/cli.txt", "method": "PUT"}),
        )
        .await;
    app.presign(
        &token,
        json!({"bucket": BUCKET, "key": "bob/cli.txt", "method": "GET"}),
    )
    .await;
    let url = app.database_url.clone();
    let env = [("PRESIGND_AUDIT__DATABASE_URL", url.as_str())];

    let json_lines = presignd(&["audit", "--format", "json", "--outcome", "issued"], &env).await;
    assert!(json_lines.status.success(), "{}", stderr(&json_lines));
    let rows: Vec<serde_json::Value> = String::from_utf8(json_lines.stdout)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["id"], put["audit_id"]);

    let table = presignd(&["audit", "--subject", "alice"], &env).await;
    let table = String::from_utf8(table.stdout).unwrap();
    let mut lines = table.lines();
    assert!(lines.next().unwrap().starts_with("time"), "{table}");
    assert_eq!(table.lines().count(), 3, "header and two rows: {table}");
    assert!(
        table.contains("alice/cli.txt") && table.contains("denied (no statement allows)"),
        "{table}"
    );

    let csv = presignd(&["audit", "--format", "csv", "--key-prefix", "bob/"], &env).await;
    let csv = String::from_utf8(csv.stdout).unwrap();
    assert_eq!(csv.lines().count(), 2, "{csv}");
    assert!(csv.lines().nth(1).unwrap().contains("bob/cli.txt"));

    let signature =
        crate::harness::query_param(put["url"].as_str().unwrap(), "X-Amz-Signature").unwrap();
    let found = presignd(
        &["audit", "--format", "json", "--signature", &signature],
        &env,
    )
    .await;
    let found = String::from_utf8(found.stdout).unwrap();
    assert_eq!(found.lines().count(), 1);
    assert!(found.contains("alice/cli.txt"));

    let by_url = presignd(
        &[
            "audit",
            "--format",
            "json",
            "--url",
            put["url"].as_str().unwrap(),
        ],
        &env,
    )
    .await;
    assert!(by_url.status.success(), "{}", stderr(&by_url));
    let by_url = String::from_utf8(by_url.stdout).unwrap();
    assert_eq!(by_url.lines().count(), 1, "{by_url}");
    assert!(by_url.contains(put["audit_id"].as_str().unwrap()));
    let forged = put["url"].as_str().unwrap().replace(&signature, "0000");
    let nothing = presignd(&["audit", "--format", "json", "--url", &forged], &env).await;
    assert!(nothing.status.success(), "{}", stderr(&nothing));
    assert!(nothing.stdout.is_empty());
    let no_id = presignd(
        &["audit", "--url", "https://b.example/k?X-Amz-Signature=a"],
        &env,
    )
    .await;
    assert_eq!(no_id.status.code(), Some(2));
    assert!(stderr(&no_id).contains("url"), "{}", stderr(&no_id));

    let bad = presignd(&["audit", "--since", "yesterday"], &env).await;
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("since"), "{}", stderr(&bad));
}

#[tokio::test]
async fn audit_follow_prints_new_rows_once() {
    let app = TestApp::start().await;
    let token = app.token("alice");
    app.presign_ok(
        &token,
        json!({"bucket": BUCKET, "key": "alice/f0", "method": "GET"}),
    )
    .await;
    let url = app.database_url.clone();
    let mut child = command(&["audit", "--follow", "--format", "json"])
        .env("PRESIGND_AUDIT__DATABASE_URL", &url)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    // The key of the next row printed within `timeout`; `next_line` is cancel-safe.
    let mut next_key = async |timeout: Duration| -> Option<String> {
        let line = tokio::time::timeout(timeout, lines.next_line())
            .await
            .ok()?;
        let event: serde_json::Value = serde_json::from_str(&line.unwrap()?).unwrap();
        Some(event["key"].as_str().unwrap().to_owned())
    };
    assert_eq!(
        next_key(Duration::from_secs(10)).await.as_deref(),
        Some("alice/f0")
    );
    for i in 1..=3 {
        app.presign_ok(
            &token,
            json!({"bucket": BUCKET, "key": format!("alice/f{i}"), "method": "GET"}),
        )
        .await;
    }
    let mut followed = Vec::new();
    for _ in 0..3 {
        followed.push(
            next_key(Duration::from_secs(10))
                .await
                .expect("a followed row"),
        );
    }
    assert_eq!(followed, ["alice/f1", "alice/f2", "alice/f3"]);
    // Later polls print nothing twice.
    assert_eq!(next_key(Duration::from_millis(2500)).await, None);
    child.kill().await.unwrap();
}
