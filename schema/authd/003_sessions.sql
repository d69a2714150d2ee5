-- Version 3 of idgov-authd's own store: the login sessions PAM opens and
-- closes (the "last login" that access reviews show). They were rows of
-- the main store, so opening an ssh session waited for its write lock,
-- which a full directory refresh holds for seconds. Kept in sync with the
-- copy in idgov/core/mfastate.c; the first opener at this version copies
-- the main store's rows (that table is no longer written).
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
