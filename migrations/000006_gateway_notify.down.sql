DROP TRIGGER IF EXISTS target_servers_gateway_notify ON target_servers;
DROP TRIGGER IF EXISTS aliases_gateway_notify ON aliases;
DROP TRIGGER IF EXISTS keystores_gateway_notify ON keystores;
DROP TRIGGER IF EXISTS references_gateway_notify ON "references";
DROP TRIGGER IF EXISTS live_deployments_gateway_notify ON live_deployments;
DROP FUNCTION IF EXISTS keyplane_gateway_notify();
