/*
 * spool: schema, the put / next_due / mark flow, dedup, group commit,
 * per-destination state, disabled destinations, files that are not a
 * spool, missing and read-only folders, a full disk (RLIMIT_FSIZE in a
 * child process), restarts, the "snsrelay spool" command line, and the
 * cached statements and checkpoints (no snapshot left open, a bounded
 * WAL, recovery from a lock held too long).
 * Every spool lives in a temporary folder under /tmp.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "snsrelay/config.h"
#include "snsrelay/spool.h"
#include "snsrelay/spool_cli.h"
#include "tap.h"

#define DOC "{\"schema\":1,\"title\":\"test\"}"
#define THREADS 8
#define PUTS_PER_THREAD 50

static char tmp_root[] = "/tmp/unit_spool.XXXXXX";

static void
test_path(char *out, size_t size, const char *name)
{
	snprintf(out, size, "%s/%s", tmp_root, name);
}

static struct spool *
spool_open_at(const char *path, unsigned window_s, int *result,
	      struct err *e)
{
	struct spool_options opts = {
		.path = path,
		.create_parent = false,
		.dedup_window_s = window_s,
	};
	struct spool *s = spool_new(&opts);

	err_clear(e);
	*result = s != NULL ? spool_start(s, e) : RESULT_RETRY;
	return s;
}

static int
put_one(struct spool *s, const char *id, const char *const *dests,
	size_t n, bool *dup, struct err *e)
{
	err_clear(e);
	return spool_put(s, id, "msg-1", "arn:aws:sns:us-east-1:1:t", DOC,
			 dests, n, dup, e);
}

/* Runs sql on the file at path and returns its first integer, or -1. */
static long long
sql_int(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	long long value = -1;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) ==
	    SQLITE_OK && sqlite3_busy_timeout(db, 5000) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		value = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return value;
}

static void
sql_text(const char *path, const char *sql, char *out, size_t size)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	const unsigned char *text;

	out[0] = '\0';
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) ==
	    SQLITE_OK && sqlite3_busy_timeout(db, 5000) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW) {
		text = sqlite3_column_text(st, 0);
		snprintf(out, size, "%s", text ? (const char *)text : "");
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
}

/* Reads the whole file into a new string of *len bytes, or NULL. */
static char *
read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *data = NULL;
	long size;

	*len = 0;
	if (f == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) >= 0 &&
	    fseek(f, 0, SEEK_SET) == 0) {
		data = malloc((size_t)size + 1);
		if (data != NULL &&
		    fread(data, 1, (size_t)size, f) == (size_t)size) {
			data[size] = '\0';
			*len = (size_t)size;
		} else {
			free(data);
			data = NULL;
		}
	}
	fclose(f);
	return data;
}

static int
write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	int rc = 0;

	if (f == NULL)
		return -1;
	if (fwrite(data, 1, len, f) != len)
		rc = -1;
	if (fclose(f) != 0)
		rc = -1;
	return rc;
}

static bool
file_contains(const char *path, const char *needle)
{
	size_t len, n = strlen(needle), i;
	char *data = read_file(path, &len);
	bool found = false;

	for (i = 0; data != NULL && !found && i + n <= len; i++)
		found = memcmp(data + i, needle, n) == 0;
	free(data);
	return found;
}

static bool
path_exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0;
}

/*
 * Runs fn in a child process, which writes its observations to fd as
 * text, copied into out.  Returns the child's exit status, or 128 plus
 * the signal number when a signal ended it.
 */
static int
run_child(void (*fn)(int fd, void *arg), void *arg, char *out, size_t size)
{
	size_t len = 0;
	int fds[2], status = 0;
	ssize_t n;
	pid_t pid;

	out[0] = '\0';
	fflush(stdout);
	if (pipe(fds) != 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		close(fds[0]);
		fn(fds[1], arg);
		close(fds[1]);
		_exit(0);
	}
	close(fds[1]);
	while (pid > 0 && len + 1 < size &&
	       (n = read(fds[0], out + len, size - 1 - len)) > 0)
		len += (size_t)n;
	out[len] = '\0';
	close(fds[0]);
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) :
	       128 + WTERMSIG(status);
}

static void
test_schema(void)
{
	char path[256], text[64];
	struct spool *s;
	struct err e;
	int result;

	test_path(path, sizeof(path), "schema.db");
	s = spool_open_at(path, 3600, &result, &e);
	is_int(result, RESULT_OK, "schema start");
	ok(spool_ready(s, &e), "schema ready");
	is_int(sql_int(path, "PRAGMA application_id"), 0x534E5352,
	       "schema application_id");
	sql_text(path, "PRAGMA journal_mode", text, sizeof(text));
	is_str(text, "wal", "schema WAL mode");
	sql_text(path, "SELECT value FROM meta WHERE key = 'schema_version'",
		 text, sizeof(text));
	is_str(text, "1", "schema version");
	is_int(sql_int(path, "SELECT COUNT(*) FROM sqlite_master WHERE "
		       "type = 'table' AND name IN ('alerts', 'deliveries', "
		       "'destinations', 'meta')"), 4, "schema tables");
	spool_free(s);

	s = spool_open_at(path, 3600, &result, &e);
	is_int(result, RESULT_OK, "schema reopen");
	spool_free(s);
}

/* spool_list callback: stores the entry's attempts in *arg. */
static void
record_attempts(const struct spool_entry *entry, void *arg)
{
	*(long long *)arg = entry->attempts;
}

static void
test_flow(void)
{
	long long dead_attempts;
	static const char *const dests[] = { "discord", "audit" };
	struct spool_item items[4];
	int64_t now = spool_now_ms(), next = 0, count = -1, row;
	char path[256];
	struct spool *s;
	size_t n = 0;
	bool dup = true;
	struct err e;
	int result;

	test_path(path, sizeof(path), "flow.db");
	s = spool_open_at(path, 3600, &result, &e);
	is_int(put_one(s, "cloudtrail:a1", dests, 2, &dup, &e), RESULT_OK,
	       "flow put");
	ok(!dup, "flow put not duplicate");

	result = spool_next_due(s, "discord", now + 1000, 4, items, &n,
				&next, &e);
	is_int(result, RESULT_OK, "flow next_due");
	is_int(n, 1, "flow one due");
	row = n > 0 ? items[0].row : 0;
	is_str(n > 0 ? items[0].alert_id : NULL, "cloudtrail:a1",
	       "flow alert_id");
	is_str(n > 0 ? items[0].document : NULL, DOC, "flow document");
	is_int(n > 0 ? items[0].attempts : 99, 0, "flow no attempts yet");
	is_int(next, -1, "flow nothing later");
	spool_items_free(items, n);

	is_int(spool_mark_retry(s, "discord", &row, 1, now + 1000, now + 6000,
				"HTTP 500", &e), RESULT_OK, "flow mark retry");
	spool_next_due(s, "discord", now + 1000, 4, items, &n, &next, &e);
	is_int(n, 0, "flow retry not due yet");
	is_int(next, now + 6000, "flow retry next_due_ms");
	spool_next_due(s, "discord", now + 6000, 4, items, &n, &next, &e);
	is_int(n, 1, "flow retry due later");
	is_int(n > 0 ? items[0].attempts : 99, 1, "flow one attempt");
	spool_items_free(items, n);

	is_int(spool_mark_dead(s, "discord", &row, 1, now, 2, "HTTP 400", &e),
	       RESULT_OK, "flow mark dead");
	spool_count(s, "dead", &count, &e);
	is_int(count, 1, "flow dead count");
	dead_attempts = -1;
	spool_list(s, "dead", 0, record_attempts, &dead_attempts, &e);
	is_int(dead_attempts, 2, "flow dead keeps its attempts");
	is_int(spool_mark_delivered(s, "audit", &row, 1, now, &e), RESULT_OK,
	       "flow mark delivered");
	spool_count(s, "delivered", &count, &e);
	is_int(count, 1, "flow delivered count");
	spool_count(s, "pending", &count, &e);
	is_int(count, 0, "flow pending count");
	is_int(spool_count(s, "bogus", &count, &e), RESULT_REJECT,
	       "flow count bad state");
	spool_free(s);
}

