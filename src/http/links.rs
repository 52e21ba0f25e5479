//! Share links (DESIGN §2): `POST /links` creates one, `GET /l/{token}` redeems it (302 to a
//! fresh presigned GET, committed to the audit log first), `GET /links`, `GET /links/{id}`,
//! `DELETE /links/{id}` and `POST /links/revoke` manage them.
//!
//! Another caller's link is answered 404, as a link that does not exist is. The token
//! appears only in the creation answer: routes are logged by their template
//! (`/l/{token}`), and rows name the link id.

use axum::Json;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use super::presign::header_value;
use super::{AppJson, AppQuery, AppState};
use crate::audit::Draft;
use crate::auth::Principal;
use crate::error::ApiError;
use crate::issuance::{self, Ask, Caller, ClientInfo, Refusal};
use crate::links::{
    self, Link, LinkListParams, LinkSettings, LinkState, LinkView, NewLink, RevokeLinksBody,
    TokenHash,
};
use crate::policy::Action;
use crate::presign::{BucketName, GetOptions, ObjectKey, Operation, PresignRequest, ReleasedUrl};

/// Most entries in `allowed_cidrs`.
const MAX_CIDRS: usize = 100;
/// Largest `max_uses`.
const MAX_USES: i64 = 1_000_000_000;
/// Longest note, in bytes.
const MAX_NOTE_BYTES: usize = 1024;
/// The audit row's action for a redemption of an unknown token: the route, never the token.
const REDEEM_ENDPOINT: &str = "GET /l/{token}";

/// `POST /links`: what to share and under which rules.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(
    as = CreateLinkRequest,
    example = json!({
        "bucket": "dev", "key": "alice/report.pdf", "expires_in": 86400, "max_uses": 1,
        "allowed_cidrs": ["127.0.0.0/8"], "note": "for the auditors"
    })
)]
pub struct CreateLinkBody {
    /// S3 bucket name (S3 naming rules).
    #[schema(
        min_length = 3,
        max_length = 63,
        pattern = "^[a-z0-9][a-z0-9.-]*[a-z0-9]$"
    )]
    pub bucket: String,
    /// Object key, with the rules of `POST /presign`.
    #[schema(min_length = 1, max_length = 1024)]
    pub key: String,
    /// The link's lifetime in seconds; default the smaller of 30 days and
    /// `links.max_expires_in`; more than `links.max_expires_in` is a 400.
    #[schema(minimum = 1, maximum = 315360000)]
    pub expires_in: Option<i64>,
    /// Redemptions allowed, counted atomically across replicas; absent: unlimited.
    #[schema(minimum = 1, maximum = 1000000000)]
    pub max_uses: Option<i64>,
    /// Client addresses (CIDR, or a bare address) allowed to redeem; absent: any.
    #[schema(min_items = 1, max_items = 100)]
    pub allowed_cidrs: Option<Vec<String>>,
    /// Signed into each redirect as `response-content-disposition`.
    #[schema(min_length = 1, max_length = 1024, pattern = "^[!-~]([ -~]*[!-~])?$")]
    pub content_disposition: Option<String>,
    /// Your own words about the link, kept with it; never signed or audited.
    #[schema(max_length = 1024)]
    pub note: Option<String>,
}

/// The 201 answer: the link's URL is shown this once.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = CreateLinkResponse)]
pub struct CreatedLink {
    pub id: Uuid,
    /// `{links.public_base_url}/l/{token}`: a bearer URL, shown once.
    pub url: String,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// Null: unlimited.
    pub max_uses: Option<u64>,
    /// The creation's audit row (the link's id too).
    pub audit_id: Uuid,
}

/// A page of links, newest first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LinkPage {
    pub links: Vec<LinkView>,
    /// Pass as `cursor` for the next page; null on the last.
    pub next_cursor: Option<String>,
}

/// How many links a bulk revocation revoked.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Revoked {
    pub revoked: u64,
}

fn invalid(field: &str, reason: impl std::fmt::Display) -> ApiError {
    ApiError::InvalidRequest(format!("{field}: {reason}"))
}

