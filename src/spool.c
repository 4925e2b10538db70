/*
 * The durable spool.  Two SQLite connections share the file.  The writer
 * connection belongs to the writer thread, which stores the alerts of
 * every queued spool_put in one transaction.  The worker connection,
 * serialised by a mutex, serves the delivery workers and the command
 * line.  Both are opened again after an error that may have left them
 * unusable.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <sqlite3.h>

#include "snsrelay/log.h"
#include "snsrelay/spool.h"

/* "SNSR" in the database header, so that other files are recognised. */
#define SPOOL_APPLICATION_ID 0x534E5352
#define SPOOL_SCHEMA_VERSION 1
/* How long a connection waits for a lock held by another one. */
#define SPOOL_BUSY_TIMEOUT_MS 5000
#define SPOOL_REOPEN_INTERVAL_MS 1000
/* With no alert to store, how often the writer tries again to open a
 * file it could not open, so that /readyz recovers once the folder or
 * the disk is back, even while a load balancer sends no traffic. */
#define SPOOL_IDLE_REOPEN_MS 5000
#define SPOOL_HOUSEKEEPING_INTERVAL_MS 60000
#define SPOOL_FAILURE_LOG_INTERVAL_MS 10000
/* Bytes of a path quoted in an error message, so the advice fits. */
#define SPOOL_PATH_SHOWN "100"
/*
 * Growth of the WAL, in pages, after which a connection runs a PASSIVE
 * checkpoint.  It replaces SQLite's automatic checkpoint on both
 * connections, whose default limit it keeps.  The automatic one runs
 * inside the COMMIT that reaches the limit, and every put of a batch
 * waits for the writer's COMMIT, so the writer's checkpoints run on a
 * thread of their own instead.  The automatic one also runs again after
 * every commit until SQLite can write the WAL from its beginning again,
 * which needs the whole WAL copied and no other connection reading.
 * Run after the batch, that rule made 143 checkpoints instead of 13 for
 * the 3000 alerts of the callgrind benchmark, so each connection here
 * waits until the WAL has grown by as much again (see spool_wal_due).
 */
#define SPOOL_CHECKPOINT_PAGES 1000
/*
 * WAL pages at which the writer checkpoints on its own connection,
 * between batches.  The checkpoint thread copies the WAL while the
 * writer keeps appending, so under constant traffic it never finds the
 * whole WAL copied, and SQLite never starts the WAL again from its
 * beginning.  Between batches nothing appends, most frames are copied
 * already, and the next commit starts the WAL again: this bounds it near
 * 16 MiB with 4 KiB pages.
 */
#define SPOOL_WAL_RESET_PAGES (4 * SPOOL_CHECKPOINT_PAGES)
/* Maximum URLs whose SHA-256 is cached.  With more destinations than
 * this, the lookups stay correct but hash a URL more often. */
#define SPOOL_URL_HASHES 16

enum spool_open_mode {
	SPOOL_OPEN_CREATE,	/* writer: create a new file, full check */
	SPOOL_OPEN_WORKER,	/* existing file, header checks only */
	SPOOL_OPEN_COMMAND,	/* existing file, full check */
};

enum spool_fault {
	SPOOL_FAULT_FULL,
	SPOOL_FAULT_LOCKED,
	SPOOL_FAULT_CORRUPT,
	SPOOL_FAULT_UNAVAILABLE,
	SPOOL_FAULT_OTHER,
};

/*
 * Statements that run for every alert.  Each connection prepares them
 * once (SQLITE_PREPARE_PERSISTENT) and finalizes them when it closes,
 * because parsing them again for every use cost more than running them.
 */
enum spool_stmt_id {
	SPOOL_STMT_BEGIN,
	SPOOL_STMT_COMMIT,
	SPOOL_STMT_INSERT_ALERT,
	SPOOL_STMT_INSERT_DELIVERY,
	SPOOL_STMT_DUE_ITEMS,
	SPOOL_STMT_NEXT_LATER,
	SPOOL_STMT_MARK_DELIVERED,
	SPOOL_STMT_MARK_RETRY,
	SPOOL_STMT_MARK_DEAD,
	SPOOL_STMT_DISABLED,
	SPOOL_STMT_COUNT
};

/* Checkpoint state of one connection. */
struct spool_wal {
	int pages;			/* WAL pages after its last commit */
	int checkpointed;		/* WAL pages at its last checkpoint */
	int64_t logged_ms;		/* last spool_wal_checkpoint_failed */
};

/* A URL and the hex SHA-256 that the destinations table stores for it. */
struct spool_url_hash {
	char *url;
	char hex[65];
};

/* One spool_put waiting for the writer, on the caller's stack. */
struct spool_request {
	const char *alert_id;
	const char *message_id;
	const char *topic_arn;
	const char *document;
	const char *const *destinations;
	size_t destination_count;
	bool duplicate;
	bool done;
	/* Signalled when done: each caller wakes for its own batch only,
	 * not for every commit while its request waits in the queue. */
	pthread_cond_t wake;
	int result;
	struct err err;
	struct spool_request *next;
};

struct spool {
	char *path;
	bool create_parent;
	unsigned dedup_window_s;
	bool command_mode;		/* opened by spool_open_existing */
	int lock_fd;			/* PATH.lock, held with flock; -1 */

	/* Guards the queue and the writer state that callers read. */
	pthread_mutex_t lock;
	pthread_cond_t queued;		/* the writer waits for requests */
	struct spool_request *head;
	struct spool_request *tail;
	bool running;			/* the writer thread exists */
	bool stopping;
	bool writer_open;		/* wdb is open */
	bool reconnect;			/* a worker found the file moved */
	int64_t open_tried_ms;		/* monotonic time of the last open */
	struct err open_err;		/* why wdb is not open */
	bool write_ok;			/* the last batch committed */
	int64_t probed_ms;		/* last spool_writer_probe write */
	struct err write_err;		/* why it did not */
	struct spool_stats stats;
	pthread_t writer;

	/* Owned by the writer thread while it runs. */
	sqlite3 *wdb;
	sqlite3_stmt *wdb_stmts[SPOOL_STMT_COUNT];
	struct spool_wal wdb_wal;
	bool housekept;
	int64_t housekept_ms;		/* monotonic time of the last run */
	int64_t failure_logged_ms;
	unsigned long failures_unlogged;
	unsigned long failures_since_ok;

	/* The worker connection, and the mutex that serialises its users. */
	pthread_mutex_t worker_lock;
	sqlite3 *rdb;
	sqlite3_stmt *rdb_stmts[SPOOL_STMT_COUNT];
	struct spool_wal rdb_wal;
	struct spool_url_hash url_hashes[SPOOL_URL_HASHES];
	unsigned url_hash_next;		/* slot that the next miss replaces */

	/* The checkpoint thread: see spool_checkpointer_main.  The flags
	 * are guarded by lock, cdb and cdb_wal belong to the thread. */
	pthread_t checkpointer;
	pthread_cond_t checkpoint_requested_cond;
	bool checkpointer_running;
	bool checkpoint_requested;
	sqlite3 *cdb;
	struct spool_wal cdb_wal;
};

static const char spool_schema_sql[] =
	"CREATE TABLE meta ("
	" key TEXT PRIMARY KEY,"
	" value TEXT NOT NULL);"
	"INSERT INTO meta (key, value) VALUES ('schema_version', '1');"
	"CREATE TABLE alerts ("
	" row INTEGER PRIMARY KEY AUTOINCREMENT,"
	" alert_id TEXT NOT NULL UNIQUE,"
	" message_id TEXT,"
	" topic_arn TEXT,"
	" received_ms INTEGER NOT NULL,"
	" document TEXT NOT NULL);"
	"CREATE INDEX alerts_received ON alerts (received_ms);"
	"CREATE TABLE deliveries ("
	" alert_row INTEGER NOT NULL"
	"  REFERENCES alerts (row) ON DELETE CASCADE,"
	" destination TEXT NOT NULL,"
	" state TEXT NOT NULL"
	"  CHECK (state IN ('pending', 'delivered', 'dead')),"
	" attempts INTEGER NOT NULL DEFAULT 0,"
	" next_attempt_ms INTEGER NOT NULL,"
	" last_error TEXT,"
	" updated_ms INTEGER NOT NULL,"
	" PRIMARY KEY (alert_row, destination)) WITHOUT ROWID;"
	"CREATE INDEX deliveries_due"
	" ON deliveries (destination, state, next_attempt_ms);"
	/* Walks a destination's pending deliveries in arrival order, so a
	 * worker's next batch costs no sort of the whole backlog. */
	"CREATE INDEX deliveries_queue"
	" ON deliveries (destination, state, alert_row, next_attempt_ms);"
	"CREATE INDEX deliveries_state ON deliveries (state);"
	"CREATE TABLE destinations ("
	" name TEXT NOT NULL,"
	" url_hash TEXT NOT NULL,"
	" disabled_reason TEXT NOT NULL,"
	" disabled_ms INTEGER NOT NULL,"
	" PRIMARY KEY (name, url_hash));";

static const char *const spool_stmt_sql[SPOOL_STMT_COUNT] = {
	[SPOOL_STMT_BEGIN] = "BEGIN IMMEDIATE",
	[SPOOL_STMT_COMMIT] = "COMMIT",
	[SPOOL_STMT_INSERT_ALERT] =
		"INSERT INTO alerts"
		" (alert_id, message_id, topic_arn, received_ms, document)"
		" VALUES (?1, ?2, ?3, ?4, ?5)"
		" ON CONFLICT (alert_id) DO NOTHING",
	[SPOOL_STMT_INSERT_DELIVERY] =
		"INSERT INTO deliveries (alert_row, destination, state,"
		" attempts, next_attempt_ms, updated_ms)"
		" VALUES (?1, ?2, 'pending', 0, ?3, ?3) ON CONFLICT DO NOTHING",
	[SPOOL_STMT_DUE_ITEMS] =
		"SELECT a.row, a.alert_id, a.document, a.received_ms,"
		" d.attempts FROM deliveries AS d"
		" INDEXED BY deliveries_queue"
		" JOIN alerts AS a ON a.row = d.alert_row"
		" WHERE d.destination = ?1 AND d.state = 'pending'"
		" AND d.next_attempt_ms <= ?2 ORDER BY d.alert_row LIMIT ?3",
	[SPOOL_STMT_NEXT_LATER] =
		"SELECT MIN(next_attempt_ms) FROM deliveries"
		" WHERE destination = ?1 AND state = 'pending'"
		" AND next_attempt_ms > ?2",
	/* The updates take ?1 the row, ?2 the destination, then their own
	 * values (see spool_update_rows). */
	[SPOOL_STMT_MARK_DELIVERED] =
		"UPDATE deliveries SET state = 'delivered',"
		" attempts = attempts + 1, updated_ms = ?3, last_error = NULL"
		" WHERE alert_row = ?1 AND destination = ?2"
		" AND state = 'pending'",
	[SPOOL_STMT_MARK_RETRY] =
		"UPDATE deliveries SET attempts = attempts + 1,"
		" updated_ms = ?3, next_attempt_ms = ?4, last_error = ?5"
		" WHERE alert_row = ?1 AND destination = ?2"
		" AND state = 'pending'",
	[SPOOL_STMT_MARK_DEAD] =
		"UPDATE deliveries SET state = 'dead', updated_ms = ?3,"
		" last_error = ?4, attempts = MAX(attempts, ?5)"
		" WHERE alert_row = ?1 AND destination = ?2"
		" AND state = 'pending'",
	[SPOOL_STMT_DISABLED] =
		"SELECT disabled_reason FROM destinations"
		" WHERE name = ?1 AND url_hash = ?2",
};

