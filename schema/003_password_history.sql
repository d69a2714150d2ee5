-- 003: password changes made through pam_idgov: argon2id hashes of recent
-- passwords (for the history rule) and when each was set (for the minimum
-- and maximum age rules). Never a password itself.
CREATE TABLE password_history (
	id         INTEGER PRIMARY KEY,
	uid        TEXT NOT NULL,
	hash       TEXT NOT NULL,
	changed_at INTEGER NOT NULL
);
CREATE INDEX password_history_uid ON password_history (uid, changed_at);