/// Turns the wire body into a [`NewLink`], naming the first field at fault (the command
/// line's `links create` goes through here too).
pub fn validate_link(body: CreateLinkBody, settings: &LinkSettings) -> Result<NewLink, ApiError> {
    let bucket = BucketName::parse(&body.bucket).map_err(|e| invalid("bucket", e))?;
    let key = ObjectKey::parse(&body.key).map_err(|e| invalid("key", e))?;
    let max = settings.max_expires_in;
    let expires_in = match body.expires_in {
        None => settings.default_expires_in(),
        Some(secs) if secs >= 1 && secs as u64 <= max => secs as u64,
        Some(_) => {
            return Err(invalid(
                "expires_in",
                format!("must be in 1..={max} seconds (links.max_expires_in)"),
            ));
        }
    };
    let max_uses = match body.max_uses {
        None => None,
        Some(n) if (1..=MAX_USES).contains(&n) => Some(n as u64),
        Some(_) => return Err(invalid("max_uses", format!("must be in 1..={MAX_USES}"))),
    };
    let allowed_cidrs = body.allowed_cidrs.map(cidrs).transpose()?;
    let content_disposition = body
        .content_disposition
        .map(|v| header_value("content_disposition", v))
        .transpose()?;
    let note = body.note.map(note).transpose()?;
    Ok(NewLink {
        bucket,
        key,
        expires_in,
        max_uses,
        allowed_cidrs,
        content_disposition,
        note,
    })
}

/// CIDRs (or bare addresses, as a /32 or /128), host bits dropped.
fn cidrs(texts: Vec<String>) -> Result<Vec<IpNet>, ApiError> {
    if texts.is_empty() || texts.len() > MAX_CIDRS {
        return Err(invalid(
            "allowed_cidrs",
            format!("must hold 1..={MAX_CIDRS} entries (omit it to allow any address)"),
        ));
    }
    texts
        .iter()
        .enumerate()
        .map(|(index, text)| {
            let net = text
                .parse::<IpNet>()
                .or_else(|_| text.parse::<std::net::IpAddr>().map(IpNet::from))
                .map_err(|_| {
                    invalid(
                        &format!("allowed_cidrs[{index}]"),
                        "must be a CIDR such as 192.0.2.0/24 or 2001:db8::/32, or an address",
                    )
                })?;
            Ok(net.trunc())
        })
        .collect()
}

fn note(text: String) -> Result<String, ApiError> {
    if text.len() > MAX_NOTE_BYTES {
        return Err(invalid(
            "note",
            format!("must be at most {MAX_NOTE_BYTES} bytes"),
        ));
    }
    if text.chars().any(char::is_control) {
        return Err(invalid("note", "must not contain control characters"));
    }
    Ok(text)
}

#[utoipa::path(
    post,
    path = "/links",
    tag = "links",
    summary = "Create a share link.",
    description = "Needs `presign:CreateLink` and `s3:GetObject` on the object (with \
`presign:MaxUses`, `presign:LinkExpiresIn`, and `presign:ExpiresIn` = `links.redirect_expires_in`). \
The answer holds the link's URL, shown once: only the SHA-256 of its token is stored. Answered \
only once the creation's audit row has committed.",
    security(("bearer" = [])),
    request_body(content = CreateLinkBody, content_type = "application/json"),
    responses(
        (status = 201, description = "The link, with its URL (shown once).", body = CreatedLink),
        (status = 400, response = super::openapi::responses::BadRequest),
        (status = 401, response = super::openapi::responses::Unauthorized),
        (status = 403, response = super::openapi::responses::Forbidden),
        (status = 405, response = super::openapi::responses::MethodNotAllowed),
        (status = 413, response = super::openapi::responses::PayloadTooLarge),
        (status = 415, response = super::openapi::responses::UnsupportedMediaType),
        (status = 429, response = super::openapi::responses::TooManyRequests),
        (status = 500, response = super::openapi::responses::InternalError),
        (status = 503, response = super::openapi::responses::Unavailable),
    )
)]
pub async fn create_link(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<AppJson<CreateLinkBody>, ApiError>,
) -> Result<(StatusCode, Json<CreatedLink>), ApiError> {
    let action = Action::CreateLink.as_str();
    let settings = &state.settings.links;
    let request = match body.and_then(|AppJson(body)| validate_link(body, settings)) {
        Ok(request) => request,
        Err(error) => return Err(state.refuse(caller.refuse(action, error)).await),
    };
    let authorized = match state.gate(|gate| request.decide(gate, &caller, settings)) {
        Ok(authorized) => authorized,
        Err(refusal) => return Err(state.refuse(refusal).await),
    };
    let committed = links::create(
        state.links.as_ref(),
        &state.audit,
        settings,
        &caller,
        authorized,
        request,
    )
    .await?;
    let created = committed.into_inner();
    Ok((
        StatusCode::CREATED,
        Json(CreatedLink {
            id: created.id,
            url: created.url,
            expires_at: created.expires_at,
            max_uses: created.max_uses,
            audit_id: created.audit_id,
        }),
    ))
}

