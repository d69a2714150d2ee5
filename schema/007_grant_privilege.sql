-- 007: why a grant is privileged. A grant is privileged by its effect:
-- the group is privileged or nested (at any depth) in a privileged group,
-- it carries sudo rights, or it creates an account. The reason is kept in
-- words ("sre is nested in admins; carries sudo rights") so that grant
-- show/list and the approvers see what they approve; NULL when the grant
-- is not privileged, and for grants recorded before this migration.
ALTER TABLE grants ADD COLUMN privileged_reason TEXT;