static void
test_dedup(void)
{
	static const char *const dests[] = { "discord", "audit" };
	struct spool_stats stats;
	char path[256];
	struct spool *s;
	bool dup[3] = { true, false, false };
	struct err e;
	int result, i;

	test_path(path, sizeof(path), "dedup.db");
	s = spool_open_at(path, 3600, &result, &e);
	for (i = 0; i < 3; i++)
		is_int(put_one(s, "cloudtrail:same", dests, 2, &dup[i], &e),
		       RESULT_OK, "dedup put %d", i + 1);
	ok(!dup[0], "dedup first stored");
	ok(dup[1], "dedup second duplicate");
	ok(dup[2], "dedup third duplicate");
	spool_get_stats(s, &stats);
	is_int(stats.stored, 1, "dedup stats stored");
	is_int(stats.duplicates, 2, "dedup stats duplicates");
	spool_free(s);
	is_int(sql_int(path, "SELECT COUNT(*) FROM alerts"), 1,
	       "dedup one alert row");
	is_int(sql_int(path, "SELECT COUNT(*) FROM deliveries"), 2,
	       "dedup two deliveries");
}

struct putter {
	struct spool *spool;
	int id;
	int failures;
	int duplicates;
};

static void *
putter_main(void *arg)
{
	static const char *const dests[] = { "discord" };
	struct putter *p = arg;
	char id[64];
	struct err e;
	bool dup;
	int i;

	for (i = 0; i < PUTS_PER_THREAD; i++) {
		snprintf(id, sizeof(id), "alert-%d-%d", p->id, i);
		if (put_one(p->spool, id, dests, 1, &dup, &e) != RESULT_OK)
			p->failures++;
		if (dup)
			p->duplicates++;
	}
	return NULL;
}

static void
test_group_commit(void)
{
	struct putter putters[THREADS];
	pthread_t threads[THREADS];
	struct spool_stats stats;
	int64_t count = 0;
	char path[256];
	struct spool *s;
	struct err e;
	int result, i, failures = 0, duplicates = 0;

	test_path(path, sizeof(path), "group.db");
	s = spool_open_at(path, 3600, &result, &e);
	for (i = 0; i < THREADS; i++) {
		putters[i] = (struct putter){ s, i, 0, 0 };
		pthread_create(&threads[i], NULL, putter_main, &putters[i]);
	}
	for (i = 0; i < THREADS; i++) {
		pthread_join(threads[i], NULL);
		failures += putters[i].failures;
		duplicates += putters[i].duplicates;
	}
	is_int(failures, 0, "group puts succeed");
	is_int(duplicates, 0, "group no duplicates");
	spool_count(s, "pending", &count, &e);
	is_int(count, THREADS * PUTS_PER_THREAD, "group all stored");
	spool_get_stats(s, &stats);
	is_int(stats.puts, THREADS * PUTS_PER_THREAD, "group stats puts");
	ok(stats.transactions < THREADS * PUTS_PER_THREAD,
	   "group fewer transactions than puts");
	diag("%d puts in %llu transactions", THREADS * PUTS_PER_THREAD,
	     (unsigned long long)stats.transactions);
	spool_free(s);
}

static void
test_independence(void)
{
	static const char *const dests[] = { "a", "b" };
	struct spool_item items[2];
	int64_t now = spool_now_ms(), next, row = 0;
	char path[256];
	struct spool *s;
	size_t n = 0;
	struct err e;
	bool dup;
	int result;

	test_path(path, sizeof(path), "independent.db");
	s = spool_open_at(path, 3600, &result, &e);
	put_one(s, "x1", dests, 2, &dup, &e);
	spool_next_due(s, "a", now + 1000, 2, items, &n, &next, &e);
	if (n > 0)
		row = items[0].row;
	spool_items_free(items, n);
	is_int(spool_mark_delivered(s, "a", &row, 1, now, &e), RESULT_OK,
	       "independent delivered to a");
	spool_next_due(s, "a", now + 1000, 2, items, &n, &next, &e);
	is_int(n, 0, "independent nothing left for a");
	spool_items_free(items, n);
	spool_next_due(s, "b", now + 1000, 2, items, &n, &next, &e);
	is_int(n, 1, "independent still due for b");
	spool_items_free(items, n);
	spool_next_due(s, "c", now + 1000, 2, items, &n, &next, &e);
	is_int(n, 0, "independent unknown destination");
	spool_free(s);
}

static void
test_next_due_order(void)
{
	static const char *const dests[] = { "a" };
	static const char *const ids[] = { "o1", "o2", "o3", "o4" };
	struct spool_item items[4];
	int64_t now = spool_now_ms(), next = 0, row2;
	char path[256];
	struct spool *s;
	size_t n = 0, i;
	struct err e;
	bool dup;
	int result;

	test_path(path, sizeof(path), "order.db");
	s = spool_open_at(path, 3600, &result, &e);
	for (i = 0; i < 4; i++)
		put_one(s, ids[i], dests, 1, &dup, &e);
	spool_next_due(s, "a", now + 1000, 2, items, &n, &next, &e);
	is_int(n, 2, "order max respected");
	is_str(n > 1 ? items[1].alert_id : NULL, "o2", "order arrival");
	row2 = n > 1 ? items[1].row : 0;
	spool_items_free(items, n);

	spool_mark_retry(s, "a", &row2, 1, now, now + 60000, "timeout", &e);
	spool_next_due(s, "a", now + 1000, 4, items, &n, &next, &e);
	is_int(n, 3, "order retry left out");
	is_str(n > 1 ? items[1].alert_id : NULL, "o3", "order skips retry");
	is_int(next, now + 60000, "order next_due_ms");
	spool_items_free(items, n);

	spool_next_due(s, "a", now + 1000, 0, items, &n, &next, &e);
	is_int(n, 0, "order max zero");
	is_int(next, now + 60000, "order max zero next_due_ms");
	spool_free(s);
}

