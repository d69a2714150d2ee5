#!/usr/bin/env bash
# No entry is skipped for what one of its values holds. A joiner whose
# display name is 10 KB, and one whose lock attribute cannot be read (over
# the value limit, after its manager was read): both are mirrored, the
# first with its name cut at a character boundary and a warning, the
# second disabled with the reason (fail closed), and nothing leaks (the
# ASan build fails this test on a leak, as it fails every test on any
# sanitizer report).
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

it_setup
# Read the lock from a text attribute, so that the directory can hold a
# value the mirror cannot read (a GeneralizedTime could not be that long).
printf '[users]\nlocked = description\n' >>"$T/etc/idgov.conf"
assert_exit 0 "first sync succeeds" ig sync

long=$(head -c 3000 /dev/zero | tr '\0' x)
# 10,000 bytes of two-byte characters after one ASCII letter: the 1,024-byte
# cut falls in the middle of a character and must back off to its start.
name="A$(head -c 5000 /dev/zero | sed 's/\x0/é/g')"
ldif <<L
dn: uid=ivan,ou=People,dc=example,dc=com
changetype: add
objectClass: inetOrgPerson
objectClass: posixAccount
uid: ivan
cn: Ivan
sn: Ivan
uidNumber: 10090
gidNumber: 10000
homeDirectory: /home/ivan
manager: uid=bob,ou=People,dc=example,dc=com
description: $long

dn: uid=jane,ou=People,dc=example,dc=com
changetype: add
objectClass: inetOrgPerson
objectClass: posixAccount
uid: jane
cn: Jane
sn: Jane
displayName: $name
uidNumber: 10091
gidNumber: 10000
homeDirectory: /home/jane
L
assert_exit 0 "the sync succeeds" ig sync
assert_eq "$(sql "SELECT status || ': ' || disabled_reason FROM users WHERE uid='ivan'")" \
	"disabled: description cannot be read (over 1024 bytes)" \
	"an unreadable lock disables the account and says why"
assert_eq "$(sql "SELECT length(CAST(display_name AS BLOB)) || ',' || substr(display_name, 1, 3) FROM users WHERE uid='jane'")" \
	"1023,Aéé" "a 10 KB display name is stored cut at a character boundary"
assert_eq "$(sql "SELECT status FROM users WHERE uid='jane'")" active "and the joiner is active"
assert_eq "$(sql "SELECT attribute || ': ' || problem FROM entry_warnings w JOIN users u ON u.uuid = w.uuid WHERE u.uid='jane'")" \
	"displayName: over 1024 bytes: stored truncated" "the cut is recorded as a warning"
assert_contains "$(ig status)" "warnings:    1 values in 1 entries" "status counts the warning"
assert_contains "$(ig user show jane)" "warning:     displayName: over 1024 bytes" "user show lists it"
assert_contains "$(ig user show ivan)" "state:       disabled (description cannot be read" \
	"user show gives the state and its reason"
assert_eq "$(sql "SELECT count(*) FROM users WHERE uid='grace'")" 1 "other users are still mirrored"

# The name is put right: the warning goes with it.
ldif <<'L'
dn: uid=jane,ou=People,dc=example,dc=com
changetype: modify
replace: displayName
displayName: Jane Doe
L
assert_exit 0 "a later sync succeeds" ig sync
assert_eq "$(sql "SELECT count(*) FROM entry_warnings")" 0 "a corrected value clears its warning"
finish
