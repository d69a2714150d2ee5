/*
 * Formatting replies for people. Machines use --json, which prints the
 * reply's result unchanged; nothing here is meant to be parsed.
 *
 * What is printed was written by others (directory values, audit records
 * of any caller, reasons and comments), so the printers get a copy of the
 * result with control characters made visible (print_visible()): a value
 * cannot start a forged line or send an escape sequence to the terminal.
 */
#include "cli_print.h"

#include "timeparse.h"
#include "util.h"

#include <qrencode.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* s with control characters made visible (malloc'd), or NULL when out of memory. */
static char *
visible_text(const char *s)
{
	size_t size = strlen(s) * 4 + 1; /* at most "\xNN" for each byte */
	char *out = malloc(size);

	if (out != NULL)
		idg_strvis(out, size, s);
	return out;
}

static json_t *
visible_string(json_t *v)
{
	char *s;
	json_t *copy;

	if (idg_text_plain(json_string_value(v)) &&
	    strlen(json_string_value(v)) == json_string_length(v))
		return json_incref(v);
	/* A NUL inside a string is cut there, as the printers would. */
	if ((s = visible_text(json_string_value(v))) == NULL)
		return NULL;
	copy = json_string(s);
	free(s);
	return copy;
}

json_t *
print_visible(json_t *v)
{
	json_t *copy = NULL, *item, *vis;
	const char *key;
	char *k;
	size_t i;

	if (json_is_string(v))
		return visible_string(v);
	if (json_is_array(v)) {
		copy = json_array();
		json_array_foreach(v, i, item)
		{
			/* json_array_append_new() takes vis, even when it fails. */
			if (copy == NULL || (vis = print_visible(item)) == NULL ||
			    json_array_append_new(copy, vis) != 0) {
				json_decref(copy);
				return NULL;
			}
		}
		return copy;
	}
	if (json_is_object(v)) {
		copy = json_object();
		json_object_foreach(v, key, item)
		{
			int rc = -1;

			/* json_object_set_new() takes vis, even when it fails. */
			if (copy != NULL && (k = visible_text(key)) != NULL) {
				if ((vis = print_visible(item)) != NULL)
					rc = json_object_set_new(copy, k, vis);
				free(k);
			}
			if (rc != 0) {
				json_decref(copy);
				return NULL;
			}
		}
		return copy;
	}
	return json_incref(v);
}

void
print_visible_text(FILE *fp, const char *text, int keep_newlines)
{
	while (*text != '\0') {
		size_t n = keep_newlines ? strcspn(text, "\n") : strlen(text);
		char *line = strndup(text, n), *vis = line != NULL ? visible_text(line) : NULL;

		fprintf(fp, "%s%s", vis != NULL ? vis : "?", text[n] == '\n' ? "\n" : "");
		free(vis);
		free(line);
		text += n + (text[n] == '\n');
	}
}

static const char *
str(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s != NULL ? s : "-";
}

static long long
num(json_t *o, const char *key)
{
	return (long long)json_integer_value(json_object_get(o, key));
}

static const char *
when(json_t *o, const char *key, char buf[32])
{
	json_t *v = json_object_get(o, key);

	if (!json_is_integer(v))
		return "-";
	time_format(json_integer_value(v), buf);
	return buf;
}