/* Alerts past the dedup window that every destination has taken. */
static const char spool_housekeeping_sql[] =
	"DELETE FROM alerts WHERE received_ms < ?1 AND NOT EXISTS"
	" (SELECT 1 FROM deliveries WHERE alert_row = alerts.row"
	" AND state <> 'delivered')";

int64_t
spool_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t
spool_monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ------------------------------------------------------------ errors */

static enum spool_fault
spool_fault_of(int rc, int sys_errno)
{
	switch (rc & 0xff) {
	case SQLITE_FULL:
		return SPOOL_FAULT_FULL;
	case SQLITE_IOERR:
		/* A write beyond RLIMIT_FSIZE fails with EFBIG, which
		 * means a full disk to the spool. */
		if (sys_errno == EFBIG || sys_errno == ENOSPC ||
		    sys_errno == EDQUOT)
			return SPOOL_FAULT_FULL;
		return SPOOL_FAULT_OTHER;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return SPOOL_FAULT_LOCKED;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		return SPOOL_FAULT_CORRUPT;
	case SQLITE_CANTOPEN:
	case SQLITE_READONLY:
	case SQLITE_PERM:
		return SPOOL_FAULT_UNAVAILABLE;
	default:
		return SPOOL_FAULT_OTHER;
	}
}

/* True when the file at path (or its WAL or rollback journal) has
 * reached RLIMIT_FSIZE.  A write beyond the limit fails with EFBIG, but
 * SQLite 3.40 reports the failed COMMIT as SQLITE_IOERR_WRITE without
 * keeping that errno, so the sizes are checked instead. */
static bool
spool_at_size_limit(const char *path)
{
	static const char *const suffixes[] = { "", "-wal", "-journal" };
	char name[4200];
	struct rlimit limit;
	struct stat st;
	size_t i;

	if (getrlimit(RLIMIT_FSIZE, &limit) != 0 ||
	    limit.rlim_cur == RLIM_INFINITY)
		return false;
	for (i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		snprintf(name, sizeof(name), "%s%s", path, suffixes[i]);
		if (stat(name, &st) == 0 &&
		    (rlim_t)st.st_size >= limit.rlim_cur)
			return true;
	}
	return false;
}

static void
spool_describe_fault(const struct spool *s, enum spool_fault fault,
		     const char *detail, int sys_errno, struct err *e)
{
	switch (fault) {
	case SPOOL_FAULT_FULL:
		err_set(e, "spool_full", "disk full writing the spool at "
			"%." SPOOL_PATH_SHOWN "s; free space, SNS will retry",
			s->path);
		break;
	case SPOOL_FAULT_LOCKED:
		err_set(e, "spool_failed", "the spool %." SPOOL_PATH_SHOWN
			"s stayed locked by another connection for %d s (%s); "
			"look for a long-running 'snsrelay spool' command or "
			"a second snsrelay on the same file",
			s->path, SPOOL_BUSY_TIMEOUT_MS / 1000, detail);
		break;
	case SPOOL_FAULT_CORRUPT:
		err_set(e, "spool_corrupt", "the spool %." SPOOL_PATH_SHOWN
			"s is corrupt (%s); snsrelay leaves it as it is: stop "
			"snsrelay, move the file aside and start again",
			s->path, detail);
		break;
	case SPOOL_FAULT_UNAVAILABLE:
		err_set(e, "spool_unavailable", "cannot open the spool %."
			SPOOL_PATH_SHOWN "s (%s); give the snsrelay user write "
			"access to the file and its folder, or mount the "
			"volume", s->path,
			sys_errno != 0 ? strerror(sys_errno) : detail);
		break;
	case SPOOL_FAULT_OTHER:
		err_set(e, "spool_failed", "spool %." SPOOL_PATH_SHOWN
			"s failed: %s", s->path, detail);
		break;
	}
}

static enum spool_fault
spool_fault(const struct spool *s, sqlite3 *db, int rc)
{
	enum spool_fault fault;

	fault = spool_fault_of(rc, db != NULL ? sqlite3_system_errno(db) : 0);
	if (fault == SPOOL_FAULT_OTHER && (rc & 0xff) == SQLITE_IOERR &&
	    spool_at_size_limit(s->path))
		fault = SPOOL_FAULT_FULL;
	return fault;
}

/*
 * Fills e for the SQLite result rc that db returned last.  Call it
 * before any other call on db, which would replace the message.  Returns
 * RESULT_REJECT for a corrupt file, else RESULT_RETRY.
 */
static int
spool_set_error(const struct spool *s, sqlite3 *db, int rc, struct err *e)
{
	int sys_errno = db != NULL ? sqlite3_system_errno(db) : 0;
	const char *detail = db != NULL ? sqlite3_errmsg(db) :
			     sqlite3_errstr(rc);
	enum spool_fault fault = spool_fault(s, db, rc);

	spool_describe_fault(s, fault, detail, sys_errno, e);
	return fault == SPOOL_FAULT_CORRUPT ? RESULT_REJECT : RESULT_RETRY;
}

/* True when a connection that returned rc should be closed and opened
 * again: a full disk or a lock leaves it usable. */
static bool
spool_error_loses_connection(const struct spool *s, sqlite3 *db, int rc)
{
	enum spool_fault fault;

	if (rc == SQLITE_OK || rc == SQLITE_ROW || rc == SQLITE_DONE)
		return false;
	fault = spool_fault(s, db, rc);
	if (fault == SPOOL_FAULT_FULL || fault == SPOOL_FAULT_LOCKED)
		return false;
	return (rc & 0xff) != SQLITE_NOMEM && (rc & 0xff) != SQLITE_MISUSE;
}

/* ------------------------------------------------- statement helpers */

/* Binds parameters first, first + 1, ... from ap, one per letter of
 * types: 't' a string (NULL binds NULL), 'i' an int64_t.  A failure
 * clears every binding, because cached statements are kept and their
 * strings point into the caller's memory.  Unlike a reset, clearing
 * keeps the connection's error message. */
static int
spool_vbind(sqlite3_stmt *st, int first, const char *types, va_list ap)
{
	int rc = SQLITE_OK;
	int i;

	for (i = 0; rc == SQLITE_OK && types[i] != '\0'; i++) {
		if (types[i] == 'i') {
			rc = sqlite3_bind_int64(st, first + i,
						va_arg(ap, int64_t));
		} else {
			const char *text = va_arg(ap, const char *);

			rc = text == NULL ? sqlite3_bind_null(st, first + i) :
			     sqlite3_bind_text(st, first + i, text, -1,
					       SQLITE_STATIC);
		}
	}
	if (rc != SQLITE_OK)
		(void)sqlite3_clear_bindings(st);
	return rc;
}

static int
spool_bind(sqlite3_stmt *st, int first, const char *types, ...)
{
	va_list ap;
	int rc;

	va_start(ap, types);
	rc = spool_vbind(st, first, types, ap);
	va_end(ap);
	return rc;
}

static int
spool_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st)
{
	*st = NULL;
	return sqlite3_prepare_v2(db, sql, -1, st, NULL);
}

/* Finalizes st after its error was handled.  The result only repeats
 * the last step's error, so it is not checked. */
static void
spool_finalize(sqlite3_stmt *st)
{
	(void)sqlite3_finalize(st);
}

/* Steps st to its end and resets it, for statements returning no rows. */
static int
spool_step_done(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	if (rc == SQLITE_ROW)
		rc = SQLITE_MISUSE;
	if (rc != SQLITE_DONE)
		return rc;
	return sqlite3_reset(st);
}

/* Runs one statement that returns no rows, binding parameters from 1.
 * *changes (may be NULL) receives the rows it changed. */
static int
spool_run(sqlite3 *db, int64_t *changes, const char *sql,
	  const char *types, ...)
{
	sqlite3_stmt *st = NULL;
	va_list ap;
	int rc;

	rc = spool_prepare(db, sql, &st);
	if (rc == SQLITE_OK) {
		va_start(ap, types);
		rc = spool_vbind(st, 1, types, ap);
		va_end(ap);
	}
	if (rc == SQLITE_OK)
		rc = spool_step_done(st);
	if (rc == SQLITE_OK && changes != NULL)
		*changes = sqlite3_changes(db);
	spool_finalize(st);
	return rc;
}

/* Runs sql and stores the first column of its first row in *value.
 * Returns SQLITE_OK, SQLITE_DONE when there is no row, or an error. */
static int
spool_query_int(sqlite3 *db, const char *sql, int64_t *value)
{
	sqlite3_stmt *st = NULL;
	int rc;

	rc = spool_prepare(db, sql, &st);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*value = sqlite3_column_int64(st, 0);
		rc = SQLITE_OK;
	}
	spool_finalize(st);
	return rc;
}

/* Like spool_query_int for a text result, copied into out. */
static int
spool_query_text(sqlite3 *db, const char *sql, char *out, size_t size)
{
	sqlite3_stmt *st = NULL;
	const unsigned char *text;
	int rc;

	rc = spool_prepare(db, sql, &st);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		text = sqlite3_column_text(st, 0);
		snprintf(out, size, "%s", text ? (const char *)text : "");
		rc = SQLITE_OK;
	}
	spool_finalize(st);
	return rc;
}

static int
spool_exec(sqlite3 *db, const char *sql)
{
	return sqlite3_exec(db, sql, NULL, NULL, NULL);
}

