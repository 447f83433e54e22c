-- One row per certificate of every alias's chain (idx 0 is the leaf), so
-- that an organization's certificates are listed soonest expiry first
-- straight from an index, however many aliases it holds: certs_info keeps
-- the same facts inside a JSON array, which no index can order.
--
-- The rows are written in the statement that creates an alias or replaces
-- its certificate, tagged with the alias version they describe (a
-- replacement inserts the new version's rows and deletes the older ones),
-- and they go with the alias (ON DELETE CASCADE). org is the keystore's,
-- copied because the index leads with it; keystores never move.
CREATE TABLE alias_certificates (
    alias_id       bigint NOT NULL REFERENCES aliases (id) ON DELETE CASCADE,
    version        bigint NOT NULL,
    idx            int NOT NULL,
    org            text NOT NULL,
    not_after      timestamptz NOT NULL,
    subject        text NOT NULL,
    issuer         text NOT NULL,
    serial_number  text NOT NULL,
    PRIMARY KEY (alias_id, version, idx)
);
CREATE INDEX alias_certificates_expiry_idx ON alias_certificates (org, not_after, alias_id, idx);

-- Existing aliases: certs_info already holds each certificate's expiryDate
-- (milliseconds since the epoch, as a JSON string), subject, issuer and
-- serial number, leaf first.
INSERT INTO alias_certificates (alias_id, version, idx, org, not_after, subject, issuer, serial_number)
SELECT a.id, a.version, c.ord - 1, k.org,
       timestamptz 'epoch' + (c.info ->> 'expiryDate')::bigint * interval '1 millisecond',
       coalesce(c.info ->> 'subject', ''), coalesce(c.info ->> 'issuer', ''), coalesce(c.info ->> 'serialNumber', '')
FROM aliases a
JOIN keystores k ON k.id = a.keystore_id
CROSS JOIN LATERAL jsonb_array_elements(a.certs_info) WITH ORDINALITY AS c (info, ord);
