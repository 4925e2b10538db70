/*
 * Prometheus metrics in the text exposition format 0.0.4.
 *
 * Each counter family keeps its series in an array of at most
 * METRICS_SERIES_MAX entries behind its own mutex, so request threads
 * and delivery workers, which count in different families, do not
 * contend.  A family has a few dozen series in practice, so a linear
 * search by label values is cheaper than a hash table.  The histogram
 * has its own mutex.
 */
#include "config.h"

#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snsrelay/log.h"
#include "snsrelay/metrics.h"

#define METRICS_LABELS_MAX	2
/* Maximum length of a label value in bytes; a longer one is counted
 * under "other".  Destination names have at most 64 bytes, and the
 * relay's codes are shorter. */
#define METRICS_VALUE_MAX	64
/* Packed label values of one series, "v1\0v2\0". */
#define METRICS_KEY_BYTES	(METRICS_LABELS_MAX * (METRICS_VALUE_MAX + 1))
#define METRICS_OTHER		"other"

struct metric_def {
	const char *name;
	const char *help;
	size_t label_count;
	const char *label_names[METRICS_LABELS_MAX];
};

struct metric_series {
	uint64_t value;
	size_t key_len;
	char key[METRICS_KEY_BYTES];
};

struct metric_family_state {
	pthread_mutex_t lock;
	struct metric_series *series;	/* METRICS_SERIES_MAX, on first use */
	size_t count;
	bool overflow_logged;
};

static const struct metric_def metric_defs[METRIC_FAMILY_COUNT] = {
	[METRIC_SNS_REQUESTS] = {
		"snsrelay_sns_requests_total",
		"SNS deliveries processed, by outcome: accepted, duplicate, "
		"confirmed, confirmation_logged, or the rejection code.",
		1, { "outcome" },
	},
	[METRIC_SUBSCRIPTIONS] = {
		"snsrelay_subscriptions_total",
		"Verified subscription messages, by outcome: confirmed, "
		"confirm_failed, logged (auto_confirm off), unsubscribed.",
		1, { "outcome" },
	},
	[METRIC_ALERTS_STORED] = {
		"snsrelay_alerts_stored_total",
		"Alerts newly committed to the spool; duplicates excluded.",
		0, { NULL },
	},
	[METRIC_DELIVERIES] = {
		"snsrelay_deliveries_total",
		"Outcomes of alert deliveries, one per alert and attempt: "
		"delivered, failed (will retry), rate_limited, dead.",
		2, { "destination", "outcome" },
	},
	[METRIC_DELIVERY_RETRIES] = {
		"snsrelay_delivery_retries_total",
		"Alerts sent again after an earlier attempt failed or was "
		"rate limited.",
		1, { "destination" },
	},
	[METRIC_RATE_LIMIT_WAITS] = {
		"snsrelay_rate_limit_waits_total",
		"HTTP 429 responses after which the destination waited.",
		1, { "destination" },
	},
	[METRIC_DEAD_LETTERS] = {
		"snsrelay_dead_letters_total",
		"Alerts that became dead letters.",
		1, { "destination" },
	},
	[METRIC_CERT_CACHE_HITS] = {
		"snsrelay_cert_cache_hits_total",
		"Signing keys found in the certificate cache.",
		0, { NULL },
	},
	[METRIC_CERT_FETCHES] = {
		"snsrelay_cert_fetches_total",
		"Signing certificate fetches, by outcome: ok, failed, "
		"negative_cached, rate_limited.",
		1, { "outcome" },
	},
	[METRIC_HTTP_REQUESTS] = {
		"snsrelay_http_requests_total",
		"HTTP requests answered, by route and status code.",
		2, { "route", "status" },
	},
	[METRIC_CONFIG_RELOADS] = {
		"snsrelay_config_reloads_total",
		"Configuration reloads, by outcome: ok, failed.",
		1, { "outcome" },
	},
};

static struct metric_family_state metric_states[METRIC_FAMILY_COUNT] = {
	[0 ... METRIC_FAMILY_COUNT - 1] = {
		.lock = PTHREAD_MUTEX_INITIALIZER,
	},
};

/* ---- the request duration histogram ---- */

#define SNS_DURATION_NAME "snsrelay_sns_request_duration_seconds"

/* Upper bounds in seconds.  A verified request takes 1 to 50 ms; the
 * wide tail shows certificate fetches and spool stalls. */