/* Makes every delivery of s to dest dead. */
static void
kill_all(struct spool *s, const char *dest)
{
	struct spool_item items[8];
	int64_t rows[8], next;
	size_t n = 0, i;
	struct err e;

	spool_next_due(s, dest, INT64_MAX / 2, 8, items, &n, &next, &e);
	for (i = 0; i < n; i++)
		rows[i] = items[i].row;
	spool_items_free(items, n);
	spool_mark_dead(s, dest, rows, n, spool_now_ms(), 1, "HTTP 404", &e);
}

static void
test_retry_dead(void)
{
	static const char *const dests[] = { "a", "b" };
	struct spool_item items[4];
	int64_t now = spool_now_ms(), next, changed = -1, count = -1;
	int64_t row1;
	char path[256];
	struct spool *s;
	size_t n = 0;
	struct err e;
	bool dup;
	int result;

	test_path(path, sizeof(path), "retry.db");
	s = spool_open_at(path, 3600, &result, &e);
	put_one(s, "r1", dests, 2, &dup, &e);
	put_one(s, "r2", dests, 2, &dup, &e);
	spool_next_due(s, "a", now + 1000, 4, items, &n, &next, &e);
	row1 = n > 0 ? items[0].row : 0;
	spool_items_free(items, n);
	spool_mark_retry(s, "a", &row1, 1, now, now, "HTTP 500", &e);
	kill_all(s, "a");
	kill_all(s, "b");
	spool_count(s, "dead", &count, &e);
	is_int(count, 4, "retry all dead");

	is_int(spool_retry_dead(s, row1, "a", now, &changed, &e), RESULT_OK,
	       "retry one row");
	is_int(changed, 1, "retry one row changed");
	spool_next_due(s, "a", now + 1000, 4, items, &n, &next, &e);
	is_int(n, 1, "retry row due again");
	is_int(n > 0 ? items[0].attempts : 99, 0, "retry attempts reset");
	spool_items_free(items, n);

	spool_retry_dead(s, 0, "b", now, &changed, &e);
	is_int(changed, 2, "retry one destination");
	spool_retry_dead(s, 0, NULL, now, &changed, &e);
	is_int(changed, 1, "retry all the rest");
	spool_count(s, "dead", &count, &e);
	is_int(count, 0, "retry none dead");
	spool_free(s);
}

static void
test_purge(void)
{
	static const char *const dests[] = { "a" };
	struct spool_item items[4];
	int64_t now = spool_now_ms(), next, removed = -1, count = -1;
	int64_t rows[3] = { 0, 0, 0 };
	char path[256];
	struct spool *s;
	size_t n = 0, i;
	struct err e;
	bool dup;
	int result;

	test_path(path, sizeof(path), "purge.db");
	s = spool_open_at(path, 3600, &result, &e);
	put_one(s, "p-delivered", dests, 1, &dup, &e);
	put_one(s, "p-dead", dests, 1, &dup, &e);
	put_one(s, "p-pending", dests, 1, &dup, &e);
	spool_next_due(s, "a", now + 1000, 4, items, &n, &next, &e);
	for (i = 0; i < n && i < 3; i++)
		rows[i] = items[i].row;
	spool_items_free(items, n);
	spool_mark_delivered(s, "a", &rows[0], 1, now, &e);
	spool_mark_dead(s, "a", &rows[1], 1, now, 1, "HTTP 403", &e);

	is_int(spool_purge(s, now - 3600000, &removed, &e), RESULT_OK,
	       "purge old only");
	is_int(removed, 0, "purge nothing that old");
	is_int(spool_purge(s, spool_now_ms() + 1000, &removed, &e), RESULT_OK,
	       "purge all finished");
	is_int(removed, 2, "purge delivered and dead");
	spool_count(s, "pending", &count, &e);
	is_int(count, 1, "purge keeps pending");
	spool_count(s, "dead", &count, &e);
	is_int(count, 0, "purge removed dead deliveries");
	spool_free(s);
	is_int(sql_int(path, "SELECT COUNT(*) FROM alerts"), 1,
	       "purge one alert left");
}

static void
test_disabled(void)
{
	static const char url1[] =
		"https://discord.com/api/webhooks/1/SECRETTOKENONE";
	static const char url2[] =
		"https://discord.com/api/webhooks/2/SECRETTOKENTWO";
	char path[256], wal[300], reason[64];
	struct spool *s;
	bool disabled = true;
	struct err e;
	int result;

	test_path(path, sizeof(path), "disabled.db");
	snprintf(wal, sizeof(wal), "%s-wal", path);
	s = spool_open_at(path, 3600, &result, &e);
	spool_destination_disabled(s, "discord", url1, &disabled, reason,
				   sizeof(reason), &e);
	ok(!disabled, "disabled not at first");
	is_int(spool_disable_destination(s, "discord", url1, "HTTP 404",
					 spool_now_ms(), &e), RESULT_OK,
	       "disabled disable");
	is_int(spool_destination_disabled(s, "discord", url1, &disabled,
					  reason, sizeof(reason), &e),
	       RESULT_OK, "disabled query");
	ok(disabled, "disabled same url");
	is_str(reason, "HTTP 404", "disabled reason");
	spool_destination_disabled(s, "discord", url2, &disabled, reason,
				   sizeof(reason), &e);
	ok(!disabled, "disabled new url enabled");
	spool_destination_disabled(s, "audit", url1, &disabled, reason,
				   sizeof(reason), &e);
	ok(!disabled, "disabled other name");
	ok(!file_contains(path, "SECRETTOKEN"), "disabled url not in file");
	ok(!file_contains(wal, "SECRETTOKEN"), "disabled url not in wal");
	spool_free(s);
	is_int(sql_int(path, "SELECT length(url_hash) FROM destinations"), 64,
	       "disabled hash stored");
}

/* Runs sql on the file at path through a connection of its own, as
 * another process would.  Returns the SQLite result. */
static int
sql_exec(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	int rc;

	rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_busy_timeout(db, 5000);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		diag("%s on %s: %s", sql, path, sqlite3_errmsg(db));
	sqlite3_close(db);
	return rc;
}

/* Runs a TRUNCATE checkpoint on the file at path through a connection of
 * its own.  Returns the SQLite result: SQLITE_BUSY when a reader kept
 * part of the WAL. */
