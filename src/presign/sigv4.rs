//! What aws-sdk-s3 cannot presign, signed with aws-sigv4's primitives: the multipart calls
//! a browser makes itself in Uppy's `signRequest` mode (CreateMultipartUpload, ListParts,
//! CompleteMultipartUpload, AbortMultipartUpload) as query-signed URLs, and browser POST
//! forms (a SigV4 POST policy, DESIGN §2). The object's URL comes from the SDK (a GetObject
//! presign of the same bucket and key), so endpoints, regions and path style resolve
//! exactly as for every other URL.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    PercentEncodingMode, SignableBody, SignableRequest, SignatureLocation, SigningSettings,
    UriPathNormalizationMode, sign,
};
use aws_sigv4::sign::v4;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::PresignError;

/// A multipart call, as a browser sends it to S3 itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MultipartCall {
    /// `POST ?uploads`. Signs no `Content-Type`: the browser sends one it does not tell
    /// the signer about.
    Create,
    /// `GET ?uploadId=`.
    ListParts { upload_id: String },
    /// `POST ?uploadId=` with the parts as XML.
    Complete { upload_id: String },
    /// `DELETE ?uploadId=`.
    Abort { upload_id: String },
}

impl MultipartCall {
    pub fn method(&self) -> &'static str {
        match self {
            Self::Create | Self::Complete { .. } => "POST",
            Self::ListParts { .. } => "GET",
            Self::Abort { .. } => "DELETE",
        }
    }

    /// S3's name for the operation.
    pub fn operation(&self) -> &'static str {
        match self {
            Self::Create => "CreateMultipartUpload",
            Self::ListParts { .. } => "ListParts",
            Self::Complete { .. } => "CompleteMultipartUpload",
            Self::Abort { .. } => "AbortMultipartUpload",
        }
    }

    /// The operation's own query parameters, before signing.
    fn query(&self) -> Vec<(&'static str, &str)> {
        match self {
            Self::Create => vec![("uploads", "")],
            Self::ListParts { upload_id }
            | Self::Complete { upload_id }
            | Self::Abort { upload_id } => vec![("uploadId", upload_id)],
        }
    }
}

/// A signed request: its URL and the signature (for the audit fingerprint).
pub(super) struct SignedCall {
    pub url: String,
    pub signature: String,
}

/// Where signing happens: the credentials, region and moment.
pub(super) struct Signer<'a> {
    pub credentials: &'a Credentials,
    pub region: &'a str,
    pub at: SystemTime,
    pub lifetime: Duration,
}

/// The URL of the object at `object_url` (no query) with `call`'s query and `extra`
/// parameters, query-signed (host only; unsigned payload), valid for `signer.lifetime`.
pub(super) fn sign_call(
    signer: &Signer<'_>,
    object_url: &str,
    call: &MultipartCall,
    extra: &[(&str, &str)],
) -> Result<SignedCall, PresignError> {
    let mut url = url::Url::parse(object_url).map_err(|e| PresignError::Sdk(e.into()))?;
    {
        let mut query = url.query_pairs_mut();
        for (name, value) in call.query().into_iter().chain(extra.iter().copied()) {
            query.append_pair(name, value);
        }
    }
    // `?uploads` has no value: S3 and SigV4 both read `uploads=` as the same parameter.
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(signer.lifetime);
    settings.percent_encoding_mode = PercentEncodingMode::Single;
    settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
    let identity = signer.credentials.clone().into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(signer.region)
        .name("s3")
        .time(signer.at)
        .settings(settings)
        .build()
        .map_err(|e| PresignError::Sdk(e.into()))?
        .into();
    let request = SignableRequest::new(
        call.method(),
        url.as_str(),
        std::iter::empty(),
        SignableBody::UnsignedPayload,
    )
    .map_err(|e| PresignError::Sdk(e.into()))?;
    let (instructions, signature) = sign(request, &params)
        .map_err(|e| PresignError::Sdk(e.into()))?
        .into_parts();
    let (_, signing_params) = instructions.into_parts();
    {
        let mut query = url.query_pairs_mut();
        for (name, value) in &signing_params {
            query.append_pair(name, value);
        }
    }
    Ok(SignedCall {
        url: url.into(),
        signature,
    })
}

