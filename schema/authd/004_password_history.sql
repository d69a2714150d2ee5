-- Version 4 of idgov-authd's own store: the password history (the hashes
-- of a user's last passwords, and when each was set), which a password
-- change checks and records. It was a table of the main store, so a change
-- waited for the main store's write lock, which a full directory refresh
-- holds for seconds, and the auth service had to open the mirror for
-- writing. Kept in sync with the copy in idgov/core/mfastate.c; the first
-- opener at this version copies the main store's rows (that table is no
-- longer written).
CREATE TABLE password_history (
	id         INTEGER PRIMARY KEY,
	uid        TEXT NOT NULL,
	hash       TEXT NOT NULL,                -- crypto_pwhash_str (argon2id)
	changed_at INTEGER NOT NULL
);
CREATE INDEX password_history_uid ON password_history (uid, changed_at);
