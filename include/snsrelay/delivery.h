/*
 * Destinations for alerts: the Discord webhook, named extra webhooks, and
 * standard output as JSON lines when no webhook is configured.
 */
#ifndef SNSRELAY_DELIVERY_H
#define SNSRELAY_DELIVERY_H

#include <stdbool.h>
#include <stddef.h>

#include <json-c/json.h>

#include "snsrelay/config.h"
#include "snsrelay/err.h"

enum destination_kind {
	DESTINATION_DISCORD = 0,
	DESTINATION_GENERIC,
	DESTINATION_SLACK,	/* Slack incoming webhook, Block Kit */
	DESTINATION_TEAMS,	/* Teams Workflows webhook, Adaptive Card */
	DESTINATION_STDOUT,
};

struct destination {
	char *name;		/* "discord", a webhook name, or "stdout" */
	enum destination_kind kind;
	char *url;		/* NULL for stdout */
	char *url_redacted;	/* safe to log */
};

struct delivery;

/* Builds the destination list from cfg.  Returns NULL when memory is
 * short. */
struct delivery *delivery_new(const struct relay_config *cfg);
void delivery_free(struct delivery *d);

size_t delivery_count(const struct delivery *d);
const struct destination *delivery_get(const struct delivery *d, size_t i);

enum delivery_outcome {
	DELIVERY_OK = 0,
	DELIVERY_RETRY,		/* transport error, timeout or 5xx */
	DELIVERY_RATE_LIMITED,	/* 429 */
	DELIVERY_REJECTED,	/* other 4xx: retrying cannot help */
	DELIVERY_GONE,		/* 404: the webhook no longer exists */
};

/* Outcome of one send, with the receiver's rate-limit headers. */
struct delivery_result {
	enum delivery_outcome outcome;
	long status;			/* HTTP status; 0 when none came */
	size_t sent;			/* alerts packed into the request */
	double retry_after_s;		/* 429 body retry_after, else the
					 * Retry-After header; -1 if absent */
	bool global;			/* Discord's global rate limit */
	bool has_ratelimit_headers;	/* any X-RateLimit-* header */
	long ratelimit_remaining;	/* -1 when absent */
	double ratelimit_reset_after_s;	/* -1 when absent */
	char ratelimit_bucket[64];	/* "" when absent */
	char error[256];		/* reason when not DELIVERY_OK */
};

/*
 * Renders alerts[0..count) for destination i and sends them in one
 * request, waiting at most the configured delivery timeout.  A Discord
 * destination packs as many leading alerts as fit in one message (10
 * embeds, 6000 characters); other destinations send the first alert
 * only.  result->sent is the number sent.
 */
void delivery_send_batch(struct delivery *d, size_t i,
			 json_object *const *alerts, size_t count,
			 struct delivery_result *result);

/*
 * Sends one alert to destination i.  Returns RESULT_OK on a 2xx response,
 * RESULT_RETRY for transport errors, 429 and 5xx, and RESULT_REJECT for
 * other statuses (code "delivery_rejected").
 */
int delivery_send(struct delivery *d, size_t i, json_object *alert,
		  struct err *e);

#endif
