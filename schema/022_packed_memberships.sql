-- 022: memberships are stored as one packed, sorted list per group, and
-- its inverse, one list per member value.
--
-- A row per membership made a full sync of 5,000 groups write a million
-- rows and build a million-entry index; the directory itself keeps a
-- group's members as one multi-valued attribute. Now:
--
--   group_members: a group's direct members, a JSON array sorted by
--     member_refs id. An element is the id alone when the pair's since is
--     the row's since (every pair of a group written at once), else
--     [id, since].
--   ref_groups: per member_refs row, the sorted JSON array of the group
--     ids it is a direct member of; the login path reads one row.
--
-- The two are each other's inverse: directory/packed.c keeps them so, and
-- so do the triggers below for everything else that writes. `memberships`
-- stays as a view of (group_id, ref_id, since), so every reader by group
-- is unchanged; inserting into or deleting from it updates both lists
-- (one group's or one value's list rebuilt per row: for tests and tools,
-- not for bulk writes). The view can be read only by group: a query that
-- joins it to member_refs takes it first (CROSS JOIN), or SQLite may walk
-- every pair once per member_refs row it matched.
CREATE TABLE group_members (
	group_id INTEGER PRIMARY KEY,            -- groups.id
	since    INTEGER NOT NULL,               -- of every element given as an id alone
	refs     TEXT NOT NULL                   -- [ref | [ref, since], ...], by ref ascending
);
CREATE TABLE ref_groups (
	ref_id   INTEGER PRIMARY KEY,            -- member_refs.id
	groups   TEXT NOT NULL                   -- [group_id, ...], ascending
);
INSERT INTO group_members (group_id, since, refs)
	SELECT d.group_id, d.since,
	       (SELECT '[' || group_concat(CASE WHEN x.since = d.since THEN x.ref_id
				ELSE '[' || x.ref_id || ',' || x.since || ']' END, ',') || ']'
		FROM (SELECT ref_id, since FROM memberships WHERE group_id = d.group_id
		      ORDER BY ref_id) x)
	FROM (SELECT group_id, min(since) AS since FROM memberships GROUP BY group_id) d;
INSERT INTO ref_groups (ref_id, groups)
	SELECT d.ref_id,
	       (SELECT '[' || group_concat(x.group_id, ',') || ']'
		FROM (SELECT group_id FROM memberships WHERE ref_id = d.ref_id
		      ORDER BY group_id) x)
	FROM (SELECT DISTINCT ref_id FROM memberships) d;
DROP VIEW membership_values;
DROP TRIGGER memberships_of_group;
DROP TRIGGER memberships_of_ref;
DROP TABLE memberships;
CREATE VIEW memberships (group_id, ref_id, since) AS
	SELECT p.group_id, CASE j.type WHEN 'integer' THEN j.atom ELSE j.value ->> 0 END,
	       CASE j.type WHEN 'integer' THEN p.since ELSE j.value ->> 1 END
	FROM group_members p, json_each(p.refs) j;
CREATE VIEW membership_values AS
	SELECT g.uuid AS group_uuid, g.cn AS group_cn,
	       CASE r.kind WHEN 0 THEN 'member' ELSE 'memberUid' END AS kind,
	       r.value AS value, m.since AS since
	FROM memberships m JOIN groups g ON g.id = m.group_id JOIN member_refs r ON r.id = m.ref_id;
