/*
 * Rate-limit bookkeeping: per-destination blocks, blocks per
 * X-RateLimit-Bucket, and the Discord global block.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snsrelay/ratelimit.h"

/* Header-less 429s in a row are counted up to this; the wait is capped
 * long before. */
#define RATELIMIT_STREAK_MAX 32

struct ratelimit_bucket {
	char name[64];			/* "" when the slot is free */
	int64_t until_ms;
};

struct ratelimit_dest {
	int64_t until_ms;
	unsigned headerless_streak;	/* 429s in a row without timing */
	char bucket[64];		/* last X-RateLimit-Bucket seen */
};

struct ratelimit {
	struct ratelimit_dest *dests;
	size_t count;
	/* Each destination is in one bucket at a time; twice as many slots
	 * leave room for buckets a destination has left. */
	struct ratelimit_bucket *buckets;
	size_t bucket_count;
	int64_t global_until_ms;
};

struct ratelimit *
ratelimit_new(size_t count)
{
	struct ratelimit *rl = calloc(1, sizeof(*rl));

	if (rl == NULL)
		return NULL;
	rl->count = count;
	rl->bucket_count = 2 * (count > 0 ? count : 1);
	rl->dests = calloc(count > 0 ? count : 1, sizeof(*rl->dests));
	rl->buckets = calloc(rl->bucket_count, sizeof(*rl->buckets));
	if (rl->dests == NULL || rl->buckets == NULL) {
		ratelimit_free(rl);
		return NULL;
	}
	return rl;
}

void
ratelimit_free(struct ratelimit *rl)
{
	if (rl == NULL)
		return;
	free(rl->dests);
	free(rl->buckets);
	free(rl);
}

static int64_t
ratelimit_max(int64_t a, int64_t b)
{
	return a > b ? a : b;
}

/* Converts seconds from a response to ms within the wait bounds. */
static int64_t
ratelimit_seconds_to_ms(double seconds)
{
	double ms = ceil(seconds * 1000.0);

	if (!(ms >= RATELIMIT_WAIT_MIN_MS))
		return RATELIMIT_WAIT_MIN_MS;
	if (ms > RATELIMIT_WAIT_MAX_MS)
		return RATELIMIT_WAIT_MAX_MS;
	return (int64_t)ms;
}

static struct ratelimit_bucket *
ratelimit_find_bucket(const struct ratelimit *rl, const char *name)
{
	size_t i;

	if (name[0] == '\0')
		return NULL;
	for (i = 0; i < rl->bucket_count; i++)
		if (strcmp(rl->buckets[i].name, name) == 0)
			return &rl->buckets[i];
	return NULL;
}

/* Returns the slot for name, taking a free slot or else the one whose
 * block ends first. */
static struct ratelimit_bucket *
ratelimit_get_bucket(struct ratelimit *rl, const char *name)
{
	struct ratelimit_bucket *b = ratelimit_find_bucket(rl, name);
	size_t i;

	if (b != NULL)
		return b;
	b = &rl->buckets[0];
	for (i = 0; i < rl->bucket_count; i++) {
		if (rl->buckets[i].name[0] == '\0') {
			b = &rl->buckets[i];
			break;
		}
		if (rl->buckets[i].until_ms < b->until_ms)
			b = &rl->buckets[i];
	}
	snprintf(b->name, sizeof(b->name), "%s", name);
	b->until_ms = 0;
	return b;
}

/* Blocks the bucket of dest, or dest itself when it has no bucket. */
static void
ratelimit_block(struct ratelimit *rl, struct ratelimit_dest *d,
		int64_t until_ms)
{
	struct ratelimit_bucket *b;

	if (d->bucket[0] == '\0') {
		d->until_ms = ratelimit_max(d->until_ms, until_ms);
		return;
	}
	b = ratelimit_get_bucket(rl, d->bucket);
	b->until_ms = ratelimit_max(b->until_ms, until_ms);
}

/* The wait of a 429, which also counts header-less ones in a row. */
static int64_t
ratelimit_wait_of_429(struct ratelimit_dest *d,
		      const struct delivery_result *result)
{
	unsigned shift;
	int64_t wait;

	if (result->retry_after_s >= 0) {
		d->headerless_streak = 0;
		return ratelimit_seconds_to_ms(result->retry_after_s);
	}
	if (result->ratelimit_reset_after_s >= 0) {
		d->headerless_streak = 0;
		return ratelimit_seconds_to_ms(
			result->ratelimit_reset_after_s);
	}
	if (d->headerless_streak < RATELIMIT_STREAK_MAX)
		d->headerless_streak++;
	wait = RATELIMIT_HEADERLESS_FIRST_MS;
	for (shift = 1; shift < d->headerless_streak &&
	     wait < RATELIMIT_HEADERLESS_MAX_MS; shift++)
		wait *= 2;
	return wait < RATELIMIT_HEADERLESS_MAX_MS ? wait :
	       RATELIMIT_HEADERLESS_MAX_MS;
}

int64_t
ratelimit_record(struct ratelimit *rl, size_t dest, bool discord,
		 const struct delivery_result *result, int64_t now_ms)
{
	struct ratelimit_dest *d;
	int64_t wait = 0;

	if (dest >= rl->count)
		return 0;
	d = &rl->dests[dest];
	if (result->ratelimit_bucket[0] != '\0')
		snprintf(d->bucket, sizeof(d->bucket), "%s",
			 result->ratelimit_bucket);
	if (result->outcome == DELIVERY_OK)
		d->headerless_streak = 0;

	/* Proactive: the bucket is used up until it resets. */
	if (result->ratelimit_remaining == 0 &&
	    result->ratelimit_reset_after_s >= 0)
		ratelimit_block(rl, d, now_ms + ratelimit_seconds_to_ms(
			result->ratelimit_reset_after_s));

	if (result->outcome != DELIVERY_RATE_LIMITED)
		return 0;
	wait = ratelimit_wait_of_429(d, result);
	d->until_ms = ratelimit_max(d->until_ms, now_ms + wait);
	ratelimit_block(rl, d, now_ms + wait);
	if (discord && result->global)
		rl->global_until_ms = ratelimit_max(rl->global_until_ms,
						    now_ms + wait);
	return wait;
}

int64_t
ratelimit_blocked_until(const struct ratelimit *rl, size_t dest,
			bool discord)
{
	const struct ratelimit_dest *d;
	const struct ratelimit_bucket *b;
	int64_t until;

	if (dest >= rl->count)
		return 0;
	d = &rl->dests[dest];
	until = d->until_ms;
	b = ratelimit_find_bucket(rl, d->bucket);
	if (b != NULL)
		until = ratelimit_max(until, b->until_ms);
	if (discord)
		until = ratelimit_max(until, rl->global_until_ms);
	return until;
}
