/*
 * Prometheus metrics: process-wide counters, one request latency
 * histogram, and gauges read at scrape time, rendered in the text
 * exposition format (version 0.0.4) for GET /metrics.
 *
 * Counters are safe to bump from any thread.  Label values come from the
 * relay itself (reason codes, destination names from the configuration),
 * never from a client, so the number of series stays bounded.  Beyond
 * METRICS_SERIES_MAX series, a family counts new ones under the label
 * value "other" in every label.  Label values longer than
 * 64 bytes are counted there too.
 *
 *   metrics_inc(METRIC_SNS_REQUESTS, "bad_signature", NULL);
 *   metrics_inc(METRIC_DELIVERIES, "discord", "delivered");
 */
#ifndef SNSRELAY_METRICS_H
#define SNSRELAY_METRICS_H

#include <stdint.h>

#include "snsrelay/buf.h"

#define METRICS_SERIES_MAX 256	/* per family */

enum metric_family {
	/* snsrelay_sns_requests_total{outcome}: "accepted", "duplicate",
	 * "confirmed", "confirmation_logged", or the error code of a
	 * rejection ("bad_signature", ...). */
	METRIC_SNS_REQUESTS = 0,
	/* snsrelay_subscriptions_total{outcome}: "confirmed",
	 * "confirm_failed", "logged" (auto_confirm off), "unsubscribed". */
	METRIC_SUBSCRIPTIONS,
	/* snsrelay_alerts_stored_total */
	METRIC_ALERTS_STORED,
	/* snsrelay_deliveries_total{destination,outcome}: "delivered",
	 * "failed" (will retry), "dead", "rate_limited". */
	METRIC_DELIVERIES,
	/* snsrelay_delivery_retries_total{destination}: alerts sent again
	 * after a failed or rate-limited attempt. */
	METRIC_DELIVERY_RETRIES,
	/* snsrelay_rate_limit_waits_total{destination}: 429 responses. */
	METRIC_RATE_LIMIT_WAITS,
	/* snsrelay_dead_letters_total{destination} */
	METRIC_DEAD_LETTERS,
	/* snsrelay_cert_cache_hits_total */
	METRIC_CERT_CACHE_HITS,
	/* snsrelay_cert_fetches_total{outcome}: "ok", "failed",
	 * "negative_cached", "rate_limited". */
	METRIC_CERT_FETCHES,
	/* snsrelay_http_requests_total{route,status}: every HTTP request
	 * that got a response; route is "sns", "healthz", "readyz", "metrics" or
	 * "other". */
	METRIC_HTTP_REQUESTS,
	/* snsrelay_config_reloads_total{outcome}: "ok", "failed". */
	METRIC_CONFIG_RELOADS,
	METRIC_FAMILY_COUNT
};

/* Values read when /metrics is scraped; -1 leaves a gauge out. */
struct metrics_gauges {
	long long spool_pending;	/* deliveries not yet done */
	long long spool_dead;		/* dead letters kept */
	long long connections;		/* open HTTP connections */
	long long cert_cache_entries;
	long long uptime_s;
	int ready;			/* 1 ready, 0 not, -1 unknown */
};

/* Adds 1 (or n) to the series of family with the given labels.  Labels
 * the family does not have must be NULL. */
void metrics_inc(enum metric_family family, const char *label1,
		 const char *label2);
void metrics_add(enum metric_family family, const char *label1,
		 const char *label2, uint64_t n);

/* Records the time from the headers of a POST to the SNS endpoint to
 * its queued response, in snsrelay_sns_request_duration_seconds. */
void metrics_observe_sns_seconds(double seconds);

/* Current value of one series, for tests; 0 when it does not exist. */
uint64_t metrics_get(enum metric_family family, const char *label1,
		     const char *label2);

/* Appends the whole exposition to out.  Returns 0, or -1 when out is
 * full or memory is short. */
int metrics_render(struct buf *out, const struct metrics_gauges *gauges);

/* Forgets every series; for tests. */
void metrics_reset(void);

#endif