static int
wal_truncate(const char *path)
{
	sqlite3 *db = NULL;
	int rc, frames = -1;

	rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_busy_timeout(db, 1000);
	/* A new connection treats the file as WAL only after a first read. */
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(db, "SELECT COUNT(*) FROM sqlite_master",
				  NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_wal_checkpoint_v2(db, "main",
					       SQLITE_CHECKPOINT_TRUNCATE,
					       &frames, NULL);
	if (rc == SQLITE_OK && frames != 0) {
		diag("checkpoint of %s left %d frames", path, frames);
		rc = SQLITE_ERROR;
	}
	if (rc != SQLITE_OK && rc != SQLITE_ERROR)
		diag("checkpoint of %s: %s", path, sqlite3_errmsg(db));
	sqlite3_close(db);
	return rc;
}

/* A row deleted by another connection enables the destination at the
 * next query, and more URLs than the spool caches hashes of still get
 * the right state. */
static void
test_disabled_outside_change(void)
{
	static const char url[] =
		"https://discord.com/api/webhooks/3/SECRETTOKENTHREE";
	char path[256], name[32], other[64], reason[64];
	int64_t now = spool_now_ms();
	int i, wrong = 0, failed = 0;
	struct spool *s;
	bool disabled = false;
	struct err e;
	int result;

	test_path(path, sizeof(path), "disabled-outside.db");
	s = spool_open_at(path, 3600, &result, &e);
	spool_disable_destination(s, "discord", url, "HTTP 404", now, &e);
	spool_destination_disabled(s, "discord", url, &disabled, reason,
				   sizeof(reason), &e);
	ok(disabled, "outside disabled first");
	is_int(sql_exec(path, "DELETE FROM destinations"), SQLITE_OK,
	       "outside delete row");
	spool_destination_disabled(s, "discord", url, &disabled, reason,
				   sizeof(reason), &e);
	ok(!disabled, "outside delete enables");
	spool_disable_destination(s, "discord", url, "HTTP 404 again", now,
				  &e);
	spool_destination_disabled(s, "discord", url, &disabled, reason,
				   sizeof(reason), &e);
	ok(disabled, "outside disabled again");
	is_str(reason, "HTTP 404 again", "outside reason again");

	/* 40 URLs pass through the hash cache more than once each. */
	for (i = 0; i < 80; i++) {
		snprintf(name, sizeof(name), "hook-%d", i % 40);
		snprintf(other, sizeof(other), "https://example.com/%d/TOKEN",
			 i % 40);
		if (i < 40 && i % 2 == 0 &&
		    spool_disable_destination(s, name, other, "HTTP 404", now,
					      &e) != RESULT_OK)
			failed++;
		if (spool_destination_disabled(s, name, other, &disabled,
					       reason, sizeof(reason),
					       &e) != RESULT_OK)
			failed++;
		if (disabled != (i % 2 == 0))
			wrong++;
	}
	is_int(failed, 0, "outside many urls succeed");
	is_int(wrong, 0, "outside many urls right answer");
	spool_free(s);
}

/*
 * Steps that fail inside the cached statements (a trigger aborts the
 * insert of an alert and the update of a delivery) leave no transaction
 * or snapshot open, and the same statements work once the trigger is
 * gone.
 */
static void
test_failed_step_resets(void)
{
	static const char *const dests[] = { "a" };
	struct spool_item items[4];
	int64_t now = spool_now_ms(), next, row = 0;
	char path[256];
	struct spool *s;
	size_t n = 0;
	bool dup;
	struct err e;
	int result;

	test_path(path, sizeof(path), "failed-step.db");
	s = spool_open_at(path, 3600, &result, &e);
	is_int(put_one(s, "fail-1", dests, 1, &dup, &e), RESULT_OK,
	       "failed step: first put");
	is_int(sql_exec(path, "CREATE TRIGGER no_insert BEFORE INSERT ON "
			"alerts BEGIN SELECT RAISE(ABORT, 'insert blocked');"
			" END; CREATE TRIGGER no_update BEFORE UPDATE ON "
			"deliveries BEGIN SELECT RAISE(ABORT, 'update "
			"blocked'); END"), SQLITE_OK,
	       "failed step: triggers created");
	is_int(put_one(s, "fail-2", dests, 1, &dup, &e), RESULT_RETRY,
	       "failed step: blocked put fails");
	ok(strstr(e.msg, "insert blocked") != NULL,
	   "failed step: put error names the failure");
	spool_next_due(s, "a", now + 1000, 4, items, &n, &next, &e);
	is_int(n, 1, "failed step: one due");
	row = n > 0 ? items[0].row : 0;
	spool_items_free(items, n);
	err_clear(&e);
	is_int(spool_mark_delivered(s, "a", &row, 1, now, &e), RESULT_RETRY,
	       "failed step: blocked update fails");
	ok(strstr(e.msg, "update blocked") != NULL,
	   "failed step: update error names the failure");
	is_int(wal_truncate(path), SQLITE_OK,
	       "failed step: no snapshot left open");
	is_int(sql_exec(path, "DROP TRIGGER no_insert; DROP TRIGGER "
			"no_update"), SQLITE_OK, "failed step: triggers dropped");
	is_int(put_one(s, "fail-3", dests, 1, &dup, &e), RESULT_OK,
	       "failed step: put works again");
	err_clear(&e);
	is_int(spool_mark_delivered(s, "a", &row, 1, now, &e), RESULT_OK,
	       "failed step: update works again");
	is_int(sql_int(path, "SELECT COUNT(*) FROM deliveries WHERE state = "
		       "'delivered'"), 1, "failed step: one delivered");
	is_int(sql_int(path, "SELECT COUNT(*) FROM alerts"), 2,
	       "failed step: blocked alert not stored");
	spool_free(s);
}

/*
 * After each call the spool keeps no read transaction open, so another
 * connection can copy the whole WAL into the database and truncate it.
 * A prepared statement left unreset would keep its snapshot, and the
 * checkpoint would report the WAL busy.
 */
static void
test_no_open_snapshot(void)
{
	static const char *const dests[] = { "a" };
	struct spool_item items[4];
	int64_t now = spool_now_ms(), next, row = 0;
	char path[256], wal[300], reason[16];
	struct stat st;
	struct spool *s;
	size_t n = 0;
	bool dup, disabled;
	struct err e;
	int result;

	test_path(path, sizeof(path), "snapshot.db");
	snprintf(wal, sizeof(wal), "%s-wal", path);
	s = spool_open_at(path, 3600, &result, &e);
	put_one(s, "snap-1", dests, 1, &dup, &e);
	put_one(s, "snap-2", dests, 1, &dup, &e);
	spool_next_due(s, "a", now + 1000, 1, items, &n, &next, &e);
	is_int(n, 1, "snapshot one due of two");
	row = n > 0 ? items[0].row : 0;
	spool_items_free(items, n);
	spool_destination_disabled(s, "a", "http://127.0.0.1/x", &disabled,
				   reason, sizeof(reason), &e);
	spool_mark_retry(s, "a", &row, 1, now, now + 60000, "HTTP 500", &e);
	spool_next_due(s, "a", now + 1000, 4, items, &n, &next, &e);
	spool_items_free(items, n);
	is_int(wal_truncate(path), SQLITE_OK, "snapshot checkpoint not busy");
	ok(stat(wal, &st) == 0 && st.st_size == 0, "snapshot wal truncated");
	spool_free(s);
}

/* Puts count alerts of 100 KiB into the spool s.  Returns the result of
 * the last put. */
static int
put_big_alerts(struct spool *s, const char *prefix, int count)
{
	static const char *const dests[] = { "a" };
	const size_t doc_size = 100 * 1024;
	char *doc = malloc(doc_size + 1);
	int result = RESULT_OK, i;
	char id[32];
	struct err e;
	bool dup;

	if (doc == NULL)
		return RESULT_RETRY;
	memset(doc, 'c', doc_size);
	doc[doc_size] = '\0';
	for (i = 0; result == RESULT_OK && i < count; i++) {
		snprintf(id, sizeof(id), "%s-%d", prefix, i);
		result = spool_put(s, id, NULL, NULL, doc, dests, 1, &dup,
				   &e);
	}
	free(doc);
	return result;
}

static long long
file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

/*
 * The writer connection makes no automatic checkpoint.  Its checkpoint
 * thread copies the WAL back every 1000 pages (SPOOL_CHECKPOINT_PAGES,
 * 4 MiB with SQLite's default page of 4 KiB), and the writer itself
 * checkpoints at 4000 pages, after which SQLite writes the WAL again from
 * its beginning.  Without checkpoints these puts write over 30 MiB of WAL.
 */
static void
test_writer_checkpoint(void)
{
	char path[256], wal[300];
	struct spool *s;
	struct err e;
	int result;

	test_path(path, sizeof(path), "checkpoint.db");
	snprintf(wal, sizeof(wal), "%s-wal", path);
	s = spool_open_at(path, 3600, &result, &e);
	is_int(put_big_alerts(s, "writer", 300), RESULT_OK,
	       "checkpoint 300 puts of 100 KiB");
	ok(file_size(path) > 16 * 1024 * 1024,
	   "checkpoint copied alerts into the database");
	ok(file_size(wal) < 20 * 1024 * 1024, "checkpoint wal bounded");
	diag("after 30 MiB of alerts: database %lld bytes, WAL %lld bytes",
	     file_size(path), file_size(wal));
	spool_free(s);
	is_int(sql_int(path, "SELECT COUNT(*) FROM alerts"), 300,
	       "checkpoint all alerts kept");
}

/*
 * With no put, the workers' commits alone grow the WAL, and the worker
 * connection copies it back once it reaches 1000 pages.  250 retries that
 * each store a 100 KiB error write about 30 MiB of WAL frames without
 * that.
 */
static void
test_worker_checkpoint(void)
{
	static const char *const dests[] = { "a" };
	const size_t error_size = 100 * 1024;
	char *error = malloc(error_size + 1);
	struct spool_item items[1];
	int64_t now = spool_now_ms(), next, row = 0;
	char path[256], wal[300];
	struct spool *s;
	int result = RESULT_OK, i;
	size_t n = 0;
	struct err e;
	bool dup;

	if (error == NULL) {
		ok(false, "worker checkpoint error text allocated");
		return;
	}
	test_path(path, sizeof(path), "worker-checkpoint.db");
	snprintf(wal, sizeof(wal), "%s-wal", path);
	s = spool_open_at(path, 3600, &result, &e);
	put_one(s, "worker-retried", dests, 1, &dup, &e);
	spool_next_due(s, "a", now + 1000, 1, items, &n, &next, &e);
	row = n > 0 ? items[0].row : 0;
	spool_items_free(items, n);
	for (i = 0; result == RESULT_OK && i < 250; i++) {
		memset(error, 'a' + i % 26, error_size);
		error[error_size] = '\0';
		result = spool_mark_retry(s, "a", &row, 1, now, now, error,
					  &e);
	}
	is_int(result, RESULT_OK, "worker checkpoint 250 retries");
	ok(file_size(wal) < 6 * 1024 * 1024, "worker checkpoint wal bounded");
	diag("after 250 retries: WAL %lld bytes", file_size(wal));
	spool_free(s);
	free(error);
}

struct busy_put {
	struct spool *spool;
	int result;
	struct err err;
};

static void *
busy_put_main(void *arg)
{
	static const char *const dests[] = { "a" };
	struct busy_put *p = arg;
	bool dup;

	p->result = put_one(p->spool, "busy-put", dests, 1, &dup, &p->err);
	return NULL;
}

/*
 * Another connection holds the write lock for longer than the busy
 * timeout: the put and the update fail, and both work once the lock is
 * released, because their failed statements were reset.
 */
static void
test_busy_recovery(void)
{
	static const char *const dests[] = { "a" };
	struct busy_put putter;
	struct spool_item items[2];
	int64_t now = spool_now_ms(), next, row = 0, count = -1;
	sqlite3 *holder = NULL;
	pthread_t thread;
	char path[256];
	struct spool *s;
	size_t n = 0;
	bool dup;
	struct err e;
	int result;

	test_path(path, sizeof(path), "busy.db");
	s = spool_open_at(path, 3600, &result, &e);
	put_one(s, "busy-first", dests, 1, &dup, &e);
	spool_next_due(s, "a", now + 1000, 2, items, &n, &next, &e);
	row = n > 0 ? items[0].row : 0;
	spool_items_free(items, n);

	if (sqlite3_open(path, &holder) != SQLITE_OK ||
	    sqlite3_exec(holder, "BEGIN IMMEDIATE", NULL, NULL, NULL) !=
	    SQLITE_OK) {
		ok(false, "busy lock taken: %s", sqlite3_errmsg(holder));
		sqlite3_close(holder);
		spool_free(s);
		return;
	}
	memset(&putter, 0, sizeof(putter));
	putter.spool = s;
	pthread_create(&thread, NULL, busy_put_main, &putter);
	err_clear(&e);
	result = spool_mark_delivered(s, "a", &row, 1, now, &e);
	pthread_join(thread, NULL);
	is_int(result, RESULT_RETRY, "busy update fails");
	is_str(e.code, "spool_failed", "busy update code");
	is_int(putter.result, RESULT_RETRY, "busy put fails");
	is_str(putter.err.code, "spool_failed", "busy put code");
	sqlite3_exec(holder, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_close(holder);

	is_int(spool_mark_delivered(s, "a", &row, 1, now, &e), RESULT_OK,
	       "busy update after release");
	is_int(put_one(s, "busy-second", dests, 1, &dup, &e), RESULT_OK,
	       "busy put after release");
	spool_count(s, "delivered", &count, &e);
	is_int(count, 1, "busy delivered count");
	spool_count(s, "pending", &count, &e);
	is_int(count, 1, "busy pending count");
	spool_free(s);
}

/* Starts a spool on path, which is not a valid spool, and checks that
 * the file is rejected and left byte for byte as it was. */
static void
check_rejected(const char *name, const char *path)
{
	size_t before_len = 0, after_len = 0;
	char *before = read_file(path, &before_len);
	char *after;
	struct spool *s;
	struct err e;
	bool dup = true;
	int result;

	s = spool_open_at(path, 3600, &result, &e);
	is_int(result, RESULT_REJECT, "%s start rejected", name);
	is_str(e.code, "spool_corrupt", "%s code", name);
	ok(strstr(e.msg, path) != NULL, "%s message names the file", name);
	ok(!spool_ready(s, NULL), "%s not ready", name);
	result = put_one(s, "never", NULL, 0, &dup, &e);
	is_int(result, RESULT_RETRY, "%s put fails", name);
	is_str(e.code, "spool_corrupt", "%s put code", name);
	spool_free(s);

	after = read_file(path, &after_len);
	ok(before != NULL && after != NULL && before_len == after_len &&
	   memcmp(before, after, before_len) == 0, "%s file unchanged", name);
	free(before);
	free(after);
}

static void
make_foreign_sqlite(const char *path)
{
	sqlite3 *db = NULL;

	if (sqlite3_open(path, &db) != SQLITE_OK ||
	    sqlite3_exec(db, "CREATE TABLE recipes (name TEXT);"
			 "INSERT INTO recipes VALUES ('bread')", NULL, NULL,
			 NULL) != SQLITE_OK)
		diag("cannot create %s: %s", path, sqlite3_errmsg(db));
	sqlite3_close(db);
}

static void
test_foreign_files(void)
{
	char path[256];

	test_path(path, sizeof(path), "hello.db");
	write_file(path, "hello", 5);
	check_rejected("text file", path);

	test_path(path, sizeof(path), "recipes.db");
	make_foreign_sqlite(path);
	check_rejected("foreign sqlite", path);
}

/* Fills a spool at path with enough alerts to span many pages. */
static int
make_big_spool(const char *path)
{
	static const char *const dests[] = { "a" };
	char id[32], *doc = malloc(2001);
	struct spool *s;
	struct err e;
	bool dup;
	int result, i;

	if (doc == NULL)
		return -1;
	memset(doc, 'x', 2000);
	doc[2000] = '\0';
	s = spool_open_at(path, 3600, &result, &e);
	for (i = 0; result == RESULT_OK && i < 200; i++) {
		snprintf(id, sizeof(id), "big-%d", i);
		result = spool_put(s, id, NULL, NULL, doc, dests, 1, &dup,
				   &e);
	}
	spool_free(s);
	free(doc);
	return result;
}

static void
test_corrupt_spool(void)
{
	char path[256];
	size_t len = 0;
	char *data;

	test_path(path, sizeof(path), "truncated.db");
	is_int(make_big_spool(path), RESULT_OK, "corrupt fill spool");
	data = read_file(path, &len);
	ok(data != NULL && len > 200000, "corrupt spool is large");
	if (data != NULL)
		write_file(path, data, len / 2);
	check_rejected("truncated spool", path);

	test_path(path, sizeof(path), "garbled.db");
	if (data != NULL) {
		memset(data + 40 * 4096, 0xff, 5 * 4096);
		write_file(path, data, len);
	}
	check_rejected("garbled spool", path);
	free(data);
}

static void
test_missing_folder(void)
{
	static const char *const dests[] = { "a" };
	char folder[256], path[300];
	struct timespec wait = { 1, 100000000 };
	struct spool *s;
	struct err e;
	bool dup;
	int result;

	test_path(folder, sizeof(folder), "later");
	snprintf(path, sizeof(path), "%s/spool.db", folder);
	s = spool_open_at(path, 3600, &result, &e);
	is_int(result, RESULT_RETRY, "missing folder start");
	is_str(e.code, "spool_unavailable", "missing folder code");
	ok(strstr(e.msg, folder) != NULL, "missing folder message path");
	ok(strstr(e.msg, "create the folder") != NULL,
	   "missing folder message advice");
	ok(!spool_ready(s, NULL), "missing folder not ready");
	is_int(put_one(s, "m1", dests, 1, &dup, &e), RESULT_RETRY,
	       "missing folder put fails");
	is_str(e.code, "spool_unavailable", "missing folder put code");
	ok(!path_exists(folder), "missing folder not created");

	mkdir(folder, 0700);
	nanosleep(&wait, NULL);
	is_int(put_one(s, "m1", dests, 1, &dup, &e), RESULT_OK,
	       "missing folder put after mkdir");
	ok(spool_ready(s, NULL), "missing folder ready after mkdir");
	spool_free(s);
}

static void
test_create_parent(void)
{
	struct spool_options opts = { .dedup_window_s = 60,
				      .create_parent = true };
	char path[256];
	struct stat st;
	struct spool *s;
	struct err e;

	test_path(path, sizeof(path), "made/spool.db");
	opts.path = path;
	s = spool_new(&opts);
	is_int(spool_start(s, &e), RESULT_OK, "create_parent start");
	test_path(path, sizeof(path), "made");
	ok(stat(path, &st) == 0 && (st.st_mode & 0777) == 0700,
	   "create_parent folder mode 0700");
	spool_free(s);

	test_path(path, sizeof(path), "chain/of/spool.db");
	s = spool_new(&opts);
	is_int(spool_start(s, &e), RESULT_RETRY, "create_parent no chain");
	is_str(e.code, "spool_unavailable", "create_parent chain code");
	spool_free(s);
}

/* Child: opens a spool in a read-only folder, as user 65534 when run
 * as root, because root may write anywhere. */
static void
child_readonly(int fd, void *arg)
{
	const char *path = arg;
	struct spool *s;
	struct err e;
	bool dup;
	int result, put;

	if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0)) {
		dprintf(fd, "skip: cannot drop root privileges");
		return;
	}
	s = spool_open_at(path, 3600, &result, &e);
	put = put_one(s, "ro", NULL, 0, &dup, &e);
	dprintf(fd, "start=%d put=%d code=%s", result, put, e.code);
	spool_free(s);
}

