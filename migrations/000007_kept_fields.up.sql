-- Fields of an organization or environment that Apigee clients set and
-- Apigee answers back, but that keyplane does not act on (an environment's
-- displayName, type, properties, forwardProxyUri, ...; an organization's
-- analyticsRegion, runtimeType, ...), kept as the canonical JSON object the
-- request decoder produced so that they read back as they were written.
ALTER TABLE organizations ADD COLUMN attributes jsonb NOT NULL DEFAULT '{}';
ALTER TABLE environments ADD COLUMN attributes jsonb NOT NULL DEFAULT '{}';
