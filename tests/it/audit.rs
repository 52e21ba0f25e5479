//! The audit log under concurrency and its reads.

use std::collections::HashSet;
use std::time::Duration;

use presignd::audit::{AuditQuery, Outcome, read_page, signature_fingerprint};
use serde_json::json;

use crate::harness::{BUCKET, Backend, Options, TestApp, eventually, query_param};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_presigns_get_exactly_one_row_each_sqlite() {
    concurrent_presigns_get_exactly_one_row_each(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_presigns_get_exactly_one_row_each_postgres() {
    concurrent_presigns_get_exactly_one_row_each(Backend::Postgres(None)).await;
}

#[tokio::test]
async fn pages_filters_and_signature_lookup_sqlite() {
    pages_return_every_row_once_newest_first_and_filters_apply(Backend::Sqlite).await;
}

#[tokio::test]
async fn pages_filters_and_signature_lookup_postgres() {
    pages_return_every_row_once_newest_first_and_filters_apply(Backend::Postgres(None)).await;
}

async fn start(backend: Backend) -> TestApp {
    TestApp::start_with(Options {
        backend,
        ..Options::default()
    })
    .await
}

pub async fn concurrent_presigns_get_exactly_one_row_each(backend: Backend) {
    let app = std::sync::Arc::new(start(backend).await);
    let token = app.token("alice");
    let mut tasks = Vec::new();
    for i in 0..200 {
        let app = app.clone();
        let token = token.clone();
        tasks.push(tokio::spawn(async move {
            let method = if i % 2 == 0 { "PUT" } else { "GET" };
            let presigned = app
                .presign_ok(
                    &token,
                    json!({"bucket": BUCKET, "key": format!("alice/{i}"), "method": method}),
                )
                .await;
            presigned["audit_id"].as_str().unwrap().to_owned()
        }));
    }
    let mut ids = HashSet::new();
    for task in tasks {
        assert!(ids.insert(task.await.unwrap()), "audit ids are unique");
    }
    let rows = app.audit_rows().await;
    assert_eq!(rows.len(), 200);
    let stored: HashSet<String> = rows.iter().map(|row| row.id.to_string()).collect();
    assert_eq!(stored, ids);
}

async fn pages_return_every_row_once_newest_first_and_filters_apply(backend: Backend) {
    let app = start(backend).await;
    let alice = app.token("alice");
    let bob = app.token("bob");
    let mut leaked = None;
    for i in 0..25 {
        let presigned = app
            .presign_ok(
                &alice,
                json!({"bucket": BUCKET, "key": format!("alice/p/{i}"), "method": "PUT"}),
            )
            .await;
        if i == 7 {
            leaked = Some(presigned);
        }
    }
    app.presign(
        &bob,
        json!({"bucket": BUCKET, "key": "alice/p/x", "method": "GET"}),
    )
    .await;

    let mut seen = Vec::new();
    let mut query = AuditQuery {
        limit: 10,
        ..AuditQuery::default()
    };
    loop {
        let page = read_page(app.store.as_ref(), &query).await.unwrap();
        seen.extend(page.events.iter().map(|event| (event.time, event.id)));
        match page.next_cursor {
            Some(cursor) => query.cursor = presignd::audit::Cursor::decode(&cursor),
            None => break,
        }
    }
    assert_eq!(seen.len(), 26);
    assert_eq!(
        seen.iter().collect::<HashSet<_>>().len(),
        26,
        "no row twice"
    );
    assert!(
        seen.windows(2).all(|pair| pair[0] > pair[1]),
        "newest first"
    );

    let denied = read_page(
        app.store.as_ref(),
        &AuditQuery {
            outcome: Some(Outcome::Denied),
            limit: 100,
            ..AuditQuery::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(denied.events.len(), 1);
    assert_eq!(denied.events[0].subject, "bob");

    let prefix = read_page(
        app.store.as_ref(),
        &AuditQuery {
            key_prefix: Some("alice/p/1".into()),
            subject: Some("alice".into()),
            limit: 100,
            ..AuditQuery::default()
        },
    )
    .await
    .unwrap();
    // alice/p/1 and alice/p/10..19
    assert_eq!(prefix.events.len(), 11);

    // Who was this leaked URL issued to?
    let leaked = leaked.unwrap();
    let signature = query_param(leaked["url"].as_str().unwrap(), "X-Amz-Signature").unwrap();
    let found = read_page(
        app.store.as_ref(),
        &AuditQuery {
            signature_sha256: Some(signature_fingerprint(&signature)),
            limit: 100,
            ..AuditQuery::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(found.events.len(), 1);
    assert_eq!(found.events[0].subject, "alice");
    assert_eq!(found.events[0].key.as_deref(), Some("alice/p/7"));
    assert_eq!(
        found.events[0].id.to_string(),
        leaked["audit_id"].as_str().unwrap()
    );
}

#[tokio::test]
async fn get_audit_needs_the_policy_action_and_is_itself_audited() {
    let app = TestApp::start().await;
    let alice = app.token("alice");
    let ops = app.token_with("olga", json!({"groups": ["dev", "ops"]}));
    let put = app
        .presign_ok(
            &alice,
            json!({"bucket": BUCKET, "key": "alice/leak.txt", "method": "PUT"}),
        )
        .await;
    let signature = query_param(put["url"].as_str().unwrap(), "X-Amz-Signature").unwrap();

    let get = |token: &str, query: &str| {
        app.http
            .get(format!("{}/audit{query}", app.base))
            .bearer_auth(token)
            .send()
    };
    let refused = get(&alice, "").await.unwrap();
    assert_eq!(refused.status(), 403);
    let problem: serde_json::Value = refused.json().await.unwrap();
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("presign:QueryAudit")
    );

    let found = get(&ops, &format!("?signature={}", urlencode(&signature)))
        .await
        .unwrap();
    assert_eq!(found.status(), 200);
    let page: serde_json::Value = found.json().await.unwrap();
    let events = page["events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{page}");
    assert_eq!(events[0]["subject"], "alice");
    assert_eq!(events[0]["key"], "alice/leak.txt");
    assert_eq!(events[0]["id"], put["audit_id"]);
    assert!(page["next_cursor"].is_null());

    // Both reads are in the log, the denied and the allowed, without the signature.
    let rows = app.audit_rows().await;
    let queries: Vec<_> = rows
        .iter()
        .filter(|row| row.action == "presign:QueryAudit")
        .collect();
    assert_eq!(queries.len(), 2);
    assert!(
        queries
            .iter()
            .any(|row| row.subject == "alice" && row.outcome == Outcome::Denied)
    );
    assert!(
        queries
            .iter()
            .any(|row| row.subject == "olga" && row.outcome == Outcome::Issued)
    );
    let dump = serde_json::to_string(&rows).unwrap();
    assert!(!dump.contains(&signature));
}

#[tokio::test]
async fn get_audit_rejects_bad_filters_by_name() {
    let app = TestApp::start().await;
    let ops = app.token_with("olga", json!({"groups": ["ops"]}));
    for (query, field) in [
        ("?since=yesterday", "since"),
        ("?limit=0", "limit"),
        ("?limit=5000", "limit"),
        ("?limit=ten", "limit"),
        ("?outcome=maybe", "outcome"),
        ("?cursor=garbage", "cursor"),
        ("?colour=blue", "colour"),
    ] {
        let response = app
            .http
            .get(format!("{}/audit{query}", app.base))
            .bearer_auth(&ops)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{query}");
        let problem: serde_json::Value = response.json().await.unwrap();
        assert_eq!(problem["code"], "invalid_request");
        assert!(
            problem["detail"].as_str().unwrap().contains(field),
            "{query}: {problem}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nul_filter_fails_no_one_sqlite() {
    a_nul_filter_is_refused_by_the_policy_audited_and_fails_no_one(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nul_filter_fails_no_one_postgres() {
    a_nul_filter_is_refused_by_the_policy_audited_and_fails_no_one(Backend::Postgres(None)).await;
}

/// PostgreSQL text cannot hold NUL: such a row once failed its whole batch, so a caller
/// without audit permission got 503 (not 403, not audited) and made concurrent presigns
/// of other callers fail with it.
async fn a_nul_filter_is_refused_by_the_policy_audited_and_fails_no_one(backend: Backend) {
    let app = std::sync::Arc::new(start(backend).await);
    let alice = app.token("alice");
    // NUL in the token's subject too: it reaches the row's subject column.
    let mallory = app.token("mal\u{0}lory");
    let mut presigns = Vec::new();
    let mut probes = Vec::new();
    for i in 0..40 {
        let (presigner, token) = (app.clone(), alice.clone());
        presigns.push(tokio::spawn(async move {
            let body = json!({"bucket": BUCKET, "key": format!("alice/{i}"), "method": "PUT"});
            presigner.presign(&token, body).await.status().as_u16()
        }));
        if i % 4 == 0 {
            let app = app.clone();
            let token = mallory.clone();
            probes.push(tokio::spawn(async move {
                let response = app
                    .http
                    .get(format!("{}/audit?subject=%00&key_prefix=a%00b", app.base))
                    .bearer_auth(&token)
                    .send()
                    .await
                    .unwrap();
                let status = response.status().as_u16();
                let problem: serde_json::Value = response.json().await.unwrap();
                (status, problem)
            }));
        }
    }
    for presign in presigns {
        assert_eq!(presign.await.unwrap(), 200);
    }
    for probe in probes {
        let (status, problem) = probe.await.unwrap();
        assert_eq!(status, 403, "{problem}");
        assert_eq!(problem["code"], "access_denied");
    }
    let rows = app.audit_rows().await;
    let denied: Vec<_> = rows
        .iter()
        .filter(|row| row.action == "presign:QueryAudit")
        .collect();
    assert_eq!(denied.len(), 10, "every probe is audited");
    for row in denied {
        assert_eq!(row.outcome, Outcome::Denied);
        assert_eq!(row.subject, "mal\u{FFFD}lory");
        assert_eq!(row.request["subject"], "\u{FFFD}");
        assert_eq!(row.request["key_prefix"], "a\u{FFFD}b");
    }
    // An ops query with the same filter is answered, and finds mallory's rows.
    let ops = app.token_with("olga", json!({"groups": ["ops"]}));
    let found = app
        .http
        .get(format!("{}/audit?subject=mal%00lory", app.base))
        .bearer_auth(&ops)
        .send()
        .await
        .unwrap();
    assert_eq!(found.status(), 200);
    let page: serde_json::Value = found.json().await.unwrap();
    assert_eq!(page["events"].as_array().unwrap().len(), 10, "{page}");
}

#[tokio::test]
async fn a_leaked_url_finds_its_row_sqlite() {
    a_leaked_url_finds_its_row_by_id_and_signature(Backend::Sqlite).await;
}

#[tokio::test]
async fn a_leaked_url_finds_its_row_postgres() {
    a_leaked_url_finds_its_row_by_id_and_signature(Backend::Postgres(None)).await;
}

/// `GET /audit?url=`: the row whose id is the URL's `x-presignd-id`, if the URL's signature
/// is the one signed for it; anything else finds nothing, and a URL without those
/// parameters is a 400 naming `url`.
async fn a_leaked_url_finds_its_row_by_id_and_signature(backend: Backend) {
    let app = start(backend).await;
    let alice = app.token("alice");
    let ops = app.token_with("olga", json!({"groups": ["ops"]}));
    let leaked = app
        .presign_ok(
            &alice,
            json!({"bucket": BUCKET, "key": "alice/leaked.txt", "method": "GET"}),
        )
        .await;
    let other = app
        .presign_ok(
            &alice,
            json!({"bucket": BUCKET, "key": "alice/other.txt", "method": "PUT"}),
        )
        .await;
    let url = leaked["url"].as_str().unwrap().to_owned();
    let signature = query_param(&url, "X-Amz-Signature").unwrap();
    let get = |query: String| {
        app.http
            .get(format!("{}/audit?{query}", app.base))
            .bearer_auth(&ops)
            .send()
    };
    let events = |url: String| async move {
        let response = get(format!("url={}", urlencode(&url))).await.unwrap();
        assert_eq!(response.status(), 200, "{url}");
        let page: serde_json::Value = response.json().await.unwrap();
        page["events"].as_array().unwrap().clone()
    };

    let found = events(url.clone()).await;
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["id"], leaked["audit_id"]);
    assert_eq!(found[0]["subject"], "alice");
    assert_eq!(found[0]["key"], "alice/leaked.txt");

    // Another URL's signature on this id, this signature on another URL's id, and an id
    // that names no row: nothing.
    let other_signature = query_param(other["url"].as_str().unwrap(), "X-Amz-Signature").unwrap();
    let other_id = other["audit_id"].as_str().unwrap();
    let leaked_id = leaked["audit_id"].as_str().unwrap();
    for forged in [
        url.replace(&signature, &other_signature),
        url.replace(leaked_id, other_id),
        url.replace(leaked_id, &uuid::Uuid::now_v7().to_string()),
    ] {
        assert_ne!(forged, url);
        assert!(events(forged.clone()).await.is_empty(), "{forged}");
    }

    let no_id = url.replace(presignd::audit::AUDIT_ID_PARAM, "x-other");
    let no_signature = url.replace("X-Amz-Signature", "X-Other");
    for bad in [
        format!("url={}", urlencode("not a url")),
        format!("url={}", urlencode(&no_id)),
        format!("url={}", urlencode(&no_signature)),
        format!(
            "url={}&signature={}",
            urlencode(&url),
            urlencode(&signature)
        ),
    ] {
        let response = get(bad.clone()).await.unwrap();
        assert_eq!(response.status(), 400, "{bad}");
        let problem: serde_json::Value = response.json().await.unwrap();
        assert_eq!(problem["code"], "invalid_request");
        assert!(
            problem["detail"].as_str().unwrap().starts_with("url: "),
            "{bad}: {problem}"
        );
    }

    // The lookups are audited with the id and the fingerprint, never the signature.
    let rows = app.audit_rows().await;
    let lookups: Vec<_> = rows
        .iter()
        .filter(|row| row.action == "presign:QueryAudit" && row.request["id"] == leaked["audit_id"])
        .collect();
    assert_eq!(
        lookups.len(),
        2,
        "the lookup and the forged signature on this id"
    );
    assert!(
        lookups
            .iter()
            .any(|row| row.request["signature_sha256"] == signature_fingerprint(&signature))
    );
    let dump = serde_json::to_string(&rows).unwrap();
    assert!(!dump.contains(&signature));
}

fn urlencode(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}

#[tokio::test]
async fn retention_deletes_old_rows_in_the_background_sqlite() {
    retention_deletes_old_rows_in_the_background(Backend::Sqlite).await;
}

#[tokio::test]
async fn retention_deletes_old_rows_in_the_background_postgres() {
    retention_deletes_old_rows_in_the_background(Backend::Postgres(None)).await;
}

/// Rows older than `audit.retention_days` go; younger ones stay. The first sweep runs at
/// startup, so a second app on the same database sweeps what the first one wrote.
async fn retention_deletes_old_rows_in_the_background(backend: Backend) {
    let first = start(backend).await;
    let token = first.token("alice");
    first
        .presign_ok(
            &token,
            json!({"bucket": BUCKET, "key": "alice/new", "method": "GET"}),
        )
        .await;
    let template = first.audit_rows().await.remove(0);
    let old: Vec<_> = (0..3)
        .map(|days| presignd::audit::AuditEvent {
            id: uuid::Uuid::now_v7(),
            time: time::OffsetDateTime::now_utc() - time::Duration::days(40 + days),
            key: Some(format!("alice/old-{days}")),
            ..template.clone()
        })
        .collect();
    first.store.insert_batch(&old).await.unwrap();
    assert_eq!(first.audit_rows().await.len(), 4);

    let second = TestApp::start_with(Options {
        backend: Backend::Existing(first.database_url.clone()),
        config: "[audit]\nretention_days = 30\n".into(),
        ..Options::default()
    })
    .await;
    let swept = || async {
        let keys: Vec<String> = second
            .audit_rows()
            .await
            .into_iter()
            .filter_map(|row| row.key)
            .collect();
        if keys.len() == 1 { Ok(keys) } else { Err(keys) }
    };
    let keys = eventually("the retention sweep", Duration::from_secs(10), swept).await;
    assert_eq!(keys, ["alice/new"], "old rows swept, the young one kept");
}

#[tokio::test]
async fn far_times_are_400s_naming_the_parameter_sqlite() {
    far_times_are_400s_naming_the_parameter(Backend::Sqlite).await;
}

#[tokio::test]
async fn far_times_are_400s_naming_the_parameter_postgres() {
    far_times_are_400s_naming_the_parameter(Backend::Postgres(None)).await;
}

/// Times past year 9999 in UTC (an RFC 3339 offset can push `9999-12-31T23:59:59` there)
/// or before 1970 never reach the store; they used to panic the handler.
async fn far_times_are_400s_naming_the_parameter(backend: Backend) {
    use base64::Engine;
    let app = start(backend).await;
    let ops = app.token_with("olga", json!({"groups": ["ops"]}));
    let cursor = |time: &str| {
        let json = json!({"time": time, "id": uuid::Uuid::now_v7()}).to_string();
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
    };
    let get = |field: &str, value: &str| {
        app.http
            .get(format!("{}/audit?{field}={}", app.base, urlencode(value)))
            .bearer_auth(&ops)
            .send()
    };
    for (field, value) in [
        ("since", "9999-12-31T23:59:59-23:59".to_owned()),
        ("until", "9999-12-31T23:59:59-01:00".to_owned()),
        ("since", "1969-12-31T23:59:59Z".to_owned()),
        ("until", "0000-01-01T00:00:00Z".to_owned()),
        ("cursor", cursor("9999-12-31T23:59:59-23:59")),
        ("cursor", cursor("0000-01-01T00:00:00Z")),
    ] {
        let response = get(field, &value)
            .await
            .unwrap_or_else(|e| panic!("{field}={value}: {e}"));
        assert_eq!(response.status(), 400, "{field}={value}");
        let problem: serde_json::Value = response.json().await.unwrap();
        assert_eq!(problem["code"], "invalid_request");
        assert!(
            problem["detail"].as_str().unwrap().contains(field),
            "{field}={value}: {problem}"
        );
    }
    // The ends of the range still work, with or without an offset.
    for (field, value) in [
        ("since", "1970-01-01T00:00:00Z"),
        ("until", "9999-12-31T23:59:59Z"),
        ("since", "9999-12-31T23:59:59Z"),
        ("until", "9999-12-31T23:59:59+01:00"),
        ("limit", "1"),
    ] {
        let response = get(field, value).await.unwrap();
        assert_eq!(response.status(), 200, "{field}={value}");
    }
}

/// The first migration of the compact layout: the rows written before it must read back
/// the same after it.
const COMPACT_LAYOUT: i64 = 20261204130000;

#[tokio::test]
async fn the_compact_layout_keeps_existing_rows_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/audit.db?mode=rwc", dir.path().display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    migrate_before_compact(sqlx::migrate!("./migrations/sqlite"), &pool).await;
    let [issued, denied] = rows_before_compact();
    for event in [&issued, &denied] {
        let text_time = |t: time::OffsetDateTime| {
            t.format(time::macros::format_description!(
                "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"
            ))
            .unwrap()
        };
        sqlx::query(OLD_INSERT)
            .bind(event.id.to_string())
            .bind(text_time(event.time))
            .bind(&event.request_id)
            .bind(event.outcome.as_str())
            .bind(&event.reason)
            .bind(&event.issuer)
            .bind(&event.subject)
            .bind(&event.client_ip)
            .bind(&event.user_agent)
            .bind(&event.action)
            .bind(&event.bucket)
            .bind(&event.key)
            .bind(event.expires_at.map(text_time))
            .bind(event.expires_in)
            .bind(&event.statement)
            .bind(&event.signature_sha256)
            .bind(event.request.to_string())
            .bind(event.link_id.map(|id| id.to_string()))
            .bind(event.upload_id.map(|id| id.to_string()))
            .execute(&pool)
            .await
            .unwrap();
    }
    pool.close().await;
    assert_read_back_after_migration(&url, [issued, denied]).await;
}

#[tokio::test]
async fn the_compact_layout_keeps_existing_rows_postgres() {
    let url = crate::harness::fresh_postgres_database().await;
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    migrate_before_compact(sqlx::migrate!("./migrations/postgres"), &pool).await;
    let [issued, denied] = rows_before_compact();
    for event in [&issued, &denied] {
        sqlx::query(
            "INSERT INTO audit_events (id, time, request_id, outcome, reason, issuer, subject, \
             client_ip, user_agent, action, bucket, object_key, expires_at, expires_in, \
             statement, signature_sha256, request, link_id, upload_id) VALUES ($1, $2, $3, $4, \
             $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)",
        )
        .bind(event.id)
        .bind(event.time)
        .bind(&event.request_id)
        .bind(event.outcome.as_str())
        .bind(&event.reason)
        .bind(&event.issuer)
        .bind(&event.subject)
        .bind(&event.client_ip)
        .bind(&event.user_agent)
        .bind(&event.action)
        .bind(&event.bucket)
        .bind(&event.key)
        .bind(event.expires_at)
        .bind(event.expires_in)
        .bind(&event.statement)
        .bind(&event.signature_sha256)
        .bind(sqlx::types::Json(&event.request))
        .bind(event.link_id)
        .bind(event.upload_id)
        .execute(&pool)
        .await
        .unwrap();
    }
    pool.close().await;
    assert_read_back_after_migration(&url, [issued, denied]).await;
}

const OLD_INSERT: &str = "INSERT INTO audit_events (id, time, request_id, outcome, reason, \
     issuer, subject, client_ip, user_agent, action, bucket, object_key, expires_at, \
     expires_in, statement, signature_sha256, request, link_id, upload_id) \
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";

async fn migrate_before_compact<'c, A>(mut migrator: sqlx::migrate::Migrator, pool: A)
where
    A: sqlx::Acquire<'c>,
    <A::Connection as std::ops::Deref>::Target: sqlx::migrate::Migrate,
{
    migrator.migrations = migrator
        .migrations
        .iter()
        .filter(|m| m.version < COMPACT_LAYOUT)
        .cloned()
        .collect::<Vec<_>>()
        .into();
    migrator.run(pool).await.unwrap();
}

/// An issued row with every field and a denied one with every option empty.
fn rows_before_compact() -> [presignd::audit::AuditEvent; 2] {
    let issued = presignd::audit::AuditEvent {
        id: uuid::Uuid::now_v7(),
        time: time::macros::datetime!(2026-11-23 15:02:03.123456 UTC),
        request_id: "req-1".into(),
        outcome: Outcome::Issued,
        reason: None,
        issuer: "https://idp.example".into(),
        subject: "alice".into(),
        client_ip: Some("192.0.2.1".into()),
        user_agent: Some("curl/8".into()),
        action: "s3:PutObject".into(),
        bucket: Some(BUCKET.into()),
        key: Some("alice/a.txt".into()),
        expires_at: Some(time::macros::datetime!(2026-11-23 15:17:03.123456 UTC)),
        expires_in: Some(900),
        statement: Some("OwnFolderWrite".into()),
        signature_sha256: Some(signature_fingerprint("sig")),
        request: json!({"content_type": "text/plain"}),
        link_id: None,
        upload_id: Some(uuid::Uuid::now_v7()),
    };
    let denied = presignd::audit::AuditEvent {
        id: uuid::Uuid::now_v7(),
        time: time::macros::datetime!(2026-11-24 00:00:00 UTC),
        outcome: Outcome::Denied,
        reason: Some("no statement allows".into()),
        client_ip: None,
        user_agent: None,
        bucket: None,
        key: None,
        expires_at: None,
        expires_in: None,
        statement: None,
        signature_sha256: None,
        request: json!({}),
        link_id: Some(uuid::Uuid::now_v7()),
        upload_id: None,
        ..issued.clone()
    };
    [issued, denied]
}

async fn assert_read_back_after_migration(url: &str, rows: [presignd::audit::AuditEvent; 2]) {
    let store = presignd::audit::open(url).await.unwrap();
    store.migrate().await.unwrap();
    let page = read_page(
        store.as_ref(),
        &AuditQuery {
            limit: 10,
            ..AuditQuery::default()
        },
    )
    .await
    .unwrap();
    let [issued, denied] = rows;
    assert_eq!(
        page.events,
        [denied, issued.clone()],
        "newest first, every field kept"
    );
    let by_id = read_page(
        store.as_ref(),
        &AuditQuery {
            id: Some(issued.id),
            signature_sha256: issued.signature_sha256.clone(),
            limit: 10,
            ..AuditQuery::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(by_id.events, [issued]);
}