/// `/l/{token}` answers are never cached and never tell the next site where they came
/// from: the token is in the URL.
pub async fn private_answer(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    response
}

#[utoipa::path(
    get,
    path = "/l/{token}",
    tag = "links",
    summary = "Follow a share link.",
    description = "No token needed: the link is the credential. Checks the link (unknown 404; \
revoked, expired or used up 410; client address outside `allowed_cidrs` 403), then re-evaluates \
`s3:GetObject` for the link's creator, counts the use (atomically, across replicas) and answers \
302 to a fresh presigned GET that lives `links.redirect_expires_in`, once its audit row has \
committed. Every answer carries `Cache-Control: no-store` and `Referrer-Policy: no-referrer`. \
HEAD is refused (405), so a preview bot cannot spend a use.",
    params(("token" = String, Path, description = "The link's token, as in its URL.")),
    responses(
        (status = 302, description = "Redirect to a fresh presigned GET of the object.",
            headers(
                ("location" = String, description = "The presigned GET URL: a bearer URL until it expires."),
                ("cache-control" = String, description = "no-store"),
                ("referrer-policy" = String, description = "no-referrer"),
            )),
        (status = 403, response = super::openapi::responses::Forbidden),
        (status = 404, response = super::openapi::responses::NotFound),
        (status = 410, response = super::openapi::responses::Gone),
        (status = 429, response = super::openapi::responses::TooManyRequests),
        (status = 500, response = super::openapi::responses::InternalError),
        (status = 503, response = super::openapi::responses::Unavailable),
    )
)]
pub async fn redeem(
    State(state): State<AppState>,
    client: ClientInfo,
    request_id: RequestId,
    Segment(token): Segment,
) -> Result<Response, ApiError> {
    // The visitor's address limit, before any database work: an unknown token costs a
    // lookup and a row.
    if let Some(ip) = client.ip {
        state.rate_limits.check_ip(ip)?;
    }
    let found = match TokenHash::of_presented(&token) {
        Some(hash) => state.links.find(&hash).await?,
        None => None,
    };
    let Some(link) = found else {
        let visitor = Caller {
            principal: Principal {
                issuer: String::new(),
                subject: String::new(),
                claims: serde_json::Map::new(),
            },
            client,
            request_id: request_id.0,
        };
        return Err(state
            .refuse(visitor.refuse(REDEEM_ENDPOINT, ApiError::NotFound))
            .await);
    };
    // The creator, as the link kept them, asking from the visitor's address.
    let caller = Caller {
        principal: Principal {
            issuer: link.issuer.clone(),
            subject: link.subject.clone(),
            claims: link.claims.clone(),
        },
        client,
        request_id: request_id.0,
    };
    let settings = &state.settings.links;
    let request = PresignRequest {
        bucket: link.bucket.clone(),
        key: link.key.clone(),
        operation: Operation::Get(GetOptions {
            response_content_disposition: link.content_disposition.clone(),
            ..GetOptions::default()
        }),
        expires_in: settings.redirect_expires_in,
        audit_id: Uuid::now_v7(),
    };
    let draft = Draft {
        bucket: Some(link.bucket.as_str().to_owned()),
        key: Some(link.key.as_str().to_owned()),
        ..caller.draft(
            request.audit_id,
            Action::GetObject.as_str(),
            serde_json::json!({
                "response_content_disposition": link.content_disposition,
                "requested_expires_in": request.expires_in,
                "max_uses": link.max_uses,
            }),
        )
    }
    .for_link(link.id);

    let refuse = |draft: Draft, error: ApiError| state.refuse(Refusal::new(draft, error));
    let now = OffsetDateTime::now_utc();
    if let Some(gone) = gone(link.state_at(now)) {
        return Err(refuse(draft, gone).await);
    }
    if !link.admits(caller.client.ip) {
        let error =
            ApiError::AccessDenied("the client address is not in the link's allowed_cidrs".into());
        return Err(refuse(draft, error).await);
    }
    let resource = link.resource();
    let ask = Ask {
        action: Action::GetObject,
        resource: &resource,
        facts: settings.facts(link.max_uses, link.link_expires_in),
    };
    let judged = issuance::judge(&state.policy.load(), &caller, &[ask], draft);
    let authorized = match judged {
        Ok(authorized) => authorized,
        Err(refusal) => return Err(state.refuse(refusal).await),
    };
    // Counted last, so that a refused redemption costs no use.
    let counted = link.max_uses.is_some();
    if counted && !state.links.take_use(link.id, now).await? {
        // Another redemption (on any replica) took the last use, or the link was revoked
        // or expired meanwhile: say which.
        let now_state = state
            .links
            .get(link.id)
            .await?
            .map_or(LinkState::Revoked, |l| {
                l.state_at(OffsetDateTime::now_utc())
            });
        let error =
            gone(now_state).unwrap_or_else(|| ApiError::Gone("the link has been used up".into()));
        return Err(state.refuse(authorized.fail(error)).await);
    }
    let released = match authorized.sign(&state.presigner, &request).await {
        Ok(signed) => state.audit.commit(signed).await.map_err(ApiError::from),
        Err(refusal) => Err(state.refuse(refusal).await),
    };
    let released = match released {
        Ok(committed) => ReleasedUrl::from(committed),
        Err(error) => {
            // No URL left: the use was not spent. Best effort; a failure here only costs
            // the link one use.
            if counted && let Err(cause) = state.links.give_back_use(link.id).await {
                tracing::warn!(link_id = %link.id, error = %cause, "could not give back a use");
            }
            return Err(error);
        }
    };
    let location = HeaderValue::from_str(&released.url).map_err(ApiError::internal)?;
    Ok((StatusCode::FOUND, [(header::LOCATION, location)]).into_response())
}

