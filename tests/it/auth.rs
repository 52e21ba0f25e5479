//! Authentication through the whole app: every algorithm accepted, an attack suite
//! (RFC 8725, PortSwigger's JWT labs, jwt_tool's playbook, JWT library CVEs) refused with
//! one uniform 401, and JWKS behaviour against a local IdP: rotation, a flood of unknown
//! kids, an IdP down at startup, bad refreshes, OIDC discovery. Plus `presignd token`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use tokio::net::TcpListener;

use crate::harness::{BUCKET, ISSUER, Options, SECRET, TestApp, eventually, presignd};

// ---------------------------------------------------------------------------------------
// Keys and tokens

fn key_file(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/keys/{name}.pem"))
}

fn key_pem(name: &str) -> Vec<u8> {
    std::fs::read(key_file(name)).unwrap()
}

/// The signing key of fixture `name` (`rsa`, `ec256`, `ed25519-other`, ...).
fn encoding_key(name: &str) -> EncodingKey {
    let pem = key_pem(&format!("{name}.key"));
    match name {
        n if n.starts_with("rsa") => EncodingKey::from_rsa_pem(&pem).unwrap(),
        n if n.starts_with("ec") => EncodingKey::from_ec_pem(&pem).unwrap(),
        _ => EncodingKey::from_ed_pem(&pem).unwrap(),
    }
}

/// The public JWK of fixture `name`, with `kid`.
fn jwk(name: &str, kid: &str) -> Value {
    let alg = match name {
        n if n.starts_with("rsa") => Algorithm::RS256,
        n if n.starts_with("ec384") => Algorithm::ES384,
        n if n.starts_with("ec") => Algorithm::ES256,
        _ => Algorithm::EdDSA,
    };
    let mut jwk =
        serde_json::to_value(Jwk::from_encoding_key(&encoding_key(name), alg).unwrap()).unwrap();
    jwk.as_object_mut().unwrap().remove("alg");
    jwk["kid"] = kid.into();
    jwk["use"] = "sig".into();
    jwk
}

fn now() -> u64 {
    jsonwebtoken::get_current_timestamp()
}

/// Valid claims for `iss`, subject alice, audience presignd.
fn claims(iss: &str) -> Value {
    json!({"iss": iss, "sub": "alice", "aud": "presignd", "iat": now(), "exp": now() + 600})
}

fn sign_with(name: &str, alg: Algorithm, kid: Option<&str>, claims: &Value) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, &encoding_key(name)).unwrap()
}

fn hs_sign(claims: &Value, secret: &[u8], alg: Algorithm) -> String {
    jsonwebtoken::encode(&Header::new(alg), claims, &EncodingKey::from_secret(secret)).unwrap()
}

fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A token with exactly this header, these claims and this signature (base64url).
fn raw_token(header: &Value, claims: &Value, signature: &str) -> String {
    format!(
        "{}.{}.{signature}",
        b64(header.to_string()),
        b64(claims.to_string())
    )
}

fn body() -> Value {
    json!({"bucket": BUCKET, "key": "alice/report.pdf", "method": "GET"})
}

/// The status of POST /presign with `token`, checking that every 401 is the one uniform
/// problem: same code, same detail, same `WWW-Authenticate`.
async fn status_of(app: &TestApp, token: &str) -> u16 {
    let response = app.presign(token, body()).await;
    let status = response.status().as_u16();
    if status == 401 {
        assert_eq!(
            response.headers()["www-authenticate"],
            r#"Bearer error="invalid_token""#
        );
        let problem: Value = response.json().await.unwrap();
        assert_eq!(problem["code"], "invalid_token");
        assert_eq!(problem["detail"], "invalid token");
    }
    status
}

async fn readyz(app: &TestApp) -> u16 {
    let url = format!("{}/readyz", app.base);
    app.http.get(url).send().await.unwrap().status().as_u16()
}

/// The harness's own HS issuer, to keep next to the issuers a test adds (figment
/// replaces the whole `auth.issuers` array).
fn harness_issuer() -> String {
    format!(
        "[[auth.issuers]]\nissuer = \"{ISSUER}\"\naudiences = [\"presignd\"]\nsecret = \"{SECRET}\"\n"
    )
}

fn jwks_issuer(issuer: &str, url: &str, extra: &str) -> String {
    format!(
        "[[auth.issuers]]\nissuer = \"{issuer}\"\naudiences = [\"presignd\"]\njwks_url = \"{url}\"\n\
         algorithms = [\"RS256\", \"PS256\", \"ES256\", \"ES384\", \"EdDSA\"]\n{extra}\n"
    )
}

