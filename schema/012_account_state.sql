-- 012: account state from every source the directory uses, values the
-- mirror could not store whole, and departures held by the guard.
--
-- users.disabled_reason: why the mirror stores a user as 'disabled', in
-- words ("locked by ppolicy (pwdAccountLockedTime)", "login shell
-- /usr/sbin/nologin", "shadowExpire cannot be read"). NULL when active or
-- departed. Expiry (shadowExpire) is not a stored state: it depends on the
-- day, so readers compare users.shadow_expire with the clock. Rows stored
-- disabled before this migration were disabled by pwdAccountLockedTime,
-- the only source then.
ALTER TABLE users ADD COLUMN disabled_reason TEXT;
UPDATE users SET disabled_reason = 'locked by ppolicy (pwdAccountLockedTime)'
WHERE status = 'disabled';

-- One row per attribute of an entry that the mirror could not store as the
-- directory holds it: a display value over the limit (stored truncated at a
-- UTF-8 boundary) or not text (stored as absent), a number that does not
-- parse. Rewritten each time the entry is applied, so the rows describe the
-- entries as they are now; `idgov status` counts them.
CREATE TABLE entry_warnings (
	uuid      TEXT NOT NULL,
	attribute TEXT NOT NULL,
	problem   TEXT NOT NULL,
	seen_at   INTEGER NOT NULL,
	PRIMARY KEY (uuid, attribute)
) WITHOUT ROWID;

-- Departures the guard holds: the directory no longer has these users, but
-- more left within [sync] guard_window than [directory]
-- max_departed_fraction allows, so they stay as they were until an admin
-- runs `idgov sync release --confirm N`. A user who comes back is taken
-- off the list.
CREATE TABLE held_departures (
	uuid    TEXT PRIMARY KEY REFERENCES users (uuid),
	held_at INTEGER NOT NULL
) WITHOUT ROWID;
