//! Presigning with aws-sdk-s3's `PresigningConfig`: one client per distinct
//! (region, endpoint, path style), built at startup; per-bucket overrides; and the true
//! expiry, `min(now + expires_in, credentials' expiry)` (DESIGN §1 rule 5).

mod credentials;
mod multipart;
mod names;
mod sigv4;

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, SystemTime};

use aws_config::SdkConfig;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_credential_types::provider::error::CredentialsError;
use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{
    IdentityCache, Region, RequestChecksumCalculation, ResponseChecksumValidation,
    StalledStreamProtectionConfig,
};
use aws_sdk_s3::presigning::{PresignedRequest, PresigningConfig};
use time::OffsetDateTime;
use uuid::Uuid;

use credentials::TrackedCredentials;
pub use multipart::{
    CompletedObject, CreateOptions, ListedPart, MAX_PART_BYTES, MAX_PARTS, MIN_PART_BYTES,
    S3CallError, UploadTarget, unquoted,
};
pub use names::{BucketName, ContentType, ObjectKey};
pub use sigv4::{MultipartCall, PostOptions};

/// Re-exported where the signing code has always named it; the audit log owns it.
pub use crate::audit::AUDIT_ID_PARAM;
use crate::audit::{Committed, IssuedUrl, signature_fingerprint};
use crate::config::S3Config;

/// S3's largest single PUT, in bytes (5 GiB); larger objects need a multipart upload.
pub const MAX_PUT_BYTES: u64 = 5 * 1024 * 1024 * 1024;

/// The metadata name (`x-amz-meta-presignd-id`) that carries the audit id in a POST form,
/// so the stored object names its issuance.
pub const AUDIT_ID_METADATA: &str = "presignd-id";

/// A validated presign request.
#[derive(Debug, Clone)]
pub struct PresignRequest {
    pub bucket: BucketName,
    pub key: ObjectKey,
    pub operation: Operation,
    /// The requested lifetime, in seconds (already within the configured bounds).
    pub expires_in: u32,
    /// The audit id, made before signing and signed into the URL.
    pub audit_id: Uuid,
}

#[derive(Debug, Clone)]
pub enum Operation {
    Get(GetOptions),
    Put(PutOptions),
    /// One part of a multipart upload that presignd opened.
    UploadPart(PartOptions),
    /// A multipart call the browser sends itself (Uppy's `signRequest` mode).
    Multipart(MultipartCall),
    /// A browser form upload: a SigV4 POST policy.
    Post(PostOptions),
}

impl Operation {
    pub fn method(&self) -> &'static str {
        match self {
            Self::Get(_) => "GET",
            Self::Put(_) | Self::UploadPart(_) => "PUT",
            Self::Multipart(call) => call.method(),
            Self::Post(_) => "POST",
        }
    }

    /// `presign:ContentType` (the media type's lower-cased essence) and
    /// `presign:ContentLength` as the policy sees them.
    pub fn policy_content(&self) -> (Option<&str>, Option<u64>) {
        match self {
            Self::Put(put) => (
                put.content_type.as_ref().map(ContentType::essence),
                put.content_length,
            ),
            Self::Get(get) => (
                get.response_content_type.as_ref().map(ContentType::essence),
                None,
            ),
            // A part's or a call's policy facts are its upload's (declared type, total).
            Self::UploadPart(_) | Self::Multipart(_) => (None, None),
            // The largest size the form admits.
            Self::Post(post) => (
                post.content_type.as_ref().map(ContentType::essence),
                Some(post.length_range.1),
            ),
        }
    }
}

