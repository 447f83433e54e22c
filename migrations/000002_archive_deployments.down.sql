DROP TABLE live_deployments;
DROP TABLE deployment_items;
DROP TABLE proxy_revisions;
DROP TABLE archive_deployments;
DROP TABLE archive_uploads;
