//! Ending sessions without a caller: the sweeper aborts expired open sessions, and
//! `presignd uploads abort` lets ops end one. Both abort in S3, record the ending, and
//! audit it under presignd's own name (issuer [`SERVICE_ISSUER`]), never the owner's.

use time::OffsetDateTime;
use uuid::Uuid;

use super::{Ending, Session, SessionStore};
use crate::audit::{AuditEvent, AuditWriter, Draft, Pending};
use crate::policy::Action;
use crate::presign::{Presigner, S3CallError};

/// The issuer of audit rows presignd writes on its own behalf.
pub const SERVICE_ISSUER: &str = "presignd";

/// Sessions one sweep ends at most; the next tick takes the rest.
const SWEEP_BATCH: u32 = 100;

/// Why ending a session failed.
#[derive(Debug, thiserror::Error)]
pub enum EndError {
    #[error(transparent)]
    S3(#[from] S3CallError),
    #[error(transparent)]
    Store(#[from] crate::audit::AuditError),
}

/// Aborts `session` in S3, records `ending` (if it was still open: another replica may
/// have ended it first) and audits it as done by `actor` (`upload-sweeper`, `cli`).
/// Returns whether this call ended it.
pub async fn end_session(
    session: &Session,
    ending: Ending,
    actor: &str,
    presigner: &Presigner,
    sessions: &dyn SessionStore,
    audit: &AuditWriter,
) -> Result<bool, EndError> {
    presigner.abort_multipart(session.target()).await?;
    let now = OffsetDateTime::now_utc();
    if !sessions.end(session.id, &ending, now).await? {
        return Ok(false);
    }
    let reason = match ending {
        Ending::Expired => "session expired",
        _ => "ended by an operator",
    };
    let draft = Draft {
        id: Uuid::now_v7(),
        request_id: String::new(),
        issuer: SERVICE_ISSUER.into(),
        subject: actor.into(),
        client_ip: None,
        user_agent: None,
        action: Action::AbortMultipartUpload.as_str().into(),
        bucket: Some(session.bucket.to_string()),
        key: Some(session.key.to_string()),
        request: serde_json::json!({
            "operation": "AbortMultipartUpload",
            "why": reason,
            "owner": {"issuer": session.issuer, "subject": session.subject},
        }),
        link_id: None,
        upload_id: None,
    }
    .for_upload(session.id);
    let row = AuditEvent::granted(draft, actor.to_owned());
    audit.commit(Pending::new(row, ())).await?;
    Ok(true)
}

/// Ends up to one batch of expired open sessions; returns how many this call ended.
/// A session S3 will not abort now is left for the next sweep.
pub async fn sweep_expired(
    presigner: &Presigner,
    sessions: &dyn SessionStore,
    audit: &AuditWriter,
) -> Result<usize, crate::audit::AuditError> {
    let expired = sessions
        .expired(OffsetDateTime::now_utc(), SWEEP_BATCH)
        .await?;
    let mut ended = 0;
    for session in &expired {
        match end_session(
            session,
            Ending::Expired,
            "upload-sweeper",
            presigner,
            sessions,
            audit,
        )
        .await
        {
            Ok(true) => ended += 1,
            Ok(false) => {}
            Err(error) => {
                tracing::warn!(upload_id = %session.id, error = %error, "could not abort an expired upload; retrying next sweep");
            }
        }
    }
    Ok(ended)
}
