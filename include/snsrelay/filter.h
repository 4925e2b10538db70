/*
 * Per-destination alert filters: the "filter" option decides which
 * alerts each destination receives, by minimum severity and by
 * CloudTrail event name.
 */
#ifndef SNSRELAY_FILTER_H
#define SNSRELAY_FILTER_H

#include <stdbool.h>

#include <json-c/json.h>

#include "snsrelay/config.h"

/* Severity levels in increasing order; "warning" counts as medium. */
enum filter_severity {
	FILTER_SEVERITY_INFO = 0,
	FILTER_SEVERITY_LOW,
	FILTER_SEVERITY_MEDIUM,
	FILTER_SEVERITY_HIGH,
	FILTER_SEVERITY_CRITICAL,
};

/* Returns the level named by text (info, low, medium, warning, high,
 * critical; case-sensitive), or -1 when text names none. */
int filter_parse_severity(const char *text);

/* Returns the filter of destination in cfg, or NULL when it has none. */
const struct filter_config *filter_find(const struct relay_config *cfg,
					const char *destination);

/*
 * True when filter lets alert (the alert document) through.  A NULL
 * filter and a "subscription_ended" alert always pass.  Otherwise the
 * alert's "severity" must reach min_severity, and when the filter lists
 * events, the alert's "event"."name" must match one of the patterns; an
 * alert without an event name passes only a list containing "*".  A
 * missing or unknown severity counts as critical, so that a malformed
 * alert is sent rather than dropped.
 */
bool filter_accepts(const struct filter_config *filter, json_object *alert);

#endif
