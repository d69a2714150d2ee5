-- 005: time-bound grants of privilege, temporary privileged accounts, and
-- the journal of directory writes that carries them out.
--
-- A grant is one request for something that must end: a group membership
-- (kind 'group'), a temporary privileged account with its groups (kind
-- 'account'), or a later end time for either (kind 'extend', target_id).
-- Its life:
--   requested -> approved -> active -> expired | revoked
--   requested -> denied | lapsed (no approval in time)
-- 'applied' is the final state of an approved extension.

CREATE TABLE grants (
	id                INTEGER PRIMARY KEY,
	kind              TEXT NOT NULL CHECK (kind IN ('group', 'account', 'extend')),
	state             TEXT NOT NULL
	                  CHECK (state IN ('requested', 'approved', 'active', 'expired',
	                                   'revoked', 'denied', 'lapsed', 'applied')),
	grantee           TEXT NOT NULL,             -- uid of the person it is for (owner of an account)
	group_cn          TEXT,                      -- kind 'group'
	group_dn          TEXT,
	privileged        INTEGER NOT NULL DEFAULT 0,
	account_name      TEXT,                      -- kind 'account'
	target_id         INTEGER REFERENCES grants (id), -- kind 'extend'
	start_at          INTEGER NOT NULL,
	end_at            INTEGER NOT NULL,
	reason            TEXT NOT NULL,
	requester         TEXT NOT NULL,
	requested_at      INTEGER NOT NULL,
	approvals_needed  INTEGER NOT NULL,
	sudo              INTEGER NOT NULL DEFAULT 0, -- also write a sudoRole
	breakglass        INTEGER NOT NULL DEFAULT 0,
	acknowledged_by   TEXT,                      -- break-glass: the admin who reviewed it
	acknowledged_at   INTEGER,
	decided_at        INTEGER,                   -- approval complete, denial or lapse
	activated_at      INTEGER,
	ended_at          INTEGER,
	ended_by          TEXT,
	end_reason        TEXT,
	notified_ending   INTEGER NOT NULL DEFAULT 0,
	purge_at          INTEGER,                   -- account: delete from the directory then
	purged_at         INTEGER
);
CREATE INDEX grants_state ON grants (state, end_at);
CREATE INDEX grants_grantee ON grants (grantee, state);
CREATE UNIQUE INDEX grants_account ON grants (account_name)
	WHERE kind = 'account' AND state IN ('requested', 'approved', 'active');

CREATE TABLE grant_decisions (
	grant_id INTEGER NOT NULL REFERENCES grants (id),
	actor    TEXT NOT NULL,
	decision TEXT NOT NULL CHECK (decision IN ('approve', 'deny')),
	comment  TEXT,
	time     INTEGER NOT NULL,
	PRIMARY KEY (grant_id, actor)
);

-- Temporary privileged accounts, once their grant is active: what was
-- created, so that locking, stripping and deleting touch exactly that.
CREATE TABLE temp_accounts (
	grant_id   INTEGER PRIMARY KEY REFERENCES grants (id),
	name       TEXT NOT NULL,
	dn         TEXT NOT NULL,
	uid_number INTEGER NOT NULL UNIQUE,
	groups     TEXT NOT NULL                     -- comma-separated group names
);

-- Directory writes decided by governance. A row is written in the same
-- transaction as the decision that needs it, then applied; a crash in
-- between leaves it 'pending' and the next start applies it. Every
-- operation is idempotent (adding what is there, or removing what is
-- gone, is success), so applying one twice changes nothing.
--   add_member / del_member: dn = group, value = member DN, attr = uid;
--     result records which attributes add_member really added, and
--     del_member removes only those.
--   add_entry: dn, value = JSON object of attributes.
--   replace: dn, attr, value: the attribute's values become value (locking an account, moving a sudoNotAfter).
--   del_entry: dn.
--   del_value: dn, attr, value: one value removed (an access review's
--     revocation removes a membership exactly as the directory holds it).
CREATE TABLE dir_journal (
	id           INTEGER PRIMARY KEY,
	grant_id     INTEGER REFERENCES grants (id),
	op           TEXT NOT NULL
	             CHECK (op IN ('add_member', 'del_member', 'add_entry', 'replace',
	                           'del_entry', 'del_value')),
	dn           TEXT NOT NULL,
	attr         TEXT,
	value        TEXT,
	state        TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'done', 'failed')),
	created_at   INTEGER NOT NULL,
	attempts     INTEGER NOT NULL DEFAULT 0,
	next_attempt INTEGER NOT NULL DEFAULT 0,
	last_error   TEXT,
	result       TEXT,
	done_at      INTEGER
);
CREATE INDEX dir_journal_pending ON dir_journal (state, next_attempt) WHERE state = 'pending';
CREATE INDEX dir_journal_grant ON dir_journal (grant_id);
