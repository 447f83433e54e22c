CREATE TABLE organizations (
    name        text PRIMARY KEY,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE environments (
    org              text NOT NULL REFERENCES organizations (name),
    name             text NOT NULL,
    description      text NOT NULL DEFAULT '',
    deployment_type  text NOT NULL CHECK (deployment_type IN ('PROXY', 'ARCHIVE')),
    api_proxy_type   text NOT NULL CHECK (api_proxy_type IN ('PROGRAMMABLE', 'CONFIGURABLE')),
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org, name)
);

CREATE TABLE keystores (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org         text NOT NULL,
    env         text NOT NULL,
    name        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (org, env, name),
    FOREIGN KEY (org, env) REFERENCES environments (org, name)
);

-- An alias holds a certificate chain (PEM, leaf first), its precomputed
-- certsInfo (without isValid, which depends on the time of reading), and an
-- optional private key sealed with AES-256-GCM under the master key key_id.
-- version counts certificate replacements, so a deployment can pin the exact
-- certificate it validated.
CREATE TABLE aliases (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    keystore_id  bigint NOT NULL REFERENCES keystores (id) ON DELETE CASCADE,
    name         text NOT NULL,
    type         text NOT NULL CHECK (type IN ('KEY_CERT', 'CERT')),
    chain_pem    text NOT NULL,
    certs_info   jsonb NOT NULL,
    not_before   timestamptz NOT NULL,
    not_after    timestamptz NOT NULL,
    key_sealed   bytea,
    key_id       text,
    version      bigint NOT NULL DEFAULT 1,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (keystore_id, name),
    CHECK ((key_sealed IS NULL) = (key_id IS NULL)),
    CHECK ((type = 'KEY_CERT') = (key_sealed IS NOT NULL))
);

CREATE TABLE "references" (
    org            text NOT NULL,
    env            text NOT NULL,
    name           text NOT NULL,
    description    text NOT NULL DEFAULT '',
    resource_type  text NOT NULL CHECK (resource_type IN ('KeyStore', 'TrustStore')),
    refers         text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org, env, name),
    CONSTRAINT references_environment_fkey FOREIGN KEY (org, env) REFERENCES environments (org, name),
    CONSTRAINT references_refers_fkey FOREIGN KEY (org, env, refers) REFERENCES keystores (org, env, name)
);
CREATE INDEX references_refers_idx ON "references" (org, env, refers);

CREATE TABLE target_servers (
    org         text NOT NULL,
    env         text NOT NULL,
    name        text NOT NULL,
    body        jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org, env, name),
    FOREIGN KEY (org, env) REFERENCES environments (org, name)
);

-- Long-running operations. done is true exactly when state is FINISHED, set
-- in one write, because clients poll one or the other.
CREATE TABLE operations (
    uuid            uuid PRIMARY KEY,
    org             text NOT NULL REFERENCES organizations (name),
    operation_type  text NOT NULL,
    state           text NOT NULL CHECK (state IN ('NOT_STARTED', 'IN_PROGRESS', 'FINISHED')),
    target          text NOT NULL,
    error_code      int,
    error_message   text,
    response        jsonb,
    warnings        jsonb NOT NULL DEFAULT '[]',
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX operations_org_created_idx ON operations (org, created_at DESC, uuid DESC);