/// The 410 for a link no longer active; `None` for an active one.
fn gone(state: LinkState) -> Option<ApiError> {
    let why = match state {
        LinkState::Active => return None,
        LinkState::Revoked => "the link was revoked",
        LinkState::Expired => "the link has expired",
        LinkState::UsedUp => "the link has been used up",
    };
    Some(ApiError::Gone(why.into()))
}

/// The path's one parameter as text. A segment that does not decode (not UTF-8) reads as
/// empty, which names no link: the answer is the problem+json 404 of an unknown link,
/// not axum's plain-text 400.
pub struct Segment(String);

impl<S: Send + Sync> FromRequestParts<S> for Segment {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let text = Path::<String>::from_request_parts(parts, state).await;
        Ok(Segment(text.map(|Path(text)| text).unwrap_or_default()))
    }
}

/// The request's `x-request-id` (set by the request-id layer), for rows of requests
/// without a token.
pub struct RequestId(String);

impl<S: Send + Sync> FromRequestParts<S> for RequestId {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(RequestId(
            parts
                .headers
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned(),
        ))
    }
}

/// A link id from the path; anything that is not one is no link (404).
fn link_id(text: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(text).map_err(|_| ApiError::NotFound)
}

/// The link `id` if `caller` may see it: its creator, or anyone allowed
/// `presign:ListLinks`. Anyone else gets 404, as for a link that does not exist.
async fn visible_link(state: &AppState, caller: &Caller, id: &str) -> Result<Link, ApiError> {
    let id = link_id(id)?;
    let link = state.links.get(id).await?.ok_or(ApiError::NotFound)?;
    let principal = &caller.principal;
    if link.is_owned_by(&principal.issuer, &principal.subject)
        || state.may_act_on_all(caller, Action::ListLinks)?
    {
        Ok(link)
    } else {
        Err(ApiError::NotFound)
    }
}