/* Sets *st to the cached statement id of db, preparing it on first use.
 * A failed prepare leaves the cache slot empty, to be tried again. */
static int
spool_stmt(sqlite3 *db, sqlite3_stmt **cache, enum spool_stmt_id id,
	   sqlite3_stmt **st)
{
	int rc = SQLITE_OK;

	if (cache[id] == NULL)
		rc = sqlite3_prepare_v3(db, spool_stmt_sql[id], -1,
					SQLITE_PREPARE_PERSISTENT, &cache[id],
					NULL);
	*st = cache[id];
	return rc;
}

/*
 * Resets a cached statement after its use, so that it keeps no read
 * transaction open, and drops its bindings, which point into the
 * caller's memory.  After a failed step the reset sets that step's error
 * on the connection again, so the message stays the same.  Release each
 * statement right after its last step, because resetting a statement
 * that succeeded clears the message of a statement that failed later.
 */
static void
spool_stmt_release(sqlite3_stmt *st)
{
	if (st == NULL)
		return;
	(void)sqlite3_reset(st);
	(void)sqlite3_clear_bindings(st);
}

/* Steps a cached statement that returns no rows to its end, then
 * releases it, also after an error. */
static int
spool_stmt_exec(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	if (rc == SQLITE_DONE) {
		rc = sqlite3_reset(st);
	} else {
		if (rc == SQLITE_ROW)
			rc = SQLITE_MISUSE;
		(void)sqlite3_reset(st);
	}
	(void)sqlite3_clear_bindings(st);
	return rc;
}

/* Runs the cached statement id, which takes no parameters and returns no
 * rows: BEGIN IMMEDIATE or COMMIT. */
static int
spool_stmt_run(sqlite3 *db, sqlite3_stmt **cache, enum spool_stmt_id id)
{
	sqlite3_stmt *st;
	int rc;

	rc = spool_stmt(db, cache, id, &st);
	if (rc == SQLITE_OK)
		rc = spool_stmt_exec(st);
	return rc;
}

static void
spool_stmts_finalize(sqlite3_stmt **cache)
{
	int i;

	for (i = 0; i < SPOOL_STMT_COUNT; i++) {
		spool_finalize(cache[i]);
		cache[i] = NULL;
	}
}

/* Rolls back an open transaction after a failure.  Returns false when
 * the rollback failed too, so the connection should be closed. */
static bool
spool_rollback(sqlite3 *db)
{
	if (sqlite3_get_autocommit(db))
		return true;
	return spool_exec(db, "ROLLBACK") == SQLITE_OK;
}

static void
spool_db_close(sqlite3 *db)
{
	int rc;

	if (db == NULL)
		return;
	rc = sqlite3_close(db);
	if (rc != SQLITE_OK) {
		log_message(LOG_WARN, "spool_close_failed", "closing the "
			    "spool connection failed: %s; it closes once its "
			    "statements finish", sqlite3_errstr(rc));
		(void)sqlite3_close_v2(db);
	}
}

/* Closes the writer connection and finalizes its statements. */
static void
spool_close_writer(struct spool *s)
{
	spool_stmts_finalize(s->wdb_stmts);
	spool_db_close(s->wdb);
	s->wdb = NULL;
	memset(&s->wdb_wal, 0, sizeof(s->wdb_wal));
}

/* Closes the worker connection.  The caller must hold worker_lock. */
static void
spool_close_worker(struct spool *s)
{
	spool_stmts_finalize(s->rdb_stmts);
	spool_db_close(s->rdb);
	s->rdb = NULL;
	memset(&s->rdb_wal, 0, sizeof(s->rdb_wal));
}

/* True when the file db opened was renamed or deleted since. */
static bool
spool_db_moved(sqlite3 *db)
{
	int moved = 0;

	if (sqlite3_file_control(db, "main", SQLITE_FCNTL_HAS_MOVED,
				 &moved) != SQLITE_OK)
		return false;
	return moved != 0;
}

/* ---------------------------------------------------------- opening */

/* Checks that the folder of the spool exists, creating it when
 * create_parent is set. */
static int
spool_check_folder(const struct spool *s, struct err *e)
{
	char folder[4096];
	const char *slash = strrchr(s->path, '/');
	struct stat st;

	if (slash == NULL)
		return RESULT_OK;
	snprintf(folder, sizeof(folder), "%.*s",
		 slash == s->path ? 1 : (int)(slash - s->path), s->path);
	if (stat(folder, &st) == 0)
		return RESULT_OK;
	if (errno == ENOENT && s->create_parent &&
	    (mkdir(folder, 0700) == 0 || errno == EEXIST))
		return RESULT_OK;
	err_set(e, "spool_unavailable", "cannot open the spool %."
		SPOOL_PATH_SHOWN "s because its folder is not accessible "
		"(%s); create the folder or mount the volume", s->path,
		strerror(errno));
	return RESULT_RETRY;
}

/* The command line and the workers need a file that already exists. */
static int
spool_check_file(const struct spool *s, struct err *e)
{
	struct stat st;

	if (stat(s->path, &st) == 0)
		return RESULT_OK;
	err_set(e, "spool_unavailable", "no spool at %." SPOOL_PATH_SHOWN
		"s (%s); check spool_path, or start snsrelay once to create "
		"it", s->path, strerror(errno));
	return RESULT_RETRY;
}

static int
spool_db_quick_check(const struct spool *s, sqlite3 *db, struct err *e)
{
	char verdict[128];
	int rc;

	rc = spool_query_text(db, "PRAGMA quick_check(1)", verdict,
			      sizeof(verdict));
	if (rc != SQLITE_OK)
		return spool_set_error(s, db, rc, e);
	if (strcmp(verdict, "ok") == 0)
		return RESULT_OK;
	err_set(e, "spool_corrupt", "the spool %." SPOOL_PATH_SHOWN "s "
		"failed its integrity check (%.80s); snsrelay leaves it as "
		"it is: move it aside and start again", s->path, verdict);
	return RESULT_REJECT;
}

/* Checks that db is an snsrelay spool of the version this code reads. */
static int
spool_db_check(const struct spool *s, sqlite3 *db, enum spool_open_mode mode,
	       struct err *e)
{
	int64_t app_id = 0, version = 0;
	int rc;

	rc = spool_query_int(db, "PRAGMA application_id", &app_id);
	if (rc != SQLITE_OK)
		return spool_set_error(s, db, rc, e);
	if (app_id != SPOOL_APPLICATION_ID) {
		err_set(e, "spool_corrupt", "%." SPOOL_PATH_SHOWN "s is not "
			"an snsrelay spool (application_id %lld); snsrelay "
			"leaves it as it is: move it away or set spool_path "
			"to another file", s->path, (long long)app_id);
		return RESULT_REJECT;
	}
	rc = spool_query_int(db, "SELECT CAST(value AS INTEGER) FROM meta "
			     "WHERE key = 'schema_version'", &version);
	if (rc != SQLITE_OK && rc != SQLITE_DONE)
		return spool_set_error(s, db, rc, e);
	if (version != SPOOL_SCHEMA_VERSION) {
		err_set(e, "spool_corrupt", "the spool %." SPOOL_PATH_SHOWN
			"s has schema version %lld, but this snsrelay reads "
			"version %d; use the snsrelay that wrote it, or move "
			"the file away", s->path, (long long)version,
			SPOOL_SCHEMA_VERSION);
		return RESULT_REJECT;
	}
	if (mode == SPOOL_OPEN_WORKER)
		return RESULT_OK;
	return spool_db_quick_check(s, db, e);
}

/* Creates the schema in one transaction, unless another process
 * created it first. */
static int
spool_db_create(const struct spool *s, sqlite3 *db, struct err *e)
{
	char pragma[64];
	int64_t objects = 0;
	int rc, result;

	snprintf(pragma, sizeof(pragma), "PRAGMA application_id = %d",
		 SPOOL_APPLICATION_ID);
	/* A write transaction already counts page 1 of an empty file, so
	 * the check for a concurrent creator looks at the schema. */
	rc = spool_exec(db, "BEGIN IMMEDIATE");
	if (rc == SQLITE_OK)
		rc = spool_query_int(db, "SELECT COUNT(*) FROM sqlite_master",
				     &objects);
	if (rc == SQLITE_OK && objects > 0) {
		rc = spool_exec(db, "ROLLBACK");
		if (rc == SQLITE_OK)
			return spool_db_check(s, db, SPOOL_OPEN_CREATE, e);
	}
	if (rc == SQLITE_OK)
		rc = spool_exec(db, pragma);
	if (rc == SQLITE_OK)
		rc = spool_exec(db, spool_schema_sql);
	if (rc == SQLITE_OK)
		rc = spool_exec(db, "COMMIT");
	if (rc == SQLITE_OK)
		return RESULT_OK;
	result = spool_set_error(s, db, rc, e);
	spool_rollback(db);
	return result;
}

/* Creates the schema in a new file, or checks an existing one. */
static int
spool_db_identify(const struct spool *s, sqlite3 *db,
		  enum spool_open_mode mode, struct err *e)
{
	int64_t pages = 0;
	int rc;

	rc = spool_query_int(db, "PRAGMA page_count", &pages);
	if (rc != SQLITE_OK)
		return spool_set_error(s, db, rc, e);
	if (pages > 0)
		return spool_db_check(s, db, mode, e);
	if (mode == SPOOL_OPEN_CREATE)
		return spool_db_create(s, db, e);
	err_set(e, "spool_unavailable", "the spool %." SPOOL_PATH_SHOWN "s is "
		"empty; start snsrelay once to create it, or check "
		"spool_path", s->path);
	return RESULT_RETRY;
}

/* Sets the durability options.  It runs only once the file is known to
 * be a spool, because switching to WAL writes to the file. */
static int
spool_db_configure(const struct spool *s, sqlite3 *db, struct err *e)
{
	char mode[16];
	int rc;

	rc = spool_query_text(db, "PRAGMA journal_mode = WAL", mode,
			      sizeof(mode));
	if (rc != SQLITE_OK)
		return spool_set_error(s, db, rc, e);
	if (strcmp(mode, "wal") != 0) {
		err_set(e, "spool_failed", "cannot switch the spool %."
			SPOOL_PATH_SHOWN "s to WAL mode (journal mode %s); "
			"put it on a local file system", s->path, mode);
		return RESULT_RETRY;
	}
	/* The CHECK on deliveries.state stays on, although SQLite 3.40
	 * builds a temporary b-tree for it on every row that sets state
	 * (about a third of spool_mark_delivered's instructions).  A bad
	 * state must fail when written, not make the next open report the
	 * file as corrupt. */
	rc = spool_exec(db, "PRAGMA synchronous = FULL;"
			"PRAGMA foreign_keys = ON");
	if (rc != SQLITE_OK)
		return spool_set_error(s, db, rc, e);
	return RESULT_OK;
}

