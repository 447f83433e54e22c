-- API proxies of PROXY environments: bundles imported as numbered
-- revisions, and their deployments, validated by a job on the same queue
-- as archive deployments.
CREATE TABLE api_proxies (
    org              text NOT NULL REFERENCES organizations (name),
    name             text NOT NULL,
    -- The newest revision number ever given: deleted revisions are never
    -- numbered again.
    latest_revision  integer NOT NULL DEFAULT 0,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org, name)
);

CREATE TABLE api_proxy_revisions (
    org               text NOT NULL,
    proxy             text NOT NULL,
    revision          integer NOT NULL CHECK (revision > 0),
    bundle            bytea NOT NULL,
    basepaths         text[] NOT NULL DEFAULT '{}',
    proxy_endpoints   text[] NOT NULL DEFAULT '{}',
    target_endpoints  text[] NOT NULL DEFAULT '{}',
    target_servers    text[] NOT NULL DEFAULT '{}',
    policies          text[] NOT NULL DEFAULT '{}',
    resources         text[] NOT NULL DEFAULT '{}',
    created_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org, proxy, revision),
    FOREIGN KEY (org, proxy) REFERENCES api_proxies (org, name) ON DELETE CASCADE
);

-- A deployment of one revision of a proxy to one environment. A proxy has
-- at most one deployment per environment unless another revision's
-- replaces it (override): the old one serves until the new one is READY.
CREATE TABLE proxy_deployments (
    org         text NOT NULL,
    env         text NOT NULL,
    proxy       text NOT NULL,
    revision    integer NOT NULL,
    state       text NOT NULL CHECK (state IN ('PROGRESSING', 'READY', 'ERROR')),
    -- errors holds [{code, message}] while state is ERROR.
    errors      jsonb NOT NULL DEFAULT '[]',
    override    boolean NOT NULL DEFAULT false,
    started_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org, env, proxy, revision),
    FOREIGN KEY (org, env) REFERENCES environments (org, name),
    FOREIGN KEY (org, proxy, revision) REFERENCES api_proxy_revisions (org, proxy, revision)
);
CREATE INDEX proxy_deployments_proxy_idx ON proxy_deployments (org, proxy, revision);

-- What a READY deployment uses, as deployment_items records it for
-- archives: keystores, aliases (with the certificate version validated),
-- references and target servers, so that none is deleted from under it.
CREATE TABLE proxy_deployment_items (
    org            text NOT NULL,
    env            text NOT NULL,
    proxy          text NOT NULL,
    revision       integer NOT NULL,
    kind           text NOT NULL CHECK (kind IN ('targetserver', 'reference', 'keystore', 'alias')),
    name           text NOT NULL,
    alias_id       bigint,
    alias_version  bigint,
    PRIMARY KEY (org, env, proxy, revision, kind, name),
    FOREIGN KEY (org, env, proxy, revision) REFERENCES proxy_deployments (org, env, proxy, revision) ON DELETE CASCADE
);
CREATE INDEX proxy_deployment_items_use_idx ON proxy_deployment_items (org, env, kind, name);

-- Gateways reload an environment whenever its proxy deployments change.
CREATE TRIGGER proxy_deployments_gateway_notify AFTER INSERT OR UPDATE OR DELETE ON proxy_deployments
    FOR EACH ROW EXECUTE FUNCTION keyplane_gateway_notify();
