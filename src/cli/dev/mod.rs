//! `presignd dev`: everything on this machine, on loopback. An in-process S3-compatible
//! store under `DATA/s3` with a bucket `dev`, SQLite audit in `DATA/audit.db`, an ephemeral
//! HS256 issuer, and a policy (`DATA/dev-policy.json`, editable) letting each subject read
//! and write `dev/${jwt:sub}/*`. Prints a token and curl lines that work as printed.

mod local_s3;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use serde_json::Map;
use tokio::net::TcpListener;

use super::CliError;
use crate::app::App;
use crate::auth;
use crate::config::{Config, ConfigError, IssuerConfig, LogFormat, Secret};
use crate::telemetry;
use local_s3::random_token;
pub use local_s3::{LocalS3, LocalS3Error};

/// The dev policy, written to the data directory on first run.
pub const DEV_POLICY: &str = include_str!("../../../config/dev-policy.json");
/// The bucket the local store creates.
pub const DEV_BUCKET: &str = "dev";
const DEV_ISSUER: &str = "presignd-dev";
const DEV_AUDIENCE: &str = "presignd";

#[derive(Debug, clap::Args)]
pub struct DevArgs {
    /// Where objects, the audit database and the dev policy live.
    #[arg(long, default_value = "data")]
    pub data_dir: PathBuf,
    /// The subject of the printed token.
    #[arg(long, default_value = "alice")]
    pub sub: String,
    /// Address of the local S3-compatible store (port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub s3_bind: SocketAddr,
}

pub async fn run(config_file: Option<PathBuf>, args: DevArgs) -> Result<(), CliError> {
    let mut config = Config::load(config_file.as_deref())?;
    for (key, address) in [
        ("server.bind", Some(config.server.bind)),
        ("server.metrics_bind", config.server.metrics_bind),
        ("--s3-bind", Some(args.s3_bind)),
    ]
    .into_iter()
    .filter_map(|(key, address)| Some((key, address?)))
    {
        if !address.ip().is_loopback() {
            return Err(ConfigError::Invalid {
                key: key.into(),
                reason: "dev serves on loopback only".into(),
            }
            .into());
        }
    }
    std::fs::create_dir_all(&args.data_dir).map_err(CliError::io(format!(
        "creating {}",
        args.data_dir.display()
    )))?;
    let policy_file = args.data_dir.join("dev-policy.json");
    if !policy_file.exists() {
        std::fs::write(&policy_file, DEV_POLICY)
            .map_err(CliError::io(format!("writing {}", policy_file.display())))?;
    }
    let s3 = LocalS3::start(&args.data_dir.join("s3"), args.s3_bind, &[DEV_BUCKET])
        .await
        .map_err(CliError::LocalS3)?;

    let issuer = IssuerConfig::with_secret(DEV_ISSUER, DEV_AUDIENCE, Secret::new(random_token(48)));
    apply_dev_settings(
        &mut config,
        &args.data_dir,
        &policy_file,
        &s3,
        issuer.clone(),
    );
    let _telemetry = telemetry::init(&config.log);

    let credentials = Credentials::new(&s3.access_key, &s3.secret_key, None, None, "presignd-dev");
    let app = App::build(&config, Some(SharedCredentialsProvider::new(credentials))).await?;
    let listener = TcpListener::bind(config.server.bind)
        .await
        .map_err(CliError::io(format!(
            "server.bind {} (another presignd running? set PRESIGND_SERVER__BIND)",
            config.server.bind
        )))?;
    let token = auth::mint_token(&issuer, &args.sub, &Map::new(), 12 * 3600)?;
    println!("{}", instructions(&config, &s3, &args, &token));
    app.run(listener, super::shutdown_signal())
        .await
        .map_err(CliError::io("serving"))
}

fn apply_dev_settings(
    config: &mut Config,
    data_dir: &Path,
    policy: &Path,
    s3: &LocalS3,
    issuer: IssuerConfig,
) {
    config.auth.issuers = vec![issuer];
    config.policy.file = Some(policy.to_owned());
    config.s3.region = Some("us-east-1".into());
    config.s3.endpoint_url = Some(s3.endpoint.clone());
    config.s3.force_path_style = true;
    config.s3.buckets.clear();
    config.audit.database_url =
        Secret::new(format!("sqlite://{}", data_dir.join("audit.db").display()));
    config.log.format = LogFormat::Pretty;
    // A page on any other localhost origin can upload out of the box (Uppy included).
    config.cors.allowed_origins = vec!["http://localhost:*".into(), "http://127.0.0.1:*".into()];
    config.uppy.enabled = true;
    config.uppy.bucket = Some(DEV_BUCKET.into());
    config.uppy.key_template = "${jwt:sub}/${key}".into();
}

fn instructions(config: &Config, s3: &LocalS3, args: &DevArgs, token: &str) -> String {
    let api = format!("http://{}", config.server.bind);
    let sub = &args.sub;
    let ask = |body: &str| {
        format!(
            "curl -s -X POST {api}/presign -H \"Authorization: Bearer $TOKEN\" \
             -H 'Content-Type: application/json' -d '{body}' | sed -E 's/.*\"url\":\"([^\"]*)\".*/\\1/'"
        )
    };
    let put = ask(&format!(
        r#"{{"bucket":"{DEV_BUCKET}","key":"{sub}/hello.txt","method":"PUT","content_type":"text/plain"}}"#
    ));
    let get = ask(&format!(
        r#"{{"bucket":"{DEV_BUCKET}","key":"{sub}/hello.txt","method":"GET"}}"#
    ));
    format!(
        "\npresignd dev is running.\n\
         \x20 API        {api}   (problem+json errors, GET {api}/openapi.yaml)\n\
         \x20 S3 store   {endpoint}  bucket '{DEV_BUCKET}', files under {data}/s3\n\
         \x20 console    {api}/console   (ops console: sign in by pasting the token below)\n\
         \x20 audit      {data}/audit.db (SQLite)\n\
         \x20 policy     {data}/dev-policy.json: subjects may read and write {DEV_BUCKET}/<sub>/*; every dev token may query the whole audit log (GET {api}/audit), list and revoke every link and upload, and simulate the policy\n\
         \x20 issuer     {DEV_ISSUER} (HS256, audience {DEV_AUDIENCE}, new secret each run)\n\n\
         Try it (a token for sub={sub}, valid 12 h):\n\n\
         export TOKEN='{token}'\n\n\
         # upload: ask for a PUT URL, then send the bytes with the returned headers\n\
         URL=$({put})\n\
         curl -s -o /dev/null -w '%{{http_code}}\\n' -X PUT -H 'Content-Type: text/plain' --data-binary 'hello from presignd' \"$URL\"\n\n\
         # download: ask for a GET URL, then fetch it\n\
         URL=$({get})\n\
         curl -s \"$URL\"; echo\n\n\
         Stop with Ctrl-C.\n",
        endpoint = s3.endpoint,
        data = args.data_dir.display(),
    )
}
