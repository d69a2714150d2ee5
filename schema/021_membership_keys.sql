-- 021: memberships keep their integrity with triggers, not foreign keys.
--
-- With foreign keys on, every membership row inserted looks up its group
-- and its member_refs row: two B-tree searches per row, a third of a full
-- sync of a million memberships. Neither parent is deleted on the hot
-- path (groups are marked deleted, never removed; a member_refs row goes
-- when its entry does), so the same guarantee costs nothing as a trigger
-- on the parent's delete: no membership outlives its group or its member
-- value. The mirror is the only writer and adds rows only for groups and
-- member_refs rows it has just read or written (directory/mirror.c).
CREATE TABLE memberships_021 (
	group_id INTEGER NOT NULL,               -- groups.id
	ref_id   INTEGER NOT NULL,               -- member_refs.id
	since    INTEGER NOT NULL,
	PRIMARY KEY (group_id, ref_id)
) WITHOUT ROWID;
INSERT INTO memberships_021 (group_id, ref_id, since)
	SELECT m.group_id, m.ref_id, m.since FROM memberships m
	WHERE EXISTS (SELECT 1 FROM groups g WHERE g.id = m.group_id)
	  AND EXISTS (SELECT 1 FROM member_refs r WHERE r.id = m.ref_id);
DROP VIEW membership_values;
DROP TABLE memberships;
ALTER TABLE memberships_021 RENAME TO memberships;
CREATE INDEX memberships_ref ON memberships (ref_id);
CREATE VIEW membership_values AS
	SELECT g.uuid AS group_uuid, g.cn AS group_cn,
	       CASE r.kind WHEN 0 THEN 'member' ELSE 'memberUid' END AS kind,
	       r.value AS value, m.since AS since
	FROM memberships m JOIN groups g ON g.id = m.group_id JOIN member_refs r ON r.id = m.ref_id;
CREATE TRIGGER memberships_of_group AFTER DELETE ON groups
BEGIN
	DELETE FROM memberships WHERE group_id = OLD.id;
END;
CREATE TRIGGER memberships_of_ref AFTER DELETE ON member_refs
BEGIN
	DELETE FROM memberships WHERE ref_id = OLD.id;
END;