static int
spool_db_setup(const struct spool *s, sqlite3 *db, enum spool_open_mode mode,
	       struct err *e)
{
	int rc, result;

	rc = sqlite3_extended_result_codes(db, 1);
	if (rc == SQLITE_OK)
		rc = sqlite3_busy_timeout(db, SPOOL_BUSY_TIMEOUT_MS);
	if (rc != SQLITE_OK)
		return spool_set_error(s, db, rc, e);
	if (sqlite3_db_readonly(db, "main") == 1) {
		err_set(e, "spool_unavailable", "the spool %." SPOOL_PATH_SHOWN
			"s is read-only for this process; give the snsrelay "
			"user write access to the file and its folder",
			s->path);
		return RESULT_RETRY;
	}
	result = spool_db_identify(s, db, mode, e);
	if (result == RESULT_OK)
		result = spool_db_configure(s, db, e);
	return result;
}

/* Opens the spool file, checks it (or creates it in create mode) and
 * sets the connection options.  *out is NULL on failure. */
static int
spool_db_open(const struct spool *s, enum spool_open_mode mode,
	      sqlite3 **out, struct err *e)
{
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;
	sqlite3 *db = NULL;
	int rc, result;

	*out = NULL;
	if (mode == SPOOL_OPEN_CREATE)
		result = spool_check_folder(s, e);
	else
		result = spool_check_file(s, e);
	if (result != RESULT_OK)
		return result;

	if (mode == SPOOL_OPEN_CREATE)
		flags |= SQLITE_OPEN_CREATE;
	rc = sqlite3_open_v2(s->path, &db, flags, NULL);
	if (rc != SQLITE_OK)
		result = spool_set_error(s, db, rc, e);
	else
		result = spool_db_setup(s, db, mode, e);
	if (result != RESULT_OK)
		goto fail;
	*out = db;
	return RESULT_OK;
fail:
	spool_db_close(db);
	return result;
}

/* ----------------------------------------------------- life cycle */

static void spool_start_checkpointer(struct spool *s);
static void spool_stop_checkpointer(struct spool *s);

static int
spool_init_sync(struct spool *s)
{
	pthread_condattr_t attr;
	int rc;

	if (pthread_condattr_init(&attr) != 0)
		return -1;
	rc = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	if (rc == 0)
		rc = pthread_cond_init(&s->queued, &attr);
	pthread_condattr_destroy(&attr);
	if (rc != 0)
		return -1;
	if (pthread_cond_init(&s->checkpoint_requested_cond, NULL) != 0) {
		pthread_cond_destroy(&s->queued);
		return -1;
	}
	if (pthread_mutex_init(&s->lock, NULL) == 0) {
		if (pthread_mutex_init(&s->worker_lock, NULL) == 0)
			return 0;
		pthread_mutex_destroy(&s->lock);
	}
	pthread_cond_destroy(&s->checkpoint_requested_cond);
	pthread_cond_destroy(&s->queued);
	return -1;
}

struct spool *
spool_new(const struct spool_options *opts)
{
	struct spool *s = NULL;

	if (opts == NULL || opts->path == NULL)
		return NULL;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return NULL;
	s->path = strdup(opts->path);
	if (s->path == NULL || spool_init_sync(s) != 0)
		goto fail;
	s->create_parent = opts->create_parent;
	s->dedup_window_s = opts->dedup_window_s;
	s->lock_fd = -1;
	s->write_ok = true;
	err_clear(&s->open_err);
	err_clear(&s->write_err);
	return s;
fail:
	free(s->path);
	free(s);
	return NULL;
}

/* Records the outcome of an attempt to open the writer connection. */
static void
spool_note_open(struct spool *s, sqlite3 *db, const struct err *e)
{
	pthread_mutex_lock(&s->lock);
	s->open_tried_ms = spool_monotonic_ms();
	s->writer_open = db != NULL;
	if (db == NULL)
		s->open_err = *e;
	pthread_mutex_unlock(&s->lock);
}

static void spool_housekeep(struct spool *s);
static void spool_write_batch(struct spool *s,
			      struct spool_request *batch);
static void spool_writer_reconnect(struct spool *s);
static void spool_writer_retry_open(struct spool *s);
static void spool_writer_probe(struct spool *s);
static void spool_log_write_recovered(struct spool *s);
static void spool_writer_drop(struct spool *s, const struct err *e);

/* Waits for requests, or until housekeeping is due, or, while the file
 * cannot be opened, until the next attempt to open it. */
static void
spool_wait_for_requests(struct spool *s)
{
	struct timespec deadline;
	int64_t at = s->housekept_ms + SPOOL_HOUSEKEEPING_INTERVAL_MS;
	int64_t reopen = s->open_tried_ms + SPOOL_IDLE_REOPEN_MS;

	if (!s->writer_open && s->open_tried_ms != 0 && reopen < at)
		at = reopen;
	reopen = s->probed_ms + SPOOL_IDLE_REOPEN_MS;
	if (s->writer_open && !s->write_ok && reopen < at)
		at = reopen;

	deadline.tv_sec = (time_t)(at / 1000);
	deadline.tv_nsec = (long)(at % 1000) * 1000000;
	while (s->head == NULL && !s->stopping && !s->reconnect) {
		if (pthread_cond_timedwait(&s->queued, &s->lock,
					   &deadline) == ETIMEDOUT)
			return;
	}
}

static void *
spool_writer_main(void *arg)
{
	struct spool *s = arg;
	struct spool_request *batch;
	bool reconnect;

	/* Before the first batch, so that a restart drops expired
	 * alerts before it checks any alert_id against them. */
	spool_housekeep(s);
	pthread_mutex_lock(&s->lock);
	for (;;) {
		spool_wait_for_requests(s);
		batch = s->head;
		s->head = NULL;
		s->tail = NULL;
		if (batch == NULL && s->stopping)
			break;
		reconnect = s->reconnect;
		pthread_mutex_unlock(&s->lock);
		if (reconnect)
			spool_writer_reconnect(s);
		if (batch != NULL)
			spool_write_batch(s, batch);
		else if (s->wdb == NULL)
			spool_writer_retry_open(s);
		else
			spool_writer_probe(s);
		spool_housekeep(s);
		pthread_mutex_lock(&s->lock);
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

/*
 * Takes PATH.lock with flock, so that a second relay on the same spool
 * fails to start instead of delivering every alert a second time.  The
 * command line does not take it: it may run next to the daemon.  The
 * lock lasts until spool_free.
 */
static int
spool_lock(struct spool *s, struct err *e)
{
	char path[PATH_MAX];
	int fd, saved;

	if (s->lock_fd >= 0)
		return RESULT_OK;
	if (snprintf(path, sizeof(path), "%s.lock", s->path) >=
	    (int)sizeof(path)) {
		err_set(e, "spool_unavailable", "spool_path %.100s is too "
			"long for its lock file", s->path);
		return RESULT_REJECT;
	}
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		err_set(e, "spool_unavailable", "cannot create the spool lock "
			"file %.150s: %s", path, strerror(errno));
		return RESULT_RETRY;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		saved = errno;
		close(fd);
		if (saved == EWOULDBLOCK) {
			err_set(e, "spool_locked", "another snsrelay process "
				"uses the spool %.150s (lock %s.lock); stop it "
				"or give this relay its own spool_path",
				s->path, s->path);
			return RESULT_REJECT;
		}
		err_set(e, "spool_unavailable", "cannot lock %.150s: %s",
			path, strerror(saved));
		return RESULT_RETRY;
	}
	s->lock_fd = fd;
	return RESULT_OK;
}

/* Records the WAL size after each commit of the writer connection.  It
 * runs on the writer thread, after the commit has released its lock. */
static int
spool_writer_wal_hook(void *arg, sqlite3 *db, const char *schema, int pages)
{
	struct spool *s = arg;

	(void)db;
	(void)schema;
	s->wdb_wal.pages = pages;
	return SQLITE_OK;
}

/* Opens the writer's database and takes the lock; *db is NULL unless
 * both succeeded. */
static int
spool_open_locked(struct spool *s, sqlite3 **db, struct err *e)
{
	int result = spool_db_open(s, SPOOL_OPEN_CREATE, db, e);

	if (result == RESULT_OK)
		result = spool_lock(s, e);
	if (result != RESULT_OK && *db != NULL) {
		spool_db_close(*db);
		*db = NULL;
	}
	/* Replaces SQLite's automatic checkpoint on this connection: see
	 * SPOOL_CHECKPOINT_PAGES. */
	if (result == RESULT_OK)
		(void)sqlite3_wal_hook(*db, spool_writer_wal_hook, s);
	return result;
}

int
spool_start(struct spool *s, struct err *e)
{
	sqlite3 *db = NULL;
	int result, rc;

	err_clear(e);
	result = spool_open_locked(s, &db, e);
	s->wdb = db;
	spool_note_open(s, db, e);

	rc = pthread_create(&s->writer, NULL, spool_writer_main, s);
	if (rc != 0) {
		spool_close_writer(s);
		spool_note_open(s, NULL, e);
		err_set(e, "spool_failed", "cannot start the spool writer "
			"thread: %s", strerror(rc));
		return RESULT_REJECT;
	}
	pthread_mutex_lock(&s->lock);
	s->running = true;
	pthread_mutex_unlock(&s->lock);
	spool_start_checkpointer(s);
	return result;
}

int
spool_open_existing(struct spool *s, struct err *e)
{
	int result;

	err_clear(e);
	pthread_mutex_lock(&s->worker_lock);
	s->command_mode = true;
	result = RESULT_OK;
	if (s->rdb == NULL)
		result = spool_db_open(s, SPOOL_OPEN_COMMAND, &s->rdb, e);
	pthread_mutex_unlock(&s->worker_lock);
	return result;
}

void
spool_stop(struct spool *s)
{
	bool was_running;

	if (s == NULL)
		return;
	pthread_mutex_lock(&s->lock);
	was_running = s->running;
	s->stopping = true;
	pthread_cond_signal(&s->queued);
	pthread_mutex_unlock(&s->lock);
	if (was_running)
		pthread_join(s->writer, NULL);
	spool_stop_checkpointer(s);

	pthread_mutex_lock(&s->lock);
	s->running = false;
	s->writer_open = false;
	pthread_mutex_unlock(&s->lock);
	spool_close_writer(s);

	pthread_mutex_lock(&s->worker_lock);
	spool_close_worker(s);
	pthread_mutex_unlock(&s->worker_lock);
}

void
spool_free(struct spool *s)
{
	size_t i;

	if (s == NULL)
		return;
	spool_stop(s);
	pthread_mutex_destroy(&s->worker_lock);
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->queued);
	pthread_cond_destroy(&s->checkpoint_requested_cond);
	if (s->lock_fd >= 0)
		close(s->lock_fd);
	for (i = 0; i < SPOOL_URL_HASHES; i++)
		free(s->url_hashes[i].url);
	free(s->path);
	free(s);
}

