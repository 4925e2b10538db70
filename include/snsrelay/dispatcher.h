/*
 * Delivery workers: one thread per destination takes due alerts from the
 * spool, sends them (several per Discord message when they queue up),
 * and records the outcome, so that each destination succeeds, fails and
 * retries on its own.
 *
 * Retries back off exponentially with jitter.  An alert older than
 * max_age becomes a dead letter.  Permanent errors (HTTP 400, 401, 403,
 * 404 and other 4xx except 429) make dead letters at once; a 404 also
 * disables the destination, as Discord asks of webhooks that no longer
 * exist.  Rate limits (429 with retry_after or Retry-After,
 * X-RateLimit-Remaining and X-RateLimit-Reset-After per
 * X-RateLimit-Bucket, the global flag, and 429 without rate-limit
 * headers) delay the destination without using up attempts.
 */
#ifndef SNSRELAY_DISPATCHER_H
#define SNSRELAY_DISPATCHER_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

#include "snsrelay/delivery.h"
#include "snsrelay/err.h"
#include "snsrelay/spool.h"

struct dispatcher_options {
	unsigned max_age_s;		/* then a dead letter */
	unsigned backoff_min_ms;	/* first retry delay */
	unsigned backoff_max_ms;	/* cap of the retry delay */
	unsigned batch_max;		/* alerts per Discord message, <= 10 */
};

struct dispatcher;

/* Starts one worker per destination of delivery.  NULL with the reason
 * in e when a thread cannot start. */
struct dispatcher *dispatcher_start(struct spool *spool,
				    struct delivery *delivery,
				    const struct dispatcher_options *opts,
				    struct err *e);

/* Wakes the workers: new alerts were stored. */
void dispatcher_notify(struct dispatcher *dispatcher);

/* True while every worker thread runs. */
bool dispatcher_running(struct dispatcher *dispatcher);

/*
 * Stops the workers: no new send starts, sends in flight get up to
 * grace_ms to finish, and whatever is left stays in the spool for the
 * next start.  Logs how many deliveries remain pending.  Frees
 * dispatcher.  Returns the number of workers still sending after the
 * grace: they keep using the delivery object until their send times
 * out, so the caller must not free it then.
 */
size_t dispatcher_stop(struct dispatcher *dispatcher, unsigned grace_ms);

/*
 * The delay before retry number attempt (1 for the first retry):
 * min_ms * 2^(attempt-1), capped at max_ms, then scaled by a random
 * factor in [0.5, 1.0] from random01.  Exposed for tests.
 */
int64_t dispatcher_backoff_ms(unsigned attempt, unsigned min_ms,
			      unsigned max_ms, double random01);

#endif
