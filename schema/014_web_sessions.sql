-- 014: sessions of people signed in through idgov-web, and failed sign-ins.
--
-- idgovd issues a random token when it has verified a person's directory
-- password (and their code); the web frontend holds the token, the store
-- only its BLAKE2b-256 hash, so a copy of the store lets nobody act as a
-- signed-in person. A session is usable while ended IS NULL, now is within
-- [web] session_idle of last_used and within its absolute limit of
-- created. step is what the session may do yet: 'code' (password checked,
-- the code is next), 'enrol' (password checked, no MFA enrolment yet: it
-- may only enrol), 'full'.
CREATE TABLE web_sessions (
	token_hash BLOB PRIMARY KEY,
	user       TEXT NOT NULL,
	addr       TEXT NOT NULL,
	step       TEXT NOT NULL CHECK (step IN ('code', 'enrol', 'full')),
	created    INTEGER NOT NULL,
	last_used  INTEGER NOT NULL,
	expires    INTEGER NOT NULL, -- absolute limit
	ended      INTEGER
) WITHOUT ROWID;
CREATE INDEX web_sessions_user ON web_sessions (user);

-- One row per failed sign-in step: counted per user and per address over
-- [web] signin_interval to throttle guessing. Rows older than that are
-- removed as new ones come; a user's rows go at their successful sign-in.
CREATE TABLE web_signin_failures (
	at   INTEGER NOT NULL,
	user TEXT NOT NULL,
	addr TEXT NOT NULL
);
CREATE INDEX web_signin_failures_user ON web_signin_failures (user, at);
CREATE INDEX web_signin_failures_addr ON web_signin_failures (addr, at);
