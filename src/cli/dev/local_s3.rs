//! An S3-compatible store in this process (s3s-fs over a directory), which checks SigV4
//! signatures for real. It backs `presignd dev` and the integration tests; production
//! talks to S3 itself.
//!
//! s3s-fs alone is not enough for a browser (Uppy 6), so [`browser_ready`] wraps it the way
//! AWS behaves: CORS with `ETag` exposed, a `<Location>` in every multipart completion, and
//! POST form bodies cut into frames its form parser always accepts.

use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::http::{HeaderName, HeaderValue, Method, Request, Response, StatusCode, header};
use hyper::body::{Body as HttpBody, Bytes, Frame, SizeHint};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnectionBuilder;
use hyper_util::service::TowerToHyperService;
use s3s::auth::SimpleAuth;
use s3s::service::{S3Service, S3ServiceBuilder};
use s3s::{Body, HttpError, StdError};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tower_http::cors::{AllowHeaders, AllowOrigin, CorsLayer};

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
        let access_key = format!("PRESIGNDDEV{}", random_token(9).to_ascii_uppercase());
        let secret_key = random_token(40);
        let s3 = s3s_fs_service(root, &access_key, &secret_key)?;
        let listener = TcpListener::bind(bind).await.map_err(io_error)?;
        let address = listener.local_addr().map_err(io_error)?;
        let endpoint = format!("http://{address}");
        let service = browser_ready(s3, &endpoint);
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
            endpoint,
            access_key,
            secret_key,
            server,
        })
    }
}

/// s3s-fs over `root`, checking SigV4 with one key pair.
fn s3s_fs_service(
    root: &Path,
    access_key: &str,
    secret_key: &str,
) -> Result<S3Service, LocalS3Error> {
    let filesystem =
        s3s_fs::FileSystem::new(root).map_err(|e| LocalS3Error::Fs(format!("{e:?}")))?;
    let mut builder = S3ServiceBuilder::new(filesystem);
    builder.set_auth(SimpleAuth::from_single(access_key, secret_key));
    Ok(builder.build())
}

/// The largest body frame s3s's POST form parser is handed. When a frame ends inside what
/// could be the closing boundary, s3s-fs 0.14.1 appends the whole next frame to that tail
/// and refuses (`BoundaryBufferTooLarge`) past 64 KiB, so frames the size a socket read
/// delivers fail about 2 % of browser uploads. 16 KiB plus any tail stays far below.
const FORM_FRAME_BYTES: usize = 16 * 1024;

/// The most a completion answer may hold when it is rewritten (it is a few hundred bytes
/// plus the keep-alive spaces s3s sends while it assembles the object).
const COMPLETION_ANSWER_LIMIT: usize = 1024 * 1024;

/// `s3` as a browser can use it, with `endpoint` (`http://host:port`) as its public address.
///
/// Layers, outside in: CORS (s3s answers `OPTIONS` with 501, so preflights must never reach
/// it; every answer, errors included, carries the CORS headers), then [`serve`].
pub(crate) fn browser_ready<B>(
    s3: S3Service,
    endpoint: &str,
) -> impl tower::Service<
    Request<B>,
    Response = Response<Body>,
    Error = HttpError,
    Future = impl Send + 'static,
> + Clone
+ Send
+ 'static
where
    B: HttpBody<Data = Bytes> + Unpin + Send + 'static,
    StdError: From<B::Error>,
{
    let endpoint: Arc<str> = endpoint.into();
    let inner = tower::service_fn(move |request| serve(s3.clone(), endpoint.clone(), request));
    tower::ServiceBuilder::new().layer(cors()).service(inner)
}

/// What a bucket needs for browser uploads (the bucket CORS the docs give for AWS): any
/// origin, the methods Uppy sends, any request header (presigned URLs may sign some), and
/// `ETag` readable from JavaScript, since Uppy needs every part's ETag to complete. No
/// credentials: presigned URLs carry their authorization in the query.
fn cors() -> CorsLayer {
    CorsLayer::new()
        .allow_origin(AllowOrigin::any())
        .allow_methods([
            Method::GET,
            Method::HEAD,
            Method::PUT,
            Method::POST,
            Method::DELETE,
        ])
        // Mirrored rather than `*`: a wildcard does not cover `Authorization`.
        .allow_headers(AllowHeaders::mirror_request())
        // Uppy also reads `x-amz-error-code` on a refusal (and logs an error if it cannot).
        .expose_headers([
            header::ETAG,
            header::LOCATION,
            HeaderName::from_static("x-amz-version-id"),
            HeaderName::from_static("x-amz-error-code"),
        ])
        .max_age(Duration::from_secs(600))
}

