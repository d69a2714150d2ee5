-- 002: MFA enrolments, recovery codes, and login sessions.

-- One TOTP enrolment per user. The secret is encrypted with the master key
-- (XChaCha20-Poly1305; the user's uuid is the associated data, so a
-- ciphertext cannot be moved to another user). last_step is the replay
-- watermark: a code is accepted only for a time step above it.
CREATE TABLE mfa (
	user_uuid      TEXT PRIMARY KEY REFERENCES users (uuid),
	secret_nonce   BLOB NOT NULL,
	secret_ct      BLOB NOT NULL,
	confirmed      INTEGER NOT NULL DEFAULT 0,
	created_at     INTEGER NOT NULL,
	confirmed_at   INTEGER,
	last_step      INTEGER NOT NULL DEFAULT 0,
	failures       INTEGER NOT NULL DEFAULT 0,  -- failures since failure_start
	failure_start  INTEGER NOT NULL DEFAULT 0,
	locked_until   INTEGER NOT NULL DEFAULT 0
);

-- Single-use recovery codes: "ID-SECRET"; the id is stored in clear to find
-- the row, the secret only as a crypto_pwhash (argon2id) string.
CREATE TABLE mfa_recovery (
	user_uuid TEXT NOT NULL REFERENCES mfa (user_uuid) ON DELETE CASCADE,
	code_id   TEXT NOT NULL,
	hash      TEXT NOT NULL,
	used_at   INTEGER,
	PRIMARY KEY (user_uuid, code_id)
);

-- Logins as PAM saw them: the "last login" that access reviews show.
CREATE TABLE sessions (
	id        INTEGER PRIMARY KEY,
	uid       TEXT NOT NULL,
	service   TEXT NOT NULL,
	rhost     TEXT,
	tty       TEXT,
	pid       INTEGER NOT NULL,
	opened_at INTEGER NOT NULL,
	closed_at INTEGER
);
CREATE INDEX sessions_uid ON sessions (uid, opened_at);