/// The app with the JWKS issuer `issuer` on `idp` (plus `extra` issuer keys), once its
/// keys have arrived.
async fn start_with_jwks(issuer: &str, idp: &IdpServer, extra: &str) -> TestApp {
    let app = start_with_issuers(jwks_issuer(issuer, &format!("{}/jwks", idp.base), extra)).await;
    wait_until_ready(&app).await;
    app
}

async fn wait_until_ready(app: &TestApp) {
    eventually(
        "readiness (every issuer's keys)",
        Duration::from_secs(10),
        || async { readyz(app).await == 200 },
    )
    .await;
}

async fn start_with_issuers(issuers: String) -> TestApp {
    TestApp::start_with(Options {
        config: issuers,
        ..Options::default()
    })
    .await
}

// ---------------------------------------------------------------------------------------
// A local IdP: JWKS, discovery document, redirects; counts what it serves.

enum Answer {
    Keys(Value),
    Status(u16),
    Raw(Vec<u8>),
}

struct Idp {
    jwks: Mutex<Answer>,
    discovery: Mutex<Value>,
    jwks_hits: AtomicUsize,
    discovery_hits: AtomicUsize,
}

struct IdpServer {
    base: String,
    state: Arc<Idp>,
    task: tokio::task::JoinHandle<()>,
}

impl IdpServer {
    async fn start(keys: Value) -> Self {
        Self::start_on(TcpListener::bind("127.0.0.1:0").await.unwrap(), keys).await
    }

    async fn start_on(listener: TcpListener, keys: Value) -> Self {
        let base = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Idp {
            jwks: Mutex::new(Answer::Keys(keys)),
            discovery: Mutex::new(json!({"issuer": base, "jwks_uri": format!("{base}/jwks")})),
            jwks_hits: AtomicUsize::new(0),
            discovery_hits: AtomicUsize::new(0),
        });
        let router = Router::new()
            .route("/jwks", get(serve_jwks))
            .route("/.well-known/openid-configuration", get(serve_discovery))
            .route("/redirect-off-https", get(redirect_off_https))
            .with_state(state.clone());
        let task = tokio::spawn(async move {
            axum::serve(listener, router).await.unwrap();
        });
        Self { base, state, task }
    }

    fn set(&self, answer: Answer) {
        *self.state.jwks.lock().unwrap() = answer;
    }

    fn hits(&self) -> usize {
        self.state.jwks_hits.load(Ordering::SeqCst)
    }
}

impl Drop for IdpServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve_jwks(State(idp): State<Arc<Idp>>) -> Response {
    idp.jwks_hits.fetch_add(1, Ordering::SeqCst);
    match &*idp.jwks.lock().unwrap() {
        Answer::Keys(keys) => axum::Json(keys.clone()).into_response(),
        Answer::Status(code) => StatusCode::from_u16(*code).unwrap().into_response(),
        Answer::Raw(bytes) => {
            ([(header::CONTENT_TYPE, "application/json")], bytes.clone()).into_response()
        }
    }
}

async fn serve_discovery(State(idp): State<Arc<Idp>>) -> Response {
    idp.discovery_hits.fetch_add(1, Ordering::SeqCst);
    axum::Json(idp.discovery.lock().unwrap().clone()).into_response()
}

async fn redirect_off_https(State(idp): State<Arc<Idp>>) -> Response {
    idp.jwks_hits.fetch_add(1, Ordering::SeqCst);
    (
        StatusCode::FOUND,
        [(header::LOCATION, "http://10.255.255.1/jwks")],
    )
        .into_response()
}

/// A server that must never be contacted: counts every request, whatever the path.
struct Canary {
    url: String,
    hits: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Canary {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = hits.clone();
        let router = Router::new().fallback(move || {
            counter.fetch_add(1, Ordering::SeqCst);
            async { axum::Json(json!({"keys": []})) }
        });
        let task = tokio::spawn(async move {
            axum::serve(listener, router).await.unwrap();
        });
        Self { url, hits, task }
    }
}

impl Drop for Canary {
    fn drop(&mut self) {
        self.task.abort();
    }
}

// ---------------------------------------------------------------------------------------
// Every algorithm

const LONG_SECRET: &str = "a 64-byte secret so that HS512 keeps its strength, for tests only!";

