-- 006: access reviews. A campaign snapshots one item per (user, group) in
-- its scope when it opens; reviewers decide each item until it closes;
-- revocations then go through the directory journal (dir_journal.item_id)
-- and are verified by reading the directory back.

CREATE TABLE campaigns (
	id             INTEGER PRIMARY KEY,
	name           TEXT NOT NULL,               -- [campaign NAME], or adhoc-N
	definition     TEXT NOT NULL,               -- JSON: the settings it opened with
	due_at         INTEGER,                     -- the scheduled start it was opened for
	state          TEXT NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'closed')),
	opened_at      INTEGER NOT NULL,
	opened_by      TEXT NOT NULL,
	deadline       INTEGER NOT NULL,
	escalated_at   INTEGER,
	reminders_sent INTEGER NOT NULL DEFAULT 0,
	closed_at      INTEGER,
	closed_by      TEXT,
	UNIQUE (name, due_at)                       -- a scheduled start happens once
);

-- When idgovd first saw each configured campaign: only scheduled starts
-- after that count, so adding a quarterly campaign mid-quarter does not
-- start one at once, while a start missed because idgovd was down does.
CREATE TABLE campaign_schedules (
	name       TEXT PRIMARY KEY,
	first_seen INTEGER NOT NULL
);

CREATE TABLE review_items (
	id              INTEGER PRIMARY KEY,
	campaign_id     INTEGER NOT NULL REFERENCES campaigns (id),
	user_uuid       TEXT NOT NULL,
	user_uid        TEXT,
	user_dn         TEXT NOT NULL,
	user_status     TEXT NOT NULL,
	group_id        INTEGER NOT NULL,
	group_cn        TEXT NOT NULL,
	group_dn        TEXT NOT NULL,
	privileged      INTEGER NOT NULL,
	held_as         TEXT NOT NULL,              -- member, memberUid, member,memberUid, or nested
	via             TEXT,                       -- nested: the group that holds the user
	source          TEXT NOT NULL,              -- directory, grant #N, or review #C
	since           INTEGER,
	last_login      INTEGER,
	recommendation  TEXT NOT NULL CHECK (recommendation IN ('keep', 'revoke')),
	recommend_why   TEXT NOT NULL,
	reviewer        TEXT,                       -- reviewer of record (NULL: nobody eligible)
	reviewer_why    TEXT NOT NULL,
	decision        TEXT CHECK (decision IN ('approve', 'revoke')),
	decided_by      TEXT,
	decided_at      INTEGER,
	decision_source TEXT,                       -- reviewer, pre-decided, default
	comment         TEXT,
	remediation     TEXT CHECK (remediation IN ('pending', 'remediated', 'verified', 'failed')),
	remediation_why TEXT,
	verified_at     INTEGER,
	-- Group first: a campaign's snapshot inserts group by group, so this
	-- index grows at its end instead of all over.
	UNIQUE (campaign_id, group_id, user_uuid)
);
CREATE INDEX review_items_reviewer ON review_items (reviewer, campaign_id);
CREATE INDEX review_items_remediation ON review_items (remediation) WHERE remediation = 'pending';

ALTER TABLE dir_journal ADD COLUMN item_id INTEGER REFERENCES review_items (id);
CREATE INDEX dir_journal_item ON dir_journal (item_id) WHERE item_id IS NOT NULL;

