//! An S3-compatible store in this process (s3s-fs over a directory), which checks SigV4
//! signatures for real. It backs `presignd dev` and the integration tests; production
//! talks to S3 itself.

use std::net::SocketAddr;
use std::path::Path;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnectionBuilder;
use hyper_util::service::TowerToHyperService;
use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tower_http::cors::CorsLayer;

/// A running local S3 endpoint. Dropping it stops the server.
#[derive(Debug)]
pub struct LocalS3 {
    /// `http://127.0.0.1:PORT`, path-style.
    pub endpoint: String,
    pub access_key: String,
    pub secret_key: String,
    server: JoinHandle<()>,
}

impl Drop for LocalS3 {
    fn drop(&mut self) {
        self.server.abort();
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LocalS3Error {
    #[error("local S3 store at {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("local S3 store: {0}")]
    Fs(String),
}

impl LocalS3 {
    /// Serves `root` on `bind`, creating one directory per bucket in `buckets`.
    pub async fn start(
        root: &Path,
        bind: SocketAddr,
        buckets: &[&str],
    ) -> Result<Self, LocalS3Error> {
        let io_error = |source| LocalS3Error::Io {
            path: root.display().to_string(),
            source,
        };
        for bucket in buckets {
            std::fs::create_dir_all(root.join(bucket)).map_err(io_error)?;
        }
        let filesystem =
            s3s_fs::FileSystem::new(root).map_err(|e| LocalS3Error::Fs(format!("{e:?}")))?;
        let access_key = format!("PRESIGNDDEV{}", random_token(9).to_ascii_uppercase());
        let secret_key = random_token(40);
        let mut builder = S3ServiceBuilder::new(filesystem);
        builder.set_auth(SimpleAuth::from_single(
            access_key.clone(),
            secret_key.clone(),
        ));
        // Browsers preflight direct uploads; s3s alone answers OPTIONS with 501.
        let service = tower::ServiceBuilder::new()
            .layer(CorsLayer::very_permissive())
            .service(builder.build());
        let listener = TcpListener::bind(bind).await.map_err(io_error)?;
        let address = listener.local_addr().map_err(io_error)?;
        let server = tokio::spawn(async move {
            loop {
                let Ok((socket, _)) = listener.accept().await else {
                    continue;
                };
                let service = TowerToHyperService::new(service.clone());
                tokio::spawn(async move {
                    let _ = ConnectionBuilder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(socket), service)
                        .await;
                });
            }
        });
        Ok(Self {
            endpoint: format!("http://{address}"),
            access_key,
            secret_key,
            server,
        })
    }
}

/// Random lower-case alphanumerics, for keys and secrets made on the spot.
pub fn random_token(len: usize) -> String {
    use rand::Rng;
    use rand::distr::Alphanumeric;
    rand::rng()
        .sample_iter(Alphanumeric)
        .take(len)
        .map(|c| char::from(c).to_ascii_lowercase())
        .collect()
}
