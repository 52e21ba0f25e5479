//! [`AuditFilters`]: the filters ops give to `GET /audit` (query string) and to
//! `presignd audit` (flags), validated once into an [`AuditQuery`].

use serde::Deserialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{AUDIT_ID_PARAM, AuditQuery, Cursor, MAX_PAGE, Outcome, signature_fingerprint};

/// Rows per page when the caller names no limit.
pub const DEFAULT_PAGE: u32 = 100;

/// Every filter as text, as it arrives; all optional.
#[derive(Debug, Clone, Default, Deserialize, clap::Args, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditFilters {
    /// Rows at or after this time (RFC 3339).
    #[arg(long)]
    #[param(format = DateTime)]
    pub since: Option<String>,
    /// Rows before this time (RFC 3339).
    #[arg(long)]
    #[param(format = DateTime)]
    pub until: Option<String>,
    /// The token subject.
    #[arg(long)]
    #[param(min_length = 1)]
    pub subject: Option<String>,
    /// The token issuer.
    #[arg(long)]
    #[param(min_length = 1)]
    pub issuer: Option<String>,
    /// The bucket name.
    #[arg(long)]
    #[param(min_length = 1)]
    pub bucket: Option<String>,
    /// Keys starting with this text (case-sensitive).
    #[arg(long)]
    #[param(min_length = 1)]
    pub key_prefix: Option<String>,
    /// s3:GetObject, s3:PutObject or presign:QueryAudit.
    #[arg(long)]
    #[param(min_length = 1)]
    pub action: Option<String>,
    /// issued or denied.
    #[arg(long)]
    #[param(value_type = Option<Outcome>)]
    pub outcome: Option<String>,
    /// The X-Amz-Signature of a URL: finds whom it was issued to. Without `since`, the
    /// last 7 days are searched (the longest a presigned URL lives); an older one needs
    /// `since`, and its search reads every row of the window. `url` finds any age at once.
    #[arg(long)]
    #[param(min_length = 1)]
    pub signature: Option<String>,
    /// A whole presigned URL (percent-encoded in the query string): finds its row by the
    /// URL's `x-presignd-id`, confirmed by the fingerprint of its `X-Amz-Signature`; a URL
    /// whose id or signature does not match finds nothing.
    #[arg(long)]
    #[param(min_length = 1)]
    pub url: Option<String>,
    /// A share link's id: its creation, redemptions and revocation.
    #[arg(long)]
    #[param(format = Uuid)]
    pub link_id: Option<String>,
    /// A multipart upload session's id: its create, part URLs, complete and abort.
    #[arg(long)]
    #[param(format = Uuid)]
    pub upload_id: Option<String>,
    /// Rows per page, 1..=1000 (default 100).
    #[arg(long)]
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
    /// The next_cursor of the previous page.
    #[arg(long)]
    #[param(min_length = 1)]
    pub cursor: Option<String>,
}

/// A filter that cannot be used; the text names it.
#[derive(Debug, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct InvalidFilter {
    pub field: &'static str,
    pub reason: String,
}

pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> InvalidFilter {
    InvalidFilter {
        field,
        reason: reason.into(),
    }
}

/// Years a filter time may name, in UTC. RFC 3339 stops at year 9999 in local time, but
/// an offset can push it past 9999 in UTC, where converting to UTC (as both stores do)
/// panics; and no row predates 1970.
const YEARS: std::ops::RangeInclusive<i32> = 1970..=9999;

/// `time` in UTC when it lies within [`YEARS`].
fn queryable(time: OffsetDateTime) -> Option<OffsetDateTime> {
    time.checked_to_offset(time::UtcOffset::UTC)
        .filter(|utc| YEARS.contains(&utc.year()))
}

/// How far back a `signature` search looks when the caller names no `since`: the longest
/// lifetime SigV4 allows a presigned URL, so every URL that still works is found. No index
/// holds signatures (one would cost every commit a random page); a search reads the rows
/// of its window instead.
pub const SIGNATURE_WINDOW: time::Duration = time::Duration::days(7);