static void
test_readonly_folder(void)
{
	char folder[256], path[300], report[256], want[128];
	int status;

	test_path(folder, sizeof(folder), "readonly");
	snprintf(path, sizeof(path), "%s/spool.db", folder);
	mkdir(folder, 0555);
	chmod(folder, 0555);
	chmod(tmp_root, 0755);
	status = run_child(child_readonly, path, report, sizeof(report));
	chmod(tmp_root, 0700);
	is_int(status, 0, "readonly child exit");
	if (strncmp(report, "skip", 4) == 0) {
		diag("%s", report);
		return;
	}
	snprintf(want, sizeof(want), "start=%d put=%d code=spool_unavailable",
		 RESULT_RETRY, RESULT_RETRY);
	is_str(report, want, "readonly start and put");
	ok(!path_exists(path), "readonly nothing created");
}

/* Child: a write limit below the size of one big alert. */
static void
child_full_disk(int fd, void *arg)
{
	static const char *const dests[] = { "a" };
	struct rlimit limit = { 256 * 1024, 256 * 1024 };
	const char *path = arg;
	size_t big = 512 * 1024;
	char *doc = malloc(big + 1);
	struct spool *s;
	struct err e;
	bool dup;
	int result, put_big, put_small, tries;

	signal(SIGXFSZ, SIG_IGN);
	if (doc == NULL || setrlimit(RLIMIT_FSIZE, &limit) != 0) {
		dprintf(fd, "skip: cannot set RLIMIT_FSIZE");
		free(doc);
		return;
	}
	memset(doc, 'y', big);
	doc[big] = '\0';
	s = spool_open_at(path, 3600, &result, &e);
	put_big = spool_put(s, "huge", NULL, NULL, doc, dests, 1, &dup, &e);
	dprintf(fd, "start=%d put=%d code=%s", result, put_big, e.code);
	/* With no alert to store, the writer's own test write makes the
	 * spool ready again once a small write fits (about 5 s). */
	dprintf(fd, " ready=%d", spool_ready(s, NULL));
	for (tries = 0; tries < 100 && !spool_ready(s, NULL); tries++)
		usleep(100 * 1000);
	dprintf(fd, " recovered=%d", spool_ready(s, NULL));
	put_small = put_one(s, "small-after", dests, 1, &dup, &e);
	dprintf(fd, " then=%d", put_small);
	spool_free(s);
	free(doc);
}

