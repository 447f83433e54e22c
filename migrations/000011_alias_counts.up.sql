-- Each organization's number of aliases, kept by triggers, so that the
-- alias quota reads one row instead of counting the organization's aliases
-- on every upload. An upload under a quota locks its organization's row
-- while it inserts (see CreateAlias in internal/postgres), so concurrent
-- uploads never go past the quota together.
CREATE TABLE alias_counts (
    org  text PRIMARY KEY REFERENCES organizations (name) ON DELETE CASCADE,
    n    bigint NOT NULL DEFAULT 0 CHECK (n >= 0)
);

INSERT INTO alias_counts (org, n)
SELECT o.name, (SELECT count(*) FROM aliases a JOIN keystores k ON k.id = a.keystore_id WHERE k.org = o.name)
FROM organizations o;

-- A new organization starts at zero aliases.
CREATE FUNCTION keyplane_alias_counts_org() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO alias_counts (org) VALUES (NEW.name) ON CONFLICT DO NOTHING;
    RETURN NULL;
END;
$$;
CREATE TRIGGER organizations_alias_counts AFTER INSERT ON organizations
    FOR EACH ROW EXECUTE FUNCTION keyplane_alias_counts_org();

-- Inserted and deleted aliases move their organizations' counts, once per
-- statement. Aliases deleted with their keystore are no longer found
-- through it here: the keystore's own trigger below counted them off.
CREATE FUNCTION keyplane_alias_counts_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE alias_counts c SET n = c.n + d.n
        FROM (SELECT k.org, count(*) AS n FROM changed x JOIN keystores k ON k.id = x.keystore_id GROUP BY k.org) d
        WHERE c.org = d.org;
    ELSE
        UPDATE alias_counts c SET n = c.n - d.n
        FROM (SELECT k.org, count(*) AS n FROM changed x JOIN keystores k ON k.id = x.keystore_id GROUP BY k.org) d
        WHERE c.org = d.org;
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER aliases_count_insert AFTER INSERT ON aliases
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION keyplane_alias_counts_change();
CREATE TRIGGER aliases_count_delete AFTER DELETE ON aliases
    REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION keyplane_alias_counts_change();

-- A keystore about to be deleted takes its aliases off the count.
CREATE FUNCTION keyplane_alias_counts_keystore() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE alias_counts SET n = n - (SELECT count(*) FROM aliases WHERE keystore_id = OLD.id)
    WHERE org = OLD.org;
    RETURN OLD;
END;
$$;
CREATE TRIGGER keystores_alias_counts BEFORE DELETE ON keystores
    FOR EACH ROW EXECUTE FUNCTION keyplane_alias_counts_keystore();
