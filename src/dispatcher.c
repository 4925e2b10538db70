/*
 * Delivery workers: one thread per destination.  Each worker loops:
 *
 *   1. a destination disabled after a 404 turns its due alerts into dead
 *      letters;
 *   2. it waits while a rate-limit block holds (its own, its bucket's,
 *      or Discord's global one) or after a failed send;
 *   3. it takes up to batch_max due alerts from the spool (1 for other
 *      destinations than Discord), sends them in one request, and
 *      records the outcome of each alert the request carried;
 *   4. with nothing due it sleeps until the next due time, a notify, or
 *      one second, whichever comes first, so a "snsrelay spool retry"
 *      from the command line is picked up within a second.
 *
 * Every spool call of a worker happens in the WORKER_SPOOL phase, so
 * dispatcher_stop can leave a worker behind in a slow send and still
 * know that the spool is no longer in use when it returns.
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "snsrelay/buf.h"
#include "snsrelay/dispatcher.h"
#include "snsrelay/limits.h"
#include "snsrelay/log.h"
#include "snsrelay/metrics.h"
#include "snsrelay/ratelimit.h"

/* Maximum sleep of an idle worker, and the pause after a spool error. */
#define DISPATCH_POLL_MS		1000
/* Dead letters made per spool query for a disabled destination. */
#define DISPATCH_DRAIN_MAX		64
/* Used when the caller passes a backoff_min_ms of 0. */
#define DISPATCH_BACKOFF_MIN_MS		1000
/* How long a failed start waits for the workers it already started. */
#define DISPATCH_START_GRACE_MS		30000
#define DISPATCH_REASON_MAX		256
/* Shortest interval between two logs of the same spool error. */
#define DISPATCH_ERROR_REPEAT_MS	60000

#define DISPATCH_GONE_HINT "the webhook answered 404 and was disabled; " \
	"fix the URL in the configuration and restart; retry dead letters " \
	"with snsrelay spool retry"

enum worker_phase {
	WORKER_IDLE = 0,
	WORKER_SPOOL,		/* using the spool */
	WORKER_SENDING,		/* in delivery_send_batch */
};

/* A parsed alert document, kept with the spool row and text it came
 * from. */
struct dispatch_parsed {
	int64_t row;
	char *document;
	json_object *doc;
};

struct dispatcher_worker {
	struct dispatcher *owner;
	size_t index;			/* destination number */
	const struct destination *dest;
	bool discord;
	size_t batch_max;
	pthread_t thread;
	bool done;			/* left its loop */
	bool left_behind;		/* detached by dispatcher_stop */
	enum worker_phase phase;
	bool disabled_logged;
	int64_t pause_until_ms;		/* after a send that failed */
	/* Rows the receiver accepted but the spool could not mark
	 * delivered (full disk, lock).  Until they are recorded the worker
	 * sends nothing, so it never posts them again.  A restart in that
	 * window loses this list, and they are sent once more. */
	int64_t unrecorded[DISCORD_EMBEDS_MAX];
	size_t unrecorded_count;
	char last_spool_error[ERR_MSG_MAX];
	int64_t spool_error_logged_ms;
	unsigned spool_errors_skipped;	/* repeats not logged */
	uint64_t rng;			/* jitter only, not for secrets */
	/* Documents of the last batch that its request did not carry,
	 * because the Discord message was full.  They stay due, so the
	 * next batch takes them again and reuses the parse instead of
	 * parsing them once more. */
	struct dispatch_parsed leftovers[DISCORD_EMBEDS_MAX];
	size_t leftover_count;
};

struct dispatcher {
	struct spool *spool;
	struct delivery *delivery;
	struct dispatcher_options opts;
	pthread_mutex_t lock;		/* guards the fields below */
	pthread_cond_t wake;		/* notify, stop */
	pthread_cond_t changed;		/* worker exit or phase change */
	bool stopping;
	bool abandoned;			/* no more spool calls */
	unsigned long notify_seq;
	size_t running;			/* workers still in their loop */
	unsigned refs;			/* dispatcher_stop + live workers */
	struct ratelimit *limits;
	struct dispatcher_worker *workers;
	size_t worker_count;
};

/* Alerts taken from the spool for one send.  docs[k] is the parsed
 * document of items[pick[k]], or NULL once worker_keep_leftovers took
 * it. */
struct dispatch_batch {
	struct spool_item items[DISCORD_EMBEDS_MAX];
	size_t count;
	json_object *docs[DISCORD_EMBEDS_MAX];
	size_t pick[DISCORD_EMBEDS_MAX];
	size_t parsed;
};

int64_t
dispatcher_backoff_ms(unsigned attempt, unsigned min_ms, unsigned max_ms,
		      double random01)
{
	unsigned shift = attempt > 1 ? attempt - 1 : 0;
	uint64_t delay = max_ms;

	/* min_ms < 2^32 and shift < 32 keep the product below 2^64. */
	if (shift < 32)
		delay = (uint64_t)min_ms << shift;
	if (delay > max_ms)
		delay = max_ms;
	if (!(random01 >= 0.0))
		random01 = 0.0;
	if (random01 > 1.0)
		random01 = 1.0;
	return (int64_t)((double)delay * (0.5 + random01 / 2.0));
}