void
spool_get_stats(struct spool *s, struct spool_stats *stats)
{
	pthread_mutex_lock(&s->lock);
	*stats = s->stats;
	pthread_mutex_unlock(&s->lock);
}

bool
spool_ready(struct spool *s, struct err *why)
{
	bool ready;

	pthread_mutex_lock(&s->lock);
	ready = s->running && s->writer_open && s->write_ok;
	if (!ready && why != NULL) {
		if (!s->running)
			err_set(why, "spool_unavailable", "the spool writer "
				"is not running");
		else if (!s->writer_open)
			*why = s->open_err;
		else
			*why = s->write_err;
	}
	pthread_mutex_unlock(&s->lock);
	return ready;
}

/* ------------------------------------------------------- the writer */

/*
 * Closes both connections to a spool file that was renamed or deleted
 * while open, so that no connection to it remains when a file is opened
 * at the path again: connections to two files at one path would share
 * its -wal and -shm files.  SQLite does not checkpoint a moved file on
 * close, and opening a new file at the path deletes the WAL left there,
 * so the WAL is copied into the moved file first.
 */
static void
spool_close_moved(struct spool *s)
{
	int rc;

	log_message(LOG_WARN, "spool_file_moved", "the spool %s was renamed "
		    "or deleted while open; opening the file at that path "
		    "again", s->path);
	pthread_mutex_lock(&s->worker_lock);
	spool_close_worker(s);
	rc = sqlite3_wal_checkpoint_v2(s->wdb, "main",
				       SQLITE_CHECKPOINT_TRUNCATE, NULL,
				       NULL);
	if (rc != SQLITE_OK)
		log_message(LOG_ERROR, "spool_checkpoint_failed", "copying "
			    "the WAL into the moved spool %s failed: %s; its "
			    "latest alerts may be lost", s->path,
			    sqlite3_errmsg(s->wdb));
	spool_close_writer(s);
	pthread_mutex_unlock(&s->worker_lock);

	pthread_mutex_lock(&s->lock);
	s->writer_open = false;
	s->reconnect = false;
	pthread_mutex_unlock(&s->lock);
}

/* Opens the writer connection when it is closed, or when the file was
 * renamed or deleted under it. */
static int
spool_writer_open(struct spool *s, struct err *e)
{
	sqlite3 *db = NULL;
	int result;

	if (s->wdb != NULL && spool_db_moved(s->wdb))
		spool_close_moved(s);
	if (s->wdb != NULL)
		return RESULT_OK;
	result = spool_open_locked(s, &db, e);
	s->wdb = db;
	spool_note_open(s, db, e);
	return result;
}

/* Opens the file again after it could not be opened, with no batch
 * waiting.  A file that opens is ready to take alerts again. */
static void
spool_writer_retry_open(struct spool *s)
{
	struct err e;

	err_clear(&e);
	if (spool_writer_open(s, &e) != RESULT_OK)
		return;
	pthread_mutex_lock(&s->lock);
	s->write_ok = true;
	pthread_mutex_unlock(&s->lock);
	log_message(LOG_INFO, "spool_opened", "the spool %s is open again; "
		    "the relay takes alerts", s->path);
	s->failures_since_ok = 0;
}

/*
 * Commits one small row after a failed write (a full disk, for example)
 * while no batch waits.  /readyz then turns ready again once the disk has
 * room, even when a load balancer has taken the relay out and sends no
 * alert.  Failures are not logged again, because the failed batch was.
 */
static void
spool_writer_probe(struct spool *s)
{
	int64_t now = spool_monotonic_ms();
	bool failing;
	struct err e;
	int rc;

	pthread_mutex_lock(&s->lock);
	failing = !s->write_ok;
	pthread_mutex_unlock(&s->lock);
	if (!failing || now - s->probed_ms < SPOOL_IDLE_REOPEN_MS)
		return;
	s->probed_ms = now;
	rc = spool_exec(s->wdb, "BEGIN IMMEDIATE");
	if (rc == SQLITE_OK)
		rc = spool_run(s->wdb, NULL, "INSERT OR REPLACE INTO meta "
			       "(key, value) VALUES ('write_probe', ?1)", "i",
			       spool_now_ms());
	if (rc == SQLITE_OK)
		rc = spool_exec(s->wdb, "COMMIT");
	if (rc != SQLITE_OK) {
		if (!spool_rollback(s->wdb)) {
			err_set(&e, "spool_failed", "the spool %."
				SPOOL_PATH_SHOWN "s could not roll back a "
				"test write: %s", s->path,
				sqlite3_errstr(rc));
			spool_writer_drop(s, &e);
		}
		return;
	}
	pthread_mutex_lock(&s->lock);
	s->write_ok = true;
	pthread_mutex_unlock(&s->lock);
	spool_log_write_recovered(s);
}

/* Inserts one alert and, unless its alert_id is already stored, one
 * pending delivery per destination. */
static int
spool_insert_request(sqlite3 *db, sqlite3_stmt *alert_st,
		     sqlite3_stmt *delivery_st, struct spool_request *req,
		     int64_t now_ms)
{
	int64_t row;
	size_t i;
	int rc;

	rc = spool_bind(alert_st, 1, "tttit", req->alert_id,
			req->message_id, req->topic_arn, now_ms,
			req->document);
	if (rc == SQLITE_OK)
		rc = spool_stmt_exec(alert_st);
	if (rc != SQLITE_OK)
		return rc;
	req->duplicate = sqlite3_changes(db) == 0;
	if (req->duplicate)
		return SQLITE_OK;

	row = sqlite3_last_insert_rowid(db);
	for (i = 0; rc == SQLITE_OK && i < req->destination_count; i++) {
		rc = spool_bind(delivery_st, 1, "iti", row,
				req->destinations[i], now_ms);
		if (rc == SQLITE_OK)
			rc = spool_stmt_exec(delivery_st);
	}
	return rc;
}

/* Stores every request of batch in one transaction.  Returns the SQLite
 * result.  On failure nothing is stored, e contains the reason, and
 * *lost is set when the connection must be opened again. */
static int
spool_commit_batch(struct spool *s, struct spool_request *batch,
		   bool *lost, struct err *e)
{
	sqlite3_stmt *alert_st = NULL, *delivery_st = NULL;
	int64_t now_ms = spool_now_ms();
	struct spool_request *req;
	int rc;

	rc = spool_stmt_run(s->wdb, s->wdb_stmts, SPOOL_STMT_BEGIN);
	if (rc == SQLITE_OK)
		rc = spool_stmt(s->wdb, s->wdb_stmts, SPOOL_STMT_INSERT_ALERT,
				&alert_st);
	if (rc == SQLITE_OK)
		rc = spool_stmt(s->wdb, s->wdb_stmts,
				SPOOL_STMT_INSERT_DELIVERY, &delivery_st);
	for (req = batch; rc == SQLITE_OK && req != NULL; req = req->next)
		rc = spool_insert_request(s->wdb, alert_st, delivery_st, req,
					  now_ms);
	if (rc == SQLITE_OK)
		rc = spool_stmt_run(s->wdb, s->wdb_stmts, SPOOL_STMT_COMMIT);
	*lost = false;
	if (rc != SQLITE_OK) {
		spool_set_error(s, s->wdb, rc, e);
		*lost = spool_error_loses_connection(s, s->wdb, rc);
	}
	if (rc != SQLITE_OK && !spool_rollback(s->wdb))
		*lost = true;
	return rc;
}

static size_t
spool_batch_size(const struct spool_request *batch)
{
	size_t n = 0;

	for (; batch != NULL; batch = batch->next)
		n++;
	return n;
}

/* Logs a failed batch, at most one line per interval.  The next line
 * counts the failures that were not logged. */
static void
spool_log_write_failure(struct spool *s, size_t alerts, const struct err *e)
{
	int64_t now = spool_monotonic_ms();
	struct log_line line;

	s->failures_since_ok++;
	if (s->failure_logged_ms != 0 &&
	    now - s->failure_logged_ms < SPOOL_FAILURE_LOG_INTERVAL_MS) {
		s->failures_unlogged++;
		return;
	}
	log_begin(&line, LOG_ERROR, "spool_write_failed");
	log_str(&line, "path", s->path);
	log_str(&line, "code", e->code);
	log_str(&line, "reason", e->msg);
	log_int(&line, "alerts", (long long)alerts);
	if (s->failures_unlogged > 0)
		log_int(&line, "failures_not_logged",
			(long long)s->failures_unlogged);
	log_end(&line);
	s->failure_logged_ms = now;
	s->failures_unlogged = 0;
}

static void
spool_log_write_recovered(struct spool *s)
{
	struct log_line line;

	if (s->failures_since_ok == 0)
		return;
	log_begin(&line, LOG_INFO, "spool_write_recovered");
	log_str(&line, "path", s->path);
	log_int(&line, "failed_batches", (long long)s->failures_since_ok);
	log_end(&line);
	s->failures_since_ok = 0;
	s->failure_logged_ms = 0;
	s->failures_unlogged = 0;
}

/* Hands each waiter its result and updates the counters. */
static void
spool_finish_batch(struct spool *s, struct spool_request *batch,
		   int result, const struct err *e)
{
	struct spool_request *req, *next;

	pthread_mutex_lock(&s->lock);
	s->write_ok = result == RESULT_OK;
	if (result == RESULT_OK)
		s->stats.transactions++;
	else
		s->stats.failed_batches++;
	if (result != RESULT_OK && s->writer_open)
		s->write_err = *e;
	for (req = batch; req != NULL; req = next) {
		next = req->next;
		req->result = result;
		if (result != RESULT_OK)
			req->err = *e;
		else if (req->duplicate)
			s->stats.duplicates++;
		else
			s->stats.stored++;
		req->done = true;
		pthread_cond_signal(&req->wake);
	}
	pthread_mutex_unlock(&s->lock);
}