/// The audit id and the `X-Amz-Signature` a presigned URL carries in its query.
fn leaked_url(text: &str) -> Result<(uuid::Uuid, String), InvalidFilter> {
    let url = url::Url::parse(text).map_err(|_| invalid("url", "must be a whole URL"))?;
    let param = |name: &str| {
        url.query_pairs()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.into_owned())
            .filter(|value| !value.is_empty())
    };
    let id = param(AUDIT_ID_PARAM)
        .ok_or_else(|| invalid("url", format!("has no {AUDIT_ID_PARAM} parameter")))?;
    let id = uuid::Uuid::parse_str(&id)
        .map_err(|_| invalid("url", format!("{AUDIT_ID_PARAM} must be a UUID")))?;
    let signature =
        param("X-Amz-Signature").ok_or_else(|| invalid("url", "has no X-Amz-Signature"))?;
    Ok((id, signature))
}

pub(crate) fn id(
    field: &'static str,
    text: &Option<String>,
) -> Result<Option<uuid::Uuid>, InvalidFilter> {
    text.as_deref()
        .map(|t| uuid::Uuid::parse_str(t).map_err(|_| invalid(field, "must be a UUID")))
        .transpose()
}

pub(crate) fn time(
    field: &'static str,
    text: &Option<String>,
) -> Result<Option<OffsetDateTime>, InvalidFilter> {
    text.as_deref()
        .map(|t| {
            let parsed = OffsetDateTime::parse(t, &Rfc3339)
                .map_err(|_| invalid(field, "must be an RFC 3339 time"))?;
            queryable(parsed).ok_or_else(|| {
                invalid(
                    field,
                    "must lie between 1970-01-01T00:00:00Z and 9999-12-31T23:59:59Z",
                )
            })
        })
        .transpose()
}

impl AuditFilters {
    /// Validates every filter. The signature is hashed here: only its fingerprint goes on.
    /// Text filters are made safe as audit rows are (NUL → U+FFFD, lengths bounded).
    pub fn to_query(&self) -> Result<AuditQuery, InvalidFilter> {
        let outcome = match self.outcome.as_deref() {
            None => None,
            Some("issued") => Some(Outcome::Issued),
            Some("denied") => Some(Outcome::Denied),
            Some(_) => return Err(invalid("outcome", "must be issued or denied")),
        };
        let limit = self.limit.unwrap_or(DEFAULT_PAGE);
        if !(1..=MAX_PAGE).contains(&limit) {
            return Err(invalid("limit", format!("must be in 1..={MAX_PAGE}")));
        }
        let cursor = self
            .cursor
            .as_deref()
            .map(|c| {
                Cursor::decode(c)
                    .and_then(|cursor| {
                        Some(Cursor {
                            time: queryable(cursor.time)?,
                            ..cursor
                        })
                    })
                    .ok_or_else(|| invalid("cursor", "is not a cursor this service issued"))
            })
            .transpose()?;
        let non_empty = |field: &'static str, value: &Option<String>| match value {
            Some(v) if v.is_empty() => Err(invalid(field, "must not be empty")),
            other => Ok(other.clone()),
        };
        let signature = non_empty("signature", &self.signature)?;
        let (row_id, signature, since) = match (self.url.as_deref(), signature) {
            (Some(_), Some(_)) => return Err(invalid("url", "cannot be combined with signature")),
            (Some(url), None) => {
                let (id, signature) = leaked_url(url)?;
                (Some(id), Some(signature), time("since", &self.since)?)
            }
            (None, Some(signature)) => {
                let since = time("since", &self.since)?
                    .or_else(|| Some(OffsetDateTime::now_utc() - SIGNATURE_WINDOW));
                (None, Some(signature), since)
            }
            (None, None) => (None, None, time("since", &self.since)?),
        };
        Ok(AuditQuery {
            since,
            until: time("until", &self.until)?,
            subject: non_empty("subject", &self.subject)?,
            issuer: non_empty("issuer", &self.issuer)?,
            bucket: non_empty("bucket", &self.bucket)?,
            key_prefix: non_empty("key_prefix", &self.key_prefix)?,
            action: non_empty("action", &self.action)?,
            outcome,
            signature_sha256: signature.map(|s| signature_fingerprint(&s)),
            id: row_id,
            link_id: id("link_id", &self.link_id)?,
            upload_id: id("upload_id", &self.upload_id)?,
            limit,
            cursor,
        }
        .sanitized())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_are_validated_and_the_signature_hashed() {
        let filters = AuditFilters {
            since: Some("2026-11-01T00:00:00Z".into()),
            outcome: Some("denied".into()),
            signature: Some("abc".into()),
            ..AuditFilters::default()
        };
        let query = filters.to_query().unwrap();
        assert_eq!(query.outcome, Some(Outcome::Denied));
        assert_eq!(query.limit, DEFAULT_PAGE);
        assert_eq!(
            query.signature_sha256.as_deref(),
            Some(signature_fingerprint("abc").as_str())
        );
        let bad = [
            AuditFilters {
                since: Some("yesterday".into()),
                ..Default::default()
            },
            AuditFilters {
                outcome: Some("maybe".into()),
                ..Default::default()
            },
            AuditFilters {
                limit: Some(0),
                ..Default::default()
            },
            AuditFilters {
                limit: Some(1001),
                ..Default::default()
            },
            AuditFilters {
                cursor: Some("nope".into()),
                ..Default::default()
            },
            AuditFilters {
                subject: Some(String::new()),
                ..Default::default()
            },
            AuditFilters {
                upload_id: Some("not-a-uuid".into()),
                ..Default::default()
            },
        ];
        for filters in bad {
            assert!(filters.to_query().is_err(), "{filters:?}");
        }
    }