static void
test_full_disk(void)
{
	static const char *const dests[] = { "a" };
	char path[256], report[512], want[128];
	int64_t count = -1;
	struct spool *s;
	struct err e;
	bool dup;
	int result, status, i;

	test_path(path, sizeof(path), "full.db");
	s = spool_open_at(path, 3600, &result, &e);
	for (i = 0; i < 3; i++) {
		char id[16];

		snprintf(id, sizeof(id), "kept-%d", i);
		put_one(s, id, dests, 1, &dup, &e);
	}
	spool_free(s);

	status = run_child(child_full_disk, path, report, sizeof(report));
	is_int(status, 0, "full child exit");
	if (strncmp(report, "skip", 4) == 0) {
		diag("%s", report);
		return;
	}
	snprintf(want, sizeof(want), "start=%d put=%d code=spool_full "
		 "ready=0 recovered=1 then=%d", RESULT_OK, RESULT_RETRY,
		 RESULT_OK);
	is_str(report, want, "full put fails, readiness recovers, then a "
	       "put works");

	s = spool_open_at(path, 3600, &result, &e);
	is_int(result, RESULT_OK, "full reopen intact");
	spool_count(s, "pending", &count, &e);
	is_int(count, 4, "full earlier alerts kept");
	spool_free(s);
	is_int(sql_int(path, "SELECT COUNT(*) FROM alerts WHERE alert_id = "
		       "'huge'"), 0, "full big alert absent");
}