/// One request through s3s, with the two fixes AWS-compatible browsers need.
async fn serve<B>(
    s3: S3Service,
    endpoint: Arc<str>,
    request: Request<B>,
) -> Result<Response<Body>, HttpError>
where
    B: HttpBody<Data = Bytes> + Unpin + Send + 'static,
    StdError: From<B::Error>,
{
    let is_form = request.method() == Method::POST
        && request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| {
                value
                    .trim_start()
                    .to_ascii_lowercase()
                    .starts_with("multipart/form-data")
            });
    let is_completion = request.method() == Method::POST
        && url::form_urlencoded::parse(request.uri().query().unwrap_or("").as_bytes())
            .any(|(name, _)| name == "uploadId");
    // As AWS answers a path-style request: the URL of the object, key encoded as sent.
    let location = is_completion.then(|| format!("{endpoint}{}", request.uri().path()));
    let request = if is_form {
        request.map(|body| Body::http_body_unsync(SmallFrames::new(body)))
    } else {
        request.map(Body::http_body_unsync)
    };
    let response = s3.call(request).await?;
    match location {
        Some(location) if response.status() == StatusCode::OK => {
            with_location(response, &location).await
        }
        _ => Ok(response),
    }
}

/// Adds `<Location>` to a `CompleteMultipartUploadResult` (s3s-fs 0.14.1 sends none and
/// Uppy 6 refuses a completion without it), with a `Content-Length` that matches. An
/// answer that is not a result (S3 may report an error in a 200) passes unchanged.
async fn with_location(
    response: Response<Body>,
    location: &str,
) -> Result<Response<Body>, HttpError> {
    let (mut parts, mut body) = response.into_parts();
    let bytes = body
        .store_all_limited(COMPLETION_ANSWER_LIMIT)
        .await
        .map_err(HttpError::new)?;
    let text = String::from_utf8_lossy(&bytes);
    let insert_at = text
        .find("<CompleteMultipartUploadResult")
        .and_then(|start| text[start..].find('>').map(|end| start + end + 1))
        .filter(|_| !text.contains("<Location>"));
    let bytes = match insert_at {
        Some(at) => {
            let mut xml = String::with_capacity(text.len() + location.len() + 32);
            xml.push_str(&text[..at]);
            xml.push_str("<Location>");
            xml.push_str(&xml_escape(location));
            xml.push_str("</Location>");
            xml.push_str(&text[at..]);
            Bytes::from(xml)
        }
        None => bytes,
    };
    // s3s streams this answer chunked; it is whole now.
    parts.headers.remove(header::TRANSFER_ENCODING);
    parts
        .headers
        .insert(header::CONTENT_LENGTH, HeaderValue::from(bytes.len()));
    Ok(Response::from_parts(parts, Body::from(bytes)))
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A body whose data frames are at most [`FORM_FRAME_BYTES`] long: the same bytes in the
/// same order, trailers passed through.
struct SmallFrames<B> {
    inner: B,
    pending: Bytes,
}

impl<B> SmallFrames<B> {
    fn new(inner: B) -> Self {
        Self {
            inner,
            pending: Bytes::new(),
        }
    }
}

impl<B> HttpBody for SmallFrames<B>
where
    B: HttpBody<Data = Bytes> + Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = &mut *self;
        loop {
            if !this.pending.is_empty() {
                let len = this.pending.len().min(FORM_FRAME_BYTES);
                return Poll::Ready(Some(Ok(Frame::data(this.pending.split_to(len)))));
            }
            match ready!(Pin::new(&mut this.inner).poll_frame(cx)) {
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) => this.pending = data,
                    Err(trailers) => return Poll::Ready(Some(Ok(trailers))),
                },
                other => return Poll::Ready(other),
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.pending.is_empty() && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        let inner = self.inner.size_hint();
        let pending = self.pending.len() as u64;
        let mut hint = SizeHint::new();
        if let Some(upper) = inner.upper() {
            hint.set_upper(upper + pending);
        }
        hint.set_lower(inner.lower() + pending);
        hint
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

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::convert::Infallible;
    use std::time::SystemTime;

    use aws_sdk_s3::primitives::ByteStream;
    use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
    use base64::Engine;
    use tower::ServiceExt;

    use super::*;

    const BUCKET: &str = "uploads";

    /// A request body delivered in exactly these frames, as a socket read might cut it.
    struct Frames(VecDeque<Bytes>);

    impl HttpBody for Frames {
        type Data = Bytes;
        type Error = Infallible;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
            Poll::Ready(self.0.pop_front().map(|data| Ok(Frame::data(data))))
        }
    }

    fn client(s3: &LocalS3) -> aws_sdk_s3::Client {
        let config = aws_sdk_s3::Config::builder()
            .behavior_version_latest()
            .region(aws_sdk_s3::config::Region::new("us-east-1"))
            .endpoint_url(&s3.endpoint)
            .force_path_style(true)
            .credentials_provider(aws_credential_types::Credentials::new(
                &s3.access_key,
                &s3.secret_key,
                None,
                None,
                "test",
            ))
            .build();
        aws_sdk_s3::Client::from_conf(config)
    }

    async fn start(dir: &Path) -> LocalS3 {
        LocalS3::start(dir, "127.0.0.1:0".parse().unwrap(), &[BUCKET])
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn a_completion_answers_its_location_as_aws_does() {
        let dir = tempfile::tempdir().unwrap();
        let s3 = start(dir.path()).await;
        let client = client(&s3);
        let key = "alice/a b&c.bin";
        let created = client
            .create_multipart_upload()
            .bucket(BUCKET)
            .key(key)
            .send()
            .await
            .unwrap();
        let upload_id = created.upload_id().unwrap();
        let part = client
            .upload_part()
            .bucket(BUCKET)
            .key(key)
            .upload_id(upload_id)
            .part_number(1)
            .body(ByteStream::from_static(b"one part"))
            .send()
            .await
            .unwrap();
        let completed = client
            .complete_multipart_upload()
            .bucket(BUCKET)
            .key(key)
            .upload_id(upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .parts(
                        CompletedPart::builder()
                            .part_number(1)
                            .e_tag(part.e_tag().unwrap())
                            .build(),
                    )
                    .build(),
            )
            .send()
            .await
            .unwrap();
        // The SDK encodes the key in the path as AWS expects; Location repeats it so.
        assert_eq!(
            completed.location(),
            Some(format!("{}/{BUCKET}/alice/a%20b%26c.bin", s3.endpoint).as_str())
        );
        assert_eq!(completed.key(), Some(key));
        assert_eq!(completed.bucket(), Some(BUCKET));
        let object = client
            .get_object()
            .bucket(BUCKET)
            .key(key)
            .send()
            .await
            .unwrap();
        let body = object.body.collect().await.unwrap().into_bytes();
        assert_eq!(&body[..], b"one part");
    }

    #[tokio::test]
    async fn a_completion_answer_is_whole_with_a_matching_length() {
        let response = Response::builder()
            .header(header::TRANSFER_ENCODING, "chunked")
            .body(Body::from(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>  \
                 <CompleteMultipartUploadResult><Bucket>b</Bucket><Key>k</Key>\
                 </CompleteMultipartUploadResult>"
                    .to_owned(),
            ))
            .unwrap();
        let response = with_location(response, "http://127.0.0.1:1/b/k&1")
            .await
            .unwrap();
        assert!(response.headers().get(header::TRANSFER_ENCODING).is_none());
        let length: usize = response.headers()[header::CONTENT_LENGTH]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        let mut body = response.into_body();
        let bytes = body.store_all_limited(usize::MAX).await.unwrap();
        assert_eq!(length, bytes.len());
        assert!(
            std::str::from_utf8(&bytes).unwrap().contains(
                "<CompleteMultipartUploadResult><Location>http://127.0.0.1:1/b/k&amp;1</Location><Bucket>"
            ),
            "{bytes:?}"
        );

        // An error reported in a 200 passes as it is.
        let error = "<?xml version=\"1.0\"?><Error><Code>InternalError</Code></Error>";
        let response = Response::new(Body::from(error.to_owned()));
        let mut body = with_location(response, "http://x/b/k")
            .await
            .unwrap()
            .into_body();
        assert_eq!(body.store_all_limited(usize::MAX).await.unwrap(), error);
    }

    /// A POST object form for `key` signed for `secret`, whose body arrives as a first frame
    /// ending in `\r` (a possible start of the closing boundary) and then one 100 KiB frame.
    fn post_form_in_two_frames(
        access_key: &str,
        secret_key: &str,
        key: &str,
    ) -> (Request<Frames>, Vec<u8>) {
        let now = SystemTime::now();
        let date = time::OffsetDateTime::from(now)
            .format(time::macros::format_description!(
                "[year][month][day]T[hour][minute][second]Z"
            ))
            .unwrap();
        let credential = format!("{access_key}/{}/us-east-1/s3/aws4_request", &date[..8]);
        let policy = serde_json::json!({
            "expiration": "2100-01-01T00:00:00Z",
            "conditions": [
                {"bucket": BUCKET},
                {"key": key},
                {"x-amz-algorithm": "AWS4-HMAC-SHA256"},
                {"x-amz-credential": credential},
                {"x-amz-date": date},
            ],
        });
        let policy = base64::engine::general_purpose::STANDARD.encode(policy.to_string());
        let signing_key =
            aws_sigv4::sign::v4::generate_signing_key(secret_key, now, "us-east-1", "s3");
        let signature = aws_sigv4::sign::v4::calculate_signature(signing_key, policy.as_bytes());

        let boundary = "----presigndtestboundary";
        let mut head = String::new();
        for (name, value) in [
            ("key", key),
            ("policy", &policy),
            ("x-amz-algorithm", "AWS4-HMAC-SHA256"),
            ("x-amz-credential", &credential),
            ("x-amz-date", &date),
            ("x-amz-signature", &signature),
        ] {
            head.push_str(&format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            ));
        }
        head.push_str(&format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f\"\r\n\
             Content-Type: application/octet-stream\r\n\r\n"
        ));
        let mut file = vec![b'a'; 1000];
        file.push(b'\r');
        let mut first = head.into_bytes();
        first.extend_from_slice(&file);
        let second_part = vec![b'b'; 100 * 1024];
        file.extend_from_slice(&second_part);
        let mut second = second_part;
        second.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let length = first.len() + second.len();
        let request = Request::builder()
            .method(Method::POST)
            .uri(format!("http://127.0.0.1/{BUCKET}"))
            .header(header::HOST, "127.0.0.1")
            .header(
                header::CONTENT_TYPE,
                format!("multipart/form-data; boundary={boundary}"),
            )
            .header(header::CONTENT_LENGTH, length)
            .body(Frames(VecDeque::from([first.into(), second.into()])))
            .unwrap();
        (request, file)
    }

    #[tokio::test]
    async fn a_post_form_in_large_frames_is_stored_whole() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join(BUCKET)).unwrap();
        let s3 = s3s_fs_service(dir.path(), "AKTEST", "secret").unwrap();

        // s3s-fs alone refuses these frames: the test does reproduce the bug.
        let (request, _) = post_form_in_two_frames("AKTEST", "secret", "bare");
        let bare = s3.call(request.map(Body::http_body_unsync)).await.unwrap();
        assert_eq!(bare.status(), StatusCode::BAD_REQUEST);
        let answer = bare
            .into_body()
            .store_all_limited(usize::MAX)
            .await
            .unwrap();
        assert!(
            String::from_utf8_lossy(&answer).contains("failed to read file stream"),
            "{answer:?}"
        );

        let (request, file) = post_form_in_two_frames("AKTEST", "secret", "wrapped");
        let response = browser_ready(s3, "http://127.0.0.1")
            .oneshot(request)
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
        let stored = std::fs::read(dir.path().join(BUCKET).join("wrapped")).unwrap();
        assert!(
            stored == file,
            "stored {} bytes of {}",
            stored.len(),
            file.len()
        );
    }

    #[tokio::test]
    async fn any_origin_may_upload_and_read_etags() {
        let dir = tempfile::tempdir().unwrap();
        let s3 = start(dir.path()).await;
        let http = reqwest::Client::new();
        let url = format!("{}/{BUCKET}/alice/k", s3.endpoint);
        let origin = "http://127.0.0.1:9";

        for method in ["PUT", "POST", "GET", "DELETE"] {
            let preflight = http
                .request(Method::OPTIONS, &url)
                .header(header::ORIGIN, origin)
                .header(header::ACCESS_CONTROL_REQUEST_METHOD, method)
                .header(
                    header::ACCESS_CONTROL_REQUEST_HEADERS,
                    "content-type,x-amz-meta-a,authorization",
                )
                .send()
                .await
                .unwrap();
            assert_eq!(preflight.status(), 200, "{method}");
            let headers = preflight.headers();
            assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
            let methods = headers[header::ACCESS_CONTROL_ALLOW_METHODS]
                .to_str()
                .unwrap();
            assert!(methods.split(',').any(|m| m.trim() == method), "{methods}");
            assert_eq!(
                headers[header::ACCESS_CONTROL_ALLOW_HEADERS],
                "content-type,x-amz-meta-a,authorization"
            );
        }

        // A real upload from that origin, and an S3 error: both readable by the page.
        let presigned = client(&s3)
            .put_object()
            .bucket(BUCKET)
            .key("alice/k")
            .presigned(
                aws_sdk_s3::presigning::PresigningConfig::expires_in(Duration::from_secs(60))
                    .unwrap(),
            )
            .await
            .unwrap();
        let put = http
            .put(presigned.uri())
            .header(header::ORIGIN, origin)
            .body("x")
            .send()
            .await
            .unwrap();
        assert_eq!(put.status(), 200);
        assert_eq!(put.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
        let exposed = put.headers()[header::ACCESS_CONTROL_EXPOSE_HEADERS]
            .to_str()
            .unwrap()
            .to_ascii_lowercase();
        assert!(exposed.split(',').any(|h| h.trim() == "etag"), "{exposed}");
        assert!(put.headers().contains_key(header::ETAG));

        let refused = http
            .put(&url)
            .header(header::ORIGIN, origin)
            .body("x")
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), 403);
        assert_eq!(refused.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
    }
}