impl PresignRequest {
    /// What the audit row keeps of the request: the signed options, metadata names only.
    pub fn audit_options(&self) -> serde_json::Value {
        match &self.operation {
            Operation::Get(get) => serde_json::json!({
                "response_content_type": get.response_content_type,
                "response_content_disposition": get.response_content_disposition,
                "version_id": get.version_id,
                "requested_expires_in": self.expires_in,
            }),
            Operation::Put(put) => serde_json::json!({
                "content_type": put.content_type,
                "content_length": put.content_length,
                "checksum_sha256": put.checksum_sha256,
                "metadata_keys": put.metadata.keys().collect::<Vec<_>>(),
                "if_none_match": put.if_none_match,
                "content_disposition": put.content_disposition,
                "requested_expires_in": self.expires_in,
            }),
            Operation::UploadPart(part) => serde_json::json!({
                "operation": "UploadPart",
                "part_number": part.part_number,
                "content_length": part.content_length,
                "requested_expires_in": self.expires_in,
            }),
            Operation::Multipart(call) => serde_json::json!({
                "operation": call.operation(),
                "requested_expires_in": self.expires_in,
            }),
            Operation::Post(post) => serde_json::json!({
                "content_type": post.content_type,
                "content_length_range": [post.length_range.0, post.length_range.1],
                "metadata_keys": post.metadata.keys().collect::<Vec<_>>(),
                "content_disposition": post.content_disposition,
                "requested_expires_in": self.expires_in,
            }),
        }
    }
}

/// GET options: response header overrides and a version.
#[derive(Debug, Clone, Default)]
pub struct GetOptions {
    pub response_content_type: Option<ContentType>,
    pub response_content_disposition: Option<String>,
    pub version_id: Option<String>,
}

/// PUT options: each one becomes a signed header that S3 enforces.
#[derive(Debug, Clone, Default)]
pub struct PutOptions {
    pub content_type: Option<ContentType>,
    /// Bytes, at most [`MAX_PUT_BYTES`].
    pub content_length: Option<u64>,
    /// Base64 of the 32-byte SHA-256 of the body.
    pub checksum_sha256: Option<String>,
    pub metadata: BTreeMap<String, String>,
    pub if_none_match: bool,
    pub content_disposition: Option<String>,
}

/// An `UploadPart` URL: S3's upload id, the part's number and, when given, its signed size.
#[derive(Debug, Clone)]
pub struct PartOptions {
    pub upload_id: String,
    /// 1..=[`MAX_PARTS`].
    pub part_number: u32,
    /// Bytes, at most [`MAX_PART_BYTES`].
    pub content_length: Option<u64>,
}

/// A signed URL, not yet released: its URL and headers can be read only through
/// [`ReleasedUrl::from`] a [`Committed`] one, so no URL leaves before its audit row is
/// durable (DESIGN §1 rule 1). Deliberately neither `Clone` nor `Serialize`.
///
/// The one way to a URL, so the failing examples below fail for the reason they show:
/// ```
/// use presignd::audit::Committed;
/// use presignd::presign::{Presigned, ReleasedUrl};
/// fn answer(committed: Committed<Presigned>) -> ReleasedUrl {
///     ReleasedUrl::from(committed)
/// }
/// ```
/// A handler that skips the commit does not compile:
/// ```compile_fail
/// use presignd::presign::{Presigned, ReleasedUrl};
/// fn answer(signed: Presigned) -> ReleasedUrl {
///     ReleasedUrl::from(signed) // needs a Committed<Presigned>
/// }
/// ```
/// ```compile_fail
/// fn leak(signed: presignd::presign::Presigned) -> String {
///     signed.url // private
/// }
/// ```
/// ```compile_fail
/// use presignd::audit::Committed;
/// fn forge(signed: presignd::presign::Presigned) -> Committed<presignd::presign::Presigned> {
///     Committed(signed) // only the audit writer makes one
/// }
/// ```
#[derive(Debug)]
pub struct Presigned {
    audit_id: Uuid,
    url: String,
    method: String,
    headers: BTreeMap<String, String>,
    /// A POST form's fields; empty for every other request.
    fields: BTreeMap<String, String>,
    expires_at: OffsetDateTime,
    expires_in: u64,
    /// The URL's `X-Amz-Signature` (a form's policy signature); hashed for the audit row,
    /// never logged.
    signature: String,
}

impl Presigned {
    /// What the audit row keeps of this URL.
    pub fn audit_facts(&self) -> IssuedUrl {
        IssuedUrl {
            expires_at: self.expires_at,
            expires_in: self.expires_in,
            signature_sha256: signature_fingerprint(&self.signature),
        }
    }
}