static void
test_restart(void)
{
	static const char *const dests[] = { "a" };
	struct spool_item items[4];
	int64_t now = spool_now_ms(), next, row;
	char path[256];
	struct spool *s;
	size_t n = 0;
	struct err e;
	bool dup;
	int result;

	test_path(path, sizeof(path), "restart.db");
	s = spool_open_at(path, 3600, &result, &e);
	put_one(s, "s1", dests, 1, &dup, &e);
	put_one(s, "s2", dests, 1, &dup, &e);
	spool_next_due(s, "a", now + 1000, 4, items, &n, &next, &e);
	row = n > 0 ? items[0].row : 0;
	spool_items_free(items, n);
	spool_mark_delivered(s, "a", &row, 1, now, &e);
	spool_stop(s);
	is_int(put_one(s, "s3", dests, 1, &dup, &e), RESULT_RETRY,
	       "restart put after stop");
	spool_free(s);

	s = spool_open_at(path, 3600, &result, &e);
	is_int(result, RESULT_OK, "restart start");
	spool_next_due(s, "a", spool_now_ms(), 4, items, &n, &next, &e);
	is_int(n, 1, "restart one still due");
	is_str(n > 0 ? items[0].alert_id : NULL, "s2", "restart due alert");
	spool_items_free(items, n);
	put_one(s, "s1", dests, 1, &dup, &e);
	ok(dup, "restart dedup kept");
	spool_free(s);
}

/* A restart runs housekeeping first: with a window of 0 the delivered
 * alert is forgotten, the dead one kept. */
static void
test_housekeeping(void)
{
	static const char *const dests[] = { "a" };
	struct spool_item items[4];
	int64_t now = spool_now_ms(), next, rows[2] = { 0, 0 };
	struct timespec wait = { 0, 5000000 };
	char path[256];
	struct spool *s;
	size_t n = 0;
	struct err e;
	bool dup = true;
	int result;

	test_path(path, sizeof(path), "housekeeping.db");
	s = spool_open_at(path, 0, &result, &e);
	put_one(s, "h-delivered", dests, 1, &dup, &e);
	put_one(s, "h-dead", dests, 1, &dup, &e);
	spool_next_due(s, "a", now + 1000, 4, items, &n, &next, &e);
	if (n == 2) {
		rows[0] = items[0].row;
		rows[1] = items[1].row;
	}
	spool_items_free(items, n);
	spool_mark_delivered(s, "a", &rows[0], 1, now, &e);
	spool_mark_dead(s, "a", &rows[1], 1, now, 1, "HTTP 410", &e);
	spool_free(s);
	nanosleep(&wait, NULL);

	s = spool_open_at(path, 0, &result, &e);
	put_one(s, "h-delivered", dests, 1, &dup, &e);
	ok(!dup, "housekeeping forgot delivered");
	put_one(s, "h-dead", dests, 1, &dup, &e);
	ok(dup, "housekeeping kept dead");
	spool_free(s);
}

/* A spool file renamed while open: the next put opens a new file at the
 * configured path, and the workers follow. */
static void
test_moved_file(void)
{
	static const char *const dests[] = { "a" };
	struct spool_item items[4];
	int64_t next;
	char path[256], moved[300];
	struct timespec wait = { 0, 10000000 };
	struct spool *s;
	size_t n = 0;
	struct err e;
	bool dup;
	int result, i;

	test_path(path, sizeof(path), "moved.db");
	snprintf(moved, sizeof(moved), "%s.old", path);
	s = spool_open_at(path, 3600, &result, &e);
	put_one(s, "before-move", dests, 1, &dup, &e);
	spool_next_due(s, "a", spool_now_ms(), 4, items, &n, &next, &e);
	spool_items_free(items, n);
	rename(path, moved);
	is_int(put_one(s, "after-move", dests, 1, &dup, &e), RESULT_OK,
	       "moved put");
	ok(path_exists(path), "moved new file created");
	spool_next_due(s, "a", spool_now_ms(), 4, items, &n, &next, &e);
	is_int(n, 1, "moved workers see new file");
	is_str(n > 0 ? items[0].alert_id : NULL, "after-move",
	       "moved due alert");
	spool_items_free(items, n);
	is_int(sql_int(moved, "SELECT COUNT(*) FROM alerts"), 1,
	       "moved old file kept");

	/* This time a worker notices first and the writer reconnects. */
	snprintf(moved, sizeof(moved), "%s.second", path);
	rename(path, moved);
	result = spool_next_due(s, "a", spool_now_ms(), 4, items, &n, &next,
				&e);
	is_int(result, RESULT_RETRY, "moved worker waits");
	is_str(e.code, "spool_unavailable", "moved worker code");
	for (i = 0; i < 200 && result != RESULT_OK; i++) {
		nanosleep(&wait, NULL);
		result = spool_next_due(s, "a", spool_now_ms(), 4, items, &n,
					&next, &e);
	}
	is_int(result, RESULT_OK, "moved worker reopens");
	is_int(n, 0, "moved worker new file empty");
	spool_free(s);
	is_int(sql_int(moved, "SELECT COUNT(*) FROM alerts"), 1,
	       "moved second file kept");
}

struct cli_case {
	const char *name;
	const char *args[6];
	int status;
	const char *stdout_has;		/* NULL: not checked */
	const char *stdout_lacks;	/* NULL: not checked */
	const char *stderr_has;		/* NULL: not checked */
};

