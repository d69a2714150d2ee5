-- 019: which audit spool files are already in the chain, by name.
--
-- idgovd's ingest appends a spooled event (its file's name in the
-- record's details, "spool") and, in the same transaction, records the
-- name here; only after the commit does it unlink the file. A file found
-- again (a crash between the commit and the unlink) is recognised by one
-- primary-key lookup. Before, that check read the details of every record
-- of the chain (json_extract over millions of rows) for each spooled file.
--
-- Not part of the hash chain: it only says where a name already is (seq),
-- and a name that is here is never appended again. Filled from the chain
-- for what was ingested before this migration.
CREATE TABLE audit_spool_ingested (
	name TEXT PRIMARY KEY,
	seq  INTEGER NOT NULL
) WITHOUT ROWID;

INSERT OR IGNORE INTO audit_spool_ingested (name, seq)
	SELECT json_extract(details, '$.spool'), seq FROM audit
	WHERE json_valid(details) AND json_type(details, '$.spool') = 'text';
