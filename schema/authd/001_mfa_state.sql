-- idgov-authd's own store (authd.db): everything a login writes about MFA.
-- The enrolment (the secret sealed under the master key, the recovery code
-- hashes) stays in the main store, written by idgovd; a login only reads
-- it there. Kept in sync with the copy in idgov/core/mfastate.c.
CREATE TABLE mfa_state (
	user_uuid     TEXT PRIMARY KEY,
	last_step     INTEGER NOT NULL DEFAULT 0, -- replay watermark
	failures      INTEGER NOT NULL DEFAULT 0, -- since failure_start
	failure_start INTEGER NOT NULL DEFAULT 0,
	locked_until  INTEGER NOT NULL DEFAULT 0
);
-- A spent recovery code, named by its id and its hash: a new set of codes
-- (new salts) is never mistaken for a spent one.
CREATE TABLE mfa_recovery_used (
	user_uuid TEXT NOT NULL,
	code_id   TEXT NOT NULL,
	hash      TEXT NOT NULL,
	used_at   INTEGER NOT NULL,
	PRIMARY KEY (user_uuid, code_id, hash)
);