void
print_status(json_t *r)
{
	json_t *d = json_object_get(r, "daemon"), *dir = json_object_get(r, "directory");
	json_t *s = json_object_get(dir, "sync"), *c = json_object_get(r, "counts"), *f;
	char t[32];

	if (json_is_true(json_object_get(d, "running")))
		printf("daemon:      running (pid %lld, since %s)\n", num(d, "pid"),
		       when(d, "started", t));
	else
		printf("daemon:      not running\n");
	printf("directory:   %s (%s)\n", str(dir, "uri"), str(dir, "name"));
	if (json_object_get(d, "connection") != NULL)
		printf("connection:  %s%s%s\n", str(d, "connection"),
		       json_is_string(json_object_get(d, "last_error")) ? " — last error: " : "",
		       json_is_string(json_object_get(d, "last_error")) ? str(d, "last_error")
									: "");
	if ((f = json_object_get(r, "fleet")) != NULL) {
		printf("fleet:       %s %s; %s\n", str(f, "role"), str(f, "name"),
		       json_is_true(json_object_get(f, "governing")) ? "governing"
								     : "not governing");
		printf("lease:       %s%s%s\n", str(f, "lease"),
		       json_is_string(json_object_get(f, "error")) ? " — last error: " : "",
		       json_is_string(json_object_get(f, "error")) ? str(f, "error") : "");
	}
	printf("last sync:   %s (%s, %s)\n", when(s, "last_sync", t), str(s, "mode"),
	       str(s, "last_result"));
	printf("users:       %lld active, %lld disabled, %lld expired, %lld departed\n",
	       num(c, "users_active"), num(c, "users_disabled"), num(c, "users_expired"),
	       num(c, "users_departed"));
	if (num(c, "value_warnings") > 0)
		printf("warnings:    %lld values in %lld entries not stored as the directory holds "
		       "them (see the log, or 'idgov user show')\n",
		       num(c, "value_warnings"), num(c, "entries_with_warnings"));
	if (num(c, "departures_held") > 0)
		printf("guard:       %lld departures held since %s; check the directory, then "
		       "'idgov sync release --confirm %lld'\n",
		       num(c, "departures_held"), when(c, "held_since", t),
		       num(c, "departures_held"));
	printf("groups:      %lld (%lld privileged), %lld memberships\n", num(c, "groups"),
	       num(c, "groups_privileged"), num(c, "memberships"));
	printf("unresolved:  %lld member values name no known user or group "
	       "(%lld over 4,096 bytes)\n",
	       num(c, "members_unresolved"), num(c, "members_too_long"));
	printf("audit:       %lld records\n", num(c, "audit_records"));
}

void
print_sync_verify(json_t *d)
{
	json_t *ex = json_object_get(d, "examples"), *e;
	size_t i;

	if (num(d, "total") == 0) {
		printf("verify: the mirror matches the directory\n");
		return;
	}
	printf("verify: %lld differences between the directory and the mirror\n", num(d, "total"));
	printf("  users:       %lld missing, %lld moved, %lld gone, %lld changed\n",
	       num(d, "users_added"), num(d, "users_moved"), num(d, "users_departed"),
	       num(d, "users_changed"));
	printf("  groups:      %lld missing, %lld changed, %lld gone\n", num(d, "groups_added"),
	       num(d, "groups_changed"), num(d, "groups_deleted"));
	printf("  memberships: %lld missing, %lld extra\n", num(d, "memberships_added"),
	       num(d, "memberships_removed"));
	if (json_array_size(ex) > 0)
		printf("first differences (what a full sync would record):\n");
	json_array_foreach(ex, i, e)
	{
		char *details = json_dumps(json_object_get(e, "details"),
					   JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);

		printf("  %s %s %s\n", str(e, "kind"), str(e, "name"), details ? details : "");
		free(details);
	}
}

void
print_sync(json_t *r)
{
	printf("sync (%s): %lld joiners, %lld movers, %lld leavers, %lld changed; "
	       "groups +%lld ~%lld -%lld; memberships +%lld -%lld\n",
	       str(r, "mode"), num(r, "joiners"), num(r, "movers"), num(r, "leavers"),
	       num(r, "changed"), num(r, "groups_added"), num(r, "groups_changed"),
	       num(r, "groups_deleted"), num(r, "memberships_added"),
	       num(r, "memberships_removed"));
	if (num(r, "held") > 0)
		printf("guard: %lld departures held, not applied ('idgov status' says how many "
		       "in all; 'idgov sync release --confirm N' applies them)\n",
		       num(r, "held"));
	if (num(r, "forced") > 0)
		printf("guard: %lld departures applied over the guard (--force), recorded in the "
		       "audit log\n",
		       num(r, "forced"));
}

