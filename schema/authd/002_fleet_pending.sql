-- Version 2 of idgov-authd's own store: what [fleet] mfa = directory needs
-- beside the watermark of version 1. Kept in sync with the copy in
-- idgov/core/mfastate.c.
--
-- mfa_state keeps, for each user, the last state this host read from or
-- wrote to the directory (step, failures, lock): with no provider
-- answering, a login decides from the higher of it and the mirror's copy,
-- so a code this host saw accepted is never accepted here again.
-- login_stamped_at: when this host last wrote the user's idgovLastLogin
-- (or found one less than a day old), so a day's logins cost one write.
ALTER TABLE mfa_state ADD COLUMN login_stamped_at INTEGER NOT NULL DEFAULT 0;
-- What an offline login ([fleet] offline = allow) consumed and the
-- directory has not heard yet: a step (recovery NULL) or a recovery code
-- value ("ID:hash") to spend. Written back by the next login that reaches
-- a provider (token_consume_step, token_spend_recovery); a write the
-- directory refuses because a later step is there already is dropped.
CREATE TABLE fleet_pending (
	id        INTEGER PRIMARY KEY,
	user_uuid TEXT NOT NULL,
	step      INTEGER NOT NULL DEFAULT 0,
	recovery  TEXT,
	queued_at INTEGER NOT NULL
);