/* Closes the writer connection after an error that may have broken it,
 * so the next batch opens it again at once. */
static void
spool_writer_drop(struct spool *s, const struct err *e)
{
	spool_close_writer(s);
	pthread_mutex_lock(&s->lock);
	s->writer_open = false;
	s->open_tried_ms = 0;
	s->open_err = *e;
	pthread_mutex_unlock(&s->lock);
}

/*
 * Serves a worker's report of a moved file.  The flag that keeps the
 * workers from opening the path is cleared only once the writer holds
 * no connection to the moved file either.
 */
static void
spool_writer_reconnect(struct spool *s)
{
	struct err e;

	err_clear(&e);
	if (s->wdb != NULL && spool_db_moved(s->wdb)) {
		spool_writer_open(s, &e);
		return;
	}
	pthread_mutex_lock(&s->lock);
	s->reconnect = false;
	pthread_mutex_unlock(&s->lock);
}

/* True when no checkpoint failure of this connection was logged in the
 * last SPOOL_FAILURE_LOG_INTERVAL_MS; it then counts as logged now. */
static bool
spool_wal_failure_loggable(struct spool_wal *wal)
{
	int64_t now = spool_monotonic_ms();

	if (wal->logged_ms != 0 &&
	    now - wal->logged_ms < SPOOL_FAILURE_LOG_INTERVAL_MS)
		return false;
	wal->logged_ms = now;
	return true;
}

/* True when the WAL has grown by SPOOL_CHECKPOINT_PAGES since the last
 * checkpoint of this connection.  A WAL that SQLite started again from
 * its beginning counts from zero. */
static bool
spool_wal_due(struct spool_wal *wal)
{
	if (wal->pages < wal->checkpointed)
		wal->checkpointed = 0;
	return wal->pages >= wal->checkpointed + SPOOL_CHECKPOINT_PAGES;
}

/*
 * Copies the WAL back into the database with a PASSIVE checkpoint, which
 * copies what no reader still needs and waits for no lock, like SQLite's
 * automatic one.  Failures are logged at most once per
 * SPOOL_FAILURE_LOG_INTERVAL_MS for each connection.
 */
static void
spool_checkpoint(struct spool *s, sqlite3 *db, struct spool_wal *wal)
{
	int rc;

	wal->checkpointed = wal->pages;
	rc = sqlite3_wal_checkpoint_v2(db, "main", SQLITE_CHECKPOINT_PASSIVE,
				       NULL, NULL);
	if (rc == SQLITE_OK || (rc & 0xff) == SQLITE_BUSY ||
	    !spool_wal_failure_loggable(wal))
		return;
	log_message(LOG_WARN, "spool_wal_checkpoint_failed", "copying the WAL "
		    "of the spool %s into the database failed: %s; stored "
		    "alerts are safe in the WAL, which grows until a "
		    "checkpoint succeeds", s->path, sqlite3_errmsg(db));
}

/* Opens the checkpoint thread's connection, or reopens it when the
 * file at the path was replaced.  Returns false when it is not open. */
static bool
spool_checkpointer_open(struct spool *s)
{
	int rc;

	if (s->cdb != NULL && spool_db_moved(s->cdb)) {
		spool_db_close(s->cdb);
		s->cdb = NULL;
	}
	if (s->cdb != NULL)
		return true;
	rc = sqlite3_open_v2(s->path, &s->cdb, SQLITE_OPEN_READWRITE, NULL);
	/* A checkpoint syncs the database file before the WAL is reused
	 * only with synchronous on, so set it whatever SQLite's default. */
	if (rc == SQLITE_OK)
		rc = spool_exec(s->cdb, "PRAGMA synchronous = FULL");
	if (rc == SQLITE_OK)
		return true;
	if (spool_wal_failure_loggable(&s->cdb_wal))
		log_message(LOG_WARN, "spool_wal_checkpoint_failed",
			    "cannot open the spool %s for a checkpoint: %s; "
			    "the WAL grows until one succeeds", s->path,
			    sqlite3_errmsg(s->cdb));
	spool_db_close(s->cdb);
	s->cdb = NULL;
	return false;
}

/*
 * Runs the checkpoints that the writer requests, on a connection of its
 * own.  A PASSIVE checkpoint takes no lock that a commit needs, so the
 * writer goes on committing while the WAL is copied and the database
 * file synced.  On the writer thread the checkpoint delayed the next
 * batch by milliseconds, which showed in the p99 latency of SNS
 * requests.
 */
static void *
spool_checkpointer_main(void *arg)
{
	struct spool *s = arg;

	pthread_mutex_lock(&s->lock);
	for (;;) {
		while (!s->checkpoint_requested && !s->stopping)
			pthread_cond_wait(&s->checkpoint_requested_cond, &s->lock);
		if (s->stopping)
			break;
		s->checkpoint_requested = false;
		pthread_mutex_unlock(&s->lock);
		if (spool_checkpointer_open(s))
			spool_checkpoint(s, s->cdb, &s->cdb_wal);
		pthread_mutex_lock(&s->lock);
	}
	pthread_mutex_unlock(&s->lock);
	spool_db_close(s->cdb);
	s->cdb = NULL;
	return NULL;
}

/* Starts the checkpoint thread.  Without it the writer checkpoints
 * itself, as SQLite's automatic checkpoint would. */
static void
spool_start_checkpointer(struct spool *s)
{
	int rc = pthread_create(&s->checkpointer, NULL,
				spool_checkpointer_main, s);

	if (rc != 0) {
		log_message(LOG_WARN, "spool_checkpointer_failed", "cannot "
			    "start the spool's checkpoint thread: %s; the "
			    "writer checkpoints between batches instead",
			    strerror(rc));
		return;
	}
	pthread_mutex_lock(&s->lock);
	s->checkpointer_running = true;
	pthread_mutex_unlock(&s->lock);
}

/* Joins the checkpoint thread.  The caller has set stopping. */
static void
spool_stop_checkpointer(struct spool *s)
{
	bool was_running;

	pthread_mutex_lock(&s->lock);
	was_running = s->checkpointer_running;
	s->checkpointer_running = false;
	pthread_cond_signal(&s->checkpoint_requested_cond);
	pthread_mutex_unlock(&s->lock);
	if (was_running)
		pthread_join(s->checkpointer, NULL);
}

/* Hands a due checkpoint to the checkpoint thread, or runs it on the
 * writer's connection when that thread does not run or the WAL reached
 * SPOOL_WAL_RESET_PAGES. */
static void
spool_request_checkpoint(struct spool *s)
{
	bool handed = false;

	if (s->wdb_wal.pages >= SPOOL_WAL_RESET_PAGES) {
		spool_checkpoint(s, s->wdb, &s->wdb_wal);
		return;
	}
	s->wdb_wal.checkpointed = s->wdb_wal.pages;
	pthread_mutex_lock(&s->lock);
	if (s->checkpointer_running) {
		s->checkpoint_requested = true;
		pthread_cond_signal(&s->checkpoint_requested_cond);
		handed = true;
	}
	pthread_mutex_unlock(&s->lock);
	if (!handed)
		spool_checkpoint(s, s->wdb, &s->wdb_wal);
}

static void
spool_write_batch(struct spool *s, struct spool_request *batch)
{
	size_t alerts = spool_batch_size(batch);
	bool lost = false;
	struct err e;
	int result;

	err_clear(&e);
	result = spool_writer_open(s, &e);
	if (result == RESULT_OK &&
	    spool_commit_batch(s, batch, &lost, &e) != SQLITE_OK)
		result = RESULT_RETRY;
	if (result == RESULT_OK) {
		spool_log_write_recovered(s);
	} else {
		spool_log_write_failure(s, alerts, &e);
		/* The next test write waits a while, so that /readyz shows
		 * the failure to a load balancer before it can pass. */
		s->probed_ms = spool_monotonic_ms();
	}
	if (lost)
		spool_writer_drop(s, &e);
	spool_finish_batch(s, batch, result == RESULT_OK ? RESULT_OK :
			   RESULT_RETRY, &e);
	/* After the puts have their results, so that none waits for it. */
	if (s->wdb != NULL && spool_wal_due(&s->wdb_wal))
		spool_request_checkpoint(s);
}

/* Deletes alerts past the dedup window that every destination took, at
 * most once per interval. */
static void
spool_housekeep(struct spool *s)
{
	int64_t now = spool_monotonic_ms();
	int64_t cutoff, removed = 0;
	int rc;

	if (s->housekept &&
	    now - s->housekept_ms < SPOOL_HOUSEKEEPING_INTERVAL_MS)
		return;
	s->housekept = true;
	s->housekept_ms = now;
	if (s->wdb == NULL)
		return;
	cutoff = spool_now_ms() - (int64_t)s->dedup_window_s * 1000;
	rc = spool_run(s->wdb, &removed, spool_housekeeping_sql, "i", cutoff);
	if (rc != SQLITE_OK) {
		log_message(LOG_WARN, "spool_housekeeping_failed", "deleting "
			    "delivered alerts from the spool %s failed: %s; "
			    "trying again in a minute", s->path,
			    sqlite3_errmsg(s->wdb));
		return;
	}
	if (removed > 0)
		log_message(LOG_DEBUG, "spool_housekeeping", "deleted %lld "
			    "delivered alerts older than %u s",
			    (long long)removed, s->dedup_window_s);
}

/* Decides under s->lock whether a put may wait for the writer.  Returns
 * RESULT_OK, or the error that makes it fail at once. */
static int
spool_admit(struct spool *s, struct err *e)
{
	if (!s->running || s->stopping) {
		err_set(e, "spool_unavailable", "the spool %." SPOOL_PATH_SHOWN
			"s is not running (snsrelay is starting or "
			"stopping); SNS will retry", s->path);
		return RESULT_RETRY;
	}
	if (!s->writer_open && s->open_tried_ms != 0 &&
	    spool_monotonic_ms() - s->open_tried_ms <
	    SPOOL_REOPEN_INTERVAL_MS) {
		*e = s->open_err;
		return RESULT_RETRY;
	}
	return RESULT_OK;
}