#[utoipa::path(
    get,
    path = "/links",
    tag = "links",
    summary = "List share links, newest first.",
    description = "Your own links; every link with `presign:ListLinks` on `*` (without it, a \
`subject` or `issuer` filter naming someone else is a 403). Never shows a token.",
    security(("bearer" = [])),
    params(LinkListParams),
    responses(
        (status = 200, description = "One page of links and the cursor of the next.", body = LinkPage),
        (status = 400, response = super::openapi::responses::BadRequest),
        (status = 401, response = super::openapi::responses::Unauthorized),
        (status = 403, response = super::openapi::responses::Forbidden),
        (status = 429, response = super::openapi::responses::TooManyRequests),
        (status = 500, response = super::openapi::responses::InternalError),
        (status = 503, response = super::openapi::responses::Unavailable),
    )
)]
pub async fn list_links(
    State(state): State<AppState>,
    caller: Caller,
    params: Result<AppQuery<LinkListParams>, ApiError>,
) -> Result<Json<LinkPage>, ApiError> {
    let AppQuery(params) = params?;
    let mut filter = params.to_filter()?;
    state.own_unless_allowed_all(
        &caller,
        Action::ListLinks,
        "links",
        &mut filter.issuer,
        &mut filter.subject,
    )?;
    let now = OffsetDateTime::now_utc();
    let limit = filter.limit as usize;
    let links = state.links.list(&filter, now).await?;
    // A full page may have a next one; the cursor is the last link's id.
    let next_cursor = (links.len() == limit)
        .then(|| links.last().map(|link| link.id.to_string()))
        .flatten();
    Ok(Json(LinkPage {
        links: links.iter().map(|link| link.view(now)).collect(),
        next_cursor,
    }))
}

#[utoipa::path(
    get,
    path = "/links/{id}",
    tag = "links",
    summary = "Read one share link.",
    description = "Its creator, or a caller with `presign:ListLinks` on `*`; anyone else gets \
404, as for a link that does not exist.",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The link's id.")),
    responses(
        (status = 200, description = "The link (never its token).", body = LinkView),
        (status = 401, response = super::openapi::responses::Unauthorized),
        (status = 404, response = super::openapi::responses::NotFound),
        (status = 429, response = super::openapi::responses::TooManyRequests),
        (status = 500, response = super::openapi::responses::InternalError),
        (status = 503, response = super::openapi::responses::Unavailable),
    )
)]
pub async fn get_link(
    State(state): State<AppState>,
    caller: Caller,
    Segment(id): Segment,
) -> Result<Json<LinkView>, ApiError> {
    let link = visible_link(&state, &caller, &id).await?;
    Ok(Json(link.view(OffsetDateTime::now_utc())))
}

