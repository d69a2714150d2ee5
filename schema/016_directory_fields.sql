-- 016: what a reviewer reads beside a name: the person's title and
-- department, and what a group is for. Mirrored from the directory on every
-- sync ([users] title and department, [groups] description name the
-- attributes), cut at a character boundary when over the value limit like
-- display_name, and NULL when the entry has none. Only shown, never used to
-- decide anything.
ALTER TABLE users ADD COLUMN title TEXT;
ALTER TABLE users ADD COLUMN department TEXT;
ALTER TABLE groups ADD COLUMN description TEXT;
