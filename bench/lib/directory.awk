# The benchmark directory: `users` users and `groups` groups, about ten
# memberships a user (four groups holding half the users each; one group
# in five a posixGroup with memberUid, the rest groupOfNames), each user's
# manager is user i/10. Used by bench/sync and bench/review.
#   awk -v users=100000 -v groups=5000 -f bench/lib/directory.awk > bench.ldif
BEGIN {
	srand(4533)
	base = "dc=example,dc=com"
	print "dn: " base "\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: Bench\n"
	print "dn: ou=People," base "\nobjectClass: organizationalUnit\nou: People\n"
	print "dn: ou=Groups," base "\nobjectClass: organizationalUnit\nou: Groups\n"
	for (i = 0; i < users; i++) {
		printf "dn: uid=u%d,ou=People,%s\nobjectClass: inetOrgPerson\nobjectClass: posixAccount\n", i, base
		printf "uid: u%d\ncn: User %d\nsn: %d\ndisplayName: User %d\nmail: u%d@example.com\n", i, i, i, i, i
		if (i > 0) printf "manager: uid=u%d,ou=People,%s\n", int(i / 10), base
		printf "uidNumber: %d\ngidNumber: 100\nhomeDirectory: /home/u%d\n\n", 100000 + i, i
		# eight distinct groups: a value twice in one entry is not valid LDAP
		# (slapadd -q does not check it), and refint rewrites only one copy
		split("", picked)
		for (k = 0; k < 8; k++) {
			do g = 5 + int(rand() * (groups - 4)); while (g in picked)
			picked[g] = 1
			if (g % 5 == 0) small[g] = small[g] "memberUid: u" i "\n"
			else small[g] = small[g] "member: uid=u" i ",ou=People," base "\n"
		}
	}
	for (g = 1; g <= groups; g++) {
		if (g <= 4) {
			# four big groups: even users, odd users, first half, second half
			printf "dn: cn=g%d,ou=Groups,%s\nobjectClass: groupOfNames\ncn: g%d\n", g, base, g
			for (i = 0; i < users; i++)
				if ((g == 1 && i % 2 == 0) || (g == 2 && i % 2 == 1) ||
				    (g == 3 && i < users / 2) || (g == 4 && i >= users / 2))
					printf "member: uid=u%d,ou=People,%s\n", i, base
			print ""
		} else if (g % 5 == 0) {
			printf "dn: cn=g%d,ou=Groups,%s\nobjectClass: posixGroup\ncn: g%d\ngidNumber: %d\n%s\n", g, base, g, 20000 + g, small[g]
		} else {
			if (small[g] == "") small[g] = "member: uid=u0,ou=People," base "\n"
			printf "dn: cn=g%d,ou=Groups,%s\nobjectClass: groupOfNames\ncn: g%d\n%s\n", g, base, g, small[g]
		}
	}
}