void
print_user_list(json_t *r)
{
	size_t i;
	json_t *u;

	printf("%-20s %-9s %-10s %-28s %-28s %s\n", "USER", "STATE", "EXPIRES", "NAME", "MAIL",
	       "REASON");
	json_array_foreach(r, i, u)
	{
		printf("%-20s %-9s %-10s %-28s %-28s %s%s\n", str(u, "uid"), str(u, "status"),
		       str(u, "expires"), str(u, "display_name"), str(u, "mail"), str(u, "reason"),
		       json_is_true(json_object_get(u, "departure_held")) ? " (departure held)"
									  : "");
	}
}

void
print_user_show(json_t *r)
{
	json_t *groups = json_object_get(r, "groups"), *g;
	char t[32];
	size_t i;
	int nested = 0;

	printf("user:        %s\n", str(r, "uid"));
	printf("name:        %s\n", str(r, "display_name"));
	printf("mail:        %s\n", str(r, "mail"));
	if (json_is_string(json_object_get(r, "reason")))
		printf("state:       %s (%s)\n", str(r, "status"), str(r, "reason"));
	else
		printf("state:       %s\n", str(r, "status"));
	printf("expires:     %s\n",
	       json_is_string(json_object_get(r, "expires")) ? str(r, "expires") : "never");
	if (json_is_integer(json_object_get(r, "departure_held_since")))
		printf("departure:   held by the guard since %s\n",
		       when(r, "departure_held_since", t));
	{
		json_t *w;
		size_t k;

		json_array_foreach(json_object_get(r, "warnings"), k, w)
		{
			printf("warning:     %s\n", json_string_value(w));
		}
	}
	if (json_is_integer(json_object_get(r, "uid_number")))
		printf("uid number:  %lld\n", num(r, "uid_number"));
	printf("dn:          %s\n", str(r, "dn"));
	printf("manager:     %s\n", str(r, "manager"));
	printf("entryUUID:   %s\n", str(r, "uuid"));
	printf("first seen:  %s\n", when(r, "first_seen", t));
	if (json_is_integer(json_object_get(r, "departed_at")))
		printf("departed:    %s\n", when(r, "departed_at", t));
	printf("groups:     ");
	json_array_foreach(groups, i, g)
	{
		int direct = json_is_true(json_object_get(g, "direct"));

		nested |= !direct;
		printf(" %s%s%s", str(g, "name"), direct ? "" : "*",
		       json_is_true(json_object_get(g, "privileged")) ? "(privileged)" : "");
	}
	printf("%s\n", json_array_size(groups) == 0 ? " none"
		       : nested                     ? "\n             (* through a nested group)"
						    : "");
}

void
print_group_list(json_t *r)
{
	size_t i;
	json_t *g;

	printf("%-24s %-8s %-10s %s\n", "GROUP", "GID", "PRIVILEGED", "DIRECT MEMBERS");
	json_array_foreach(r, i, g)
	{
		char gid[24] = "-";

		if (json_is_integer(json_object_get(g, "gid_number")))
			snprintf(gid, sizeof(gid), "%lld", num(g, "gid_number"));
		printf("%-24s %-8s %-10s %lld\n", str(g, "name"), gid,
		       json_is_true(json_object_get(g, "privileged")) ? "yes" : "no",
		       num(g, "direct_members"));
	}
}

/* A member value that names nothing known, shortened, with the reason. */
static void
print_unresolved_member(json_t *m)
{
	const char *why = json_string_value(json_object_get(m, "unresolved"));
	char shown[121];
	int cut = idg_strvis(shown, sizeof(shown), str(m, "value"));

	if (why == NULL)
		why = "not a known user";
	else if (strcmp(why, "no_entry") == 0)
		why = "names no known user or group";
	else if (strcmp(why, "not_a_dn") == 0)
		why = "not a DN";
	else if (strcmp(why, "too_long") == 0)
		why = "a DN over 4,096 bytes";
	printf("  ?     %s%s (%s; %s)\n", shown, cut ? "..." : "", str(m, "kind"), why);
}

