-- An upload slot, created by generateUploadUrl and filled once by the PUT to
-- its signed URL. The archive bytes live here until the deployment that uses
-- them is deleted.
CREATE TABLE archive_uploads (
    id           uuid PRIMARY KEY,
    org          text NOT NULL,
    env          text NOT NULL,
    expires_at   timestamptz NOT NULL,
    uploaded_at  timestamptz,
    data         bytea,
    created_at   timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (org, env) REFERENCES environments (org, name),
    CHECK ((uploaded_at IS NULL) = (data IS NULL))
);
CREATE INDEX archive_uploads_expires_idx ON archive_uploads (expires_at) WHERE uploaded_at IS NULL;

CREATE TABLE archive_deployments (
    org         text NOT NULL,
    env         text NOT NULL,
    id          text NOT NULL,
    upload_id   uuid NOT NULL UNIQUE REFERENCES archive_uploads (id),
    gcs_uri     text NOT NULL,
    labels      jsonb NOT NULL DEFAULT '{}',
    operation   uuid NOT NULL REFERENCES operations (uuid),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org, env, id),
    FOREIGN KEY (org, env) REFERENCES environments (org, name)
);
CREATE INDEX archive_deployments_list_idx ON archive_deployments (org, env, created_at DESC, id DESC);

-- The revision counter of each proxy of an organization: each successful
-- deployment of a proxy takes the next number.
CREATE TABLE proxy_revisions (
    org       text NOT NULL REFERENCES organizations (name),
    proxy     text NOT NULL,
    revision  int NOT NULL,
    PRIMARY KEY (org, proxy)
);

-- What a successful deployment made live and validated: proxies with their
-- revisions, target servers, references, keystores and the exact alias
-- certificate versions it pinned.
CREATE TABLE deployment_items (
    org            text NOT NULL,
    env            text NOT NULL,
    deployment     text NOT NULL,
    kind           text NOT NULL CHECK (kind IN ('proxy', 'targetserver', 'reference', 'keystore', 'alias')),
    name           text NOT NULL,
    revision       int,
    alias_id       bigint,
    alias_version  bigint,
    PRIMARY KEY (org, env, deployment, kind, name),
    FOREIGN KEY (org, env, deployment) REFERENCES archive_deployments (org, env, id) ON DELETE CASCADE
);
CREATE INDEX deployment_items_use_idx ON deployment_items (org, env, kind, name);

-- The deployment that is live in each environment: the newest success.
CREATE TABLE live_deployments (
    org         text NOT NULL,
    env         text NOT NULL,
    deployment  text NOT NULL,
    PRIMARY KEY (org, env),
    FOREIGN KEY (org, env, deployment) REFERENCES archive_deployments (org, env, id) ON DELETE CASCADE
);