int
spool_put(struct spool *s, const char *alert_id, const char *message_id,
	  const char *topic_arn, const char *document,
	  const char *const *destinations, size_t destination_count,
	  bool *duplicate, struct err *e)
{
	struct spool_request req;
	int result;

	*duplicate = false;
	if (alert_id == NULL || *alert_id == '\0' || document == NULL ||
	    (destination_count > 0 && destinations == NULL)) {
		err_set(e, "spool_invalid", "spool_put needs an alert_id and "
			"a document");
		return RESULT_REJECT;
	}
	memset(&req, 0, sizeof(req));
	req.alert_id = alert_id;
	req.message_id = message_id;
	req.topic_arn = topic_arn;
	req.document = document;
	req.destinations = destinations;
	req.destination_count = destination_count;
	if (pthread_cond_init(&req.wake, NULL) != 0) {
		err_set(e, "spool_failed", "cannot create a condition "
			"variable to wait for the commit");
		return RESULT_RETRY;
	}

	pthread_mutex_lock(&s->lock);
	result = spool_admit(s, e);
	if (result == RESULT_OK) {
		if (s->tail != NULL)
			s->tail->next = &req;
		else
			s->head = &req;
		s->tail = &req;
		s->stats.puts++;
		pthread_cond_signal(&s->queued);
		while (!req.done)
			pthread_cond_wait(&req.wake, &s->lock);
		result = req.result;
		if (result != RESULT_OK)
			*e = req.err;
	}
	pthread_mutex_unlock(&s->lock);
	pthread_cond_destroy(&req.wake);
	*duplicate = result == RESULT_OK && req.duplicate;
	return result;
}

/* ---------------------------------------------- the worker connection */

/* Asks the writer to close its connection to a moved file and open the
 * path again.  True while that is pending, when the worker connection
 * must not open the path itself. */
static bool
spool_worker_wait_reconnect(struct spool *s, bool moved, struct err *e)
{
	bool waiting;

	pthread_mutex_lock(&s->lock);
	if (moved && s->running && !s->stopping) {
		s->reconnect = true;
		pthread_cond_signal(&s->queued);
	}
	waiting = s->reconnect;
	pthread_mutex_unlock(&s->lock);
	if (waiting)
		err_set(e, "spool_unavailable", "the spool %." SPOOL_PATH_SHOWN
			"s was renamed or deleted while open; snsrelay is "
			"opening the file at that path again", s->path);
	return waiting;
}

/* Checkpoints after a commit of the worker connection: see
 * SPOOL_CHECKPOINT_PAGES.  It runs on the thread that committed, with
 * worker_lock held, after the commit has released its lock. */
static int
spool_worker_wal_hook(void *arg, sqlite3 *db, const char *schema, int pages)
{
	struct spool *s = arg;

	(void)schema;
	s->rdb_wal.pages = pages;
	if (spool_wal_due(&s->rdb_wal))
		spool_checkpoint(s, db, &s->rdb_wal);
	return SQLITE_OK;
}

/* Opens the worker connection.  The caller must hold worker_lock.  The
 * command line, which has no writer thread, keeps SQLite's automatic
 * checkpoint. */
static int
spool_worker_open(struct spool *s, enum spool_open_mode mode, struct err *e)
{
	int result = spool_db_open(s, mode, &s->rdb, e);

	if (result == RESULT_OK && mode == SPOOL_OPEN_WORKER)
		(void)sqlite3_wal_hook(s->rdb, spool_worker_wal_hook, s);
	return result;
}

/* Locks the worker connection, opening it when needed.  On failure the
 * lock is released. */
static int
spool_worker_acquire(struct spool *s, struct err *e)
{
	enum spool_open_mode mode;
	bool moved = false;
	int result;

	pthread_mutex_lock(&s->worker_lock);
	if (s->rdb != NULL && spool_db_moved(s->rdb)) {
		spool_close_worker(s);
		moved = true;
	}
	if (s->rdb != NULL)
		return RESULT_OK;
	if (spool_worker_wait_reconnect(s, moved, e)) {
		pthread_mutex_unlock(&s->worker_lock);
		return RESULT_RETRY;
	}
	mode = s->command_mode ? SPOOL_OPEN_COMMAND : SPOOL_OPEN_WORKER;
	result = spool_worker_open(s, mode, e);
	if (result != RESULT_OK)
		pthread_mutex_unlock(&s->worker_lock);
	return result;
}

/* Ends a use of the worker connection: on failure fills e (before any
 * other call replaces SQLite's message), then finalizes st, rolls back
 * an open transaction, closes the connection when the error may have
 * broken it, and unlocks. */
static int
spool_worker_end(struct spool *s, sqlite3_stmt *st, int rc, struct err *e)
{
	int result = RESULT_OK;
	bool lost = false;

	if (rc != SQLITE_OK) {
		spool_set_error(s, s->rdb, rc, e);
		result = RESULT_RETRY;
		lost = spool_error_loses_connection(s, s->rdb, rc);
	}
	spool_finalize(st);
	if (rc != SQLITE_OK && !spool_rollback(s->rdb))
		lost = true;
	if (lost)
		spool_close_worker(s);
	pthread_mutex_unlock(&s->worker_lock);
	return result;
}

static int
spool_item_fill(sqlite3_stmt *st, struct spool_item *item)
{
	const unsigned char *id = sqlite3_column_text(st, 1);
	const unsigned char *doc = sqlite3_column_text(st, 2);

	memset(item, 0, sizeof(*item));
	item->row = sqlite3_column_int64(st, 0);
	item->received_ms = sqlite3_column_int64(st, 3);
	item->attempts = (unsigned)sqlite3_column_int64(st, 4);
	item->alert_id = strdup(id != NULL ? (const char *)id : "");
	item->document = strdup(doc != NULL ? (const char *)doc : "");
	if (item->alert_id == NULL || item->document == NULL)
		return SQLITE_NOMEM;
	return SQLITE_OK;
}

static int
spool_due_items(struct spool *s, const char *destination, int64_t now_ms,
		size_t max, struct spool_item *items, size_t *count)
{
	sqlite3_stmt *st;
	int rc;

	rc = spool_stmt(s->rdb, s->rdb_stmts, SPOOL_STMT_DUE_ITEMS, &st);
	if (rc == SQLITE_OK)
		rc = spool_bind(st, 1, "tii", destination, now_ms,
				(int64_t)max);
	while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		rc = spool_item_fill(st, &items[*count]);
		(*count)++;
	}
	if (rc == SQLITE_DONE)
		rc = SQLITE_OK;
	spool_stmt_release(st);
	return rc;
}

static int
spool_next_later(struct spool *s, const char *destination, int64_t now_ms,
		 int64_t *next_due_ms)
{
	sqlite3_stmt *st;
	int rc;

	*next_due_ms = -1;
	rc = spool_stmt(s->rdb, s->rdb_stmts, SPOOL_STMT_NEXT_LATER, &st);
	if (rc == SQLITE_OK)
		rc = spool_bind(st, 1, "ti", destination, now_ms);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		if (sqlite3_column_type(st, 0) != SQLITE_NULL)
			*next_due_ms = sqlite3_column_int64(st, 0);
		rc = SQLITE_OK;
	}
	spool_stmt_release(st);
	return rc;
}

int
spool_next_due(struct spool *s, const char *destination, int64_t now_ms,
	       size_t max, struct spool_item *items, size_t *count,
	       int64_t *next_due_ms, struct err *e)
{
	int rc = SQLITE_OK;

	*count = 0;
	*next_due_ms = -1;
	if (spool_worker_acquire(s, e) != RESULT_OK)
		return RESULT_RETRY;
	if (max > 0)
		rc = spool_due_items(s, destination, now_ms, max, items,
				     count);
	if (rc == SQLITE_OK)
		rc = spool_next_later(s, destination, now_ms, next_due_ms);
	if (rc != SQLITE_OK) {
		spool_items_free(items, *count);
		*count = 0;
	}
	return spool_worker_end(s, NULL, rc, e);
}

void
spool_items_free(struct spool_item *items, size_t count)
{
	size_t i;

	for (i = 0; i < count; i++) {
		free(items[i].alert_id);
		free(items[i].document);
		items[i].alert_id = NULL;
		items[i].document = NULL;
	}
}

/* Runs the update id once per row in one transaction, with ?1 the row,
 * ?2 the destination and ?3... from the arguments described by types. */
static int
spool_update_rows(struct spool *s, const char *destination,
		  const int64_t *rows, size_t n, struct err *e,
		  enum spool_stmt_id id, const char *types, ...)
{
	sqlite3_stmt *st = NULL;
	va_list ap, copy;
	size_t i;
	int rc;

	if (n == 0)
		return RESULT_OK;
	if (spool_worker_acquire(s, e) != RESULT_OK)
		return RESULT_RETRY;
	rc = spool_stmt_run(s->rdb, s->rdb_stmts, SPOOL_STMT_BEGIN);
	if (rc == SQLITE_OK)
		rc = spool_stmt(s->rdb, s->rdb_stmts, id, &st);
	va_start(ap, types);
	for (i = 0; rc == SQLITE_OK && i < n; i++) {
		rc = spool_bind(st, 1, "it", rows[i], destination);
		va_copy(copy, ap);
		if (rc == SQLITE_OK)
			rc = spool_vbind(st, 3, types, copy);
		va_end(copy);
		if (rc == SQLITE_OK)
			rc = spool_stmt_exec(st);
	}
	va_end(ap);
	if (rc == SQLITE_OK)
		rc = spool_stmt_run(s->rdb, s->rdb_stmts, SPOOL_STMT_COMMIT);
	return spool_worker_end(s, NULL, rc, e);
}

int
spool_mark_delivered(struct spool *s, const char *destination,
		     const int64_t *rows, size_t n, int64_t now_ms,
		     struct err *e)
{
	return spool_update_rows(s, destination, rows, n, e,
				 SPOOL_STMT_MARK_DELIVERED, "i", now_ms);
}

int
spool_mark_retry(struct spool *s, const char *destination,
		 const int64_t *rows, size_t n, int64_t now_ms,
		 int64_t next_attempt_ms, const char *error, struct err *e)
{
	return spool_update_rows(s, destination, rows, n, e,
				 SPOOL_STMT_MARK_RETRY, "iit", now_ms,
				 next_attempt_ms, error);
}

int
spool_mark_dead(struct spool *s, const char *destination,
		const int64_t *rows, size_t n, int64_t now_ms,
		unsigned attempts, const char *reason, struct err *e)
{
	return spool_update_rows(s, destination, rows, n, e,
				 SPOOL_STMT_MARK_DEAD, "iti", now_ms, reason,
				 (int64_t)attempts);
}

/* ---------------------------------------------- disabled destinations */

/* Writes the SHA-256 of url as 64 hex digits.  The URL itself carries
 * the webhook token and is never stored. */