/// A URL whose audit row is durable, and what the client must send with it.
#[derive(Debug, Clone)]
pub struct ReleasedUrl {
    /// The `x-presignd-id` in the URL: the audit row's id.
    pub audit_id: Uuid,
    pub url: String,
    pub method: String,
    /// Every header the client must send, names in lower case.
    pub headers: BTreeMap<String, String>,
    /// A POST form's fields, to send before `file`; empty otherwise.
    pub fields: BTreeMap<String, String>,
    /// The true expiry: never later than the signing credentials' own.
    pub expires_at: OffsetDateTime,
    /// Seconds from signing to `expires_at`.
    pub expires_in: u64,
}

impl From<Committed<Presigned>> for ReleasedUrl {
    fn from(committed: Committed<Presigned>) -> Self {
        let presigned = committed.into_inner();
        Self {
            audit_id: presigned.audit_id,
            url: presigned.url,
            method: presigned.method,
            headers: presigned.headers,
            fields: presigned.fields,
            expires_at: presigned.expires_at,
            expires_in: presigned.expires_in,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PresignError {
    #[error("signing credentials unavailable")]
    Credentials(#[source] CredentialsError),
    #[error("signing credentials expire too soon to issue a URL")]
    CredentialsExpiring,
    #[error("no region for bucket {0}: set s3.region or AWS_REGION")]
    NoRegion(String),
    #[error("presigning failed")]
    Sdk(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("presigned URL lacks {0}")]
    MalformedUrl(&'static str),
}

impl PresignError {
    /// Whether the failure is the credentials' (503 credentials_unavailable) rather than a bug.
    pub fn is_credentials(&self) -> bool {
        matches!(self, Self::Credentials(_) | Self::CredentialsExpiring)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct ClientKey {
    region: String,
    endpoint_url: Option<String>,
    force_path_style: bool,
}

/// The SDK clients of one region and endpoint.
#[derive(Debug)]
struct Clients {
    /// For presigning: without the retry, timeout and stalled-stream machinery that a
    /// request never sent does not use and that the SDK would otherwise run for every URL.
    signing: aws_sdk_s3::Client,
    /// For the calls presignd makes itself (multipart), with the SDK's defaults.
    sending: aws_sdk_s3::Client,
}

/// Signs URLs; cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct Presigner {
    clients: HashMap<ClientKey, Clients>,
    default_client: Option<ClientKey>,
    bucket_clients: HashMap<String, ClientKey>,
    credentials: TrackedCredentials,
}

impl Presigner {
    /// Builds every client up front. `sdk_config` supplies the credential chain and the
    /// default region.
    pub fn new(config: &S3Config, sdk_config: &SdkConfig) -> Result<Self, PresignError> {
        let source = sdk_config.credentials_provider().ok_or_else(|| {
            PresignError::Credentials(CredentialsError::not_loaded("no credential chain"))
        })?;
        let credentials = TrackedCredentials::new(SharedCredentialsProvider::new(source));
        let chain_region = sdk_config.region().map(|r| r.to_string());
        let default_region = config.region.clone().or(chain_region);

        let default_client = default_region.clone().map(|region| ClientKey {
            region,
            endpoint_url: config.endpoint_url.clone(),
            force_path_style: config.force_path_style,
        });
        let mut bucket_clients = HashMap::new();
        for (name, bucket) in &config.buckets {
            let region = bucket
                .region
                .clone()
                .or_else(|| default_region.clone())
                .ok_or_else(|| PresignError::NoRegion(name.clone()))?;
            let key = ClientKey {
                region,
                endpoint_url: bucket
                    .endpoint_url
                    .clone()
                    .or_else(|| config.endpoint_url.clone()),
                force_path_style: bucket.force_path_style.unwrap_or(config.force_path_style),
            };
            bucket_clients.insert(name.clone(), key);
        }

        let mut clients = HashMap::new();
        for key in default_client.iter().chain(bucket_clients.values()) {
            clients
                .entry(key.clone())
                .or_insert_with(|| build_clients(sdk_config, key, &credentials));
        }
        Ok(Self {
            clients,
            default_client,
            bucket_clients,
            credentials,
        })
    }

    /// The client that sends requests to `bucket`'s region and endpoint.
    fn sending_client(&self, bucket: &BucketName) -> Result<&aws_sdk_s3::Client, PresignError> {
        self.route(bucket).map(|(_, clients)| &clients.sending)
    }

    /// `bucket`'s clients and what they were built for.
    fn route(&self, bucket: &BucketName) -> Result<(&ClientKey, &Clients), PresignError> {
        let client_key = self
            .bucket_clients
            .get(bucket.as_str())
            .or(self.default_client.as_ref())
            .ok_or_else(|| PresignError::NoRegion(bucket.to_string()))?;
        Ok((client_key, &self.clients[client_key]))
    }

    /// Signs `request`. The lifetime is cut to what the credentials can back.
    pub async fn presign(&self, request: &PresignRequest) -> Result<Presigned, PresignError> {
        let (client_key, clients) = self.route(&request.bucket)?;
        let client = &clients.signing;

        let credentials = self
            .credentials
            .current()
            .await
            .map_err(PresignError::Credentials)?;
        let signed_at = SystemTime::now();
        let lifetime = lifetime_within(request.expires_in, credentials.expiry(), signed_at)?;
        let presigning = PresigningConfig::builder()
            .start_time(signed_at)
            .expires_in(lifetime)
            .build()
            .map_err(|e| PresignError::Sdk(e.into()))?;

        let audit_id = request.audit_id.to_string();
        let add_audit_id = {
            let audit_id = audit_id.clone();
            move |http: &mut aws_sdk_s3::config::http::HttpRequest| {
                let uri = http.uri();
                let separator = if uri.contains('?') { '&' } else { '?' };
                let with_id = format!("{uri}{separator}{AUDIT_ID_PARAM}={audit_id}");
                // A UUID is plain ASCII; appending it keeps the URI valid.
                let _ = http.set_uri(with_id);
            }
        };
        let bucket = request.bucket.as_str();
        let key = request.key.as_str();
        let signer = sigv4::Signer {
            credentials: &credentials,
            region: &client_key.region,
            at: signed_at,
            lifetime,
        };
        let signed = match &request.operation {
            Operation::Get(options) => Unreleased::from_sdk(
                client
                    .get_object()
                    .bucket(bucket)
                    .key(key)
                    .set_response_content_type(
                        options
                            .response_content_type
                            .as_ref()
                            .map(|t| t.as_str().to_owned()),
                    )
                    .set_response_content_disposition(options.response_content_disposition.clone())
                    .set_version_id(options.version_id.clone())
                    .customize()
                    .mutate_request(add_audit_id)
                    .presigned(presigning)
                    .await
                    .map_err(|e| PresignError::Sdk(e.into()))?,
            )?,
            Operation::Put(options) => {
                let mut put = client
                    .put_object()
                    .bucket(bucket)
                    .key(key)
                    .set_content_type(options.content_type.as_ref().map(|t| t.as_str().to_owned()))
                    // Validated at most MAX_PUT_BYTES, so it fits.
                    .set_content_length(options.content_length.map(|n| n as i64))
                    .set_checksum_sha256(options.checksum_sha256.clone())
                    .set_content_disposition(options.content_disposition.clone());
                for (name, value) in &options.metadata {
                    put = put.metadata(name, value);
                }
                if options.if_none_match {
                    put = put.if_none_match("*");
                }
                Unreleased::from_sdk(
                    put.customize()
                        .mutate_request(add_audit_id)
                        .presigned(presigning)
                        .await
                        .map_err(|e| PresignError::Sdk(e.into()))?,
                )?
            }
            Operation::UploadPart(part) => Unreleased::from_sdk(
                client
                    .upload_part()
                    .bucket(bucket)
                    .key(key)
                    .upload_id(&part.upload_id)
                    // Validated within 1..=MAX_PARTS and MAX_PART_BYTES, so both fit.
                    .part_number(part.part_number as i32)
                    .set_content_length(part.content_length.map(|n| n as i64))
                    .customize()
                    .mutate_request(add_audit_id)
                    .presigned(presigning)
                    .await
                    .map_err(|e| PresignError::Sdk(e.into()))?,
            )?,
            Operation::Multipart(call) => {
                let bucket_url = bucket_url(client, bucket, presigning).await?;
                let object_url = format!("{bucket_url}/{}", encode_key(key));
                let signed =
                    sigv4::sign_call(&signer, &object_url, call, &[(AUDIT_ID_PARAM, &audit_id)])?;
                Unreleased::from_url(signed.url, call.method(), signed.signature)?
            }
            Operation::Post(options) => {
                let bucket_url = bucket_url(client, bucket, presigning).await?;
                let signed =
                    sigv4::sign_post(&signer, &bucket_url, bucket, key, &audit_id, options)?;
                Unreleased {
                    url: signed.url,
                    method: "POST".into(),
                    headers: BTreeMap::new(),
                    fields: signed.fields,
                    signature: signed.signature,
                    access_key_id: credentials.access_key_id().to_owned(),
                }
            }
        };
        self.finish(request.audit_id, signed, signed_at, lifetime)
    }

    /// The object's plain URL (no signature), as S3's `Location` names it.
    pub async fn object_url(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
    ) -> Result<String, PresignError> {
        let (_, clients) = self.route(bucket)?;
        let presigning = PresigningConfig::expires_in(Duration::from_secs(60))
            .map_err(|e| PresignError::Sdk(e.into()))?;
        let bucket_url = bucket_url(&clients.signing, bucket.as_str(), presigning).await?;
        Ok(format!("{bucket_url}/{}", encode_key(key.as_str())))
    }

    /// The true expiry of `signed`, read from the credentials that signed it.
    fn finish(
        &self,
        audit_id: Uuid,
        signed: Unreleased,
        signed_at: SystemTime,
        lifetime: Duration,
    ) -> Result<Presigned, PresignError> {
        // The credentials actually used may have been refreshed since `current()`.
        let credentials_expiry =
            self.credentials
                .expiry_of(&signed.access_key_id)
                .ok_or(PresignError::MalformedUrl(
                    "credentials this service issued",
                ))?;
        let mut expires_at = signed_at + lifetime;
        if let Some(expiry) = credentials_expiry {
            expires_at = expires_at.min(expiry);
        }
        let expires_in = expires_at
            .duration_since(signed_at)
            .map_err(|_| PresignError::CredentialsExpiring)?
            .as_secs();
        if expires_in == 0 {
            return Err(PresignError::CredentialsExpiring);
        }
        Ok(Presigned {
            audit_id,
            url: signed.url,
            method: signed.method,
            headers: signed.headers,
            fields: signed.fields,
            expires_at: OffsetDateTime::from(expires_at)
                .replace_nanosecond(0)
                .unwrap_or_else(|_| OffsetDateTime::from(expires_at)),
            expires_in,
            signature: signed.signature,
        })
    }
}

/// A signed request before its expiry is known.
struct Unreleased {
    url: String,
    method: String,
    headers: BTreeMap<String, String>,
    fields: BTreeMap<String, String>,
    signature: String,
    /// Whose credentials signed it.
    access_key_id: String,
}

impl Unreleased {
    fn from_sdk(signed: PresignedRequest) -> Result<Self, PresignError> {
        let headers = signed
            .headers()
            .map(|(name, value)| (name.to_ascii_lowercase(), value.to_owned()))
            .collect();
        Ok(Self {
            headers,
            ..Self::from_url(signed.uri().to_owned(), signed.method(), String::new())?
        })
    }

    /// A query-signed URL: its signature and access key are in its query.
    fn from_url(url: String, method: &str, signature: String) -> Result<Self, PresignError> {
        // Only the query is read: parsing the whole URL would run the host through IDNA
        // on every request.
        let (_, query) = url
            .split_once('?')
            .ok_or(PresignError::MalformedUrl("a query string"))?;
        let mut found_signature = None;
        let mut access_key_id = None;
        // Only the two parameters read are decoded, not the security token and the rest.
        let wanted = |pair: &&str| {
            pair.starts_with("X-Amz-Signature=") || pair.starts_with("X-Amz-Credential=")
        };
        for pair in query.split('&').filter(wanted) {
            for (name, value) in url::form_urlencoded::parse(pair.as_bytes()) {
                match name.as_ref() {
                    "X-Amz-Signature" => found_signature = Some(value.into_owned()),
                    _ => access_key_id = value.split('/').next().map(str::to_owned),
                }
            }
        }
        let found_signature =
            found_signature.ok_or(PresignError::MalformedUrl("X-Amz-Signature"))?;
        debug_assert!(signature.is_empty() || signature == found_signature);
        Ok(Self {
            url,
            method: method.to_owned(),
            headers: BTreeMap::new(),
            fields: BTreeMap::new(),
            signature: found_signature,
            access_key_id: access_key_id.ok_or(PresignError::MalformedUrl("X-Amz-Credential"))?,
        })
    }
}

/// The bucket's URL without a trailing `/` (path style: `http://host/bucket`; virtual
/// hosted: `https://bucket.s3.region.amazonaws.com`), resolved by the SDK exactly as for
/// its own URLs: a GetObject presign of a one-letter key, cut before the key.
async fn bucket_url(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    presigning: PresigningConfig,
) -> Result<String, PresignError> {
    let probe = client
        .get_object()
        .bucket(bucket)
        .key("k")
        .presigned(presigning)
        .await
        .map_err(|e| PresignError::Sdk(Box::new(e)))?;
    let (path, _) = probe.uri().split_once('?').unwrap_or((probe.uri(), ""));
    path.strip_suffix("/k")
        .map(str::to_owned)
        .ok_or(PresignError::MalformedUrl("the object key in its path"))
}

/// What SigV4 and S3 read as the key's path: every byte but unreserved ones and `/`
/// percent-encoded, once.
fn encode_key(key: &str) -> String {
    const KEY: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~')
        .remove(b'/');
    percent_encoding::utf8_percent_encode(key, KEY).to_string()
}

/// The lifetime to sign for: the request's, cut to the credentials' remaining whole seconds.
fn lifetime_within(
    requested_secs: u32,
    credentials_expiry: Option<SystemTime>,
    now: SystemTime,
) -> Result<Duration, PresignError> {
    let requested = Duration::from_secs(requested_secs.into());
    let Some(expiry) = credentials_expiry else {
        return Ok(requested);
    };
    let remaining = expiry.duration_since(now).unwrap_or_default().as_secs();
    if remaining == 0 {
        return Err(PresignError::CredentialsExpiring);
    }
    Ok(requested.min(Duration::from_secs(remaining)))
}

fn build_clients(
    sdk_config: &SdkConfig,
    key: &ClientKey,
    credentials: &TrackedCredentials,
) -> Clients {
    let mut builder = aws_sdk_s3::config::Builder::from(sdk_config)
        .region(Region::new(key.region.clone()))
        .force_path_style(key.force_path_style)
        .credentials_provider(credentials.clone())
        // TrackedCredentials is the only cache, so the expiry of every signature is known.
        .identity_cache(IdentityCache::no_cache())
        // For the multipart calls presignd makes itself: S3-compatible stores refuse the
        // CRC32 headers and aws-chunked bodies the SDK would add by default. Presigned
        // URLs carry no checksum either way.
        .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
        .response_checksum_validation(ResponseChecksumValidation::WhenRequired);
    if let Some(endpoint) = &key.endpoint_url {
        builder = builder.endpoint_url(endpoint);
    }
    let signing = builder
        .clone()
        .retry_config(RetryConfig::disabled())
        .timeout_config(TimeoutConfig::disabled())
        .stalled_stream_protection(StalledStreamProtectionConfig::disabled());
    Clients {
        signing: aws_sdk_s3::Client::from_conf(signing.build()),
        sending: aws_sdk_s3::Client::from_conf(builder.build()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifetime_is_cut_to_the_credentials() {
        let now = SystemTime::now();
        assert_eq!(
            lifetime_within(900, None, now).unwrap(),
            Duration::from_secs(900)
        );
        let soon = now + Duration::from_secs(120);
        assert_eq!(
            lifetime_within(900, Some(soon), now).unwrap(),
            Duration::from_secs(120)
        );
        let later = now + Duration::from_secs(3600);
        assert_eq!(
            lifetime_within(900, Some(later), now).unwrap(),
            Duration::from_secs(900)
        );
        assert!(lifetime_within(900, Some(now), now).is_err());
    }
}
