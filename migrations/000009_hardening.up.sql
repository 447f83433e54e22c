-- Gateway host names. An environment is served at {org}-{env}.{domain},
-- and hosts are compared without case, so organization "orga" with
-- environment "x-prod" and organization "orga-x" with environment "prod"
-- claim the same host, as do "ACME"/"dev" and "acme"/"dev". Each host
-- belongs to exactly one environment: the unique index below refuses a
-- second claim.
ALTER TABLE environments
    ADD COLUMN gateway_host text GENERATED ALWAYS AS (lower(org || '-' || name)) STORED,
    ADD COLUMN gateway_host_disputed boolean NOT NULL DEFAULT false;

-- Environments created before hosts were owned may already share one. They
-- are reported here, one row per environment, and no gateway serves any of
-- them (rather than whichever sorts first) until all but one are deleted.
CREATE TABLE gateway_host_collisions (
    host      text NOT NULL,
    org       text NOT NULL,
    env       text NOT NULL,
    found_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org, env)
);

INSERT INTO gateway_host_collisions (host, org, env)
SELECT gateway_host, org, name FROM environments
WHERE gateway_host IN (SELECT gateway_host FROM environments GROUP BY gateway_host HAVING count(*) > 1);

UPDATE environments e SET gateway_host_disputed = true
FROM gateway_host_collisions c WHERE c.org = e.org AND c.env = e.name;

CREATE UNIQUE INDEX environments_gateway_host_key ON environments (gateway_host) WHERE NOT gateway_host_disputed;

-- Deleting one of the environments that share a host settles the dispute
-- once a single one is left: it owns the host and gateways serve it again.
CREATE FUNCTION keyplane_settle_gateway_host() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    survivor record;
BEGIN
    DELETE FROM gateway_host_collisions WHERE org = OLD.org AND env = OLD.name;
    IF (SELECT count(*) FROM gateway_host_collisions WHERE host = OLD.gateway_host) = 1 THEN
        DELETE FROM gateway_host_collisions WHERE host = OLD.gateway_host RETURNING org, env INTO survivor;
        UPDATE environments SET gateway_host_disputed = false WHERE org = survivor.org AND name = survivor.env;
        PERFORM pg_notify('keyplane_gateway', survivor.org || '/' || survivor.env);
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER environments_settle_gateway_host AFTER DELETE ON environments
    FOR EACH ROW WHEN (OLD.gateway_host_disputed) EXECUTE FUNCTION keyplane_settle_gateway_host();

-- Uploads are single-use before a byte is read: an upload claims its slot
-- (claimed_at) before reading the body, so that replays of the URL are
-- answered at once, and streams the body into chunks, joined into the
-- slot's data when complete, so that no server ever holds a whole archive
-- in memory.
ALTER TABLE archive_uploads ADD COLUMN claimed_at timestamptz;

CREATE TABLE archive_upload_chunks (
    upload_id  uuid NOT NULL REFERENCES archive_uploads (id) ON DELETE CASCADE,
    seq        integer NOT NULL,
    data       bytea NOT NULL,
    PRIMARY KEY (upload_id, seq)
);

-- Storage is bounded. The sweep drops the archives of all but the newest
-- deployments of each environment (never the live one): pruned_at says
-- when, and data is left empty. Quotas per organization count stored
-- archive bytes and deployments of the last day, through these indexes.
ALTER TABLE archive_uploads ADD COLUMN pruned_at timestamptz;
CREATE INDEX archive_uploads_org_idx ON archive_uploads (org) WHERE data IS NOT NULL AND pruned_at IS NULL;
CREATE INDEX archive_deployments_org_created_idx ON archive_deployments (org, created_at);