void
print_group_show(json_t *r)
{
	json_t *direct = json_object_get(r, "direct_members");
	json_t *eff = json_object_get(r, "effective_members"), *m;
	size_t i;

	printf("group:       %s%s\n", str(r, "name"),
	       json_is_true(json_object_get(r, "privileged")) ? " (privileged)" : "");
	printf("dn:          %s\n", str(r, "dn"));
	printf("direct members (%zu):\n", json_array_size(direct));
	json_array_foreach(direct, i, m)
	{
		if (json_is_string(json_object_get(m, "user")))
			printf("  user  %s\n", str(m, "user"));
		else if (json_is_string(json_object_get(m, "group_name")))
			printf("  group %s\n", str(m, "group_name"));
		else
			print_unresolved_member(m);
	}
	printf("effective members (%zu):\n", json_array_size(eff));
	json_array_foreach(eff, i, m)
	{
		printf("  %s%s%s\n", str(m, "uid"),
		       json_is_true(json_object_get(m, "direct")) ? "" : " (nested)",
		       strcmp(str(m, "status"), "active") ? " [disabled]" : "");
	}
}

void
print_audit_list(json_t *r)
{
	size_t i;
	json_t *a;
	char t[32];

	json_array_foreach(r, i, a)
	{
		printf("%6lld %s %-12s %-22s %-16s %s\n", num(a, "seq"), when(a, "time", t),
		       str(a, "actor"), str(a, "action"), str(a, "subject"), str(a, "details"));
	}
}

void
print_audit_ingest(json_t *r)
{
	printf("audit spool: %lld event(s) signed into the chain, %lld already there, %lld "
	       "malformed and quarantined\n",
	       num(r, "ingested"), num(r, "duplicates"), num(r, "quarantined"));
}

int
print_audit_verify(json_t *r)
{
	if (json_is_true(json_object_get(r, "ok"))) {
		printf("audit chain verified: %lld records, %lld signatures, head signed at record "
		       "%lld, anchored at %lld",
		       num(r, "records"), num(r, "signatures"), num(r, "last_signed"),
		       num(r, "anchor"));
		/* -1: no directory copy configured; 0: none published yet (idgovd does). */
		if (num(r, "directory_anchor") > 0)
			printf(", directory copy at %lld", num(r, "directory_anchor"));
		else if (num(r, "directory_anchor") == 0)
			printf(", no directory copy yet");
		if (num(r, "key_rotations") > 0)
			printf("; %lld audit key rotation%s followed to key %s",
			       num(r, "key_rotations"), num(r, "key_rotations") == 1 ? "" : "s",
			       str(r, "key_id"));
		putchar('\n');
		return 0;
	}
	/* The anchor file's own faults are not a record's. */
	if (num(r, "first_bad") > 0)
		printf("audit chain FAILED verification at record %lld: %s\n", num(r, "first_bad"),
		       str(r, "reason"));
	else
		printf("audit chain FAILED verification: %s\n", str(r, "reason"));
	return 1;
}

void
print_mfa_status(json_t *r)
{
	char t[32];

	printf("user:           %s\n", str(r, "user"));
	printf("enrolled:       %s\n", json_is_true(json_object_get(r, "enrolled")) ? "yes"
				       : json_is_true(json_object_get(r, "pending"))
					       ? "pending confirmation"
					       : "no");
	if (json_is_true(json_object_get(r, "locked")))
		printf("locked until:   %s\n", when(r, "locked_until", t));
	printf("recent failures: %lld\n", num(r, "recent_failures"));
	printf("recovery codes: %lld left\n", num(r, "recovery_codes_left"));
}

void
print_recovery_codes(json_t *r)
{
	json_t *codes = json_object_get(r, "recovery_codes"), *c;
	size_t i;

	printf("Recovery codes for %s. Each works once, at the same prompt as a code.\n"
	       "Keep them somewhere safe; they are not shown again:\n\n",
	       str(r, "user"));
	json_array_foreach(codes, i, c)
	{
		printf("  %s\n", json_string_value(c));
	}
}

