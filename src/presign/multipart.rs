//! The multipart calls presignd makes itself (DESIGN §2 "Multipart uploads"): it opens,
//! lists, completes and aborts uploads with aws-sdk-s3, and only the part uploads go to
//! clients, as presigned `UploadPart` URLs ([`super::Operation::UploadPart`]).

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};

use super::{BucketName, ContentType, ObjectKey, PresignError, Presigner};

/// S3's most parts in one upload.
pub const MAX_PARTS: u32 = 10_000;
/// S3's smallest part but the last, in bytes (5 MiB).
pub const MIN_PART_BYTES: u64 = 5 * 1024 * 1024;
/// S3's largest part, in bytes (5 GiB).
pub const MAX_PART_BYTES: u64 = 5 * 1024 * 1024 * 1024;

/// Where an upload lives in S3.
#[derive(Debug, Clone, Copy)]
pub struct UploadTarget<'a> {
    pub bucket: &'a BucketName,
    pub key: &'a ObjectKey,
    /// S3's `UploadId`.
    pub upload_id: &'a str,
}

/// What `CreateMultipartUpload` stores with the object.
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    pub content_type: Option<ContentType>,
    pub metadata: std::collections::BTreeMap<String, String>,
}

/// One part as `ListParts` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedPart {
    pub part_number: u32,
    /// Bytes.
    pub size: u64,
    /// Without quotes; `None` where the store lists none (s3s-fs).
    pub etag: Option<String>,
}

/// The object a completion made.
#[derive(Debug, Clone)]
pub struct CompletedObject {
    /// Without quotes.
    pub etag: Option<String>,
    pub location: Option<String>,
}

/// A multipart call that S3 refused or that did not reach it.
#[derive(Debug, thiserror::Error)]
pub enum S3CallError {
    /// S3 answered with an error: its code (`NoSuchUpload`, `InvalidPart`,
    /// `PreconditionFailed`, …) and message, safe to show the caller.
    #[error("S3 refused {operation}: {code}{}", message_suffix(.message))]
    Refused {
        operation: &'static str,
        code: String,
        message: Option<String>,
        /// S3's HTTP status.
        status: u16,
    },
    /// S3 could not be reached or did not answer in time.
    #[error("S3 did not answer {operation}")]
    Unreachable {
        operation: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error(transparent)]
    Presign(#[from] PresignError),
}

fn message_suffix(message: &Option<String>) -> String {
    message
        .as_deref()
        .map(|m| format!(" ({m})"))
        .unwrap_or_default()
}

impl S3CallError {
    /// Whether S3 says the upload does not exist (any more).
    pub fn is_no_such_upload(&self) -> bool {
        matches!(self, Self::Refused { code, .. } if code == "NoSuchUpload")
    }

    fn from_sdk<E>(operation: &'static str, error: SdkError<E, HttpResponse>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        match error {
            SdkError::ServiceError(context) => {
                let status = context.raw().status().as_u16();
                let error = context.into_err();
                Self::Refused {
                    operation,
                    code: error.code().unwrap_or("UnknownError").to_owned(),
                    message: error.message().map(str::to_owned),
                    status,
                }
            }
            other => Self::Unreachable {
                operation,
                source: Box::new(other),
            },
        }
    }
}

impl Presigner {
    /// `CreateMultipartUpload`; returns S3's `UploadId`.
    pub async fn create_multipart(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        options: &CreateOptions,
    ) -> Result<String, S3CallError> {
        const OPERATION: &str = "CreateMultipartUpload";
        let mut create = self
            .sending_client(bucket)?
            .create_multipart_upload()
            .bucket(bucket.as_str())
            .key(key.as_str())
            .set_content_type(options.content_type.as_ref().map(|t| t.as_str().to_owned()));
        for (name, value) in &options.metadata {
            create = create.metadata(name, value);
        }
        let created = create
            .send()
            .await
            .map_err(|e| S3CallError::from_sdk(OPERATION, e))?;
        created.upload_id.ok_or_else(|| S3CallError::Refused {
            operation: OPERATION,
            code: "MissingUploadId".into(),
            message: None,
            status: 200,
        })
    }

    /// `ListParts`, every page, in part-number order.
    pub async fn list_parts(
        &self,
        target: UploadTarget<'_>,
    ) -> Result<Vec<ListedPart>, S3CallError> {
        const OPERATION: &str = "ListParts";
        let client = self.sending_client(target.bucket)?;
        let mut parts = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let page = client
                .list_parts()
                .bucket(target.bucket.as_str())
                .key(target.key.as_str())
                .upload_id(target.upload_id)
                .set_part_number_marker(marker.take())
                .send()
                .await
                .map_err(|e| S3CallError::from_sdk(OPERATION, e))?;
            for part in page.parts() {
                let (Some(number), Some(size)) = (part.part_number(), part.size()) else {
                    continue;
                };
                parts.push(ListedPart {
                    part_number: u32::try_from(number).unwrap_or(0),
                    size: u64::try_from(size).unwrap_or(0),
                    etag: part.e_tag().map(unquoted).filter(|e| !e.is_empty()),
                });
            }
            let next = page.next_part_number_marker().map(str::to_owned);
            // A store that says "truncated" but gives no new marker would loop forever.
            if page.is_truncated() != Some(true) || next.is_none() || next == marker {
                break;
            }
            marker = next;
        }
        parts.sort_by_key(|part| part.part_number);
        parts.dedup_by_key(|part| part.part_number);
        Ok(parts)
    }

    /// `CompleteMultipartUpload` with `parts` (number, ETag) in ascending order;
    /// `If-None-Match: *` when `write_once`.
    pub async fn complete_multipart(
        &self,
        target: UploadTarget<'_>,
        parts: &[(u32, String)],
        write_once: bool,
    ) -> Result<CompletedObject, S3CallError> {
        const OPERATION: &str = "CompleteMultipartUpload";
        let upload = CompletedMultipartUpload::builder()
            .set_parts(Some(
                parts
                    .iter()
                    .map(|(number, etag)| {
                        CompletedPart::builder()
                            .part_number(i32::try_from(*number).unwrap_or(i32::MAX))
                            .e_tag(format!("\"{etag}\""))
                            .build()
                    })
                    .collect(),
            ))
            .build();
        let mut complete = self
            .sending_client(target.bucket)?
            .complete_multipart_upload()
            .bucket(target.bucket.as_str())
            .key(target.key.as_str())
            .upload_id(target.upload_id)
            .multipart_upload(upload);
        if write_once {
            complete = complete.if_none_match("*");
        }
        let completed = complete
            .send()
            .await
            .map_err(|e| S3CallError::from_sdk(OPERATION, e))?;
        Ok(CompletedObject {
            etag: completed.e_tag().map(unquoted),
            location: completed.location().map(str::to_owned),
        })
    }

    /// `AbortMultipartUpload`. An upload S3 no longer knows counts as aborted.
    pub async fn abort_multipart(&self, target: UploadTarget<'_>) -> Result<(), S3CallError> {
        const OPERATION: &str = "AbortMultipartUpload";
        let aborted = self
            .sending_client(target.bucket)?
            .abort_multipart_upload()
            .bucket(target.bucket.as_str())
            .key(target.key.as_str())
            .upload_id(target.upload_id)
            .send()
            .await
            .map_err(|e| S3CallError::from_sdk(OPERATION, e));
        match aborted {
            Err(error) if !error.is_no_such_upload() => Err(error),
            _ => Ok(()),
        }
    }
}

/// An ETag without its surrounding quotes.
pub fn unquoted(etag: &str) -> String {
    etag.trim().trim_matches('"').to_owned()
}
