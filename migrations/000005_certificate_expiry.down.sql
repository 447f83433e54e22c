DROP TABLE alias_certificates;
