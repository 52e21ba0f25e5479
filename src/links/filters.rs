//! The filters of `GET /links` (query string) and of `POST /links/revoke` (body), shared
//! with `presignd links list|revoke` (flags), validated once into a [`LinkFilter`] or a
//! [`RevokeFilter`]. Errors name the field, as the audit log's filters do.

use serde::Deserialize;

use super::{LinkFilter, LinkState, MAX_LIST, RevokeFilter};
use crate::audit::{InvalidFilter, filter_id, filter_time, invalid_filter};

/// Links per page when the caller names no limit.
pub const DEFAULT_PAGE: u32 = 100;

/// Which links to list; all optional. Without `presign:ListLinks`, a caller sees only its
/// own links.
#[derive(Debug, Clone, Default, Deserialize, clap::Args, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LinkListParams {
    /// The creator's `sub`.
    #[arg(long)]
    #[param(min_length = 1)]
    pub subject: Option<String>,
    /// The creator's `iss`.
    #[arg(long)]
    #[param(min_length = 1)]
    pub issuer: Option<String>,
    #[arg(long)]
    #[param(min_length = 1)]
    pub bucket: Option<String>,
    /// Keys starting with this text (case-sensitive).
    #[arg(long)]
    #[param(min_length = 1)]
    pub key_prefix: Option<String>,
    /// active, revoked, expired or used_up.
    #[arg(long)]
    #[param(value_type = Option<LinkState>)]
    pub state: Option<String>,
    /// Links per page, 1..=1000 (default 100).
    #[arg(long)]
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
    /// The next_cursor of the previous page.
    #[arg(long)]
    #[param(format = Uuid)]
    pub cursor: Option<String>,
}

fn non_empty(field: &'static str, value: &Option<String>) -> Result<Option<String>, InvalidFilter> {
    match value {
        Some(v) if v.is_empty() => Err(invalid_filter(field, "must not be empty")),
        other => Ok(other.clone()),
    }
}

impl LinkListParams {
    pub fn to_filter(&self) -> Result<LinkFilter, InvalidFilter> {
        let limit = self.limit.unwrap_or(DEFAULT_PAGE);
        if !(1..=MAX_LIST).contains(&limit) {
            return Err(invalid_filter(
                "limit",
                format!("must be in 1..={MAX_LIST}"),
            ));
        }
        let state = self
            .state
            .as_deref()
            .map(|s| {
                LinkState::parse(s).ok_or_else(|| {
                    invalid_filter("state", "must be active, revoked, expired or used_up")
                })
            })
            .transpose()?;
        Ok(LinkFilter {
            issuer: non_empty("issuer", &self.issuer)?,
            subject: non_empty("subject", &self.subject)?,
            bucket: non_empty("bucket", &self.bucket)?,
            key_prefix: non_empty("key_prefix", &self.key_prefix)?,
            state,
            before: filter_id("cursor", &self.cursor)?,
            limit,
        })
    }
}

/// Which links a bulk revocation takes: all that match every field given (at least one),
/// and are neither revoked nor expired yet.
#[derive(Debug, Clone, Default, Deserialize, clap::Args, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(
    as = RevokeLinksRequest,
    min_properties = 1,
    example = json!({"subject": "alice", "created_before": "2026-12-01T00:00:00Z"})
)]
pub struct RevokeLinksBody {
    /// The creator's `sub`.
    #[arg(long)]
    #[schema(min_length = 1)]
    pub subject: Option<String>,
    /// The creator's `iss`.
    #[arg(long)]
    #[schema(min_length = 1)]
    pub issuer: Option<String>,
    #[arg(long)]
    #[schema(min_length = 1)]
    pub bucket: Option<String>,
    /// Keys starting with this text (case-sensitive).
    #[arg(long)]
    #[schema(min_length = 1)]
    pub key_prefix: Option<String>,
    /// Links created before this time (RFC 3339).
    #[arg(long)]
    #[schema(format = DateTime)]
    pub created_before: Option<String>,
}

impl RevokeLinksBody {
    pub fn to_filter(&self) -> Result<RevokeFilter, InvalidFilter> {
        let filter = RevokeFilter {
            subject: non_empty("subject", &self.subject)?,
            issuer: non_empty("issuer", &self.issuer)?,
            bucket: non_empty("bucket", &self.bucket)?,
            key_prefix: non_empty("key_prefix", &self.key_prefix)?,
            created_before: filter_time("created_before", &self.created_before)?,
        };
        // All links at once is surely a mistake; `created_before` = now says it on purpose.
        if filter.is_empty() {
            return Err(invalid_filter(
                "filter",
                "name at least one of subject, issuer, bucket, key_prefix, created_before",
            ));
        }
        Ok(filter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_name_the_field_at_fault() {
        let cases = [
            (
                LinkListParams {
                    state: Some("gone".into()),
                    ..Default::default()
                }
                .to_filter()
                .unwrap_err(),
                "state",
            ),
            (
                LinkListParams {
                    limit: Some(0),
                    ..Default::default()
                }
                .to_filter()
                .unwrap_err(),
                "limit",
            ),
            (
                LinkListParams {
                    cursor: Some("x".into()),
                    ..Default::default()
                }
                .to_filter()
                .unwrap_err(),
                "cursor",
            ),
            (
                LinkListParams {
                    subject: Some(String::new()),
                    ..Default::default()
                }
                .to_filter()
                .unwrap_err(),
                "subject",
            ),
            (
                RevokeLinksBody::default().to_filter().unwrap_err(),
                "filter",
            ),
            (
                RevokeLinksBody {
                    created_before: Some("soon".into()),
                    ..Default::default()
                }
                .to_filter()
                .unwrap_err(),
                "created_before",
            ),
        ];
        for (error, field) in cases {
            assert_eq!(error.field, field, "{error}");
        }
        let filter = RevokeLinksBody {
            bucket: Some("b".into()),
            ..Default::default()
        }
        .to_filter()
        .unwrap();
        assert_eq!(filter.bucket.as_deref(), Some("b"));
    }
}