#[utoipa::path(
    delete,
    path = "/links/{id}",
    tag = "links",
    summary = "Revoke a share link.",
    description = "Its creator, or a caller with `presign:RevokeLink` on the link's object; \
anyone else gets 404, as for a link that does not exist. From the next request on, every \
replica answers the link 410. Revoking a revoked link answers it again. Audited.",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The link's id.")),
    responses(
        (status = 200, description = "The link, revoked.", body = LinkView),
        (status = 401, response = super::openapi::responses::Unauthorized),
        (status = 404, response = super::openapi::responses::NotFound),
        (status = 429, response = super::openapi::responses::TooManyRequests),
        (status = 500, response = super::openapi::responses::InternalError),
        (status = 503, response = super::openapi::responses::Unavailable),
    )
)]
pub async fn revoke_link(
    State(state): State<AppState>,
    caller: Caller,
    Segment(id): Segment,
) -> Result<Json<LinkView>, ApiError> {
    let action = Action::RevokeLink.as_str();
    let found = match link_id(&id) {
        Ok(id) => state.links.get(id).await?,
        Err(_) => None,
    };
    let Some(link) = found else {
        // Audited: an authenticated caller guessing link ids is worth seeing.
        return Err(state
            .refuse(caller.refuse(action, ApiError::NotFound))
            .await);
    };
    let draft = Draft {
        bucket: Some(link.bucket.as_str().to_owned()),
        key: Some(link.key.as_str().to_owned()),
        ..caller.draft(Uuid::now_v7(), action, serde_json::json!({}))
    }
    .for_link(link.id);
    let principal = &caller.principal;
    let decided = if link.is_owned_by(&principal.issuer, &principal.subject) {
        state.gate(|gate| issuance::decide_as_owner(gate, &caller, draft))
    } else {
        let resource = link.resource();
        let ask = Ask {
            action: Action::RevokeLink,
            resource: &resource,
            facts: issuance::Facts::default(),
        };
        state
            .gate(|gate| issuance::decide(gate, &caller, &ask, draft))
            // The denial is audited as such, but answered as a link that is not there.
            .map_err(|refusal| match refusal.error() {
                ApiError::AccessDenied(_) => refusal.answering(ApiError::NotFound),
                _ => refusal,
            })
    };
    let authorized = match decided {
        Ok(authorized) => authorized,
        Err(refusal) => return Err(state.refuse(refusal).await),
    };
    let now = OffsetDateTime::now_utc();
    let revoked = state
        .links
        .revoke(link.id, now)
        .await?
        .ok_or(ApiError::NotFound)?;
    let committed = state
        .audit
        .commit(authorized.grant(revoked.view(now)))
        .await?;
    Ok(Json(committed.into_inner()))
}

#[utoipa::path(
    post,
    path = "/links/revoke",
    tag = "links",
    summary = "Revoke share links in bulk (incidents).",
    description = "Needs `presign:RevokeLink` on `*`. Revokes every link that matches all the \
fields given (at least one) and is neither revoked nor expired; each gets an audit row naming \
it. From the next request on, every replica answers them 410.",
    security(("bearer" = [])),
    request_body(content = RevokeLinksBody, content_type = "application/json"),
    responses(
        (status = 200, description = "How many links were revoked.", body = Revoked),
        (status = 400, response = super::openapi::responses::BadRequest),
        (status = 401, response = super::openapi::responses::Unauthorized),
        (status = 403, response = super::openapi::responses::Forbidden),
        (status = 405, response = super::openapi::responses::MethodNotAllowed),
        (status = 413, response = super::openapi::responses::PayloadTooLarge),
        (status = 415, response = super::openapi::responses::UnsupportedMediaType),
        (status = 429, response = super::openapi::responses::TooManyRequests),
        (status = 500, response = super::openapi::responses::InternalError),
        (status = 503, response = super::openapi::responses::Unavailable),
    )
)]
pub async fn revoke_links(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<AppJson<RevokeLinksBody>, ApiError>,
) -> Result<Json<Revoked>, ApiError> {
    let action = Action::RevokeLink.as_str();
    let filter = body.and_then(|AppJson(body)| Ok(body.to_filter()?));
    let filter = state.valid(&caller, Action::RevokeLink, filter).await?;
    let recorded = serde_json::to_value(&filter).map_err(ApiError::internal)?;
    let draft = caller.draft(Uuid::now_v7(), action, recorded);
    let ask = Ask {
        action: Action::RevokeLink,
        resource: "*",
        facts: issuance::Facts::default(),
    };
    let authorized = state.authorize(&caller, &ask, draft).await?;
    let committed = links::revoke_matching(
        state.links.as_ref(),
        &state.audit,
        &caller,
        authorized,
        &filter,
    )
    .await?;
    Ok(Json(Revoked {
        revoked: committed.into_inner(),
    }))
}
