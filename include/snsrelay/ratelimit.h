/*
 * Rate-limit bookkeeping for the delivery workers: when each destination
 * may send again, from the responses it received.  Pure: no clock, no
 * locks and no I/O, so the caller passes the time and serialises the
 * calls.
 *
 * Three kinds of block decide when a destination may send:
 *   - its own block, after a 429;
 *   - the block of its X-RateLimit-Bucket, which Discord may share
 *     between several webhooks, after a 429 or a response with
 *     X-RateLimit-Remaining 0;
 *   - for Discord destinations, the global block after a 429 whose body
 *     or X-RateLimit-Global header marks the global limit.
 */
#ifndef SNSRELAY_RATELIMIT_H
#define SNSRELAY_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "snsrelay/delivery.h"

/* Wait after the first 429 that carries no timing at all, such as a
 * Cloudflare block.  Each such 429 in a row doubles it, up to the cap. */
#define RATELIMIT_HEADERLESS_FIRST_MS	30000
#define RATELIMIT_HEADERLESS_MAX_MS	600000
/* Bounds of a wait taken from a response's retry_after or
 * X-RateLimit-Reset-After, against zero and absurd values. */
#define RATELIMIT_WAIT_MIN_MS		100
#define RATELIMIT_WAIT_MAX_MS		3600000

struct ratelimit;

/* Creates the state of destinations 0 to count - 1.  NULL when memory
 * is short. */
struct ratelimit *ratelimit_new(size_t count);
void ratelimit_free(struct ratelimit *rl);

/*
 * Records the response that destination dest (a Discord webhook when
 * discord is true) received at now_ms.  Returns how long the alerts of
 * a 429 must wait in ms, or 0 for any other outcome.  The wait of a 429
 * is retry_after (body, else Retry-After header), else
 * X-RateLimit-Reset-After, else the header-less backoff.  That backoff
 * starts again from RATELIMIT_HEADERLESS_FIRST_MS after a 2xx response
 * or a 429 that carries its own timing.
 */
int64_t ratelimit_record(struct ratelimit *rl, size_t dest, bool discord,
			 const struct delivery_result *result,
			 int64_t now_ms);

/* Returns the time in ms before which dest must not send; a time at or
 * before now means it may send now. */
int64_t ratelimit_blocked_until(const struct ratelimit *rl, size_t dest,
				bool discord);

#endif