struct cli_run {
	const char *spool_path;
	const struct cli_case *c;
	const char *out_path;
};

static void
child_cli(int fd, void *arg)
{
	struct cli_run *run = arg;
	struct relay_config cfg;
	char *argv[7], path[256], err_path[256];
	int argc = 0, out, errors, status;

	memset(&cfg, 0, sizeof(cfg));
	snprintf(path, sizeof(path), "%s", run->spool_path);
	cfg.spool_path = path;
	while (argc < 6 && run->c->args[argc] != NULL) {
		argv[argc] = (char *)run->c->args[argc];
		argc++;
	}
	argv[argc] = NULL;
	snprintf(err_path, sizeof(err_path), "%s.err", run->out_path);
	out = open(run->out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	errors = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (out < 0 || errors < 0 || dup2(out, STDOUT_FILENO) < 0 ||
	    dup2(errors, STDERR_FILENO) < 0) {
		dprintf(fd, "cannot redirect the output");
		return;
	}
	status = spool_cli_main(&cfg, argc, argv);
	fflush(stdout);
	dprintf(fd, "%d", status);
}

static const struct cli_case cli_cases[] = {
	{ "list all", { "list", NULL }, 0, "cloudtrail:c-dead", NULL,
	  NULL },
	{ "list header", { "list", NULL }, 0, "ALERT_ID", NULL, NULL },
	{ "list dead", { "list", "dead", NULL }, 0, "HTTP 404",
	  "c-pending", NULL },
	{ "list one line error", { "list", "dead", NULL }, 0,
	  "Unknown Webhook second line", NULL, NULL },
	{ "list limit", { "list", "--limit", "1", NULL }, 0, NULL,
	  "c-pending", NULL },
	{ "list bad state", { "list", "lost", NULL }, 2, NULL, NULL,
	  "unexpected argument \"lost\"" },
	{ "list bad limit", { "list", "--limit", "x", NULL }, 2, NULL,
	  NULL, "invalid --limit" },
	{ "retry no row", { "retry", NULL }, 2, NULL, NULL, "needs a ROW" },
	{ "retry bad row", { "retry", "12x", NULL }, 2, NULL, NULL, NULL },
	{ "retry unknown destination",
	  { "retry", "--all", "--destination", "nope", NULL }, 2,
	  NULL, NULL, "not in the configuration" },
	{ "retry all", { "retry", "--all", NULL }, 0,
	  "1 dead delivery is pending again", NULL, NULL },
	{ "purge no unit", { "purge", "--older-than", "7", NULL }, 2, NULL,
	  NULL, "invalid duration \"7\"" },
	{ "purge no option", { "purge", NULL }, 2, NULL, NULL, NULL },
	{ "purge days", { "purge", "--older-than", "7d", NULL }, 0,
	  "removed 0 alerts", NULL, NULL },
	{ "unknown subcommand", { "frobnicate", NULL }, 2, NULL, NULL,
	  "unknown subcommand" },
	{ "no subcommand", { NULL }, 2, NULL, NULL, NULL },
};

static void
check_cli_case(const char *spool_path, const struct cli_case *c)
{
	char out_path[256], err_path[300], report[64], status_text[16];
	struct cli_run run = { spool_path, c, out_path };
	size_t len;
	char *output, *errors;

	test_path(out_path, sizeof(out_path), "cli.out");
	is_int(run_child(child_cli, &run, report, sizeof(report)), 0,
	       "cli %s child exit", c->name);
	snprintf(status_text, sizeof(status_text), "%d", c->status);
	is_str(report, status_text, "cli %s status", c->name);
	output = read_file(out_path, &len);
	if (c->stdout_has != NULL)
		ok(output != NULL && strstr(output, c->stdout_has) != NULL,
		   "cli %s output", c->name);
	if (c->stdout_lacks != NULL)
		ok(output != NULL && strstr(output, c->stdout_lacks) == NULL,
		   "cli %s output lacks", c->name);
	free(output);
	snprintf(err_path, sizeof(err_path), "%s.err", out_path);
	errors = read_file(err_path, &len);
	if (c->stderr_has != NULL)
		ok(errors != NULL && strstr(errors, c->stderr_has) != NULL,
		   "cli %s error output", c->name);
	free(errors);
}

static void
test_cli(void)
{
	static const char *const dests[] = { "discord" };
	static const struct cli_case missing = {
		"missing spool", { "list", NULL }, 1, NULL, NULL,
		"no spool at",
	};
	char path[256];
	struct spool *s;
	struct err e;
	bool dup;
	size_t i;
	int result;

	test_path(path, sizeof(path), "cli.db");
	s = spool_open_at(path, 3600, &result, &e);
	put_one(s, "cloudtrail:c-dead", dests, 1, &dup, &e);
	put_one(s, "cloudtrail:c-pending", dests, 1, &dup, &e);
	{
		int64_t row = 1;

		spool_mark_dead(s, "discord", &row, 1, spool_now_ms(), 1,
				"HTTP 404: Unknown Webhook\nsecond line", &e);
	}
	spool_free(s);

	for (i = 0; i < sizeof(cli_cases) / sizeof(cli_cases[0]); i++)
		check_cli_case(path, &cli_cases[i]);

	test_path(path, sizeof(path), "no-such.db");
	check_cli_case(path, &missing);
	ok(!path_exists(path), "cli missing spool not created");
}

static int
remove_entry(const char *path, const struct stat *st, int flag,
	     struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* A second spool on the same file is rejected while the first holds it,
 * and accepted once the first is freed. */
static void
test_second_owner(void)
{
	struct spool *first, *second;
	char path[256];
	struct err e;
	int result;

	test_path(path, sizeof(path), "owned.db");
	first = spool_open_at(path, 3600, &result, &e);
	is_int(result, RESULT_OK, "owner first starts");
	second = spool_open_at(path, 3600, &result, &e);
	is_int(result, RESULT_REJECT, "owner second rejected");
	is_str(e.code, "spool_locked", "owner second code");
	ok(strstr(e.msg, "another snsrelay process") != NULL,
	   "owner second message");
	spool_free(second);
	spool_free(first);

	second = spool_open_at(path, 3600, &result, &e);
	is_int(result, RESULT_OK, "owner after first freed");
	spool_free(second);
}

int
main(void)
{
	if (mkdtemp(tmp_root) == NULL)
		skip_all("cannot create a temporary folder: %s",
			 strerror(errno));

	test_schema();
	test_flow();
	test_dedup();
	test_group_commit();
	test_independence();
	test_next_due_order();
	test_retry_dead();
	test_purge();
	test_disabled();
	test_disabled_outside_change();
	test_no_open_snapshot();
	test_failed_step_resets();
	test_writer_checkpoint();
	test_worker_checkpoint();
	test_busy_recovery();
	test_foreign_files();
	test_corrupt_spool();
	test_missing_folder();
	test_create_parent();
	test_readonly_folder();
	test_full_disk();
	test_restart();
	test_second_owner();
	test_housekeeping();
	test_moved_file();
	test_cli();

	nftw(tmp_root, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	return tap_done();
}
