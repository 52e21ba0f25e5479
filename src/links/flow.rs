//! The link flows the HTTP API and `presignd links` share: creating a link once the
//! policy allowed it, and revoking links in bulk. Both end in a committed audit row; a
//! link's URL (its token) leaves only as a [`Committed`] value.

use ipnet::IpNet;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{Link, LinkStore, RevokeFilter, Token};
use crate::audit::{AuditWriter, Committed, Draft};
use crate::config::Config;
use crate::error::ApiError;
use crate::issuance::{self, Ask, Authorized, Caller, Facts, Gate, Refusal};
use crate::policy::Action;
use crate::presign::{BucketName, ObjectKey};

/// A link's lifetime when the request names none: 30 days, or less if the configuration
/// allows less.
const DEFAULT_LINK_EXPIRES_IN: u64 = 30 * 24 * 3600;
/// Audit rows committed at once by a bulk revocation: well within one INSERT's limits.
const REVOCATION_ROWS_PER_COMMIT: usize = 500;

/// The `[links]` settings requests consult.
#[derive(Debug, Clone)]
pub struct LinkSettings {
    /// `links.public_base_url` (or `http://{server.bind}`), without a trailing `/`.
    pub base_url: String,
    /// Longest lifetime a link may be given, in seconds.
    pub max_expires_in: u64,
    /// Lifetime of a redemption's presigned GET, in seconds.
    pub redirect_expires_in: u32,
}

impl LinkSettings {
    pub fn from_config(config: &Config) -> LinkSettings {
        LinkSettings {
            base_url: config.links.base_url(config.server.bind),
            max_expires_in: config.links.max_expires_in,
            redirect_expires_in: config.links.redirect_expires_in,
        }
    }

    /// A link's lifetime when the request names none, in seconds.
    pub fn default_expires_in(&self) -> u64 {
        DEFAULT_LINK_EXPIRES_IN.min(self.max_expires_in)
    }

    /// What the policy is told about a link, at creation and at each redemption alike: a
    /// GET whose URLs live `redirect_expires_in`, with the link's limits.
    pub fn facts(&self, max_uses: Option<u64>, link_expires_in: u64) -> Facts<'static> {
        Facts {
            method: Some("GET"),
            expires_in: Some(u64::from(self.redirect_expires_in)),
            max_uses,
            link_expires_in: Some(link_expires_in),
            ..Facts::default()
        }
    }
}

/// A validated creation request.
#[derive(Debug, Clone)]
pub struct NewLink {
    pub bucket: BucketName,
    pub key: ObjectKey,
    /// Seconds, within `links.max_expires_in`.
    pub expires_in: u64,
    pub max_uses: Option<u64>,
    pub allowed_cidrs: Option<Vec<IpNet>>,
    pub content_disposition: Option<String>,
    pub note: Option<String>,
}

impl NewLink {
    /// `arn:aws:s3:::bucket/key`.
    pub fn resource(&self) -> String {
        format!(
            "arn:aws:s3:::{}/{}",
            self.bucket.as_str(),
            self.key.as_str()
        )
    }

    /// Charges `caller`'s rate limit and asks the policy for both actions a link needs:
    /// `presign:CreateLink` and `s3:GetObject` on the object, as a redemption will ask.
    pub fn decide(
        &self,
        gate: Gate<'_>,
        caller: &Caller,
        settings: &LinkSettings,
    ) -> Result<Authorized, Refusal> {
        let resource = self.resource();
        let facts = settings.facts(self.max_uses, self.expires_in);
        let asks = [Action::CreateLink, Action::GetObject].map(|action| Ask {
            action,
            resource: &resource,
            facts,
        });
        issuance::decide_all(gate, caller, &asks, self.draft(caller))
    }

    /// The creation row's draft: the object, the link's rules (never its token or note).
    fn draft(&self, caller: &Caller) -> Draft {
        let id = Uuid::now_v7();
        let request = serde_json::json!({
            "expires_in": self.expires_in,
            "max_uses": self.max_uses,
            "allowed_cidrs": self.allowed_cidrs,
            "content_disposition": self.content_disposition,
        });
        Draft {
            bucket: Some(self.bucket.as_str().to_owned()),
            key: Some(self.key.as_str().to_owned()),
            ..caller.draft(id, Action::CreateLink.as_str(), request)
        }
        .for_link(id)
    }
}

