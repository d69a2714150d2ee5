-- 011: memberships follow the member's identity (entryUUID), not its DN.
--
-- A `member` value (kind 0) is resolved, when first seen, to the user or
-- group it names; target holds that entry's uuid, and the mirror keeps the
-- row's value equal to the entry's current normalised DN as the entry is
-- renamed or moved (directory/mirror.c, point_identity). When the entry
-- departs or is deleted, its row and every membership through it are
-- removed, so a later entry with the same name starts with none.
--
-- A value that names no entry is kept with target NULL and the reason in
-- problem: 'no_entry' (a DN nothing in the mirror has), 'not_a_dn', or
-- 'too_long' (over 4,096 bytes; a prefix is stored). Such rows grant
-- nothing; `idgov status` counts them and `idgov group show` lists them.
--
-- Invariants: at most one row per target; a row with a target has as its
-- value that entry's dn_norm, or "~" and the uuid while another entry
-- holds that DN during a refresh (parked).
ALTER TABLE member_refs ADD COLUMN target TEXT;
ALTER TABLE member_refs ADD COLUMN problem TEXT
	CHECK (problem IS NULL OR problem IN ('no_entry', 'not_a_dn', 'too_long'));
UPDATE member_refs SET target = coalesce(
	(SELECT u.uuid FROM users u WHERE u.dn_norm = member_refs.value
	 AND u.status <> 'departed' ORDER BY u.last_changed DESC LIMIT 1),
	(SELECT g.uuid FROM groups g WHERE g.dn_norm = member_refs.value
	 AND g.status = 'active' ORDER BY g.last_changed DESC LIMIT 1))
	WHERE kind = 0;
UPDATE member_refs SET problem = 'no_entry' WHERE kind = 0 AND target IS NULL;
CREATE INDEX member_refs_target ON member_refs (target);
-- DNs are now case-folded beyond ASCII and multi-valued RDNs sorted: the
-- next sync is a full refresh (no cookie), which re-normalises every DN,
-- resolves every member value and sweeps what a silent overlay change
-- left behind.
UPDATE sync_state SET cookie = NULL;
