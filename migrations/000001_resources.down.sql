DROP TABLE operations;
DROP TABLE target_servers;
DROP TABLE "references";
DROP TABLE aliases;
DROP TABLE keystores;
DROP TABLE environments;
DROP TABLE organizations;
