//! The benchmark's ceiling: the least a presign service must do per request, and nothing
//! else. A bare axum handler parses the JSON body, verifies an HS256 bearer token
//! (jsonwebtoken with aws_lc_rs, the same validation presignd applies: exp, iss, aud) and
//! presigns a GET with aws-sdk-s3. No policy, no audit, no middleware, no logging,
//! no metrics. `bench/run.sh` measures presignd as a fraction of this.
//!
//! Bench only, loopback only. Configuration from the environment:
//! `CEILING_SECRET`, `CEILING_ISSUER`, `CEILING_AUDIENCE` (the token's issuer),
//! `CEILING_REGION`, `CEILING_ENDPOINT_URL` (where the URLs point; never called), and the
//! signing credentials in `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY`.
//! Binds `127.0.0.1:0` and prints `listening on ADDR` on stdout.
//!
//! ```sh
//! cargo build --release --example ceiling
//! ```

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_s3::presigning::PresigningConfig;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::post;
use axum::{Json, Router};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};

// The same allocator as presignd, so that the ratio measures what presignd does, not which
// malloc it links.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

struct Ceiling {
    key: DecodingKey,
    validation: Validation,
    client: aws_sdk_s3::Client,
}

#[derive(Deserialize)]
struct Body {
    bucket: String,
    key: String,
}

#[derive(Deserialize)]
struct Claims {
    #[allow(dead_code)]
    sub: String,
}

#[derive(Serialize)]
struct Answer {
    url: String,
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} must be set"))
}

async fn presign(
    State(ceiling): State<Arc<Ceiling>>,
    headers: HeaderMap,
    Json(body): Json<Body>,
) -> Result<Json<Answer>, StatusCode> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or(StatusCode::UNAUTHORIZED)?;
    jsonwebtoken::decode::<Claims>(token, &ceiling.key, &ceiling.validation)
        .map_err(|_| StatusCode::UNAUTHORIZED)?;
    let config = PresigningConfig::expires_in(Duration::from_secs(900))
        .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
    let signed = ceiling
        .client
        .get_object()
        .bucket(body.bucket)
        .key(body.key)
        .presigned(config)
        .await
        .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
    Ok(Json(Answer {
        url: signed.uri().to_owned(),
    }))
}

#[tokio::main]
async fn main() {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.validate_nbf = true;
    validation.set_issuer(&[env("CEILING_ISSUER")]);
    validation.set_audience(&[env("CEILING_AUDIENCE")]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);

    let credentials = Credentials::new(
        env("AWS_ACCESS_KEY_ID"),
        env("AWS_SECRET_ACCESS_KEY"),
        None,
        None,
        "ceiling",
    );
    let s3 = aws_sdk_s3::config::Builder::new()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(env("CEILING_REGION")))
        .endpoint_url(env("CEILING_ENDPOINT_URL"))
        .force_path_style(true)
        .credentials_provider(credentials)
        .build();
    let ceiling = Ceiling {
        key: DecodingKey::from_secret(env("CEILING_SECRET").as_bytes()),
        validation,
        client: aws_sdk_s3::Client::from_conf(s3),
    };

    let app = Router::new()
        .route("/presign", post(presign))
        .with_state(Arc::new(ceiling));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    println!(
        "listening on {}",
        listener.local_addr().expect("bound address")
    );
    axum::serve(listener, app).await.expect("serve");
}
