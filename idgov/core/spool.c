/*
 * The audit spool; see spool.h for the format and the guarantees.
 *
 * Writers never read the spool and the reader never writes events into
 * it: they share the file format, nothing else. The reader trusts nothing
 * in a file: each one is opened without following links, must be a
 * regular file no larger than SPOOL_RECORD_MAX, and is parsed strictly.
 */
#define _GNU_SOURCE
#include "spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

/* Only makes names unique within a process; the pid and the clock do the rest. */
static atomic_uint spool_counter;

static int
fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc;

	if (fd < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

static int
ensure_dir(const char *dir, struct idg_err *err)
{
	struct stat sb;

	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return idg_seterr(err, "%s: cannot create the audit spool: %s", dir,
				  strerror(errno));
	if (lstat(dir, &sb) != 0)
		return idg_seterr(err, "%s: %s", dir, strerror(errno));
	if (!S_ISDIR(sb.st_mode))
		return idg_seterr(err, "%s: the audit spool is not a directory", dir);
	return 0;
}

/* Copies s into a text member, cut to max bytes (never inside a UTF-8 sequence). */
static json_t *
bounded_text(const char *s, size_t max)
{
	char buf[AUDIT_FIELD_MAX + 1];
	size_t n;

	if (s == NULL)
		s = "";
	n = strlen(s);
	if (n > max) {
		n = max;
		while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
			n--;
	}
	memcpy(buf, s, n);
	buf[n] = '\0';
	return json_stringn_nocheck(buf, n);
}

static char *
spool_render(const char *actor, const char *subject, const char *action, const char *details,
	     struct idg_err *err)
{
	char host[SPOOL_HOST_MAX + 1] = "";
	json_t *o = NULL, *d = NULL;
	json_error_t jerr;
	char *text = NULL;

	if (details != NULL) {
		d = json_loads(details, JSON_REJECT_DUPLICATES, &jerr);
		if (d == NULL || !json_is_object(d)) {
			json_decref(d);
			idg_seterr(err, "audit spool: details are not a JSON object");
			return NULL;
		}
	} else {
		d = json_object();
	}
	if (gethostname(host, sizeof(host) - 1) != 0)
		strcpy(host, "localhost");
	o = json_pack("{s:i, s:I, s:o, s:o, s:o, s:o, s:o}", "v", 1, "time", (json_int_t)idg_now(),
		      "host", bounded_text(host, SPOOL_HOST_MAX), "actor",
		      bounded_text(actor, AUDIT_FIELD_MAX), "subject",
		      bounded_text(subject, AUDIT_FIELD_MAX), "action",
		      bounded_text(action, AUDIT_FIELD_MAX), "details", d);
	if (o == NULL) {
		idg_seterr(err, "out of memory");
		return NULL;
	}
	text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(o);
	if (text == NULL) {
		idg_seterr(err, "out of memory");
		return NULL;
	}
	if (strlen(text) > SPOOL_RECORD_MAX) {
		free(text);
		idg_seterr(err, "audit spool: the event is longer than %d bytes", SPOOL_RECORD_MAX);
		return NULL;
	}
	return text;
}

int
spool_write(const char *dir, const char *actor, const char *subject, const char *action,
	    const char *details, struct idg_err *err)
{
	char name[SPOOL_NAME_LEN + 1], *final = NULL, *tmp = NULL, *text;
	struct timespec ts;
	size_t len, off = 0;
	int fd = -1, rc = -1;

	if ((text = spool_render(actor, subject, action, details, err)) == NULL)
		return -1;
	len = strlen(text);
	if (ensure_dir(dir, err) != 0)
		goto out;
	clock_gettime(CLOCK_REALTIME, &ts);
	snprintf(name, sizeof(name), "%016" PRIx64 "-%08x-%08x.ev",
		 (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec, (unsigned)getpid(),
		 atomic_fetch_add(&spool_counter, 1));
	if (asprintf(&final, "%s/%s", dir, name) < 0) {
		final = NULL;
		idg_seterr(err, "out of memory");
		goto out;
	}
	if (asprintf(&tmp, "%s/.%s.tmp", dir, name) < 0) {
		tmp = NULL;
		idg_seterr(err, "out of memory");
		goto out;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		idg_seterr(err, "%s: %s", tmp, strerror(errno));
		goto out;
	}
	while (off < len) {
		ssize_t n = write(fd, text + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			idg_seterr(err, "%s: write: %s", tmp,
				   n < 0 ? strerror(errno) : "short write");
			goto out;
		}
		off += (size_t)n;
	}
	if (fsync(fd) != 0 || close(fd) != 0) {
		fd = -1;
		idg_seterr(err, "%s: fsync: %s", tmp, strerror(errno));
		goto out;
	}
	fd = -1;
	if (rename(tmp, final) != 0) {
		idg_seterr(err, "%s: rename: %s", final, strerror(errno));
		goto out;
	}
	free(tmp);
	tmp = NULL;
	if (fsync_dir(dir) != 0) {
		idg_seterr(err, "%s: fsync: %s", dir, strerror(errno));
		goto out; /* the file is complete; whether it survives a crash is not known */
	}
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	if (tmp != NULL)
		unlink(tmp);
	free(tmp);
	free(final);
	free(text);
	return rc;
}

int
spool_name_valid(const char *name)
{
	static const char hex[] = "0123456789abcdef";

	if (strlen(name) != SPOOL_NAME_LEN || strcmp(name + 34, ".ev") != 0 || name[16] != '-' ||
	    name[25] != '-')
		return 0;
	for (int i = 0; i < 34; i++) {
		if (i == 16 || i == 25)
			continue;
		if (name[i] == '\0' || strchr(hex, name[i]) == NULL)
			return 0;
	}
	return 1;
}

void
spool_event_clear(struct spool_event *ev)
{
	json_decref(ev->details);
	memset(ev, 0, sizeof(*ev));
}

static int
take_text(json_t *o, const char *key, char *out, size_t max, struct idg_err *err)
{
	json_t *v = json_object_get(o, key);
	size_t n;

	if (!json_is_string(v))
		return idg_seterr(err, "\"%s\" is missing or not a string", key);
	n = json_string_length(v);
	if (n > max)
		return idg_seterr(err, "\"%s\" is longer than %zu bytes", key, max);
	if (memchr(json_string_value(v), '\0', n) != NULL)
		return idg_seterr(err, "\"%s\" holds a NUL byte", key);
	memcpy(out, json_string_value(v), n);
	out[n] = '\0';
	return 0;
}

int
spool_parse(const char *buf, size_t len, struct spool_event *ev, struct idg_err *err)
{
	static const char *const keys[] = {"v",       "time",   "host",   "actor",
					   "subject", "action", "details"};
	json_error_t jerr;
	json_t *o, *v, *t;

	memset(ev, 0, sizeof(*ev));
	if (len == 0)
		return idg_seterr(err, "empty record");
	if (len > SPOOL_RECORD_MAX)
		return idg_seterr(err, "record longer than %d bytes", SPOOL_RECORD_MAX);
	o = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (o == NULL)
		return idg_seterr(err, "not JSON: %s (offset %d)", jerr.text, jerr.position);
	if (!json_is_object(o)) {
		json_decref(o);
		return idg_seterr(err, "not a JSON object");
	}
	if (json_object_size(o) != sizeof(keys) / sizeof(keys[0])) {
		json_decref(o);
		return idg_seterr(err, "a record has exactly the members v, time, host, actor, "
				       "subject, action and details");
	}
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (json_object_get(o, keys[i]) == NULL) {
			json_decref(o);
			return idg_seterr(err, "\"%s\" is missing", keys[i]);
		}
	v = json_object_get(o, "v");
	t = json_object_get(o, "time");
	if (!json_is_integer(v) || json_integer_value(v) != 1) {
		json_decref(o);
		return idg_seterr(err, "unknown record version");
	}
	if (!json_is_integer(t) || json_integer_value(t) <= 0) {
		json_decref(o);
		return idg_seterr(err, "\"time\" is not a positive integer");
	}
	ev->time = json_integer_value(t);
	if (take_text(o, "host", ev->host, SPOOL_HOST_MAX, err) != 0 ||
	    take_text(o, "actor", ev->actor, AUDIT_FIELD_MAX, err) != 0 ||
	    take_text(o, "subject", ev->subject, AUDIT_FIELD_MAX, err) != 0 ||
	    take_text(o, "action", ev->action, AUDIT_FIELD_MAX, err) != 0) {
		json_decref(o);
		memset(ev, 0, sizeof(*ev));
		return -1;
	}
	if (ev->action[0] == '\0') {
		json_decref(o);
		memset(ev, 0, sizeof(*ev));
		return idg_seterr(err, "\"action\" is empty");
	}
	if (!json_is_object(json_object_get(o, "details"))) {
		json_decref(o);
		memset(ev, 0, sizeof(*ev));
		return idg_seterr(err, "\"details\" is not an object");
	}
	ev->details = json_incref(json_object_get(o, "details"));
	json_decref(o);
	return 0;
}

/* ---- idgovd's side ---- */

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
free_names(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/* The final names in dir, sorted; a missing dir is empty. */
static int
list_spool(const char *dir, char ***out, size_t *count, struct idg_err *err)
{
	DIR *dp;
	struct dirent *de;
	char **names = NULL;
	size_t n = 0, cap = 0;
	struct stat sb;

	*out = NULL;
	*count = 0;
	if (lstat(dir, &sb) != 0) {
		if (errno == ENOENT)
			return 0;
		return idg_seterr(err, "%s: %s", dir, strerror(errno));
	}
	if (!S_ISDIR(sb.st_mode) || sb.st_uid != geteuid() || (sb.st_mode & 077) != 0)
		return idg_seterr(err,
				  "%s: the audit spool must be a directory owned by uid %u "
				  "with mode 0700",
				  dir, (unsigned)geteuid());
	if ((dp = opendir(dir)) == NULL)
		return idg_seterr(err, "%s: %s", dir, strerror(errno));
	while ((de = readdir(dp)) != NULL) {
		if (!spool_name_valid(de->d_name))
			continue; /* ".", "..", temporary files, the quarantine */
		if (n == cap) {
			char **nn = realloc(names, (cap = cap ? cap * 2 : 64) * sizeof(*names));

			if (nn == NULL)
				goto oom;
			names = nn;
		}
		if ((names[n] = strdup(de->d_name)) == NULL)
			goto oom;
		n++;
	}
	closedir(dp);
	if (n > 1)
		qsort(names, n, sizeof(*names), name_cmp);
	*out = names;
	*count = n;
	return 0;
oom:
	closedir(dp);
	free_names(names, n);
	return idg_seterr(err, "out of memory");
}

/* Reads one spool file: 0 with buf/len, 1 if it vanished, -1 (err) if unreadable. */
static int
read_event(int dfd, const char *name, char *buf, size_t *len, struct idg_err *err)
{
	struct stat sb;
	size_t off = 0;
	int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);

	if (fd < 0) {
		if (errno == ENOENT)
			return 1;
		return idg_seterr(err, "%s", strerror(errno));
	}
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		close(fd);
		return idg_seterr(err, "not a regular file");
	}
	if (sb.st_size > SPOOL_RECORD_MAX) {
		close(fd);
		return idg_seterr(err, "larger than %d bytes", SPOOL_RECORD_MAX);
	}
	for (;;) {
		ssize_t n = read(fd, buf + off, SPOOL_RECORD_MAX + 1 - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			close(fd);
			return idg_seterr(err, "read: %s", strerror(errno));
		}
		if (n == 0)
			break;
		off += (size_t)n;
		if (off > SPOOL_RECORD_MAX) {
			close(fd);
			return idg_seterr(err, "larger than %d bytes", SPOOL_RECORD_MAX);
		}
	}
	close(fd);
	*len = off;
	return 0;
}

/* Moves a malformed file aside, alerts, and records that it did. */
static int
quarantine(struct audit *a, const char *dir, int dfd, const char *name, const char *why,
	   struct logger *log, struct idg_err *err)
{
	json_t *d;

	if (mkdirat(dfd, SPOOL_QUARANTINE, 0700) != 0 && errno != EEXIST)
		return idg_seterr(err, "%s/%s: %s", dir, SPOOL_QUARANTINE, strerror(errno));
	{
		char to[sizeof(SPOOL_QUARANTINE) + SPOOL_NAME_LEN + 2];

		snprintf(to, sizeof(to), "%s/%s", SPOOL_QUARANTINE, name);
		if (renameat(dfd, name, dfd, to) != 0)
			return idg_seterr(err, "%s/%s: cannot quarantine: %s", dir, name,
					  strerror(errno));
	}
	fsync(dfd);
	log_msg(log, LOG_ALERT, "audit spool: %s/%s is malformed (%s); moved to %s/%s/%s", dir,
		name, why, dir, SPOOL_QUARANTINE, name);
	d = json_pack("{s:s, s:s}", "file", name, "reason", why);
	return audit_record(a, "idgovd", name, "audit.spool_quarantined", d, err);
}

static int
already_ingested(struct store *st, sqlite3_stmt *s, const char *name, struct idg_err *err)
{
	int rc;

	sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	if (rc == SQLITE_ROW)
		return 1;
	if (rc != SQLITE_DONE)
		return store_err(st, err, "looking up a spooled audit event");
	return 0;
}

int
spool_ingest(struct audit *a, const char *dir, int batch_max, struct logger *log,
	     struct spool_result *res, struct idg_err *err)
{
	char **names = NULL, *buf = NULL;
	size_t count = 0;
	char **done = NULL;
	size_t ndone = 0;
	sqlite3_stmt *seen = NULL, *mark = NULL;
	int dfd = -1, rc = -1, in_tx = 0;

	memset(res, 0, sizeof(*res));
	if (batch_max <= 0)
		batch_max = 1000;
	if (list_spool(dir, &names, &count, err) != 0)
		return -1;
	if (count == 0) {
		rc = 0;
		goto out;
	}
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		idg_seterr(err, "%s: %s", dir, strerror(errno));
		goto out;
	}
	if ((buf = malloc(SPOOL_RECORD_MAX + 1)) == NULL ||
	    (done = calloc(count, sizeof(*done))) == NULL) {
		idg_seterr(err, "out of memory");
		goto out;
	}
	/*
	 * Each ingested file's name is kept with its record (schema 019); a
	 * file whose name is there was committed by an ingest that did not get
	 * to unlink it.
	 */
	if (store_prepare(a->st, "SELECT 1 FROM audit_spool_ingested WHERE name = ?1", &seen,
			  err) != 0 ||
	    store_prepare(a->st,
			  "INSERT INTO audit_spool_ingested (name, seq) VALUES "
			  "(?1, (SELECT max(seq) FROM audit))",
			  &mark, err) != 0)
		goto out;
	/* Malformed files first, each in its own transaction (audit_record). */
	for (size_t i = 0; i < count; i++) {
		struct spool_event ev;
		struct idg_err why;
		size_t len = 0;
		int r = read_event(dfd, names[i], buf, &len, &why);

		if (r == 1) {
			free(names[i]);
			names[i] = NULL;
			continue;
		}
		if (r == 0 && spool_parse(buf, len, &ev, &why) == 0) {
			spool_event_clear(&ev);
			continue;
		}
		if (quarantine(a, dir, dfd, names[i], why.msg, log, err) != 0)
			goto out;
		res->quarantined++;
		free(names[i]);
		names[i] = NULL;
	}
	if (store_begin(a->st, err) != 0)
		goto out;
	in_tx = 1;
	for (size_t i = 0; i < count; i++) {
		struct spool_event ev;
		struct idg_err why;
		size_t len = 0;
		char *details;
		int r;

		if (names[i] == NULL)
			continue;
		if (res->ingested + res->duplicates >= batch_max) {
			res->more = 1;
			break;
		}
		r = already_ingested(a->st, seen, names[i], err);
		if (r < 0)
			goto out;
		if (r == 1) {
			res->duplicates++;
			done[ndone++] = names[i];
			continue;
		}
		r = read_event(dfd, names[i], buf, &len, &why);
		if (r == 1)
			continue;
		if (r != 0 || spool_parse(buf, len, &ev, &why) != 0)
			continue; /* changed under us: the next ingest quarantines it */
		json_object_set_new(ev.details, "spool", json_string(names[i]));
		json_object_set_new(ev.details, "host", json_string(ev.host));
		json_object_set_new(ev.details, "at", json_integer(ev.time));
		details = json_dumps(ev.details, JSON_COMPACT | JSON_SORT_KEYS);
		if (details == NULL) {
			spool_event_clear(&ev);
			idg_seterr(err, "out of memory");
			goto out;
		}
		r = audit_append(a, ev.actor, ev.subject, ev.action, details, err);
		free(details);
		spool_event_clear(&ev);
		if (r != 0)
			goto out;
		sqlite3_bind_text(mark, 1, names[i], -1, SQLITE_STATIC);
		if (store_step_done(a->st, mark, err) != 0)
			goto out;
		res->ingested++;
		done[ndone++] = names[i];
	}
	if (audit_sign_head(a, err) != 0 || store_commit(a->st, err) != 0)
		goto out;
	in_tx = 0;
	/* Committed: only now may the files go. */
	for (size_t i = 0; i < ndone; i++)
		if (unlinkat(dfd, done[i], 0) != 0 && errno != ENOENT)
			log_msg(log, LOG_ERR, "audit spool: cannot remove %s/%s: %s", dir, done[i],
				strerror(errno));
	fsync(dfd);
	rc = 0;
out:
	if (in_tx)
		store_rollback(a->st);
	sqlite3_finalize(seen);
	sqlite3_finalize(mark);
	if (dfd >= 0)
		close(dfd);
	free(done);
	free(buf);
	free_names(names, count);
	return rc;
}
