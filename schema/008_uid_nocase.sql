-- 008: user names are looked up the way LDAP matches uid, ignoring case
-- (ASCII): a login as "ALICE" is alice's, with her MFA enrolment and her
-- account state (policy/account.c, account_canonical_uid). This index lets
-- that lookup stay a seek.
CREATE INDEX users_uid_nocase ON users (uid COLLATE NOCASE);
