-- 024: the CHECK constraints of users.status and member_refs.problem are
-- written as comparisons joined by OR instead of IN lists.
--
-- SQLite 3.40 evaluates a CHECK's IN list of three or more values by
-- building a temporary b-tree of the values each time a row is written:
-- it opens a pager, creates a table, inserts the values, searches it and
-- closes it, for every user and every member value a sync writes. That
-- was a third of the applier thread's time while a full sync inserted
-- 100,000 users. A chain of comparisons means the same (a NULL status or
-- problem passes both ways) and costs three comparisons.
--
-- The table definitions are text in sqlite_schema, and a CHECK constraint
-- does not change how rows are stored, so the text is edited in place as
-- SQLite documents for such changes, instead of copying both tables
-- (mfa and held_departures refer to users by foreign key, which a copy
-- would have to move past). RESET makes this connection read the edited
-- schema; the table created and dropped after it changes the schema
-- version, so that every other connection reads it again too.
PRAGMA writable_schema = ON;
UPDATE sqlite_schema
	SET sql = replace(sql, 'CHECK (status IN (''active'', ''disabled'', ''departed''))',
			  'CHECK (status = ''active'' OR status = ''disabled'' OR status = ''departed'')')
	WHERE type = 'table' AND name = 'users';
UPDATE sqlite_schema
	SET sql = replace(sql, 'problem IN (''no_entry'', ''not_a_dn'', ''too_long'')',
			  'problem = ''no_entry'' OR problem = ''not_a_dn'' OR problem = ''too_long''')
	WHERE type = 'table' AND name = 'member_refs';
PRAGMA writable_schema = RESET;
CREATE TABLE schema_024_version_bump (x);
DROP TABLE schema_024_version_bump;
