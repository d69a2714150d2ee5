-- 010: which key the store's secrets are sealed under.
--
-- One row per key kind ('master'): its id (a fingerprint, never the key).
-- A master key rotation re-encrypts every secret and sets this row in one
-- transaction, so the row always names the key that opens the store; the
-- key files are renamed after the commit, and a reader picks among
-- master.key, master.key.new and master.key.old the one with this id. No
-- row: the secrets are sealed under master.key (never rotated).
CREATE TABLE key_ids (
	name       TEXT PRIMARY KEY,
	key_id     TEXT NOT NULL,
	created_at INTEGER NOT NULL
);
