//! Operational routes and the edges of the route table.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::harness::TestApp;

#[tokio::test]
async fn health_readiness_and_spec() {
    let app = TestApp::start().await;
    let get = |path: &str| app.http.get(format!("{}{path}", app.base)).send();
    assert_eq!(get("/healthz").await.unwrap().status(), 200);
    assert_eq!(get("/readyz").await.unwrap().status(), 200);
    let spec = get("/openapi.yaml").await.unwrap();
    assert_eq!(spec.status(), 200);
    assert!(spec.text().await.unwrap().contains("/presign"));
}

#[tokio::test]
async fn readiness_fails_when_the_audit_store_is_broken() {
    let app = TestApp::start().await;
    let readyz = || async {
        app.http
            .get(format!("{}/readyz", app.base))
            .send()
            .await
            .unwrap()
            .status()
    };
    assert_eq!(readyz().await, 200);
    app.break_audit_store().await;
    assert_eq!(readyz().await, 503);
    // Liveness is not readiness: the process still runs.
    assert_eq!(
        app.http
            .get(format!("{}/healthz", app.base))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn unknown_routes_and_methods_are_problems_with_request_ids() {
    let app = TestApp::start().await;
    let response = app
        .http
        .get(format!("{}/nope", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["code"], "not_found");

    let response = app
        .http
        .get(format!("{}/presign", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["code"], "invalid_request");

    // A caller's request id is kept and echoed.
    let response = app
        .http
        .get(format!("{}/nope", app.base))
        .header("x-request-id", "caller-chosen-42")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "caller-chosen-42");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["request_id"], "caller-chosen-42");
}

#[tokio::test]
async fn cors_preflight_allows_configured_origins_only() {
    let app = crate::harness::TestApp::start_with(crate::harness::Options {
        config: "[cors]\nallowed_origins = [\"https://app.example.com\"]\n".into(),
        ..Default::default()
    })
    .await;
    let preflight = |origin: &'static str| {
        app.http
            .request(reqwest::Method::OPTIONS, format!("{}/presign", app.base))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization,content-type",
            )
            .send()
    };
    let allowed = preflight("https://app.example.com").await.unwrap();
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
    let methods = allowed.headers()["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(methods.contains("POST"), "{methods}");
    let refused = preflight("https://evil.example.com").await.unwrap();
    assert!(
        refused
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
}

#[tokio::test]
async fn rate_limits_answer_429_with_retry_after_per_caller() {
    let app = crate::harness::TestApp::start_with(crate::harness::Options {
        config: "[rate_limit]\nper_subject_per_second = 1\nburst = 3\nper_ip_per_second = 1000\nper_ip_burst = 1000\n".into(),
        ..Default::default()
    })
    .await;
    let alice = app.token("alice");
    let bob = app.token("bob");
    let body = |key: &str| serde_json::json!({"bucket": "uploads", "key": key, "method": "GET"});
    for _ in 0..3 {
        assert_eq!(app.presign(&alice, body("alice/a")).await.status(), 200);
    }
    let limited = app.presign(&alice, body("alice/a")).await;
    assert_eq!(limited.status(), 429);
    assert_eq!(limited.headers()["retry-after"], "1");
    let problem: serde_json::Value = limited.json().await.unwrap();
    assert_eq!(problem["code"], "rate_limited");
    // Alice's burst is hers alone.
    assert_eq!(app.presign(&bob, body("bob/a")).await.status(), 200);
    // The limited request is audited too: an authenticated caller over its limit.
    let rows = app.audit_rows().await;
    assert_eq!(rows.len(), 5);
    let limited_rows: Vec<_> = rows
        .iter()
        .filter(|row| row.outcome == presignd::audit::Outcome::Denied)
        .collect();
    assert_eq!(limited_rows.len(), 1, "{rows:?}");
    assert_eq!(limited_rows[0].subject, "alice");
    assert!(
        limited_rows[0]
            .reason
            .as_deref()
            .is_some_and(|reason| reason.contains("too many requests")),
        "{:?}",
        limited_rows[0].reason
    );
}

#[tokio::test]
async fn a_flood_of_bad_tokens_is_cut_off_by_address_before_verification() {
    let app = crate::harness::TestApp::start_with(crate::harness::Options {
        config: "[rate_limit]\nper_ip_per_second = 1\nper_ip_burst = 5\n".into(),
        ..Default::default()
    })
    .await;
    let mut statuses = Vec::new();
    for _ in 0..8 {
        statuses.push(
            app.presign("not-a-token", serde_json::json!({}))
                .await
                .status()
                .as_u16(),
        );
    }
    assert_eq!(statuses, [401, 401, 401, 401, 401, 429, 429, 429]);
}

#[tokio::test]
async fn metrics_count_requests_decisions_and_audit_batches() {
    let app = TestApp::start().await;
    let token = app.token("alice");
    app.presign_ok(
        &token,
        serde_json::json!({"bucket": "uploads", "key": "alice/m", "method": "PUT"}),
    )
    .await;
    app.presign(
        &token,
        serde_json::json!({"bucket": "uploads", "key": "bob/m", "method": "PUT"}),
    )
    .await;
    app.presign("bad", serde_json::json!({})).await;
    let response = app
        .http
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    for needle in [
        r#"presignd_http_requests_total{route="/presign",method="POST",status="200"}"#,
        r#"presignd_decisions_total{action="s3:PutObject",outcome="issued"}"#,
        r#"presignd_decisions_total{action="s3:PutObject",outcome="denied"}"#,
        r#"presignd_auth_failures_total{reason="malformed"}"#,
        r#"presignd_http_request_duration_seconds_bucket{route="/presign",le="0.005"}"#,
        "presignd_audit_commit_duration_seconds_count",
        "presignd_audit_batch_rows_bucket",
        "# HELP presignd_decisions_total",
    ] {
        assert!(
            text.contains(needle),
            "{needle} missing from /metrics:\n{text}"
        );
    }
    assert!(!text.contains("alice"), "no subject in metric labels");
}

#[tokio::test]
async fn unusable_request_ids_are_replaced_and_good_ones_kept_to_the_audit_row() {
    let app = TestApp::start().await;
    let token = app.token("alice");
    let body = serde_json::json!({"bucket": "uploads", "key": "alice/id", "method": "GET"});
    // Under the 64 KiB request-head limit (server.rs), far over the 128 bytes kept.
    let huge = "x".repeat(60 * 1024);
    let refused: [&[u8]; 5] = [
        huge.as_bytes(),
        b"two words",
        b"tab\there",
        "caf\u{e9}".as_bytes(),
        &[b'a'; 129],
    ];
    for value in refused {
        let value = reqwest::header::HeaderValue::from_bytes(value).unwrap();
        for request in [
            app.http.get(format!("{}/nope", app.base)),
            app.http.post(format!("{}/presign", app.base)).json(&body),
        ] {
            let response = request
                .header("x-request-id", value.clone())
                .send()
                .await
                .unwrap();
            let echoed = response.headers()["x-request-id"]
                .to_str()
                .unwrap()
                .to_owned();
            uuid::Uuid::parse_str(&echoed).unwrap_or_else(|_| panic!("not a UUID: {echoed:.80}"));
            let problem: serde_json::Value = response.json().await.unwrap();
            assert_eq!(problem["request_id"], echoed.as_str());
        }
    }

    // An issued URL's row carries the id the caller was answered with.
    let mut answered = Vec::new();
    for value in ["caller-chosen-7", huge.as_str()] {
        let response = app
            .http
            .post(format!("{}/presign", app.base))
            .bearer_auth(&token)
            .header("x-request-id", value)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let echoed = response.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .to_owned();
        let issued: serde_json::Value = response.json().await.unwrap();
        answered.push((echoed, issued["audit_id"].as_str().unwrap().to_owned()));
    }
    assert_eq!(answered[0].0, "caller-chosen-7");
    assert!(uuid::Uuid::parse_str(&answered[1].0).is_ok());
    let rows = app.audit_rows().await;
    for (request_id, audit_id) in &answered {
        let row = rows
            .iter()
            .find(|row| row.id.to_string() == *audit_id)
            .unwrap();
        assert_eq!(&row.request_id, request_id);
    }
}

/// Lines of a /metrics scrape that name a series (no comments).
async fn series(app: &TestApp) -> Vec<String> {
    let text = app
        .http
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .map(|line| {
            line.rsplit_once(' ')
                .map_or(line, |(name, _)| name)
                .to_owned()
        })
        .collect()
}

#[tokio::test]
async fn invented_methods_and_paths_add_no_metric_series() {
    let app = TestApp::start().await;
    let send = |method: &str, path: String| {
        app.http
            .request(
                reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
                format!("{}{path}", app.base),
            )
            .send()
    };
    // Every kind of request once, so that the flood below can only repeat series.
    send("FOO0", "/presign".into()).await.unwrap();
    send("FOO0", "/random/0".into()).await.unwrap();
    send("GET", "/random/0".into()).await.unwrap();
    series(&app).await;
    let before = series(&app).await;
    for i in 1..=50 {
        let method = format!("FOO{i}");
        assert_eq!(
            send(&method, "/presign".into()).await.unwrap().status(),
            405
        );
        assert_eq!(
            send(&method, format!("/random/{i}"))
                .await
                .unwrap()
                .status(),
            404
        );
        assert_eq!(
            send("GET", format!("/random/{i}/x"))
                .await
                .unwrap()
                .status(),
            404
        );
    }
    let after = series(&app).await;
    assert_eq!(before.len(), after.len(), "new series: {:?}", {
        let mut new = after.clone();
        new.retain(|line| !before.contains(line));
        new
    });
    let all = after.join("\n");
    assert!(
        all.contains(
            r#"presignd_http_requests_total{route="/presign",method="other",status="405"}"#
        ),
        "{all}"
    );
    assert!(!all.contains("FOO") && !all.contains("random"), "{all}");
}

#[tokio::test]
async fn metrics_bind_serves_metrics_on_its_own_listener_only() {
    let mut app = crate::harness::TestApp::start_with(crate::harness::Options {
        config: "[server]\nmetrics_bind = \"127.0.0.1:0\"\n".into(),
        ..Default::default()
    })
    .await;
    let metrics_base = app.metrics_base.clone().unwrap();
    let get = |url: String| app.http.get(url).send();
    let public = get(format!("{}/metrics", app.base)).await.unwrap();
    assert_eq!(public.status(), 404);
    let problem: serde_json::Value = public.json().await.unwrap();
    assert_eq!(problem["code"], "not_found");
    assert_eq!(
        get(format!("{}/healthz", app.base)).await.unwrap().status(),
        200
    );

    let scraped = get(format!("{metrics_base}/metrics")).await.unwrap();
    assert_eq!(scraped.status(), 200);
    let text = scraped.text().await.unwrap();
    assert!(text.contains("presignd_http_requests_total"), "{text}");
    // The metrics listener serves nothing else.
    assert_eq!(
        get(format!("{metrics_base}/healthz"))
            .await
            .unwrap()
            .status(),
        404
    );
    app.stop().await;
}

/// Reads until the server closes the connection; `None` if it does not within `limit`.
async fn closed_within(stream: &mut tokio::net::TcpStream, limit: Duration) -> Option<Vec<u8>> {
    let mut received = Vec::new();
    match tokio::time::timeout(limit, stream.read_to_end(&mut received)).await {
        Ok(_) => Some(received),
        Err(_) => None,
    }
}

#[tokio::test]
async fn slow_and_silent_clients_are_closed_after_the_header_read_timeout() {
    let app = crate::harness::TestApp::start_with(crate::harness::Options {
        config: "[server]\nheader_read_timeout_ms = 300\n".into(),
        ..Default::default()
    })
    .await;
    let address = app.base.trim_start_matches("http://").to_owned();
    let started = Instant::now();
    // Sends a header line every 50 ms, forever (slowloris).
    let trickler = TcpStream::connect(&address).await.unwrap();
    let (mut trickle_read, mut trickle_write) = trickler.into_split();
    let trickling = tokio::spawn(async move {
        trickle_write
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            .await?;
        loop {
            tokio::time::sleep(Duration::from_millis(50)).await;
            trickle_write.write_all(b"X-Slow: yes\r\n").await?;
        }
        #[allow(unreachable_code)]
        std::io::Result::Ok(())
    });
    // Sends nothing at all.
    let mut silent = TcpStream::connect(&address).await.unwrap();
    // Stops halfway through its headers.
    let mut partial = TcpStream::connect(&address).await.unwrap();
    partial
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();

    let limit = Duration::from_secs(10);
    let mut trickled = Vec::new();
    let read = tokio::time::timeout(limit, trickle_read.read_to_end(&mut trickled)).await;
    assert!(read.is_ok(), "the slowloris client was never closed");
    assert!(
        closed_within(&mut silent, limit).await.is_some(),
        "silent client kept"
    );
    let answer = closed_within(&mut partial, limit)
        .await
        .expect("partial client kept");
    assert!(!String::from_utf8_lossy(&answer).contains(" 200 "));
    assert!(started.elapsed() >= Duration::from_millis(250));
    trickling.abort();

    // A client that keeps to the timeout is served, on one keep-alive connection.
    for _ in 0..3 {
        let response = app.http.get(format!("{}/healthz", app.base)).send().await;
        assert_eq!(response.unwrap().status(), 200);
    }
}

#[tokio::test]
async fn one_address_cannot_take_more_than_its_connections() {
    let app = crate::harness::TestApp::start_with(crate::harness::Options {
        config: "[server]\nmax_connections_per_ip = 3\n".into(),
        ..Default::default()
    })
    .await;
    let address = app.base.trim_start_matches("http://").to_owned();
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(TcpStream::connect(&address).await.unwrap());
    }
    // The fourth from the same address is closed unanswered.
    let mut fourth = TcpStream::connect(&address).await.unwrap();
    let _ = fourth
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    let answer = closed_within(&mut fourth, Duration::from_secs(10))
        .await
        .expect("the fourth connection was kept open");
    assert!(answer.is_empty(), "{}", String::from_utf8_lossy(&answer));
    // A flood of idle connections from that address changes nothing for others.
    let mut flood = Vec::new();
    for _ in 0..200 {
        flood.push(TcpStream::connect(&address).await.unwrap());
    }
    let other = reqwest::Client::builder()
        .local_address(std::net::IpAddr::from([127, 0, 0, 2]))
        .build()
        .unwrap();
    let response = tokio::time::timeout(
        Duration::from_secs(5),
        other.get(format!("{}/healthz", app.base)).send(),
    )
    .await
    .expect("/healthz did not answer another client");
    assert_eq!(response.unwrap().status(), 200);

    // Once one of the three closes, the address gets a connection again.
    drop(held.pop());
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let fresh = reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .build()
            .unwrap();
        if let Ok(response) = fresh.get(format!("{}/healthz", app.base)).send().await {
            assert_eq!(response.status(), 200);
            break;
        }
        assert!(Instant::now() < deadline, "the freed slot was never reused");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn at_max_connections_a_new_client_waits_for_a_slot_instead_of_being_refused() {
    let app = crate::harness::TestApp::start_with(crate::harness::Options {
        config: "[server]\nmax_connections = 2\nheader_read_timeout_ms = 500\n".into(),
        ..Default::default()
    })
    .await;
    let address = app.base.trim_start_matches("http://").to_owned();
    let mut silent = Vec::new();
    for _ in 0..2 {
        silent.push(TcpStream::connect(&address).await.unwrap());
    }
    let started = Instant::now();
    // Queued in the backlog until the silent ones are dropped at the header timeout.
    let response = tokio::time::timeout(
        Duration::from_secs(10),
        app.http.get(format!("{}/healthz", app.base)).send(),
    )
    .await
    .expect("the waiting client was never served");
    assert_eq!(response.unwrap().status(), 200);
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "served before a slot was free: {:?}",
        started.elapsed()
    );
}
