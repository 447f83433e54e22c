-- Bearer tokens. Only the SHA-256 of a token is stored; the token itself is
-- shown once, when it is created. org is '*' for an administrator of every
-- organization.
CREATE TABLE tokens (
    id           uuid PRIMARY KEY,
    org          text NOT NULL,
    role         text NOT NULL CHECK (role IN ('admin', 'deployer', 'viewer')),
    hash         bytea NOT NULL UNIQUE,
    expire_time  timestamptz,
    revoked_at   timestamptz,
    created_by   text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX tokens_org_idx ON tokens (org, created_at DESC, id DESC);

-- Every change: who (a token id, never a token), what, when and how it
-- ended.
CREATE TABLE audit_log (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org       text NOT NULL,
    actor     text NOT NULL,
    role      text NOT NULL,
    method    text NOT NULL,
    resource  text NOT NULL,
    status    int NOT NULL,
    outcome   text NOT NULL,
    time      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_log_org_idx ON audit_log (org, id DESC);