/* ---- small helpers ---- */

/* splitmix64: spreads the retries of destinations that failed at once. */
static double
worker_random01(struct dispatcher_worker *w)
{
	uint64_t z = (w->rng += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	z ^= z >> 31;
	return (double)(z >> 11) / 9007199254740992.0;
}

static void
monotonic_after(struct timespec *ts, int64_t ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += (time_t)(ms / 1000);
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

static int64_t
ms_from_seconds_capped(double seconds)
{
	double ms = ceil(seconds * 1000.0);

	if (!(ms >= 0))
		return 0;
	return ms > RATELIMIT_WAIT_MAX_MS ? RATELIMIT_WAIT_MAX_MS :
	       (int64_t)ms;
}

static bool
item_expired(const struct dispatcher *d, const struct spool_item *item,
	     int64_t now_ms)
{
	/* An item with no attempt yet (new, or a dead letter put back by
	 * "snsrelay spool retry") always gets one try first. */
	return d->opts.max_age_s > 0 && item->attempts > 0 &&
	       now_ms - item->received_ms >= (int64_t)d->opts.max_age_s * 1000;
}

/*
 * Moves w into phase.  Returns false, without a change, when w would
 * start a send after dispatcher_stop began, or use the spool after
 * dispatcher_stop gave up waiting for it.
 */
static bool
worker_enter(struct dispatcher_worker *w, enum worker_phase phase)
{
	struct dispatcher *d = w->owner;
	bool allowed;

	pthread_mutex_lock(&d->lock);
	allowed = !(phase == WORKER_SPOOL && d->abandoned) &&
		  !(phase == WORKER_SENDING && d->stopping);
	if (allowed) {
		w->phase = phase;
		pthread_cond_broadcast(&d->changed);
	}
	pthread_mutex_unlock(&d->lock);
	return allowed;
}

/* ---- logging ---- */

/*
 * Logs a spool error of w.  A spool that stays unavailable fails the
 * same way every second, so a repeat of the last message is logged
 * once a minute with the number of repeats left out.
 */
static void
log_spool_error(struct dispatcher_worker *w, const struct err *e)
{
	int64_t now_ms = spool_now_ms();
	struct log_line line;

	if (strcmp(w->last_spool_error, e->msg) == 0 &&
	    now_ms - w->spool_error_logged_ms < DISPATCH_ERROR_REPEAT_MS) {
		w->spool_errors_skipped++;
		return;
	}
	log_begin(&line, LOG_ERROR, "spool_error");
	log_str(&line, "destination", w->dest->name);
	log_str(&line, "code", e->code);
	log_str(&line, "reason", e->msg);
	if (w->spool_errors_skipped > 0)
		log_int(&line, "repeats", w->spool_errors_skipped);
	log_end(&line);
	snprintf(w->last_spool_error, sizeof(w->last_spool_error), "%s",
		 e->msg);
	w->spool_error_logged_ms = now_ms;
	w->spool_errors_skipped = 0;
}

static void
log_dead_letter(const struct dispatcher_worker *w,
		const struct spool_item *item, unsigned attempts,
		const char *reason)
{
	struct log_line line;

	log_begin(&line, LOG_ERROR, "dead_letter");
	log_str(&line, "destination", w->dest->name);
	log_str(&line, "alert_id", item->alert_id);
	log_int(&line, "attempts", attempts);
	log_str(&line, "reason", reason);
	log_end(&line);
}

static void
log_destination_disabled(struct dispatcher_worker *w, const char *reason)
{
	struct log_line line;

	if (w->disabled_logged)
		return;
	w->disabled_logged = true;
	log_begin(&line, LOG_ERROR, "destination_disabled");
	log_str(&line, "destination", w->dest->name);
	log_str(&line, "url", w->dest->url_redacted);
	log_str(&line, "reason", reason);
	log_str(&line, "msg", DISPATCH_GONE_HINT);
	log_end(&line);
}

/* ---- spool state changes, one alert at a time ---- */

/* Makes item a dead letter after attempts sends.  Returns 0, or -1
 * after a spool error. */
static int
worker_kill(struct dispatcher_worker *w, const struct spool_item *item,
	    unsigned attempts, int64_t now_ms, const char *reason)
{
	struct dispatcher *d = w->owner;
	struct err e;

	err_clear(&e);
	if (spool_mark_dead(d->spool, w->dest->name, &item->row, 1, now_ms,
			    attempts, reason, &e) != RESULT_OK) {
		log_spool_error(w, &e);
		return -1;
	}
	metrics_inc(METRIC_DELIVERIES, w->dest->name, "dead");
	metrics_inc(METRIC_DEAD_LETTERS, w->dest->name, NULL);
	log_dead_letter(w, item, attempts, reason);
	return 0;
}

/* Kills item when it is older than max_age.  Returns 1 when killed, 0
 * when still young, -1 after a spool error. */
static int
worker_kill_if_expired(struct dispatcher_worker *w,
		       const struct spool_item *item, int64_t now_ms,
		       const char *error)
{
	char reason[DISPATCH_REASON_MAX];

	if (!item_expired(w->owner, item, now_ms))
		return 0;
	snprintf(reason, sizeof(reason), "not delivered within max_age "
		 "(%u s) after %u attempts; last error: %s",
		 w->owner->opts.max_age_s, item->attempts + 1, error);
	return worker_kill(w, item, item->attempts + 1, now_ms, reason) == 0 ?
	       1 : -1;
}

static int
worker_reschedule(struct dispatcher_worker *w, const struct spool_item *item,
		  int64_t now_ms, int64_t next_ms, const char *error)
{
	struct dispatcher *d = w->owner;
	struct err e;

	err_clear(&e);
	if (spool_mark_retry(d->spool, w->dest->name, &item->row, 1, now_ms,
			     next_ms, error, &e) != RESULT_OK) {
		log_spool_error(w, &e);
		return -1;
	}
	return 0;
}

/* ---- disabled destinations ---- */

/* Turns the due alerts of a disabled destination into dead letters.
 * Returns when the worker should look again. */
static int64_t
worker_drain_disabled(struct dispatcher_worker *w, const char *why,
		      int64_t now_ms)
{
	struct spool_item items[DISPATCH_DRAIN_MAX];
	char reason[DISPATCH_REASON_MAX];
	size_t i, count = 0;
	int64_t next_due = -1, wake_at = now_ms + DISPATCH_POLL_MS;
	struct err e;

	err_clear(&e);
	if (spool_next_due(w->owner->spool, w->dest->name, now_ms,
			   DISPATCH_DRAIN_MAX, items, &count, &next_due,
			   &e) != RESULT_OK) {
		log_spool_error(w, &e);
		return wake_at;
	}
	snprintf(reason, sizeof(reason), "destination disabled: %.200s", why);
	for (i = 0; i < count; i++)
		if (worker_kill(w, &items[i], items[i].attempts, now_ms,
				reason) != 0)
			break;
	if (i == DISPATCH_DRAIN_MAX)
		wake_at = now_ms;	/* more may be due */
	else if (i == count && next_due >= 0 && next_due < wake_at)
		wake_at = next_due;
	spool_items_free(items, count);
	return wake_at;
}

/*
 * Checks whether the destination was disabled (now or in an earlier
 * run).  Returns true when the worker must not send, with *wake_at set.
 */
static bool
worker_check_disabled(struct dispatcher_worker *w, int64_t now_ms,
		      int64_t *wake_at)
{
	char reason[DISPATCH_REASON_MAX] = "";
	bool disabled = false;
	struct err e;

	if (w->dest->url == NULL)	/* standard output */
		return false;
	err_clear(&e);
	if (spool_destination_disabled(w->owner->spool, w->dest->name,
				       w->dest->url, &disabled, reason,
				       sizeof(reason), &e) != RESULT_OK) {
		log_spool_error(w, &e);
		*wake_at = now_ms + DISPATCH_POLL_MS;
		return true;
	}
	if (!disabled)
		return false;
	log_destination_disabled(w, reason);
	*wake_at = worker_drain_disabled(w, reason, now_ms);
	return true;
}

/* ---- taking a batch ---- */

static json_object *
parse_document(const char *text)
{
	json_object *doc = text != NULL ? json_tokener_parse(text) : NULL;

	if (doc != NULL && !json_object_is_type(doc, json_type_object)) {
		json_object_put(doc);
		doc = NULL;
	}
	return doc;
}

static void
batch_free(struct dispatch_batch *batch)
{
	size_t k;

	for (k = 0; k < batch->parsed; k++)
		json_object_put(batch->docs[k]);
	spool_items_free(batch->items, batch->count);
	batch->count = 0;
	batch->parsed = 0;
}

static void
worker_drop_leftovers(struct dispatcher_worker *w)
{
	size_t j;

	for (j = 0; j < w->leftover_count; j++) {
		json_object_put(w->leftovers[j].doc);
		free(w->leftovers[j].document);
	}
	w->leftover_count = 0;
}

/* Returns the kept parse of item, which the caller then owns, or NULL.
 * The document text must match as well as the row, so a reused row
 * number can never bring back another alert. */
static json_object *
worker_take_leftover(struct dispatcher_worker *w,
		     const struct spool_item *item)
{
	struct dispatch_parsed *leftover;
	json_object *doc;
	size_t j;

	for (j = 0; j < w->leftover_count; j++) {
		leftover = &w->leftovers[j];
		if (leftover->row != item->row || leftover->document == NULL ||
		    item->document == NULL ||
		    strcmp(leftover->document, item->document) != 0)
			continue;
		doc = leftover->doc;
		free(leftover->document);
		*leftover = w->leftovers[--w->leftover_count];
		return doc;
	}
	return NULL;
}

/*
 * Keeps the parsed documents from sent on, which the request did not
 * carry, for the next batch.  The batch gives up its references to
 * them and their texts.
 */
static void
worker_keep_leftovers(struct dispatcher_worker *w,
		      struct dispatch_batch *batch, size_t sent)
{
	struct dispatch_parsed *leftover;
	struct spool_item *item;
	size_t k;

	worker_drop_leftovers(w);
	for (k = sent; k < batch->parsed; k++) {
		item = &batch->items[batch->pick[k]];
		leftover = &w->leftovers[w->leftover_count++];
		leftover->row = item->row;
		leftover->document = item->document;
		leftover->doc = batch->docs[k];
		item->document = NULL;
		batch->docs[k] = NULL;
	}
}

/* Parses the documents, or takes the parse kept from the last batch.
 * The ones that are not JSON objects become dead letters at once.
 * Returns 0, or -1 after a spool error. */
static int
batch_parse(struct dispatcher_worker *w, struct dispatch_batch *batch,
	    int64_t now_ms)
{
	json_object *doc;
	size_t i;
	int rc = 0;

	for (i = 0; i < batch->count && rc == 0; i++) {
		doc = worker_take_leftover(w, &batch->items[i]);
		if (doc == NULL)
			doc = parse_document(batch->items[i].document);
		if (doc != NULL) {
			batch->docs[batch->parsed] = doc;
			batch->pick[batch->parsed++] = i;
			continue;
		}
		if (worker_kill(w, &batch->items[i], batch->items[i].attempts,
				now_ms, "the stored alert document is not a "
				"JSON object") != 0)
			rc = -1;
	}
	/* Kept documents that are no longer due are not needed. */
	worker_drop_leftovers(w);
	return rc;
}

/*
 * Takes the due alerts into batch.  Returns true when there is
 * something to send; otherwise *wake_at receives the time to look again.
 */
static bool
worker_fetch(struct dispatcher_worker *w, struct dispatch_batch *batch,
	     int64_t now_ms, int64_t *wake_at)
{
	int64_t next_due = -1;
	struct err e;

	err_clear(&e);
	*wake_at = now_ms + DISPATCH_POLL_MS;
	if (spool_next_due(w->owner->spool, w->dest->name, now_ms,
			   w->batch_max, batch->items, &batch->count,
			   &next_due, &e) != RESULT_OK) {
		log_spool_error(w, &e);
		batch->count = 0;
		return false;
	}
	if (batch->count == 0) {
		if (next_due >= 0 && next_due < *wake_at)
			*wake_at = next_due;
		return false;
	}
	if (batch_parse(w, batch, now_ms) != 0)
		return false;
	*wake_at = now_ms;	/* all were dead letters: look again */
	return batch->parsed > 0;
}

/* ---- recording the outcome ---- */

static int
worker_delivered(struct dispatcher_worker *w,
		 const struct dispatch_batch *batch, size_t sent,
		 const struct delivery_result *result, int64_t now_ms)
{
	int64_t rows[DISCORD_EMBEDS_MAX];
	const struct spool_item *item;
	struct log_line line;
	struct err e;
	size_t k;

	for (k = 0; k < sent; k++)
		rows[k] = batch->items[batch->pick[k]].row;
	err_clear(&e);
	if (spool_mark_delivered(w->owner->spool, w->dest->name, rows, sent,
				 now_ms, &e) != RESULT_OK) {
		log_spool_error(w, &e);
		memcpy(w->unrecorded, rows, sent * sizeof(rows[0]));
		w->unrecorded_count = sent;
		return -1;
	}
	metrics_add(METRIC_DELIVERIES, w->dest->name, "delivered", sent);
	for (k = 0; k < sent; k++) {
		item = &batch->items[batch->pick[k]];
		log_begin(&line, LOG_INFO, "alert_delivered");
		log_str(&line, "destination", w->dest->name);
		log_str(&line, "alert_id", item->alert_id);
		log_int(&line, "attempts", item->attempts + 1);
		log_int(&line, "status", result->status);
		log_end(&line);
	}
	return 0;
}

static void
log_delivery_retry(const struct dispatcher_worker *w,
		   const struct spool_item *item, int64_t delay_ms,
		   const struct delivery_result *result)
{
	struct log_line line;

	log_begin(&line, LOG_WARN, "delivery_retry");
	log_str(&line, "destination", w->dest->name);
	log_str(&line, "alert_id", item->alert_id);
	log_int(&line, "attempt", item->attempts + 1);
	log_int(&line, "next_in_ms", delay_ms);
	log_int(&line, "status", result->status);
	log_str(&line, "reason", result->error);
	log_end(&line);
}

/*
 * A transport error, timeout or 5xx: each alert retries after its own
 * backoff (at least the Retry-After of the response), or becomes a dead
 * letter once older than max_age.  The destination pauses as long as
 * the shortest retry delay, so a failing receiver is not sent the rest
 * of the queue back to back.
 */
static int
worker_retry(struct dispatcher_worker *w, const struct dispatch_batch *batch,
	     size_t sent, const struct delivery_result *result,
	     int64_t now_ms)
{
	const struct dispatcher_options *o = &w->owner->opts;
	const struct spool_item *item;
	int64_t delay, pause = -1;
	size_t k;
	int rc;

	for (k = 0; k < sent; k++) {
		item = &batch->items[batch->pick[k]];
		rc = worker_kill_if_expired(w, item, now_ms, result->error);
		if (rc != 0) {
			if (rc < 0)
				return -1;
			continue;
		}
		delay = dispatcher_backoff_ms(item->attempts + 1,
					      o->backoff_min_ms,
					      o->backoff_max_ms,
					      worker_random01(w));
		if (result->retry_after_s >= 0 &&
		    ms_from_seconds_capped(result->retry_after_s) > delay)
			delay = ms_from_seconds_capped(result->retry_after_s);
		if (worker_reschedule(w, item, now_ms, now_ms + delay,
				      result->error) != 0)
			return -1;
		metrics_inc(METRIC_DELIVERIES, w->dest->name, "failed");
		log_delivery_retry(w, item, delay, result);
		if (pause < 0 || delay < pause)
			pause = delay;
	}
	if (pause > 0)
		w->pause_until_ms = now_ms + pause;
	return 0;
}

static void
log_rate_limited(const struct dispatcher_worker *w, size_t sent,
		 int64_t wait_ms, const struct delivery_result *result)
{
	struct log_line line;

	log_begin(&line, LOG_WARN, "rate_limited");
	log_str(&line, "destination", w->dest->name);
	log_int(&line, "status", result->status);
	log_int(&line, "wait_ms", wait_ms);
	log_str(&line, "bucket", result->ratelimit_bucket);
	log_str(&line, "global", result->global ? "true" : "false");
	log_str(&line, "rate_limit_headers",
		result->has_ratelimit_headers ? "true" : "false");
	log_int(&line, "alerts", (long long)sent);
	log_end(&line);
}

/*
 * A 429: the alerts wait as long as the receiver asked, and the block
 * set by ratelimit_record holds back every later send.  spool_mark_retry
 * counts an attempt, but attempts only lengthen later backoffs: what
 * makes a dead letter is max_age.
 */
static int
worker_rate_limited(struct dispatcher_worker *w,
		    const struct dispatch_batch *batch, size_t sent,
		    const struct delivery_result *result, int64_t wait_ms,
		    int64_t now_ms)
{
	const struct spool_item *item;
	size_t k;
	int rc;

	log_rate_limited(w, sent, wait_ms, result);
	metrics_inc(METRIC_RATE_LIMIT_WAITS, w->dest->name, NULL);
	for (k = 0; k < sent; k++) {
		item = &batch->items[batch->pick[k]];
		rc = worker_kill_if_expired(w, item, now_ms, result->error);
		if (rc < 0)
			return -1;
		if (rc == 0 && worker_reschedule(w, item, now_ms,
						 now_ms + wait_ms,
						 result->error) != 0)
			return -1;
		if (rc == 0)
			metrics_inc(METRIC_DELIVERIES, w->dest->name,
				    "rate_limited");
	}
	return 0;
}

static int
worker_reject(struct dispatcher_worker *w,
	      const struct dispatch_batch *batch, size_t sent,
	      const char *reason, int64_t now_ms)
{
	const struct spool_item *item;
	size_t k;

	for (k = 0; k < sent; k++) {
		item = &batch->items[batch->pick[k]];
		if (worker_kill(w, item, item->attempts + 1, now_ms,
				reason) != 0)
			return -1;
	}
	return 0;
}

/* A 404 means the webhook no longer exists, and Discord's rate-limit
 * documentation says to stop using such a webhook, so the destination
 * is disabled until its URL changes. */
static int
worker_gone(struct dispatcher_worker *w, const struct dispatch_batch *batch,
	    size_t sent, const struct delivery_result *result,
	    int64_t now_ms)
{
	char reason[DISPATCH_REASON_MAX];
	struct err e;

	err_clear(&e);
	if (spool_disable_destination(w->owner->spool, w->dest->name,
				      w->dest->url, result->error, now_ms,
				      &e) != RESULT_OK) {
		log_spool_error(w, &e);
		return -1;
	}
	log_destination_disabled(w, result->error);
	snprintf(reason, sizeof(reason), "destination disabled: %.200s",
		 result->error);
	return worker_reject(w, batch, sent, reason, now_ms);
}

/* The number of leading alerts of batch that the request carried.  A
 * result that counts none (no body was rendered, or it held no alert)
 * counts the first alert, so that its outcome is recorded. */
static size_t
batch_sent(const struct dispatch_batch *batch,
	   const struct delivery_result *result)
{
	if (result->sent == 0)
		return 1;
	return result->sent > batch->parsed ? batch->parsed : result->sent;
}

/* Records the outcome for the alerts the request carried; the others
 * stay due.  Returns 0, or -1 after a spool error. */
static int
worker_record(struct dispatcher_worker *w, const struct dispatch_batch *batch,
	      const struct delivery_result *result)
{
	struct dispatcher *d = w->owner;
	int64_t now_ms = spool_now_ms(), wait_ms;
	size_t k, sent = batch_sent(batch, result);

	/* Alerts with an earlier attempt were sent again. */
	for (k = 0; k < sent; k++)
		if (batch->items[batch->pick[k]].attempts > 0)
			metrics_inc(METRIC_DELIVERY_RETRIES, w->dest->name,
				    NULL);
	pthread_mutex_lock(&d->lock);
	wait_ms = ratelimit_record(d->limits, w->index, w->discord, result,
				   now_ms);
	pthread_mutex_unlock(&d->lock);

	switch (result->outcome) {
	case DELIVERY_OK:
		return worker_delivered(w, batch, sent, result, now_ms);
	case DELIVERY_RETRY:
		return worker_retry(w, batch, sent, result, now_ms);
	case DELIVERY_RATE_LIMITED:
		return worker_rate_limited(w, batch, sent, result, wait_ms,
					   now_ms);
	case DELIVERY_GONE:
		return worker_gone(w, batch, sent, result, now_ms);
	case DELIVERY_REJECTED:
	default:
		return worker_reject(w, batch, sent, result->error, now_ms);
	}
}

/* ---- the worker loop ---- */

static int64_t
worker_blocked_until(struct dispatcher_worker *w)
{
	struct dispatcher *d = w->owner;
	int64_t until;

	pthread_mutex_lock(&d->lock);
	until = ratelimit_blocked_until(d->limits, w->index, w->discord);
	pthread_mutex_unlock(&d->lock);
	return until > w->pause_until_ms ? until : w->pause_until_ms;
}

/*
 * Sends the batch and records the outcome.  Returns when to look again.
 * NOTE: when dispatcher_stop gives up on this send, its outcome is not
 * recorded and the alerts stay pending.  The next start sends them
 * again, so the receiver shows them twice if it had stored them.
 */
static int64_t
worker_send(struct dispatcher_worker *w, struct dispatch_batch *batch)
{
	struct delivery_result result;

	if (!worker_enter(w, WORKER_SENDING))
		return spool_now_ms();
	delivery_send_batch(w->owner->delivery, w->index, batch->docs,
			    batch->parsed, &result);
	worker_keep_leftovers(w, batch, batch_sent(batch, &result));
	if (!worker_enter(w, WORKER_SPOOL))
		return spool_now_ms();
	if (worker_record(w, batch, &result) != 0)
		return spool_now_ms() + DISPATCH_POLL_MS;
	return spool_now_ms();
}

/* Records deliveries that an earlier pass could not record.  Returns
 * true when none is left, so sending may go on. */
static bool
worker_record_unrecorded(struct dispatcher_worker *w, int64_t now_ms)
{
	struct err e;

	if (w->unrecorded_count == 0)
		return true;
	err_clear(&e);
	if (spool_mark_delivered(w->owner->spool, w->dest->name,
				 w->unrecorded, w->unrecorded_count, now_ms,
				 &e) != RESULT_OK) {
		log_spool_error(w, &e);
		return false;
	}
	metrics_add(METRIC_DELIVERIES, w->dest->name, "delivered",
		    w->unrecorded_count);
	w->unrecorded_count = 0;
	return true;
}

/* Runs one pass of the loop.  Returns the time to look again. */
static int64_t
worker_step(struct dispatcher_worker *w)
{
	struct dispatch_batch batch;
	int64_t now_ms = spool_now_ms(), wake_at = now_ms, blocked;

	memset(&batch, 0, sizeof(batch));
	if (!worker_enter(w, WORKER_SPOOL))
		return now_ms;
	if (!worker_record_unrecorded(w, now_ms)) {
		wake_at = now_ms + DISPATCH_POLL_MS;
		goto out;
	}
	if (worker_check_disabled(w, now_ms, &wake_at))
		goto out;

	blocked = worker_blocked_until(w);
	if (blocked > now_ms) {
		wake_at = blocked;
		goto out;
	}
	if (worker_fetch(w, &batch, now_ms, &wake_at))
		wake_at = worker_send(w, &batch);
out:
	worker_enter(w, WORKER_IDLE);
	batch_free(&batch);
	return wake_at;
}

/* Sleeps until wake_at (at most DISPATCH_POLL_MS), a notify after seq,
 * or the stop. */
static void
worker_sleep(struct dispatcher_worker *w, unsigned long seq,
	     int64_t wake_at)
{
	struct dispatcher *d = w->owner;
	int64_t delay = wake_at - spool_now_ms();
	struct timespec deadline;

	if (delay <= 0)
		return;
	if (delay > DISPATCH_POLL_MS)
		delay = DISPATCH_POLL_MS;
	monotonic_after(&deadline, delay);

	pthread_mutex_lock(&d->lock);
	while (!d->stopping && d->notify_seq == seq) {
		if (pthread_cond_timedwait(&d->wake, &d->lock,
					   &deadline) == ETIMEDOUT)
			break;
	}
	pthread_mutex_unlock(&d->lock);
}

static void dispatcher_release(struct dispatcher *d);

static void *
worker_main(void *arg)
{
	struct dispatcher_worker *w = arg;
	struct dispatcher *d = w->owner;
	unsigned long seq;
	bool stopping;

	for (;;) {
		pthread_mutex_lock(&d->lock);
		stopping = d->stopping;
		seq = d->notify_seq;
		pthread_mutex_unlock(&d->lock);
		if (stopping)
			break;
		worker_sleep(w, seq, worker_step(w));
	}
	worker_drop_leftovers(w);

	pthread_mutex_lock(&d->lock);
	w->done = true;
	w->phase = WORKER_IDLE;
	d->running--;
	pthread_cond_broadcast(&d->changed);
	pthread_mutex_unlock(&d->lock);
	dispatcher_release(d);
	return NULL;
}

/* ---- start and stop ---- */

static void
dispatcher_free(struct dispatcher *d)
{
	ratelimit_free(d->limits);
	free(d->workers);
	pthread_cond_destroy(&d->wake);
	pthread_cond_destroy(&d->changed);
	pthread_mutex_destroy(&d->lock);
	free(d);
}

/* Drops one reference; the last one frees d, which may be a worker
 * left behind by dispatcher_stop. */
static void
dispatcher_release(struct dispatcher *d)
{
	bool last;

	pthread_mutex_lock(&d->lock);
	last = --d->refs == 0;
	pthread_mutex_unlock(&d->lock);
	if (last)
		dispatcher_free(d);
}

static int
dispatcher_init_sync(struct dispatcher *d)
{
	pthread_condattr_t attr;
	int rc;

	if (pthread_condattr_init(&attr) != 0)
		return -1;
	rc = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	if (rc == 0)
		rc = pthread_cond_init(&d->wake, &attr);
	if (rc == 0 && pthread_cond_init(&d->changed, &attr) != 0) {
		pthread_cond_destroy(&d->wake);
		rc = -1;
	}
	pthread_condattr_destroy(&attr);
	if (rc == 0 && pthread_mutex_init(&d->lock, NULL) != 0) {
		pthread_cond_destroy(&d->wake);
		pthread_cond_destroy(&d->changed);
		rc = -1;
	}
	return rc == 0 ? 0 : -1;
}

static void
dispatcher_set_options(struct dispatcher *d,
		       const struct dispatcher_options *opts)
{
	d->opts = *opts;
	if (d->opts.backoff_min_ms == 0)
		d->opts.backoff_min_ms = DISPATCH_BACKOFF_MIN_MS;
	if (d->opts.backoff_max_ms < d->opts.backoff_min_ms)
		d->opts.backoff_max_ms = d->opts.backoff_min_ms;
	if (d->opts.batch_max == 0)
		d->opts.batch_max = 1;
	if (d->opts.batch_max > DISCORD_EMBEDS_MAX)
		d->opts.batch_max = DISCORD_EMBEDS_MAX;
}

static void
worker_init(struct dispatcher *d, size_t i)
{
	struct dispatcher_worker *w = &d->workers[i];
	struct timespec now;

	clock_gettime(CLOCK_REALTIME, &now);
	w->owner = d;
	w->index = i;
	w->dest = delivery_get(d->delivery, i);
	w->discord = w->dest->kind == DESTINATION_DISCORD;
	w->batch_max = w->discord ? d->opts.batch_max : 1;
	w->rng = (uint64_t)now.tv_nsec ^ ((uint64_t)now.tv_sec << 20) ^
		 ((uint64_t)getpid() << 40) ^ (i + 1) * 0x9e3779b97f4a7c15ULL;
}

/* Waits up to grace_ms for the workers to leave their loops.  Called
 * with d->lock held. */
static void
dispatcher_wait_workers(struct dispatcher *d, unsigned grace_ms)
{
	struct timespec deadline;
	size_t i;
	bool in_spool = true;

	monotonic_after(&deadline, grace_ms);
	while (d->running > 0) {
		if (pthread_cond_timedwait(&d->changed, &d->lock,
					   &deadline) == ETIMEDOUT)
			break;
	}
	if (d->running == 0)
		return;

	/* Grace is over: no worker may start a spool call, and the ones in
	 * a call (short local SQLite statements) are waited for. */
	d->abandoned = true;
	while (in_spool) {
		in_spool = false;
		for (i = 0; i < d->worker_count; i++)
			if (!d->workers[i].done &&
			    d->workers[i].phase == WORKER_SPOOL)
				in_spool = true;
		if (in_spool)
			pthread_cond_wait(&d->changed, &d->lock);
	}
}

/* Joins the workers that finished and detaches the others; writes the
 * names of the latter to busy.  Returns how many were detached. */
static size_t
dispatcher_reap_workers(struct dispatcher *d, size_t started,
			struct buf *busy)
{
	struct dispatcher_worker *w;
	size_t i, left = 0;

	pthread_mutex_lock(&d->lock);
	for (i = 0; i < started; i++)
		d->workers[i].left_behind = !d->workers[i].done;
	pthread_mutex_unlock(&d->lock);

	for (i = 0; i < started; i++) {
		w = &d->workers[i];
		if (!w->left_behind) {
			pthread_join(w->thread, NULL);
			continue;
		}
		pthread_detach(w->thread);
		buf_printf(busy, "%s%s", left > 0 ? "," : "", w->dest->name);
		left++;
	}
	return left;
}

static void
dispatcher_log_pending(struct dispatcher *d, const struct buf *busy,
		       size_t left)
{
	struct log_line line;
	int64_t pending = -1;
	struct err e;

	err_clear(&e);
	if (spool_count(d->spool, "pending", &pending, &e) != RESULT_OK) {
		log_begin(&line, LOG_ERROR, "spool_error");
		log_str(&line, "code", e.code);
		log_str(&line, "reason", e.msg);
		log_end(&line);
	}
	if (pending == 0 && left == 0)
		return;
	log_begin(&line, LOG_WARN, "stopped_with_pending");
	if (pending >= 0)
		log_int(&line, "pending", pending);
	log_str(&line, "busy", busy->data != NULL ? busy->data : "");
	log_end(&line);
}

/* Stops the first started workers and releases d. */
static size_t
dispatcher_shutdown(struct dispatcher *d, size_t started, unsigned grace_ms,
		    bool log_pending)
{
	struct buf busy;
	size_t left;

	pthread_mutex_lock(&d->lock);
	d->stopping = true;
	pthread_cond_broadcast(&d->wake);
	dispatcher_wait_workers(d, grace_ms);
	pthread_mutex_unlock(&d->lock);

	buf_init(&busy, 1024);
	left = dispatcher_reap_workers(d, started, &busy);
	if (log_pending)
		dispatcher_log_pending(d, &busy, left);
	buf_free(&busy);
	dispatcher_release(d);
	return left;
}

static struct dispatcher *
dispatcher_new(struct spool *spool, struct delivery *delivery,
	       const struct dispatcher_options *opts)
{
	struct dispatcher *d = calloc(1, sizeof(*d));

	if (d == NULL)
		return NULL;
	if (dispatcher_init_sync(d) != 0) {
		free(d);
		return NULL;
	}
	d->spool = spool;
	d->delivery = delivery;
	dispatcher_set_options(d, opts);
	d->worker_count = delivery_count(delivery);
	d->refs = 1;
	d->limits = ratelimit_new(d->worker_count);
	d->workers = calloc(d->worker_count > 0 ? d->worker_count : 1,
			    sizeof(*d->workers));
	if (d->limits == NULL || d->workers == NULL) {
		dispatcher_free(d);
		return NULL;
	}
	return d;
}

struct dispatcher *
dispatcher_start(struct spool *spool, struct delivery *delivery,
		 const struct dispatcher_options *opts, struct err *e)
{
	struct dispatcher *d = dispatcher_new(spool, delivery, opts);
	size_t i;
	int rc;

	if (d == NULL) {
		err_set(e, "dispatcher_failed", "out of memory starting the "
			"delivery workers");
		return NULL;
	}
	for (i = 0; i < d->worker_count; i++) {
		worker_init(d, i);
		pthread_mutex_lock(&d->lock);
		d->refs++;
		d->running++;
		pthread_mutex_unlock(&d->lock);
		rc = pthread_create(&d->workers[i].thread, NULL, worker_main,
				    &d->workers[i]);
		if (rc != 0) {
			err_set(e, "dispatcher_failed", "cannot start the "
				"delivery worker for %s: %s",
				d->workers[i].dest->name, strerror(rc));
			d->refs--;
			d->running--;
			dispatcher_shutdown(d, i, DISPATCH_START_GRACE_MS,
					    false);
			return NULL;
		}
	}
	return d;
}

void
dispatcher_notify(struct dispatcher *d)
{
	if (d == NULL)
		return;
	pthread_mutex_lock(&d->lock);
	d->notify_seq++;
	pthread_cond_broadcast(&d->wake);
	pthread_mutex_unlock(&d->lock);
}

bool
dispatcher_running(struct dispatcher *d)
{
	bool all;

	if (d == NULL)
		return false;
	pthread_mutex_lock(&d->lock);
	all = !d->stopping && d->running == d->worker_count;
	pthread_mutex_unlock(&d->lock);
	return all;
}

/*
 * Threads still sending after grace_ms are detached and exit once their
 * send returns, without touching the spool; they still read the
 * delivery object until then.
 */
size_t
dispatcher_stop(struct dispatcher *d, unsigned grace_ms)
{
	if (d == NULL)
		return 0;
	return dispatcher_shutdown(d, d->worker_count, grace_ms, true);
}
