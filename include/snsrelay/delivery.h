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

/*
 * Renders alert for destination i and sends it, waiting at most the
 * configured delivery timeout.  Returns RESULT_OK on a 2xx answer,
 * RESULT_RETRY for transport errors, 429 and 5xx, and RESULT_REJECT for
 * other statuses (code "delivery_rejected").
 */
int delivery_send(struct delivery *d, size_t i, json_object *alert,
		  struct err *e);

#endif
