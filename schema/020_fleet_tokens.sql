-- The mirror's copy of each person's fleet-wide MFA token and last-login
-- stamp (directory/token.h), kept by the sync like every other attribute.
-- What a host decides with when no provider answers ([fleet] offline),
-- what `idgov mfa status` shows without a round trip, what `idgov fleet
-- join` checks the fleet key against. The directory is the truth: logins
-- read the token from a provider when one answers.
CREATE TABLE fleet_tokens (
	user_uuid     TEXT PRIMARY KEY,           -- users.uuid (entryUUID)
	sealed        BLOB,                       -- idgovTokenSecret (fleetseal.h); NULL: not enrolled
	algorithm     TEXT,
	digits        INTEGER,
	period        INTEGER,
	last_step     INTEGER NOT NULL DEFAULT 0,
	failures      INTEGER NOT NULL DEFAULT 0,
	failure_start INTEGER NOT NULL DEFAULT 0,
	locked_until  INTEGER NOT NULL DEFAULT 0,
	recovery      TEXT NOT NULL DEFAULT '',   -- unspent idgovRecoveryCode values, one per line
	last_login    INTEGER NOT NULL DEFAULT 0  -- idgovLastLogin
);
