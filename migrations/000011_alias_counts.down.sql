DROP TRIGGER keystores_alias_counts ON keystores;
DROP TRIGGER aliases_count_delete ON aliases;
DROP TRIGGER aliases_count_insert ON aliases;
DROP TRIGGER organizations_alias_counts ON organizations;
DROP FUNCTION keyplane_alias_counts_keystore();
DROP FUNCTION keyplane_alias_counts_change();
DROP FUNCTION keyplane_alias_counts_org();
DROP TABLE alias_counts;