#[tokio::test]
async fn a_valid_token_of_every_algorithm_is_accepted() {
    let idp = IdpServer::start(json!({"keys": [
        jwk("rsa", "rsa-1"), jwk("ec256", "ec-1"), jwk("ec384", "ec384-1"), jwk("ed25519", "ed-1"),
    ]}))
    .await;
    let pem_issuer = |name: &str, file: &str, algorithms: &str| {
        format!(
            "[[auth.issuers]]\nissuer = \"{name}\"\naudiences = [\"presignd\"]\npublic_key_pem = \"{}\"\nalgorithms = [{algorithms}]\n",
            key_file(file).display()
        )
    };
    let config = [
        format!(
            "[[auth.issuers]]\nissuer = \"https://hs.test\"\naudiences = [\"presignd\"]\nsecret = \"{LONG_SECRET}\"\nalgorithms = [\"HS256\", \"HS384\", \"HS512\"]\n"
        ),
        pem_issuer(
            "https://rsa.test",
            "rsa.pub",
            r#""RS256", "RS384", "RS512", "PS256", "PS384", "PS512""#,
        ),
        pem_issuer("https://ec256.test", "ec256.pub", r#""ES256""#),
        pem_issuer("https://ec384.test", "ec384.pub", r#""ES384""#),
        pem_issuer("https://ed.test", "ed25519.pub", r#""EdDSA""#),
        format!(
            "[[auth.issuers]]\nissuer = \"https://jwks.test\"\naudiences = [\"presignd\"]\njwks_url = \"{}/jwks\"\n\
             algorithms = [\"RS256\", \"RS384\", \"RS512\", \"PS256\", \"PS384\", \"PS512\", \"ES256\", \"ES384\", \"EdDSA\"]\n",
            idp.base
        ),
    ]
    .concat();
    let app = start_with_issuers(config).await;
    wait_until_ready(&app).await;

    let mut tokens = vec![];
    for alg in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
        tokens.push((
            format!("{alg:?} secret"),
            hs_sign(&claims("https://hs.test"), LONG_SECRET.as_bytes(), alg),
        ));
    }
    let rsa_algs = [
        Algorithm::RS256,
        Algorithm::RS384,
        Algorithm::RS512,
        Algorithm::PS256,
        Algorithm::PS384,
        Algorithm::PS512,
    ];
    for alg in rsa_algs {
        tokens.push((
            format!("{alg:?} pem"),
            sign_with("rsa", alg, None, &claims("https://rsa.test")),
        ));
        tokens.push((
            format!("{alg:?} jwks"),
            sign_with("rsa", alg, Some("rsa-1"), &claims("https://jwks.test")),
        ));
    }
    for (key, alg, iss, kid) in [
        ("ec256", Algorithm::ES256, "https://ec256.test", "ec-1"),
        ("ec384", Algorithm::ES384, "https://ec384.test", "ec384-1"),
        ("ed25519", Algorithm::EdDSA, "https://ed.test", "ed-1"),
    ] {
        tokens.push((
            format!("{alg:?} pem"),
            sign_with(key, alg, None, &claims(iss)),
        ));
        tokens.push((
            format!("{alg:?} jwks"),
            sign_with(key, alg, Some(kid), &claims("https://jwks.test")),
        ));
    }
    assert_eq!(tokens.len(), 21);
    for (name, token) in tokens {
        assert_eq!(status_of(&app, &token).await, 200, "{name}");
    }
}

// ---------------------------------------------------------------------------------------
// Attacks

#[tokio::test]
async fn attacks_get_one_uniform_401_and_nothing_is_fetched_for_them() {
    let canary = Canary::start().await;
    let idp = IdpServer::start(json!({"keys": [jwk("rsa", "good"), jwk("ec256", "ec")]})).await;
    let config = [
        harness_issuer(),
        format!(
            "[[auth.issuers]]\nissuer = \"https://pem.test\"\naudiences = [\"presignd\"]\npublic_key_pem = \"{}\"\nalgorithms = [\"RS256\"]\n",
            key_file("rsa.pub").display()
        ),
        jwks_issuer("https://jwks.test", &format!("{}/jwks", idp.base), ""),
    ]
    .concat();
    let app = start_with_issuers(config).await;
    wait_until_ready(&app).await;

    let pem_claims = claims("https://pem.test");
    let jwks_claims = claims("https://jwks.test");
    let good_pem = sign_with("rsa", Algorithm::RS256, None, &pem_claims);
    let good_jwks = sign_with("rsa", Algorithm::RS256, Some("good"), &jwks_claims);
    let good_hs = app.token("alice");
    // The controls: without them every refusal below could be for the wrong reason.
    for token in [&good_pem, &good_jwks, &good_hs] {
        assert_eq!(status_of(&app, token).await, 200);
    }
    let parts: Vec<&str> = good_pem.split('.').collect();
    let hs_claims = |change: &dyn Fn(&mut Value)| {
        let mut c = claims(ISSUER);
        change(&mut c);
        hs_sign(&c, SECRET.as_bytes(), Algorithm::HS256)
    };

    let mut attacks: Vec<(String, String)> = vec![];
    let mut add = |name: &str, token: String| attacks.push((name.to_owned(), token));

    // alg none, in its spellings, without and with a signature.
    for alg in ["none", "None", "NONE", "nOnE"] {
        add(
            &format!("alg {alg}"),
            raw_token(&json!({"alg": alg, "typ": "JWT"}), &pem_claims, ""),
        );
        add(
            &format!("alg {alg} signed"),
            raw_token(&json!({"alg": alg}), &pem_claims, parts[2]),
        );
    }
    // HS256 keyed with the RSA public key (PEM text and DER).
    let pem = key_pem("rsa.pub");
    let der: Vec<u8> = base64::engine::general_purpose::STANDARD
        .decode(
            String::from_utf8(pem.clone())
                .unwrap()
                .lines()
                .filter(|l| !l.starts_with("-----"))
                .collect::<String>(),
        )
        .unwrap();
    for (form, secret) in [("pem", pem.clone()), ("der", der)] {
        add(
            &format!("HS256 with the public key as {form}"),
            hs_sign(&pem_claims, &secret, Algorithm::HS256),
        );
        add(
            &format!("HS256 with the public key as {form}, jwks issuer"),
            hs_sign(&jwks_claims, &secret, Algorithm::HS256),
        );
    }
    // Payload and signature tampering.
    let mut admin = pem_claims.clone();
    admin["sub"] = "admin".into();
    add(
        "tampered payload",
        format!("{}.{}.{}", parts[0], b64(admin.to_string()), parts[2]),
    );
    add(
        "truncated signature",
        format!("{}.{}.{}", parts[0], parts[1], &parts[2][..128]),
    );
    add("empty signature", format!("{}.{}.", parts[0], parts[1]));
    add("no signature segment", format!("{}.{}", parts[0], parts[1]));
    // Time.
    add("expired", hs_claims(&|c| c["exp"] = json!(now() - 3600)));
    add("future nbf", hs_claims(&|c| c["nbf"] = json!(now() + 3600)));
    add("future iat", hs_claims(&|c| c["iat"] = json!(now() + 3600)));
    add(
        "exp a string",
        hs_claims(&|c| c["exp"] = json!((now() + 600).to_string())),
    );
    add(
        "nbf a string",
        hs_claims(&|c| c["nbf"] = json!(now().to_string())),
    );
    add(
        "missing exp",
        hs_claims(&|c| {
            c.as_object_mut().unwrap().remove("exp");
        }),
    );
    add(
        "missing sub",
        hs_claims(&|c| {
            c.as_object_mut().unwrap().remove("sub");
        }),
    );
    add("numeric sub", hs_claims(&|c| c["sub"] = json!(1)));
    // Audience and issuer near misses.
    for aud in [
        "presignd/",
        "Presignd",
        " presignd",
        "presignd ",
        "prеsignd",
        "presignd\u{200b}",
        "",
    ] {
        add(
            &format!("aud {aud:?}"),
            hs_claims(&|c| c["aud"] = json!(aud)),
        );
    }
    add(
        "aud array without ours",
        hs_claims(&|c| c["aud"] = json!(["other", "presignd2"])),
    );
    add(
        "no aud",
        hs_claims(&|c| {
            c.as_object_mut().unwrap().remove("aud");
        }),
    );
    for iss in [
        format!("{ISSUER}/"),
        ISSUER.to_uppercase(),
        format!(" {ISSUER}"),
        format!("{ISSUER}\t"),
        ISSUER.replace("idp", "іdp"), // Cyrillic і
        "https://evil.test".to_owned(),
    ] {
        let token = hs_claims(&|c| c["iss"] = json!(iss));
        add(&format!("iss {iss:?}"), token);
    }
    // Keys and algorithms.
    add(
        "another RSA key",
        sign_with("rsa-other", Algorithm::RS256, None, &pem_claims),
    );
    add(
        "another RSA key, known kid",
        sign_with("rsa-other", Algorithm::RS256, Some("good"), &jwks_claims),
    );
    add(
        "another secret",
        hs_sign(
            &claims(ISSUER),
            b"another secret of 32 bytes or more!!",
            Algorithm::HS256,
        ),
    );
    add(
        "HS512 on an HS256 issuer",
        hs_sign(&claims(ISSUER), SECRET.as_bytes(), Algorithm::HS512),
    );
    add(
        "RS512 on an RS256 issuer",
        sign_with("rsa", Algorithm::RS512, None, &pem_claims),
    );
    add(
        "ES256 with an RSA kid",
        sign_with("ec256", Algorithm::ES256, Some("good"), &jwks_claims),
    );
    add(
        "RS384 not allowed by the JWKS issuer",
        sign_with("rsa", Algorithm::RS384, Some("good"), &jwks_claims),
    );
    // CVE-2022-21449, psychic signatures: r = s = 0.
    add(
        "ES256 all-zero signature",
        raw_token(
            &json!({"alg": "ES256", "kid": "ec"}),
            &jwks_claims,
            &b64([0u8; 64]),
        ),
    );
    // CVE-2018-0114: the attacker's own key embedded as `jwk`.
    let mut header = Header::new(Algorithm::RS256);
    header.jwk = Some(serde_json::from_value(jwk("rsa-other", "attacker")).unwrap());
    header.kid = Some("attacker".into());
    add(
        "embedded jwk",
        jsonwebtoken::encode(&header, &jwks_claims, &encoding_key("rsa-other")).unwrap(),
    );
    // jku / x5u pointing at the canary (PortSwigger "jku header injection").
    for (name, field) in [("jku", "jku"), ("x5u", "x5u")] {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(format!("{name}-kid"));
        if field == "jku" {
            header.jku = Some(format!("{}/jwks.json", canary.url));
        } else {
            header.x5u = Some(format!("{}/cert.pem", canary.url));
        }
        add(
            &format!("{name} to the canary"),
            jsonwebtoken::encode(&header, &jwks_claims, &encoding_key("rsa-other")).unwrap(),
        );
    }
    add(
        "unknown kid",
        sign_with("rsa-other", Algorithm::RS256, Some("nobody"), &jwks_claims),
    );
    add(
        "kid path traversal",
        sign_with(
            "rsa-other",
            Algorithm::RS256,
            Some("../../../../dev/null"),
            &jwks_claims,
        ),
    );
    add(
        "crit header",
        raw_token(
            &json!({"alg": "RS256", "crit": ["exp"]}),
            &pem_claims,
            parts[2],
        ),
    );
    add(
        "JWE shape",
        "eyJhbGciOiJSU0EtT0FFUCIsImVuYyI6IkEyNTZHQ00ifQ.a.b.c.d".into(),
    );
    add(
        "huge",
        format!("{}.{}.{}", parts[0], "A".repeat(17 * 1024), parts[2]),
    );
    add("duplicate iss", {
        let payload = format!(
            r#"{{"iss":"https://evil.test","iss":"{ISSUER}","sub":"alice","aud":"presignd","exp":{}}}"#,
            now() + 600
        );
        let input = format!("{}.{}", b64(r#"{"alg":"HS256"}"#), b64(payload));
        let signature = jsonwebtoken::crypto::sign(
            input.as_bytes(),
            &EncodingKey::from_secret(SECRET.as_bytes()),
            Algorithm::HS256,
        )
        .unwrap();
        format!("{input}.{signature}")
    });
    add("garbage", "not-a-token".into());

    assert!(attacks.len() >= 55, "{}", attacks.len());
    for (name, token) in &attacks {
        assert_eq!(status_of(&app, token).await, 401, "{name} was not refused");
    }
    assert_eq!(
        canary.hits.load(Ordering::SeqCst),
        0,
        "a token made presignd fetch its URL"
    );
    // The unknown kids caused at most one refresh beyond the startup fetch.
    assert!(idp.hits() <= 2, "{} JWKS fetches", idp.hits());
    // No refused token reached the policy, so nothing was audited.
    assert_eq!(app.audit_rows().await.len(), 3);
}

// ---------------------------------------------------------------------------------------
// JWKS

#[tokio::test]
async fn rotated_keys_are_fetched_and_removed_keys_refused() {
    let idp = IdpServer::start(json!({"keys": [jwk("rsa", "2025")]})).await;
    let app = start_with_jwks("https://idp.rotating.test", &idp, "").await;
    let claims = claims("https://idp.rotating.test");
    let old = sign_with("rsa", Algorithm::RS256, Some("2025"), &claims);
    assert_eq!(status_of(&app, &old).await, 200);
    let fetched = idp.hits();

    // The IdP rotates: a new kid, the old key gone.
    idp.set(Answer::Keys(json!({"keys": [jwk("ec256", "2026")]})));
    let new = sign_with("ec256", Algorithm::ES256, Some("2026"), &claims);
    assert_eq!(
        status_of(&app, &new).await,
        200,
        "the new kid after one refetch"
    );
    assert_eq!(idp.hits(), fetched + 1);
    assert_eq!(status_of(&app, &old).await, 401, "the removed kid");
    assert_eq!(status_of(&app, &new).await, 200);
}

#[tokio::test]
async fn a_flood_of_unknown_kids_costs_the_idp_a_handful_of_fetches() {
    let idp = IdpServer::start(json!({"keys": [jwk("rsa", "real")]})).await;
    let app = start_with_jwks("https://idp.flood.test", &idp, "").await;
    let claims = claims("https://idp.flood.test");
    let app = Arc::new(app);
    // 400 random kids, 40 at a time, signed by a key the IdP does not know.
    for _ in 0..10 {
        let mut batch = tokio::task::JoinSet::new();
        for _ in 0..40 {
            let kid = format!("{:032x}", rand::random::<u128>());
            let token = sign_with("rsa-other", Algorithm::RS256, Some(&kid), &claims);
            let app = app.clone();
            batch.spawn(async move { status_of(&app, &token).await });
        }
        while let Some(status) = batch.join_next().await {
            assert_eq!(status.unwrap(), 401);
        }
    }
    let fetches = idp.hits();
    assert!(
        (1..=3).contains(&fetches),
        "{fetches} JWKS fetches for 400 unknown kids"
    );
    // The real key still works.
    let real = sign_with("rsa", Algorithm::RS256, Some("real"), &claims);
    assert_eq!(status_of(&app, &real).await, 200);
}

#[tokio::test]
async fn an_idp_down_at_startup_delays_only_its_tokens() {
    // A bound socket that does not listen yet: connections are refused when presignd
    // starts, and no other process can take the port before the IdP comes up on it.
    let reserved = tokio::net::TcpSocket::new_v4().unwrap();
    reserved.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let address: SocketAddr = reserved.local_addr().unwrap();
    let config = [
        harness_issuer(),
        jwks_issuer(
            "https://idp.down.test",
            &format!("http://{address}/jwks"),
            "",
        ),
    ]
    .concat();
    let app = start_with_issuers(config).await;
    assert_eq!(
        readyz(&app).await,
        503,
        "not ready without the issuer's keys"
    );
    let token = sign_with(
        "rsa",
        Algorithm::RS256,
        Some("k1"),
        &claims("https://idp.down.test"),
    );
    assert_eq!(status_of(&app, &token).await, 401);
    // Other issuers are unaffected.
    assert_eq!(status_of(&app, &app.token("alice")).await, 200);

    // The IdP comes up on the same address; the background retry finds it.
    let idp = IdpServer::start_on(
        reserved.listen(1024).unwrap(),
        json!({"keys": [jwk("rsa", "k1")]}),
    )
    .await;
    eventually(
        "the token to be accepted",
        Duration::from_secs(20),
        || async { status_of(&app, &token).await == 200 },
    )
    .await;
    assert_eq!(readyz(&app).await, 200);
    assert!(idp.hits() >= 1);
}

#[tokio::test]
async fn failed_empty_or_invalid_refreshes_keep_the_good_keys() {
    let idp = IdpServer::start(json!({"keys": [jwk("rsa", "good")]})).await;
    let app = start_with_jwks("https://idp.flaky.test", &idp, "jwks_refresh_seconds = 1").await;
    let claims = claims("https://idp.flaky.test");
    let good = sign_with("rsa", Algorithm::RS256, Some("good"), &claims);
    assert_eq!(status_of(&app, &good).await, 200);

    let huge = format!(
        r#"{{"keys": [], "padding": "{}"}}"#,
        "x".repeat(2 * 1024 * 1024)
    );
    let bad_answers = [
        ("503", Answer::Status(503)),
        ("404", Answer::Status(404)),
        (
            "not JSON",
            Answer::Raw(b"<html>maintenance</html>".to_vec()),
        ),
        ("empty set", Answer::Keys(json!({"keys": []}))),
        (
            "no keys member",
            Answer::Keys(json!({"kes": [jwk("rsa", "good")]})),
        ),
        (
            "only unusable keys",
            Answer::Keys(json!({"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "good"}]})),
        ),
        ("over 1 MiB", Answer::Raw(huge.into_bytes())),
    ];
    for (name, answer) in bad_answers {
        idp.set(answer);
        let before = idp.hits();
        // Two more fetches: the first bad answer has surely been processed.
        eventually(name, Duration::from_secs(15), || async {
            idp.hits() >= before + 2
        })
        .await;
        assert_eq!(
            status_of(&app, &good).await,
            200,
            "after a refresh answering {name}"
        );
        assert_eq!(readyz(&app).await, 200, "{name}");
    }

    // A good refresh does replace them.
    idp.set(Answer::Keys(json!({"keys": [jwk("ed25519", "next")]})));
    let next = sign_with("ed25519", Algorithm::EdDSA, Some("next"), &claims);
    eventually("the scheduled refresh", Duration::from_secs(15), || async {
        status_of(&app, &next).await == 200
    })
    .await;
    eventually("the old key to go", Duration::from_secs(15), || async {
        status_of(&app, &good).await == 401
    })
    .await;
}

#[tokio::test]
async fn keys_are_found_through_oidc_discovery() {
    let idp = IdpServer::start(json!({"keys": [jwk("ec384", "d1")]})).await;
    let issuer = idp.base.clone();
    let config = format!(
        "[[auth.issuers]]\nissuer = \"{issuer}\"\naudiences = [\"presignd\"]\ndiscovery = true\nalgorithms = [\"ES384\"]\n"
    );
    let app = start_with_issuers(config).await;
    wait_until_ready(&app).await;
    assert!(idp.state.discovery_hits.load(Ordering::SeqCst) >= 1);
    let token = sign_with("ec384", Algorithm::ES384, Some("d1"), &claims(&issuer));
    assert_eq!(status_of(&app, &token).await, 200);
}

#[tokio::test]
async fn a_discovery_document_for_another_issuer_is_refused() {
    let canary = Canary::start().await;
    let idp = IdpServer::start(json!({"keys": [jwk("rsa", "k")]})).await;
    let issuer = idp.base.clone();
    let bad_documents = [
        // Near misses of the issuer: the document must name exactly ours.
        json!({"issuer": format!("{issuer}/"), "jwks_uri": format!("{issuer}/jwks")}),
        json!({"issuer": "https://evil.test", "jwks_uri": format!("{issuer}/jwks")}),
        json!({"jwks_uri": format!("{issuer}/jwks")}),
        // A JWKS over plain http off this machine.
        json!({"issuer": issuer, "jwks_uri": "http://10.255.255.1/jwks"}),
        json!({"issuer": issuer}),
    ];
    for document in bad_documents {
        *idp.state.discovery.lock().unwrap() = document.clone();
        let before = idp.state.discovery_hits.load(Ordering::SeqCst);
        let config = format!(
            "[[auth.issuers]]\nissuer = \"{issuer}\"\naudiences = [\"presignd\"]\ndiscovery = true\n"
        );
        let mut app = start_with_issuers(config).await;
        eventually(
            "two discovery attempts",
            Duration::from_secs(10),
            || async { idp.state.discovery_hits.load(Ordering::SeqCst) >= before + 2 },
        )
        .await;
        assert_eq!(readyz(&app).await, 503, "{document}");
        let token = sign_with("rsa", Algorithm::RS256, Some("k"), &claims(&issuer));
        assert_eq!(status_of(&app, &token).await, 401, "{document}");
        app.stop().await;
    }
    assert_eq!(idp.hits(), 0, "no JWKS was fetched from a refused document");
    assert_eq!(canary.hits.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_redirect_off_https_is_not_followed() {
    let idp = IdpServer::start(json!({"keys": [jwk("rsa", "k")]})).await;
    let app = start_with_issuers(jwks_issuer(
        "https://idp.redirect.test",
        &format!("{}/redirect-off-https", idp.base),
        "",
    ))
    .await;
    eventually("two attempts", Duration::from_secs(10), || async {
        idp.hits() >= 2
    })
    .await;
    assert_eq!(readyz(&app).await, 503);
    let token = sign_with(
        "rsa",
        Algorithm::RS256,
        Some("k"),
        &claims("https://idp.redirect.test"),
    );
    assert_eq!(status_of(&app, &token).await, 401);
}

// ---------------------------------------------------------------------------------------
// presignd token

#[tokio::test]
async fn presignd_token_mints_for_hs_issuers() {
    let app = TestApp::start().await;
    let config = app.dir.path().join("token.toml");
    std::fs::write(
        &config,
        format!(
            "{}[[auth.issuers]]\nissuer = \"https://rsa.test\"\naudiences = [\"presignd\"]\npublic_key_pem = \"{}\"\n",
            harness_issuer(),
            key_file("rsa.pub").display()
        ),
    )
    .unwrap();
    let config = config.to_str().unwrap();

    let output = presignd(
        &[
            "token",
            "--config",
            config,
            "--sub",
            "alice",
            "--claim",
            r#"groups=["ops"]"#,
            "--claim",
            "team=blue",
            "--ttl",
            "10m",
        ],
        &[],
    )
    .await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let token = String::from_utf8(output.stdout).unwrap().trim().to_owned();
    assert_eq!(status_of(&app, &token).await, 200);
    let payload: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(token.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(payload["groups"], json!(["ops"]));
    assert_eq!(payload["team"], "blue");
    assert_eq!(payload["iss"], ISSUER);
    let lifetime = payload["exp"].as_u64().unwrap() - payload["iat"].as_u64().unwrap();
    assert_eq!(lifetime, 600);

    // --issuer picks by exact name.
    let output = presignd(
        &[
            "token", "--config", config, "--sub", "bob", "--issuer", ISSUER,
        ],
        &[],
    )
    .await;
    assert!(output.status.success());
    let token = String::from_utf8(output.stdout).unwrap().trim().to_owned();
    assert_eq!(
        app.presign(
            &token,
            json!({"bucket": BUCKET, "key": "bob/x", "method": "GET"})
        )
        .await
        .status(),
        200
    );

    // Clear errors, exit code 2, nothing on stdout.
    for (args, expected) in [
        (vec!["--issuer", "https://nobody.test"], "no issuer"),
        (vec!["--issuer", "https://rsa.test"], "only HS issuers"),
        (vec!["--claim", "exp=1"], "--claim"),
        (vec!["--claim", "noequals"], "name=value"),
        (vec!["--ttl", "soon"], "--ttl"),
    ] {
        let mut all = vec!["token", "--config", config, "--sub", "alice"];
        all.extend(args);
        let output = presignd(&all, &[]).await;
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{all:?}: {stderr}");
        assert!(stderr.contains(expected), "{all:?}: {stderr}");
        assert!(output.stdout.is_empty());
    }
}

// ---------------------------------------------------------------------------------------
// kid, typ, lifetime, and the Authorization header itself (issue 11 item 8)

#[tokio::test]
async fn a_token_without_kid_is_refused_when_the_jwks_holds_several_keys() {
    let several = IdpServer::start(json!({"keys": [jwk("rsa", "a"), jwk("rsa-other", "b")]})).await;
    let single = IdpServer::start(json!({"keys": [jwk("rsa", "only")]})).await;
    let config = [
        jwks_issuer(
            "https://several.test",
            &format!("{}/jwks", several.base),
            "",
        ),
        jwks_issuer("https://single.test", &format!("{}/jwks", single.base), ""),
    ]
    .concat();
    let app = start_with_issuers(config).await;
    wait_until_ready(&app).await;
    let hits = several.hits();

    let several_claims = claims("https://several.test");
    // OIDC Core 10.1: with several keys, the kid must be given; no key is tried.
    for key in ["rsa", "rsa-other"] {
        let token = sign_with(key, Algorithm::RS256, None, &several_claims);
        assert_eq!(status_of(&app, &token).await, 401, "{key} without kid");
    }
    assert_eq!(several.hits(), hits, "a missing kid fetches nothing");
    let named = sign_with("rsa-other", Algorithm::RS256, Some("b"), &several_claims);
    assert_eq!(status_of(&app, &named).await, 200);
    // One key: the kid may be left out.
    let token = sign_with(
        "rsa",
        Algorithm::RS256,
        None,
        &claims("https://single.test"),
    );
    assert_eq!(status_of(&app, &token).await, 200);
}

#[tokio::test]
async fn two_authorization_headers_are_401() {
    let app = TestApp::start().await;
    let token = app.token("alice");
    let response = app
        .http
        .post(format!("{}/presign", app.base))
        .header("authorization", format!("Bearer {token}"))
        .header("authorization", format!("Bearer {token}"))
        .json(&body())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(
        response.headers()["www-authenticate"],
        r#"Bearer error="invalid_token""#
    );
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["code"], "invalid_token");
    // The control: one header with the same token is fine.
    assert_eq!(status_of(&app, &token).await, 200);
}

#[tokio::test]
async fn only_jwt_and_access_token_types_are_accepted() {
    let app = TestApp::start().await;
    let sign = |typ: Option<&str>| {
        let mut header = Header::new(Algorithm::HS256);
        header.typ = typ.map(str::to_owned);
        let key = EncodingKey::from_secret(SECRET.as_bytes());
        jsonwebtoken::encode(&header, &claims(ISSUER), &key).unwrap()
    };
    for typ in [
        None,
        Some("JWT"),
        Some("jwt"),
        Some("at+jwt"),
        Some("AT+JWT"),
        Some("application/at+jwt"),
        Some("application/JWT"),
    ] {
        assert_eq!(status_of(&app, &sign(typ)).await, 200, "{typ:?}");
    }
    for typ in [
        "JWE",
        "secevent+jwt",
        "logout+jwt",
        "dpop+jwt",
        "",
        "application/",
        "JWT ",
    ] {
        assert_eq!(status_of(&app, &sign(Some(typ))).await, 401, "{typ:?}");
    }
}

#[tokio::test]
async fn max_token_lifetime_refuses_long_lived_tokens_and_tokens_without_iat() {
    let app = start_with_issuers(format!(
        "{}max_token_lifetime_seconds = 600\n",
        harness_issuer()
    ))
    .await;
    let sign = |claims: Value| hs_sign(&claims, SECRET.as_bytes(), Algorithm::HS256);
    let base = json!({"iss": ISSUER, "sub": "alice", "aud": "presignd"});
    let with = |fields: Value| {
        let mut claims = base.clone();
        claims
            .as_object_mut()
            .unwrap()
            .extend(fields.as_object().unwrap().clone());
        claims
    };
    let now = now();
    let exact = sign(with(json!({"iat": now, "exp": now + 600})));
    assert_eq!(status_of(&app, &exact).await, 200);
    let too_long = sign(with(json!({"iat": now, "exp": now + 601})));
    assert_eq!(status_of(&app, &too_long).await, 401);
    // Backdated iat: the lifetime is exp - iat, whatever is left of it.
    let backdated = sign(with(json!({"iat": now - 3000, "exp": now + 60})));
    assert_eq!(status_of(&app, &backdated).await, 401);
    let no_iat = sign(with(json!({"exp": now + 60})));
    assert_eq!(status_of(&app, &no_iat).await, 401);
}