static const double sns_duration_bounds[] = {
	0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
	1, 2.5, 5, 10,
};
#define SNS_DURATION_BUCKETS \
	(sizeof(sns_duration_bounds) / sizeof(sns_duration_bounds[0]))

struct duration_histogram {
	uint64_t buckets[SNS_DURATION_BUCKETS + 1];	/* last: above all */
	uint64_t count;
	double sum;
};

static pthread_mutex_t sns_duration_lock = PTHREAD_MUTEX_INITIALIZER;
static struct duration_histogram sns_duration;

/* ---- counters ---- */

/* Packs the label values of def into key.  Returns the length, or -1
 * when a value is longer than METRICS_VALUE_MAX.  A NULL value of a
 * label the family has counts as the empty string. */
static int
metrics_pack_key(const struct metric_def *def, const char *label1,
		 const char *label2, char *key)
{
	const char *values[METRICS_LABELS_MAX] = { label1, label2 };
	size_t i, n, len = 0;

	for (i = 0; i < def->label_count; i++) {
		if (values[i] == NULL)
			values[i] = "";
		n = strlen(values[i]) + 1;
		if (n > METRICS_VALUE_MAX + 1)
			return -1;
		memcpy(key + len, values[i], n);
		len += n;
	}
	return (int)len;
}

static int
metrics_other_key(const struct metric_def *def, char *key)
{
	return metrics_pack_key(def, METRICS_OTHER, METRICS_OTHER, key);
}

static struct metric_series *
metrics_find(struct metric_family_state *state, const char *key,
	     size_t key_len)
{
	struct metric_series *s;
	size_t i;

	for (i = 0; i < state->count; i++) {
		s = &state->series[i];
		if (s->key_len == key_len && memcmp(s->key, key, key_len) == 0)
			return s;
	}
	return NULL;
}

static struct metric_series *
metrics_append(struct metric_family_state *state, const char *key,
	       size_t key_len)
{
	struct metric_series *s = &state->series[state->count++];

	s->value = 0;
	s->key_len = key_len;
	memcpy(s->key, key, key_len);
	return s;
}

/*
 * Returns the series of key, adding it when there is room.  The last
 * slot is kept for the "other" series, so a family that is full can
 * always count what it turns away.  Sets *overflow when key went to
 * "other".  Called with the family's lock held.
 */
static struct metric_series *
metrics_series(const struct metric_def *def,
	       struct metric_family_state *state, const char *key,
	       int key_len, bool *overflow)
{
	char other[METRICS_KEY_BYTES];
	int other_len = metrics_other_key(def, other);
	struct metric_series *s;

	if (state->series == NULL) {
		state->series = calloc(METRICS_SERIES_MAX, sizeof(*s));
		if (state->series == NULL)
			return NULL;
	}
	if (key_len >= 0) {
		s = metrics_find(state, key, (size_t)key_len);
		if (s != NULL)
			return s;
		if (state->count < METRICS_SERIES_MAX - 1)
			return metrics_append(state, key, (size_t)key_len);
	}
	if (key_len != other_len || memcmp(key, other, (size_t)other_len) != 0)
		*overflow = true;
	s = metrics_find(state, other, (size_t)other_len);
	if (s == NULL && state->count < METRICS_SERIES_MAX)
		s = metrics_append(state, other, (size_t)other_len);
	return s;
}

/* Logs, once per family, that a family counts new series as "other". */
static void
metrics_log_overflow(const struct metric_def *def, const char *label1,
		     const char *label2)
{
	struct log_line line;

	log_begin(&line, LOG_WARN, "metrics_series_overflow");
	log_str(&line, "metric", def->name);
	log_str(&line, "label1", label1);
	log_str(&line, "label2", label2);
	log_int(&line, "max_series", METRICS_SERIES_MAX);
	log_str(&line, "msg", "new label values of this metric are counted "
		"under \"other\"");
	log_end(&line);
}

void
metrics_add(enum metric_family family, const char *label1,
	    const char *label2, uint64_t n)
{
	const struct metric_def *def;
	struct metric_family_state *state;
	struct metric_series *s;
	char key[METRICS_KEY_BYTES];
	bool overflow = false, log_overflow = false;
	int key_len;

	if ((unsigned)family >= METRIC_FAMILY_COUNT)
		return;
	def = &metric_defs[family];
	state = &metric_states[family];
	key_len = metrics_pack_key(def, label1, label2, key);

	pthread_mutex_lock(&state->lock);
	s = metrics_series(def, state, key, key_len, &overflow);
	if (s != NULL)
		s->value += n;
	if (overflow && !state->overflow_logged) {
		state->overflow_logged = true;
		log_overflow = true;
	}
	pthread_mutex_unlock(&state->lock);

	if (log_overflow)
		metrics_log_overflow(def, label1, label2);
}

