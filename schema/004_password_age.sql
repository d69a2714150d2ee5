-- 004: when the directory last saw each user's password change, for the
-- maximum password age: shadowLastChange (days since the epoch) and
-- pwdChangedTime (converted to UTC seconds).
ALTER TABLE users ADD COLUMN shadow_last_change INTEGER;
ALTER TABLE users ADD COLUMN pwd_changed_at INTEGER;