void
print_qr(const char *text)
{
	QRcode *qr = QRcode_encodeString(text, 0, QR_ECLEVEL_L, QR_MODE_8, 1);
	int w, quiet = 2;

	if (qr == NULL) {
		printf("(cannot draw a QR code: %s)\n", text);
		return;
	}
	w = qr->width;
	/* Light modules are drawn in the foreground colour, as on a dark terminal. */
	for (int y = -quiet; y < w + quiet; y += 2) {
		for (int x = -quiet; x < w + quiet; x++) {
			int top = y >= 0 && y < w && x >= 0 && x < w && (qr->data[y * w + x] & 1);
			int bot = y + 1 >= 0 && y + 1 < w && x >= 0 && x < w &&
				  (qr->data[(y + 1) * w + x] & 1);

			fputs(top && bot ? " "
			      : top      ? "\u2584"
			      : bot      ? "\u2580"
					 : "\u2588",
			      stdout);
		}
		putchar('\n');
	}
	QRcode_free(qr);
}

int
print_policy_check(json_t *r)
{
	json_t *checks = json_object_get(r, "checks"), *c;
	int allowed = json_is_true(json_object_get(r, "allowed"));
	char t[32];
	size_t i;

	printf("login of %s to %s%s%s at %s:\n", str(r, "user"), str(r, "service"),
	       json_is_string(json_object_get(r, "rhost")) ? " from " : "",
	       json_is_string(json_object_get(r, "rhost")) ? str(r, "rhost") : "",
	       when(r, "at", t));
	json_array_foreach(checks, i, c)
	{
		printf("  %-4s %-20s %-8s %s\n",
		       json_is_true(json_object_get(c, "pass")) ? "ok" : "FAIL", str(c, "rule"),
		       str(c, "check"), str(c, "why"));
	}
	if (allowed && json_is_true(json_object_get(r, "password_expired")))
		printf("allowed after a password change (%s: %s)\n", str(r, "denied_by"),
		       str(r, "why"));
	else if (allowed)
		printf("allowed\n");
	else
		printf("DENIED by %s: %s\n", str(r, "denied_by"), str(r, "why"));
	return allowed ? 0 : 1;
}

void
print_key_rotate(json_t *r)
{
	if (strcmp(str(r, "key"), "audit") == 0) {
		printf("audit key rotated: %s -> %s at record %lld (signed by both keys); the old "
		       "secret key is kept until 'idgov key destroy-old audit', its public key "
		       "stays in the chain\n",
		       str(r, "old_id"), str(r, "new_id"), num(r, "seq"));
		return;
	}
	if (strcmp(str(r, "key"), "backup") == 0) {
		printf("backup key rotated: %s -> %s; new backups use the new key (copy it off "
		       "this "
		       "host); older backups are read with the old key, kept until 'idgov key "
		       "destroy-old backup'\n",
		       str(r, "old_id"), str(r, "new_id"));
		return;
	}
	printf("%s key rotated: %s -> %s, %lld secrets re-encrypted; the old key is kept until "
	       "'idgov key destroy-old %s'\n",
	       str(r, "key"), str(r, "old_id"), str(r, "new_id"), num(r, "resealed"),
	       str(r, "key"));
}

void
print_key_destroy_old(json_t *r)
{
	printf("old %s key overwritten and removed\n", str(r, "key"));
	if (json_object_get(r, "old_backups") != NULL)
		printf("%lld backup%s in [backup] targets made with it can no longer be read\n",
		       num(r, "old_backups"), num(r, "old_backups") == 1 ? "" : "s");
}

void
print_key_list(json_t *r)
{
	json_t *k;
	size_t i;
	char buf[32];

	printf("%-7s %-32s %-20s %-5s %-6s %s\n", "KEY", "ID", "WRITTEN", "MODE", "OWNER", "FILE");
	json_array_foreach(json_object_get(r, "keys"), i, k)
	{
		printf("%-7s %-32s %-20s %-5s %-6lld %s (%s%s)\n", str(k, "key"), str(k, "id"),
		       when(k, "written", buf), str(k, "mode"), num(k, "owner"), str(k, "file"),
		       str(k, "role"),
		       json_is_true(json_object_get(k, "in_use")) ? ", in use" : "");
	}
}
