-- Gateways serve what is live in each environment from this database. Every
-- change a gateway must see (a new live deployment, a re-pointed reference,
-- an alias's new certificate, a changed target server, a deleted keystore)
-- notifies channel keyplane_gateway with the environment as 'org/env', so
-- gateways reload that environment within moments; a periodic full resync
-- covers notifications missed while a gateway was disconnected.
CREATE FUNCTION keyplane_gateway_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    r record;
    scope text;
BEGIN
    IF TG_OP = 'DELETE' THEN
        r := OLD;
    ELSE
        r := NEW;
    END IF;
    IF TG_TABLE_NAME = 'aliases' THEN
        SELECT k.org || '/' || k.env INTO scope FROM keystores k WHERE k.id = r.keystore_id;
        -- A keystore deleted with its aliases is gone already; its own
        -- trigger names the environment.
        IF scope IS NULL THEN
            RETURN NULL;
        END IF;
    ELSE
        scope := r.org || '/' || r.env;
        IF TG_OP = 'UPDATE' THEN
            -- Rows do not move between environments today; if one ever
            -- does, both environments change.
            IF OLD.org || '/' || OLD.env <> scope THEN
                PERFORM pg_notify('keyplane_gateway', OLD.org || '/' || OLD.env);
            END IF;
        END IF;
    END IF;
    PERFORM pg_notify('keyplane_gateway', scope);
    RETURN NULL;
END;
$$;

CREATE TRIGGER live_deployments_gateway_notify AFTER INSERT OR UPDATE OR DELETE ON live_deployments
    FOR EACH ROW EXECUTE FUNCTION keyplane_gateway_notify();
CREATE TRIGGER references_gateway_notify AFTER INSERT OR UPDATE OR DELETE ON "references"
    FOR EACH ROW EXECUTE FUNCTION keyplane_gateway_notify();
CREATE TRIGGER keystores_gateway_notify AFTER INSERT OR DELETE ON keystores
    FOR EACH ROW EXECUTE FUNCTION keyplane_gateway_notify();
CREATE TRIGGER aliases_gateway_notify AFTER INSERT OR UPDATE OR DELETE ON aliases
    FOR EACH ROW EXECUTE FUNCTION keyplane_gateway_notify();
CREATE TRIGGER target_servers_gateway_notify AFTER INSERT OR UPDATE OR DELETE ON target_servers
    FOR EACH ROW EXECUTE FUNCTION keyplane_gateway_notify();
