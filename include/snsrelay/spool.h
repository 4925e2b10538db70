/*
 * The durable spool: a SQLite database in WAL mode that stores every
 * alert before SNS gets its 2xx, and tracks its delivery to each
 * destination (pending, delivered, dead).
 *
 * Writes from request threads go through one writer thread that commits
 * every queued alert in one transaction (group commit), so durability
 * does not cost one fsync per request.  Delivery workers and the command
 * line share a second connection, serialised by a mutex.
 *
 * Schema (see spool.c for the statements):
 *   alerts(row, alert_id UNIQUE, message_id, topic_arn, received_ms,
 *          document)
 *   deliveries(alert_row, destination, state, attempts, next_attempt_ms,
 *              last_error, updated_ms)  state: pending|delivered|dead
 *   destinations(name, url_hash, disabled_reason, disabled_ms)
 */
#ifndef SNSRELAY_SPOOL_H
#define SNSRELAY_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "snsrelay/err.h"

struct spool_options {
	const char *path;		/* database file */
	/* Create the parent folder when missing.  Only for the embedded
	 * default path: a missing configured folder is more likely an
	 * unmounted volume, and writing elsewhere would lose alerts. */
	bool create_parent;
	unsigned dedup_window_s;	/* alerts remembered for dedup */
};

/* One stored alert waiting for a destination. */
struct spool_item {
	int64_t row;			/* alerts.row */
	char *alert_id;
	char *document;			/* the alert document, JSON text */
	int64_t received_ms;
	unsigned attempts;		/* attempts made for this destination */
};

/* One line of spool_list output, for the command line and tests. */
struct spool_entry {
	int64_t row;
	char alert_id[160];
	char destination[64];
	char state[16];
	unsigned attempts;
	int64_t received_ms;
	int64_t next_attempt_ms;
	char last_error[256];
};

struct spool;

/* Allocates a spool; nothing is opened yet.  NULL when memory is short. */
struct spool *spool_new(const struct spool_options *opts);

/*
 * Opens (or creates) the database and starts the writer thread.  An
 * existing file that is not a valid snsrelay spool is never overwritten:
 * that is an error (code "spool_corrupt").  When the file cannot be
 * opened (missing folder, permissions, full disk), spool_start still
 * starts the writer, returns RESULT_RETRY with the reason, and every
 * later spool_put tries to open it again, at most once a second.  A file
 * that is not a valid spool gives RESULT_REJECT (the writer runs too,
 * and puts fail with spool_corrupt until the file is replaced).
 */
int spool_start(struct spool *spool, struct err *e);

/*
 * Stores an alert for the given destinations and waits until the
 * transaction holding it has committed.  An alert_id already stored
 * within the dedup window is not stored again: *duplicate is set and the
 * result is RESULT_OK.  Returns RESULT_RETRY (code "spool_failed",
 * "spool_full", "spool_corrupt" or "spool_unavailable") when the alert
 * could not be made durable; the caller answers 503.
 */
int spool_put(struct spool *spool, const char *alert_id,
	      const char *message_id, const char *topic_arn,
	      const char *document, const char *const *destinations,
	      size_t destination_count, bool *duplicate, struct err *e);

/* True when the database is open and the last write succeeded. */
bool spool_ready(struct spool *spool, struct err *why);

/*
 * Fills items[0..*count) with up to max pending deliveries for
 * destination whose next attempt is due at now_ms, oldest first.
 * *next_due_ms receives the time of the earliest pending delivery that
 * is not due yet, or -1 when there is none.  Free the items with
 * spool_items_free.
 */
int spool_next_due(struct spool *spool, const char *destination,
		   int64_t now_ms, size_t max, struct spool_item *items,
		   size_t *count, int64_t *next_due_ms, struct err *e);
void spool_items_free(struct spool_item *items, size_t count);

/* State changes for deliveries of rows[0..n) to destination. */
int spool_mark_delivered(struct spool *spool, const char *destination,
			 const int64_t *rows, size_t n, int64_t now_ms,
			 struct err *e);
/* Adds one attempt and schedules the next at next_attempt_ms. */
int spool_mark_retry(struct spool *spool, const char *destination,
		     const int64_t *rows, size_t n, int64_t now_ms,
		     int64_t next_attempt_ms, const char *error,
		     struct err *e);
/* Makes a dead letter, kept with its reason until purged.  attempts is
 * the number of sends made, which "spool list" shows; a smaller value
 * never lowers the stored count. */
int spool_mark_dead(struct spool *spool, const char *destination,
		    const int64_t *rows, size_t n, int64_t now_ms,
		    unsigned attempts, const char *reason, struct err *e);

/*
 * Disabled destinations (a webhook that answered 404).  The state is
 * keyed by name and a hash of the URL, so configuring a new URL under
 * the same name enables the destination again.
 */
int spool_disable_destination(struct spool *spool, const char *name,
			      const char *url, const char *reason,
			      int64_t now_ms, struct err *e);
/* Sets *disabled, and copies the reason into reason when disabled. */
int spool_destination_disabled(struct spool *spool, const char *name,
			       const char *url, bool *disabled, char *reason,
			       size_t reason_size, struct err *e);

/* Number of deliveries in state ("pending", "delivered" or "dead"). */
int spool_count(struct spool *spool, const char *state, int64_t *count,
		struct err *e);

/*
 * Counts the pending deliveries and the dead letters of every
 * destination in one indexed query, for a metrics scrape.  Returns 0,
 * or -1 with both counts unchanged when the spool is not open or the
 * query fails.  The failure is not logged, because the delivery workers
 * already report a spool that fails.
 * NOTE: the count reads one index entry per counted delivery while the
 * delivery workers wait for the connection: about 80 ms per million
 * entries, measured with SQLite 3.40 on a 2-core virtual machine.
 */
int spool_depth(struct spool *spool, long long *pending, long long *dead);

/*
 * Calls fn for each delivery in state (NULL: all states), oldest first,
 * at most limit entries (0: no limit).  fn runs with the worker
 * connection locked, so it must not call other spool functions.
 */
int spool_list(struct spool *spool, const char *state, size_t limit,
	       void (*fn)(const struct spool_entry *entry, void *arg),
	       void *arg, struct err *e);

/* Makes dead deliveries pending again, due now: all of them (row 0) or
 * those of one alert row; destination NULL means every destination. */
int spool_retry_dead(struct spool *spool, int64_t row,
		     const char *destination, int64_t now_ms,
		     int64_t *changed, struct err *e);

/* Deletes alerts received before before_ms whose deliveries are all
 * delivered or dead. */
int spool_purge(struct spool *spool, int64_t before_ms, int64_t *removed,
		struct err *e);

/* Opens the database for the command line only: no writer thread, and
 * an existing file is required.  Use spool_stop afterwards. */
int spool_open_existing(struct spool *spool, struct err *e);

/* Finishes queued puts, stops the writer and closes the database. */
void spool_stop(struct spool *spool);
void spool_free(struct spool *spool);

/* Counters since spool_new, for the stop log line and tests. */
struct spool_stats {
	uint64_t puts;			/* puts handed to the writer */
	uint64_t stored;		/* alerts committed */
	uint64_t duplicates;		/* puts of an alert_id already kept */
	uint64_t transactions;		/* write transactions committed */
	uint64_t failed_batches;	/* write transactions that failed */
};
void spool_get_stats(struct spool *spool, struct spool_stats *stats);

/* Milliseconds since the epoch, from the real-time clock. */
int64_t spool_now_ms(void);

#endif
