-- 023: DNs are now case-folded as OpenLDAP's UTF8bvnormalize folds them
-- (lower case, then NFKC, then lower case again), so a DN holding a
-- compatibility character or a final sigma normalises differently than
-- it did. A user's dn_norm and a member value stored under the old
-- folding would no longer meet: the next sync is a full refresh (no
-- cookie), which re-normalises every DN and resolves every member value
-- again, as after 011.
UPDATE sync_state SET cookie = NULL;