    #[test]
    fn a_url_gives_its_id_and_signature_fingerprint_never_the_signature() {
        let id = uuid::Uuid::now_v7();
        let url = format!(
            "https://b.s3.amazonaws.com/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&x-id=GetObject&{AUDIT_ID_PARAM}={id}&X-Amz-Signature=abc%2B"
        );
        let query = AuditFilters {
            url: Some(url),
            ..Default::default()
        }
        .to_query()
        .unwrap();
        assert_eq!(query.id, Some(id));
        assert_eq!(query.signature_sha256, Some(signature_fingerprint("abc+")));
        assert_eq!(query.since, None, "an id needs no window");
        assert!(!serde_json::to_string(&query).unwrap().contains("abc"));
    }

    #[test]
    fn a_signature_alone_searches_the_last_week() {
        let query = AuditFilters {
            signature: Some("abc".into()),
            ..Default::default()
        }
        .to_query()
        .unwrap();
        let since = query.since.expect("a window");
        let age = OffsetDateTime::now_utc() - since;
        assert!(age >= SIGNATURE_WINDOW && age < SIGNATURE_WINDOW + time::Duration::minutes(1));
        let given = AuditFilters {
            signature: Some("abc".into()),
            since: Some("2020-01-01T00:00:00Z".into()),
            ..Default::default()
        };
        assert_eq!(given.to_query().unwrap().since.unwrap().year(), 2020);
    }

    #[test]
    fn a_url_without_its_parameters_is_refused_naming_url() {
        let id = uuid::Uuid::now_v7();
        for url in [
            "not a url".to_owned(),
            "/relative?X-Amz-Signature=abc".to_owned(),
            "https://b.example/k?X-Amz-Signature=abc".to_owned(),
            format!("https://b.example/k?{AUDIT_ID_PARAM}={id}"),
            format!("https://b.example/k?{AUDIT_ID_PARAM}={id}&X-Amz-Signature="),
            format!("https://b.example/k?{AUDIT_ID_PARAM}=nope&X-Amz-Signature=abc"),
        ] {
            let error = AuditFilters {
                url: Some(url.clone()),
                ..Default::default()
            }
            .to_query()
            .unwrap_err();
            assert_eq!(error.field, "url", "{url}: {error}");
        }
        let both = AuditFilters {
            url: Some(format!(
                "https://b.example/k?{AUDIT_ID_PARAM}={id}&X-Amz-Signature=a"
            )),
            signature: Some("a".into()),
            ..Default::default()
        };
        assert_eq!(both.to_query().unwrap_err().field, "url");
    }
}