void
metrics_inc(enum metric_family family, const char *label1,
	    const char *label2)
{
	metrics_add(family, label1, label2, 1);
}

uint64_t
metrics_get(enum metric_family family, const char *label1,
	    const char *label2)
{
	struct metric_family_state *state;
	struct metric_series *s = NULL;
	char key[METRICS_KEY_BYTES];
	uint64_t value = 0;
	int key_len;

	if ((unsigned)family >= METRIC_FAMILY_COUNT)
		return 0;
	state = &metric_states[family];
	key_len = metrics_pack_key(&metric_defs[family], label1, label2, key);
	if (key_len < 0)
		return 0;

	pthread_mutex_lock(&state->lock);
	if (state->series != NULL)
		s = metrics_find(state, key, (size_t)key_len);
	if (s != NULL)
		value = s->value;
	pthread_mutex_unlock(&state->lock);
	return value;
}

void
metrics_observe_sns_seconds(double seconds)
{
	size_t i = 0;

	if (!isfinite(seconds))
		return;
	if (seconds < 0)
		seconds = 0;
	while (i < SNS_DURATION_BUCKETS && seconds > sns_duration_bounds[i])
		i++;

	pthread_mutex_lock(&sns_duration_lock);
	sns_duration.buckets[i]++;
	sns_duration.count++;
	sns_duration.sum += seconds;
	pthread_mutex_unlock(&sns_duration_lock);
}

void
metrics_reset(void)
{
	size_t f;

	for (f = 0; f < METRIC_FAMILY_COUNT; f++) {
		pthread_mutex_lock(&metric_states[f].lock);
		metric_states[f].count = 0;
		metric_states[f].overflow_logged = false;
		pthread_mutex_unlock(&metric_states[f].lock);
	}
	pthread_mutex_lock(&sns_duration_lock);
	memset(&sns_duration, 0, sizeof(sns_duration));
	pthread_mutex_unlock(&sns_duration_lock);
}

/* ---- rendering ---- */

/* Appends value as a quoted label value, with backslash, double quote
 * and newline escaped as the text format requires. */
static int
render_label_value(struct buf *out, const char *value)
{
	const char *p;
	int rc = buf_append_str(out, "\"");

	for (p = value; rc == 0 && *p != '\0'; p++) {
		if (*p == '\\')
			rc = buf_append_str(out, "\\\\");
		else if (*p == '"')
			rc = buf_append_str(out, "\\\"");
		else if (*p == '\n')
			rc = buf_append_str(out, "\\n");
		else
			rc = buf_append(out, p, 1);
	}
	return rc == 0 ? buf_append_str(out, "\"") : -1;
}

/* Appends {name1="v1",name2="v2"} for the packed key of def. */
static int
render_labels(struct buf *out, const struct metric_def *def,
	      const char *key)
{
	size_t i;
	int rc;

	if (def->label_count == 0)
		return 0;
	rc = buf_append_str(out, "{");
	for (i = 0; rc == 0 && i < def->label_count; i++) {
		rc = buf_printf(out, "%s%s=", i > 0 ? "," : "",
				def->label_names[i]);
		if (rc == 0)
			rc = render_label_value(out, key);
		key += strlen(key) + 1;
	}
	return rc == 0 ? buf_append_str(out, "}") : -1;
}

static int
render_header(struct buf *out, const char *name, const char *help,
	      const char *type)
{
	return buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help,
			  name, type);
}

static int
render_counter(struct buf *out, enum metric_family family)
{
	const struct metric_def *def = &metric_defs[family];
	struct metric_family_state *state = &metric_states[family];
	const struct metric_series *s;
	size_t i;
	int rc = render_header(out, def->name, def->help, "counter");

	pthread_mutex_lock(&state->lock);
	/* An unlabeled counter exists from the start, at 0. */
	if (rc == 0 && def->label_count == 0 && state->count == 0)
		rc = buf_printf(out, "%s 0\n", def->name);
	for (i = 0; rc == 0 && i < state->count; i++) {
		s = &state->series[i];
		rc = buf_append_str(out, def->name);
		if (rc == 0)
			rc = render_labels(out, def, s->key);
		if (rc == 0)
			rc = buf_printf(out, " %" PRIu64 "\n", s->value);
	}
	pthread_mutex_unlock(&state->lock);
	return rc;
}