/// A link just created, with its URL: the only time its token is shown. Neither `Debug`
/// nor `Clone`, so the token is not printed or kept by accident.
pub struct Created {
    pub id: Uuid,
    /// `{links.public_base_url}/l/{token}`.
    pub url: String,
    pub expires_at: OffsetDateTime,
    pub max_uses: Option<u64>,
    /// The creation row's id (the link's id too).
    pub audit_id: Uuid,
}

/// Stores the link `authorized` allows (its draft from [`NewLink::draft`]) and commits
/// its row; the URL leaves only once the row has. If the row cannot commit, the link is
/// removed again (its token never left) and the answer is 503.
pub async fn create(
    store: &dyn LinkStore,
    audit: &AuditWriter,
    settings: &LinkSettings,
    caller: &Caller,
    authorized: Authorized,
    request: NewLink,
) -> Result<Committed<Created>, ApiError> {
    let id = authorized.id();
    let token = Token::generate();
    // Whole seconds, so that what the answer says is what the database holds.
    let now = OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap_or_else(|_| OffsetDateTime::now_utc());
    let expires_at = now + time::Duration::seconds(request.expires_in as i64);
    let link = Link {
        id,
        issuer: caller.principal.issuer.clone(),
        subject: caller.principal.subject.clone(),
        claims: caller.principal.claims.clone(),
        bucket: request.bucket,
        key: request.key,
        content_disposition: request.content_disposition,
        note: request.note,
        allowed_cidrs: request.allowed_cidrs,
        max_uses: request.max_uses,
        uses: 0,
        created_at: now,
        expires_at,
        link_expires_in: request.expires_in,
        revoked_at: None,
    };
    store.insert(&link, &token.hash()).await?;
    let created = Created {
        id,
        url: format!("{}/l/{}", settings.base_url, token.expose()),
        expires_at,
        max_uses: link.max_uses,
        audit_id: id,
    };
    let pending = authorized.grant_until(created, expires_at, request.expires_in);
    match audit.commit(pending).await {
        Ok(committed) => Ok(committed),
        Err(error) => {
            // Best effort: a link left behind is unreachable anyway, as no one has its token.
            if let Err(cleanup) = store.delete(id).await {
                tracing::warn!(link_id = %id, error = %cleanup, "could not remove an unannounced link");
            }
            Err(error.into())
        }
    }
}

/// Revokes every link `filter` takes; `authorized` is the bulk revocation's own decision
/// (its row keeps the filter). Each revoked link gets a row of its own naming it, so
/// `GET /audit?link_id=` shows its revocation; the count is answered once every row has
/// committed. Links are revoked before their rows commit: should the log fail, they stay
/// revoked (the safe side) and the answer is 503.
pub async fn revoke_matching(
    store: &dyn LinkStore,
    audit: &AuditWriter,
    caller: &Caller,
    authorized: Authorized,
    filter: &RevokeFilter,
) -> Result<Committed<u64>, ApiError> {
    let bulk_id = authorized.id();
    let revoked = store
        .revoke_matching(filter, OffsetDateTime::now_utc())
        .await?;
    let count = revoked.len() as u64;
    let drafts = revoked.into_iter().map(|id| {
        caller
            .draft(
                Uuid::now_v7(),
                Action::RevokeLink.as_str(),
                serde_json::json!({ "bulk_revocation": bulk_id }),
            )
            .for_link(id)
    });
    let (summary, each) = authorized.grant_with(count, drafts);
    let mut each = each.into_iter().peekable();
    while each.peek().is_some() {
        let chunk: Vec<_> = each.by_ref().take(REVOCATION_ROWS_PER_COMMIT).collect();
        audit.commit_all(chunk).await?;
    }
    Ok(audit.commit(summary).await?)
}