-- The constraints the table had: integer keys and since, one row per pair.
CREATE TRIGGER memberships_insert INSTEAD OF INSERT ON memberships
BEGIN
	SELECT RAISE(ABORT, 'memberships: group_id, ref_id and since must be integers')
		WHERE typeof(NEW.group_id) <> 'integer' OR typeof(NEW.ref_id) <> 'integer'
		   OR typeof(NEW.since) <> 'integer';
	SELECT RAISE(ABORT, 'UNIQUE constraint failed: memberships.group_id, memberships.ref_id')
		WHERE EXISTS (SELECT 1 FROM memberships
			      WHERE group_id = NEW.group_id AND ref_id = NEW.ref_id);
	INSERT INTO group_members (group_id, since, refs)
		SELECT NEW.group_id, NEW.since, '[]'
		WHERE NOT EXISTS (SELECT 1 FROM group_members WHERE group_id = NEW.group_id);
	UPDATE group_members SET refs = (
		SELECT '[' || group_concat(x.e, ',') || ']' FROM (
			SELECT CASE j.type WHEN 'integer' THEN j.atom ELSE j.value ->> 0 END AS k,
			       j.value AS e
			FROM json_each(group_members.refs) j
			UNION ALL
			SELECT NEW.ref_id, CASE WHEN NEW.since = group_members.since THEN NEW.ref_id
				ELSE '[' || NEW.ref_id || ',' || NEW.since || ']' END
			ORDER BY 1) x)
		WHERE group_id = NEW.group_id;
	INSERT INTO ref_groups (ref_id, groups)
		SELECT NEW.ref_id, '[]'
		WHERE NOT EXISTS (SELECT 1 FROM ref_groups WHERE ref_id = NEW.ref_id);
	UPDATE ref_groups SET groups = (
		SELECT '[' || group_concat(x.g, ',') || ']' FROM (
			SELECT j.value AS g FROM json_each(ref_groups.groups) j
			UNION ALL SELECT NEW.group_id ORDER BY 1) x)
		WHERE ref_id = NEW.ref_id;
END;
CREATE TRIGGER memberships_delete INSTEAD OF DELETE ON memberships
BEGIN
	UPDATE group_members SET refs = (
		SELECT '[' || coalesce(group_concat(j.value, ','), '') || ']'
		FROM json_each(group_members.refs) j
		WHERE CASE j.type WHEN 'integer' THEN j.atom ELSE j.value ->> 0 END <> OLD.ref_id)
		WHERE group_id = OLD.group_id;
	DELETE FROM group_members WHERE group_id = OLD.group_id AND refs = '[]';
	UPDATE ref_groups SET groups = (
		SELECT '[' || coalesce(group_concat(j.value, ','), '') || ']'
		FROM json_each(ref_groups.groups) j WHERE j.value <> OLD.group_id)
		WHERE ref_id = OLD.ref_id;
	DELETE FROM ref_groups WHERE ref_id = OLD.ref_id AND groups = '[]';
END;
-- 021's meaning: no membership outlives its group or its member value.
CREATE TRIGGER memberships_of_group AFTER DELETE ON groups
BEGIN
	UPDATE ref_groups SET groups = (
		SELECT '[' || coalesce(group_concat(j.value, ','), '') || ']'
		FROM json_each(ref_groups.groups) j WHERE j.value <> OLD.id)
		WHERE ref_id IN (SELECT ref_id FROM memberships WHERE group_id = OLD.id);
	DELETE FROM ref_groups WHERE groups = '[]'
		AND ref_id IN (SELECT ref_id FROM memberships WHERE group_id = OLD.id);
	DELETE FROM group_members WHERE group_id = OLD.id;
END;
CREATE TRIGGER memberships_of_ref AFTER DELETE ON member_refs
BEGIN
	UPDATE group_members SET refs = (
		SELECT '[' || coalesce(group_concat(j.value, ','), '') || ']'
		FROM json_each(group_members.refs) j
		WHERE CASE j.type WHEN 'integer' THEN j.atom ELSE j.value ->> 0 END <> OLD.id)
		WHERE group_id IN (SELECT j.value FROM ref_groups r, json_each(r.groups) j
				   WHERE r.ref_id = OLD.id);
	DELETE FROM group_members WHERE refs = '[]'
		AND group_id IN (SELECT j.value FROM ref_groups r, json_each(r.groups) j
				 WHERE r.ref_id = OLD.id);
	DELETE FROM ref_groups WHERE ref_id = OLD.id;
END;
