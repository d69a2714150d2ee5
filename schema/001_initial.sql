-- 001: the directory mirror, sync state, lifecycle events and the audit chain.
--
-- Times are UTC seconds since the epoch (INTEGER). Distinguished names are
-- kept as the directory sent them (dn) and normalised (dn_norm: RFC 4514
-- form, lower case) for joins; member DNs are stored normalised.

CREATE TABLE users (
	uuid          TEXT PRIMARY KEY,          -- entryUUID: survives renames and moves
	dn            TEXT NOT NULL,
	dn_norm       TEXT NOT NULL,
	uid           TEXT,
	display_name  TEXT,
	mail          TEXT,
	uid_number    INTEGER,
	manager_dn    TEXT,                      -- normalised DN of the manager entry
	status        TEXT NOT NULL DEFAULT 'active'
	              CHECK (status IN ('active', 'disabled', 'departed')),
	locked_time   TEXT,                      -- pwdAccountLockedTime as sent
	shadow_expire INTEGER,                   -- shadowExpire, days since the epoch
	first_seen    INTEGER NOT NULL,
	last_changed  INTEGER NOT NULL,
	departed_at   INTEGER,
	seen_gen      INTEGER NOT NULL DEFAULT 0 -- mark-and-sweep generation
);
CREATE INDEX users_dn_norm ON users (dn_norm);
CREATE INDEX users_uid ON users (uid);

CREATE TABLE groups (
	id           INTEGER PRIMARY KEY,       -- local key for memberships
	uuid         TEXT NOT NULL UNIQUE,      -- entryUUID
	dn           TEXT NOT NULL,
	dn_norm      TEXT NOT NULL,
	cn           TEXT NOT NULL,
	gid_number   INTEGER,
	privileged   INTEGER NOT NULL DEFAULT 0,
	status       TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'deleted')),
	first_seen   INTEGER NOT NULL,
	last_changed INTEGER NOT NULL,
	deleted_at   INTEGER,
	seen_gen     INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX groups_dn_norm ON groups (dn_norm);
CREATE INDEX groups_cn ON groups (cn);

-- Member values as the directory states them, stored once each: kind 0 is
-- a normalised `member` DN (a user or a nested group), kind 1 a
-- `memberUid`. A directory of 100,000 users has a million memberships but
-- only a few hundred thousand distinct values, so memberships hold small
-- integer pairs instead of repeating the text.
CREATE TABLE member_refs (
	id    INTEGER PRIMARY KEY,
	kind  INTEGER NOT NULL CHECK (kind IN (0, 1)),
	value TEXT NOT NULL,
	UNIQUE (kind, value)
);

-- Direct memberships. Effective membership (nested groups) is derived at
-- query time.
CREATE TABLE memberships (
	group_id INTEGER NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
	ref_id   INTEGER NOT NULL REFERENCES member_refs (id),
	since    INTEGER NOT NULL,
	PRIMARY KEY (group_id, ref_id)
) WITHOUT ROWID;
CREATE INDEX memberships_ref ON memberships (ref_id);

-- The memberships in words, for queries by people and reports.
CREATE VIEW membership_values AS
	SELECT g.uuid AS group_uuid, g.cn AS group_cn,
	       CASE r.kind WHEN 0 THEN 'member' ELSE 'memberUid' END AS kind,
	       r.value AS value, m.since AS since
	FROM memberships m JOIN groups g ON g.id = m.group_id JOIN member_refs r ON r.id = m.ref_id;

CREATE TABLE sync_state (
	directory   TEXT PRIMARY KEY,
	cookie      BLOB,
	mode        TEXT,                        -- 'refreshOnly', 'persist', 'paged'
	last_sync   INTEGER,
	last_result TEXT
);

-- Joiners, movers, leavers and membership changes, for queries by later
-- features (reviews ask "since when does U hold G"). The audit chain holds
-- the same facts in tamper-evident form.
CREATE TABLE events (
	id      INTEGER PRIMARY KEY,
	time    INTEGER NOT NULL,
	kind    TEXT NOT NULL,
	subject TEXT NOT NULL,                   -- user or group uuid
	details TEXT NOT NULL                    -- JSON
);
CREATE INDEX events_subject ON events (subject, time);

-- The audit chain: hash = BLAKE2b-256(prev_hash || canonical(record)).
CREATE TABLE audit (
	seq       INTEGER PRIMARY KEY,
	time      INTEGER NOT NULL,
	actor     TEXT NOT NULL,
	subject   TEXT NOT NULL,
	action    TEXT NOT NULL,
	details   TEXT NOT NULL,                 -- JSON
	hash      BLOB NOT NULL
);

-- Ed25519 signatures over (seq || hash) of chain heads.
CREATE TABLE audit_signatures (
	seq       INTEGER PRIMARY KEY,
	hash      BLOB NOT NULL,
	signature BLOB NOT NULL,
	time      INTEGER NOT NULL
);