static int
spool_hash_url(const char *url, char out[65], struct err *e)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0, i;

	if (url == NULL)
		url = "";
	if (EVP_Digest(url, strlen(url), md, &len, EVP_sha256(), NULL) != 1 ||
	    len != 32) {
		err_set(e, "spool_failed", "SHA-256 of a destination URL "
			"failed in OpenSSL");
		return RESULT_RETRY;
	}
	for (i = 0; i < len; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 0x0f];
	}
	out[2 * len] = '\0';
	return RESULT_OK;
}

/*
 * Writes the hash of url like spool_hash_url, from a small cache because
 * the workers look up every destination on every pass.  The caller must
 * hold worker_lock.  A URL that cannot be copied is hashed, not cached.
 */
static int
spool_cached_url_hash(struct spool *s, const char *url, char out[65],
		      struct err *e)
{
	struct spool_url_hash *slot;
	char *copy;
	size_t i;

	if (url == NULL)
		url = "";
	for (i = 0; i < SPOOL_URL_HASHES; i++) {
		slot = &s->url_hashes[i];
		if (slot->url != NULL && strcmp(slot->url, url) == 0) {
			memcpy(out, slot->hex, sizeof(slot->hex));
			return RESULT_OK;
		}
	}
	if (spool_hash_url(url, out, e) != RESULT_OK)
		return RESULT_RETRY;
	copy = strdup(url);
	if (copy == NULL)
		return RESULT_OK;
	slot = &s->url_hashes[s->url_hash_next++ % SPOOL_URL_HASHES];
	free(slot->url);
	slot->url = copy;
	memcpy(slot->hex, out, sizeof(slot->hex));
	return RESULT_OK;
}

/* Locks the worker connection like spool_worker_acquire and writes the
 * hash of url.  On failure the lock is released. */
static int
spool_worker_acquire_hash(struct spool *s, const char *url, char hash[65],
			  struct err *e)
{
	if (spool_worker_acquire(s, e) != RESULT_OK)
		return RESULT_RETRY;
	if (spool_cached_url_hash(s, url, hash, e) == RESULT_OK)
		return RESULT_OK;
	pthread_mutex_unlock(&s->worker_lock);
	return RESULT_RETRY;
}

int
spool_disable_destination(struct spool *s, const char *name,
			  const char *url, const char *reason,
			  int64_t now_ms, struct err *e)
{
	static const char sql[] =
		"INSERT INTO destinations"
		" (name, url_hash, disabled_reason, disabled_ms)"
		" VALUES (?1, ?2, ?3, ?4) ON CONFLICT (name, url_hash)"
		" DO UPDATE SET disabled_reason = excluded.disabled_reason,"
		" disabled_ms = excluded.disabled_ms";
	char hash[65];
	int rc;

	if (spool_worker_acquire_hash(s, url, hash, e) != RESULT_OK)
		return RESULT_RETRY;
	rc = spool_run(s->rdb, NULL, sql, "ttti", name, hash,
		       reason != NULL ? reason : "", now_ms);
	return spool_worker_end(s, NULL, rc, e);
}

/*
 * Reads the table on every call and caches no result, so that a row
 * deleted by another process (the sqlite3 shell, while the relay runs)
 * enables the destination at the worker's next pass.
 */
int
spool_destination_disabled(struct spool *s, const char *name,
			   const char *url, bool *disabled, char *reason,
			   size_t reason_size, struct err *e)
{
	sqlite3_stmt *st;
	const unsigned char *text;
	char hash[65];
	int rc;

	*disabled = false;
	if (spool_worker_acquire_hash(s, url, hash, e) != RESULT_OK)
		return RESULT_RETRY;
	rc = spool_stmt(s->rdb, s->rdb_stmts, SPOOL_STMT_DISABLED, &st);
	if (rc == SQLITE_OK)
		rc = spool_bind(st, 1, "tt", name, hash);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		text = sqlite3_column_text(st, 0);
		*disabled = true;
		if (reason != NULL && reason_size > 0)
			snprintf(reason, reason_size, "%s",
				 text ? (const char *)text : "");
	}
	if (rc == SQLITE_ROW || rc == SQLITE_DONE)
		rc = SQLITE_OK;
	spool_stmt_release(st);
	return spool_worker_end(s, NULL, rc, e);
}

/* ------------------------------------------------ inspection, repair */

static bool
spool_state_valid(const char *state)
{
	return state != NULL && (strcmp(state, "pending") == 0 ||
				 strcmp(state, "delivered") == 0 ||
				 strcmp(state, "dead") == 0);
}

static int
spool_reject_state(const char *state, struct err *e)
{
	err_set(e, "spool_invalid", "unknown delivery state \"%.40s\"; use "
		"pending, delivered or dead", state ? state : "(null)");
	return RESULT_REJECT;
}

int
spool_count(struct spool *s, const char *state, int64_t *count,
	    struct err *e)
{
	static const char sql[] =
		"SELECT COUNT(*) FROM deliveries WHERE state = ?1";
	sqlite3_stmt *st = NULL;
	int rc;

	*count = 0;
	if (!spool_state_valid(state))
		return spool_reject_state(state, e);
	if (spool_worker_acquire(s, e) != RESULT_OK)
		return RESULT_RETRY;
	rc = spool_prepare(s->rdb, sql, &st);
	if (rc == SQLITE_OK)
		rc = spool_bind(st, 1, "t", state);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*count = sqlite3_column_int64(st, 0);
		rc = SQLITE_OK;
	}
	return spool_worker_end(s, st, rc, e);
}

/* True when the writer has the file open.  A scrape must not be what
 * opens a spool that the writer could not open. */
static bool
spool_is_open(struct spool *s)
{
	bool open;

	pthread_mutex_lock(&s->lock);
	open = s->running && s->writer_open;
	pthread_mutex_unlock(&s->lock);
	return open;
}

int
spool_depth(struct spool *s, long long *pending, long long *dead)
{
	/* Both counts read the deliveries_state index alone.  Two COUNT(*)
	 * take half the time of one scan that sums both states. */
	static const char sql[] =
		"SELECT (SELECT COUNT(*) FROM deliveries"
		" WHERE state = 'pending'),"
		" (SELECT COUNT(*) FROM deliveries WHERE state = 'dead')";
	sqlite3_stmt *st = NULL;
	int64_t counts[2] = { 0, 0 };
	struct err e;
	int rc;

	if (s == NULL || !spool_is_open(s))
		return -1;
	err_clear(&e);
	if (spool_worker_acquire(s, &e) != RESULT_OK)
		return -1;
	rc = spool_prepare(s->rdb, sql, &st);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		counts[0] = sqlite3_column_int64(st, 0);
		counts[1] = sqlite3_column_int64(st, 1);
		rc = SQLITE_OK;
	}
	if (spool_worker_end(s, st, rc, &e) != RESULT_OK)
		return -1;
	*pending = counts[0];
	*dead = counts[1];
	return 0;
}

static void
spool_column_copy(sqlite3_stmt *st, int column, char *out, size_t size)
{
	const unsigned char *text = sqlite3_column_text(st, column);

	snprintf(out, size, "%s", text ? (const char *)text : "");
}

static void
spool_entry_fill(sqlite3_stmt *st, struct spool_entry *entry)
{
	memset(entry, 0, sizeof(*entry));
	entry->row = sqlite3_column_int64(st, 0);
	spool_column_copy(st, 1, entry->alert_id, sizeof(entry->alert_id));
	spool_column_copy(st, 2, entry->destination,
			  sizeof(entry->destination));
	spool_column_copy(st, 3, entry->state, sizeof(entry->state));
	entry->attempts = (unsigned)sqlite3_column_int64(st, 4);
	entry->received_ms = sqlite3_column_int64(st, 5);
	entry->next_attempt_ms = sqlite3_column_int64(st, 6);
	spool_column_copy(st, 7, entry->last_error,
			  sizeof(entry->last_error));
}

int
spool_list(struct spool *s, const char *state, size_t limit,
	   void (*fn)(const struct spool_entry *entry, void *arg),
	   void *arg, struct err *e)
{
	static const char sql[] =
		"SELECT d.alert_row, a.alert_id, d.destination, d.state,"
		" d.attempts, a.received_ms, d.next_attempt_ms,"
		" d.last_error FROM deliveries AS d"
		" JOIN alerts AS a ON a.row = d.alert_row"
		" WHERE ?1 IS NULL OR d.state = ?1"
		" ORDER BY d.alert_row, d.destination LIMIT ?2";
	struct spool_entry entry;
	sqlite3_stmt *st = NULL;
	int rc;

	if (state != NULL && !spool_state_valid(state))
		return spool_reject_state(state, e);
	if (spool_worker_acquire(s, e) != RESULT_OK)
		return RESULT_RETRY;
	rc = spool_prepare(s->rdb, sql, &st);
	if (rc == SQLITE_OK)
		rc = spool_bind(st, 1, "ti", state,
				limit > 0 ? (int64_t)limit : (int64_t)-1);
	while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		spool_entry_fill(st, &entry);
		fn(&entry, arg);
		rc = SQLITE_OK;
	}
	if (rc == SQLITE_DONE)
		rc = SQLITE_OK;
	return spool_worker_end(s, st, rc, e);
}

int
spool_retry_dead(struct spool *s, int64_t row, const char *destination,
		 int64_t now_ms, int64_t *changed, struct err *e)
{
	static const char sql[] =
		"UPDATE deliveries SET state = 'pending', attempts = 0,"
		" next_attempt_ms = ?1, updated_ms = ?1"
		" WHERE state = 'dead' AND (?2 = 0 OR alert_row = ?2)"
		" AND (?3 IS NULL OR destination = ?3)";
	int rc;

	*changed = 0;
	if (spool_worker_acquire(s, e) != RESULT_OK)
		return RESULT_RETRY;
	rc = spool_run(s->rdb, changed, sql, "iit", now_ms, row,
		       destination);
	return spool_worker_end(s, NULL, rc, e);
}

int
spool_purge(struct spool *s, int64_t before_ms, int64_t *removed,
	    struct err *e)
{
	static const char sql[] =
		"DELETE FROM alerts WHERE received_ms < ?1 AND NOT EXISTS"
		" (SELECT 1 FROM deliveries WHERE alert_row = alerts.row"
		" AND state = 'pending')";
	int rc;

	*removed = 0;
	if (spool_worker_acquire(s, e) != RESULT_OK)
		return RESULT_RETRY;
	rc = spool_run(s->rdb, removed, sql, "i", before_ms);
	return spool_worker_end(s, NULL, rc, e);
}