/// What a POST form may carry besides the file.
#[derive(Debug, Clone, Default)]
pub struct PostOptions {
    /// `content-type` field, matched exactly.
    pub content_type: Option<super::ContentType>,
    /// `x-amz-meta-*` fields, matched exactly.
    pub metadata: BTreeMap<String, String>,
    /// `Content-Disposition` field, matched exactly.
    pub content_disposition: Option<String>,
    /// `content-length-range`, bytes: `[min, max]`.
    pub length_range: (u64, u64),
}

/// A signed POST form: the bucket URL and every field to send before `file`.
pub(super) struct SignedPost {
    pub url: String,
    pub fields: BTreeMap<String, String>,
    pub signature: String,
}

/// The SigV4 POST policy for `key` with exactly DESIGN's conditions, signed.
pub(super) fn sign_post(
    signer: &Signer<'_>,
    bucket_url: &str,
    bucket: &str,
    key: &str,
    audit_id: &str,
    options: &PostOptions,
) -> Result<SignedPost, PresignError> {
    let at = OffsetDateTime::from(signer.at);
    let date = format_ymd(at);
    let amz_date = format!(
        "{date}T{:02}{:02}{:02}Z",
        at.hour(),
        at.minute(),
        at.second()
    );
    let credential = format!(
        "{}/{date}/{}/s3/aws4_request",
        signer.credentials.access_key_id(),
        signer.region
    );
    let expiration = (at + signer.lifetime)
        .replace_nanosecond(0)
        .unwrap_or(at + signer.lifetime)
        .format(&Rfc3339)
        .map_err(|e| PresignError::Sdk(e.into()))?;

    // Every field but `policy` and `x-amz-signature` is matched exactly by a condition.
    let mut fields = BTreeMap::new();
    fields.insert("key".to_owned(), key.to_owned());
    if let Some(content_type) = &options.content_type {
        fields.insert("Content-Type".into(), content_type.as_str().to_owned());
    }
    if let Some(disposition) = &options.content_disposition {
        fields.insert("Content-Disposition".into(), disposition.clone());
    }
    for (name, value) in &options.metadata {
        fields.insert(format!("x-amz-meta-{name}"), value.clone());
    }
    fields.insert("success_action_status".into(), "201".into());
    fields.insert(
        format!("x-amz-meta-{}", super::AUDIT_ID_METADATA),
        audit_id.to_owned(),
    );
    fields.insert("x-amz-algorithm".into(), "AWS4-HMAC-SHA256".into());
    fields.insert("x-amz-credential".into(), credential);
    fields.insert("x-amz-date".into(), amz_date);
    if let Some(token) = signer.credentials.session_token() {
        fields.insert("x-amz-security-token".into(), token.to_owned());
    }

    let mut conditions = vec![serde_json::json!({"bucket": bucket})];
    for (name, value) in &fields {
        conditions.push(serde_json::json!(["eq", format!("${name}"), value]));
    }
    let (min, max) = options.length_range;
    conditions.push(serde_json::json!(["content-length-range", min, max]));
    let policy = serde_json::json!({"expiration": expiration, "conditions": conditions});
    let policy = STANDARD.encode(policy.to_string());
    let signing_key = v4::generate_signing_key(
        signer.credentials.secret_access_key(),
        signer.at,
        signer.region,
        "s3",
    );
    let signature = v4::calculate_signature(signing_key, policy.as_bytes());
    fields.insert("policy".into(), policy);
    fields.insert("x-amz-signature".into(), signature.clone());
    Ok(SignedPost {
        url: bucket_url.to_owned(),
        fields,
        signature,
    })
}

fn format_ymd(at: OffsetDateTime) -> String {
    format!("{:04}{:02}{:02}", at.year(), u8::from(at.month()), at.day())
}
