-- 013: one vocabulary for review decisions. A review item's
-- recommendation was stored as 'keep' or 'revoke' while a decision, the
-- CLI and the web pages say 'approve' or 'revoke'; readers translated.
-- Now the store says what people see. SQLite cannot change a CHECK
-- constraint in place, so review_items is rebuilt (the documented
-- create-copy-drop-rename procedure) with its rows, ids and indexes.
--
-- dir_journal.item_id references review_items (id). Foreign keys are on
-- while migrations run (and cannot be turned off inside their
-- transaction), so dropping the old table would fail on those
-- references, and deferring them does not help: the rows the drop counts
-- as orphaned were copied before it, under another name. So the
-- references are set aside first and put back once the rebuilt table has
-- the same name and the same ids; putting them back checks each one.
CREATE TEMP TABLE journal_items AS
SELECT id, item_id FROM dir_journal WHERE item_id IS NOT NULL;
UPDATE dir_journal SET item_id = NULL WHERE item_id IS NOT NULL;

CREATE TABLE review_items_new (
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
	recommendation  TEXT NOT NULL CHECK (recommendation IN ('approve', 'revoke')),
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
	UNIQUE (campaign_id, group_id, user_uuid)
);

INSERT INTO review_items_new
SELECT id, campaign_id, user_uuid, user_uid, user_dn, user_status, group_id, group_cn,
       group_dn, privileged, held_as, via, source, since, last_login,
       CASE recommendation WHEN 'keep' THEN 'approve' ELSE recommendation END,
       recommend_why, reviewer, reviewer_why, decision, decided_by, decided_at,
       decision_source, comment, remediation, remediation_why, verified_at
FROM review_items ORDER BY id;

DROP TABLE review_items;
ALTER TABLE review_items_new RENAME TO review_items;
CREATE INDEX review_items_reviewer ON review_items (reviewer, campaign_id);
CREATE INDEX review_items_remediation ON review_items (remediation) WHERE remediation = 'pending';

UPDATE dir_journal SET item_id = (SELECT j.item_id FROM temp.journal_items j WHERE j.id = dir_journal.id)
WHERE id IN (SELECT id FROM temp.journal_items);
DROP TABLE temp.journal_items;

-- A campaign opened with the old name of its default says the new one.
UPDATE campaigns SET definition = json_set(definition, '$.default', 'approve')
WHERE json_valid(definition) AND json_extract(definition, '$.default') = 'keep';