/* Formats value with the fewest digits that read back as the same
 * double, as Prometheus clients do. */
static void
format_double(double value, char *out, size_t size)
{
	int precision;

	for (precision = 15; precision < 17; precision++) {
		snprintf(out, size, "%.*g", precision, value);
		if (strtod(out, NULL) == value)
			return;
	}
	snprintf(out, size, "%.17g", value);
}

static int
render_histogram(struct buf *out)
{
	struct duration_histogram h;
	char number[40];
	uint64_t cumulative = 0;
	size_t i;
	int rc;

	pthread_mutex_lock(&sns_duration_lock);
	h = sns_duration;
	pthread_mutex_unlock(&sns_duration_lock);

	rc = render_header(out, SNS_DURATION_NAME, "Time from the first "
			   "byte of a POST to the SNS endpoint to its "
			   "answer.", "histogram");
	for (i = 0; rc == 0 && i < SNS_DURATION_BUCKETS; i++) {
		cumulative += h.buckets[i];
		format_double(sns_duration_bounds[i], number, sizeof(number));
		rc = buf_printf(out, "%s_bucket{le=\"%s\"} %" PRIu64 "\n",
				SNS_DURATION_NAME, number, cumulative);
	}
	format_double(h.sum, number, sizeof(number));
	if (rc == 0)
		rc = buf_printf(out, "%s_bucket{le=\"+Inf\"} %" PRIu64 "\n"
				"%s_sum %s\n%s_count %" PRIu64 "\n",
				SNS_DURATION_NAME, h.count,
				SNS_DURATION_NAME, number,
				SNS_DURATION_NAME, h.count);
	return rc;
}

/* Appends a gauge family; a negative value leaves its sample out. */
static int
render_gauge(struct buf *out, const char *name, const char *help,
	     long long value)
{
	int rc = render_header(out, name, help, "gauge");

	if (rc == 0 && value >= 0)
		rc = buf_printf(out, "%s %lld\n", name, value);
	return rc;
}

static int
render_gauges(struct buf *out, const struct metrics_gauges *g)
{
	static const struct metrics_gauges unknown = {
		-1, -1, -1, -1, -1, -1,
	};
	int rc;

	if (g == NULL)
		g = &unknown;
	rc = render_gauge(out, "snsrelay_spool_pending_deliveries",
			  "Deliveries in the spool not yet delivered or "
			  "dead, over all destinations.", g->spool_pending);
	if (rc == 0)
		rc = render_gauge(out, "snsrelay_spool_dead_letters",
				  "Dead letters kept in the spool.",
				  g->spool_dead);
	if (rc == 0)
		rc = render_gauge(out, "snsrelay_http_connections",
				  "Open HTTP connections.", g->connections);
	if (rc == 0)
		rc = render_gauge(out, "snsrelay_cert_cache_entries",
				  "Signing keys in the certificate cache.",
				  g->cert_cache_entries);
	if (rc == 0)
		rc = render_gauge(out, "snsrelay_uptime_seconds",
				  "Seconds since the relay started.",
				  g->uptime_s);
	if (rc == 0)
		rc = render_gauge(out, "snsrelay_ready",
				  "1 when GET /readyz answers ready, else 0.",
				  g->ready);
	return rc;
}

static int
render_build_info(struct buf *out)
{
	int rc = render_header(out, "snsrelay_build_info",
			       "Constant 1, labeled with the version of this build.",
			       "gauge");

	if (rc == 0)
		rc = buf_append_str(out, "snsrelay_build_info{version=");
	if (rc == 0)
		rc = render_label_value(out, PACKAGE_VERSION);
	if (rc == 0)
		rc = buf_append_str(out, "} 1\n");
	return rc;
}

int
metrics_render(struct buf *out, const struct metrics_gauges *gauges)
{
	size_t f;
	int rc = 0;

	for (f = 0; rc == 0 && f < METRIC_FAMILY_COUNT; f++)
		rc = render_counter(out, (enum metric_family)f);
	if (rc == 0)
		rc = render_histogram(out);
	if (rc == 0)
		rc = render_gauges(out, gauges);
	if (rc == 0)
		rc = render_build_info(out);
	return rc == 0 ? 0 : -1;
}
