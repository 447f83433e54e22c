DROP TRIGGER proxy_deployments_gateway_notify ON proxy_deployments;
DROP TABLE proxy_deployment_items;
DROP TABLE proxy_deployments;
DROP TABLE api_proxy_revisions;
DROP TABLE api_proxies;
