-- Share links (DESIGN §2): a link of presignd's own that redirects to a fresh presigned GET.
-- The token is never stored: only its SHA-256 (hex).
CREATE TABLE links (
    id                  UUID        PRIMARY KEY,      -- UUIDv7, also the creation row's audit id
    token_sha256        TEXT        NOT NULL UNIQUE,  -- hex SHA-256 of the token, never the token
    issuer              TEXT        NOT NULL,         -- creator: the token's iss ...
    subject             TEXT        NOT NULL,         -- ... and sub
    claims              JSONB       NOT NULL,         -- the creator's claims, for the policy at redemption
    bucket              TEXT        NOT NULL,
    object_key          TEXT        NOT NULL,
    content_disposition TEXT,
    note                TEXT,
    allowed_cidrs       JSONB,                        -- array of CIDRs; NULL: any address
    max_uses            BIGINT,                       -- NULL: unlimited (and uses not counted)
    uses                BIGINT      NOT NULL DEFAULT 0,
    created_at          TIMESTAMPTZ NOT NULL,
    expires_at          TIMESTAMPTZ NOT NULL,
    link_expires_in     BIGINT      NOT NULL,         -- seconds, as granted (presign:LinkExpiresIn)
    revoked_at          TIMESTAMPTZ
);

CREATE INDEX links_owner ON links (subject, issuer, id);
CREATE INDEX links_bucket_key ON links (bucket, object_key text_pattern_ops);
