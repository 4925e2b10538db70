/*
 * Unit tests for metrics.c: exact counts from concurrent threads, label
 * escaping, the cumulative histogram, the series cap, gauges, and an
 * exposition that parses line by line as the text format 0.0.4.
 */
#include "config.h"

#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <regex.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snsrelay/buf.h"
#include "snsrelay/metrics.h"
#include "tap.h"

#define RENDER_MAX (4 * 1024 * 1024)
#define THREADS 8
#define INCREMENTS 20000

/* ---- helpers ---- */

/* Renders the exposition into a new string; free() it. */
static char *
render(const struct metrics_gauges *gauges)
{
	struct buf out;

	buf_init(&out, RENDER_MAX);
	if (metrics_render(&out, gauges) != 0) {
		buf_free(&out);
		return NULL;
	}
	return buf_steal(&out);
}

/* Copies the sample line that starts with prefix followed by a space
 * into line.  Returns false when there is none. */
static bool
find_sample(const char *text, const char *prefix, char *line, size_t size)
{
	size_t n = strlen(prefix);
	const char *p = text, *end;

	while (p != NULL && *p != '\0') {
		end = strchr(p, '\n');
		if (end == NULL)
			end = p + strlen(p);
		if ((size_t)(end - p) > n && strncmp(p, prefix, n) == 0 &&
		    p[n] == ' ') {
			snprintf(line, size, "%.*s", (int)(end - p), p);
			return true;
		}
		p = *end == '\n' ? end + 1 : end;
	}
	return false;
}

/* The value of the sample line that starts with prefix, or -1. */
static double
sample_value(const char *text, const char *prefix)
{
	char line[1024];

	if (!find_sample(text, prefix, line, sizeof(line)))
		return -1;
	return strtod(line + strlen(prefix) + 1, NULL);
}

static size_t
count_lines_starting(const char *text, const char *prefix)
{
	size_t n = 0, len = strlen(prefix);
	const char *p = text;

	while (p != NULL && *p != '\0') {
		if (strncmp(p, prefix, len) == 0)
			n++;
		p = strchr(p, '\n');
		if (p != NULL)
			p++;
	}
	return n;
}

/* ---- concurrency ---- */

struct counting_thread {
	pthread_t thread;
	int number;
};

static void *
count_in_thread(void *arg)
{
	struct counting_thread *t = arg;
	char own[32];
	int i;

	snprintf(own, sizeof(own), "thread-%d", t->number);
	for (i = 0; i < INCREMENTS; i++) {
		metrics_inc(METRIC_SNS_REQUESTS, "accepted", NULL);
		metrics_add(METRIC_DELIVERIES, "discord", "delivered", 2);
		metrics_inc(METRIC_DEAD_LETTERS, own, NULL);
		metrics_observe_sns_seconds(0.002);
	}
	return NULL;
}

static void
test_threads(void)
{
	struct counting_thread threads[THREADS];
	char own[32], *text;
	int i, started = 0;

	metrics_reset();
	for (i = 0; i < THREADS; i++) {
		threads[i].number = i;
		if (pthread_create(&threads[i].thread, NULL, count_in_thread,
				   &threads[i]) != 0)
			break;
		started++;
	}
	for (i = 0; i < started; i++)
		pthread_join(threads[i].thread, NULL);
	is_int(started, THREADS, "threads: all started");

	is_int(metrics_get(METRIC_SNS_REQUESTS, "accepted", NULL),
	       (long long)THREADS * INCREMENTS, "threads: inc sums exactly");
	is_int(metrics_get(METRIC_DELIVERIES, "discord", "delivered"),
	       2LL * THREADS * INCREMENTS, "threads: add sums exactly");
	for (i = 0; i < THREADS; i++) {
		snprintf(own, sizeof(own), "thread-%d", i);
		is_int(metrics_get(METRIC_DEAD_LETTERS, own, NULL),
		       INCREMENTS, "threads: series %s", own);
	}
	text = render(NULL);
	ok(text != NULL, "threads: render");
	if (text != NULL) {
		ok(sample_value(text, "snsrelay_sns_request_duration_seconds"
				"_count") == (double)THREADS * INCREMENTS,
		   "threads: histogram count");
		is_int(count_lines_starting(text, "snsrelay_dead_letters_total{"),
		       THREADS, "threads: one line per series");
	}
	free(text);
}

/* ---- labels ---- */

static void
test_labels(void)
{
	char *text;

	metrics_reset();
	metrics_inc(METRIC_DELIVERIES, "we\"ird\\name\nx", "delivered");
	metrics_inc(METRIC_HTTP_REQUESTS, "sns", "200");
	metrics_inc(METRIC_SNS_REQUESTS, NULL, NULL);
	is_int(metrics_get(METRIC_SNS_REQUESTS, "", NULL), 1,
	       "labels: NULL value counts as empty");
	is_int(metrics_get(METRIC_DELIVERIES, "we\"ird\\name\nx",
			   "delivered"), 1, "labels: hostile value counted");
	is_int(metrics_get(METRIC_DELIVERIES, "we\"ird\\name\nx", "dead"), 0,
	       "labels: other second label is another series");
	is_int(metrics_get(METRIC_FAMILY_COUNT, NULL, NULL), 0,
	       "labels: unknown family reads 0");
	metrics_inc(METRIC_FAMILY_COUNT, NULL, NULL);	/* ignored */

	text = render(NULL);
	ok(text != NULL, "labels: render");
	if (text == NULL)
		return;
	ok(strstr(text, "snsrelay_deliveries_total{destination="
		  "\"we\\\"ird\\\\name\\nx\",outcome=\"delivered\"} 1\n") !=
	   NULL, "labels: quote, backslash and newline escaped");
	ok(strstr(text, "snsrelay_http_requests_total{route=\"sns\","
		  "status=\"200\"} 1\n") != NULL, "labels: two labels");
	ok(strstr(text, "snsrelay_sns_requests_total{outcome=\"\"} 1\n") !=
	   NULL, "labels: empty value rendered");
	free(text);
}

/* ---- histogram ---- */

static void
test_histogram(void)
{
	static const struct {
		const char *le;
		double count;
	} want[] = {
		{ "0.0005", 2 }, { "0.001", 3 }, { "0.0025", 3 },
		{ "0.005", 4 }, { "0.01", 4 }, { "0.1", 4 }, { "0.25", 5 },
		{ "1", 5 }, { "10", 5 }, { "+Inf", 6 },
	};
	char prefix[128], line[1024], *text;
	const char *p;
	double previous = -1, value, sum;
	size_t i, buckets = 0;
	bool monotonic = true;

	metrics_reset();
	metrics_observe_sns_seconds(0.0003);
	metrics_observe_sns_seconds(-1);	/* clock step: counted as 0 */
	metrics_observe_sns_seconds(0.001);	/* on a bound: le="0.001" */
	metrics_observe_sns_seconds(0.003);
	metrics_observe_sns_seconds(0.2);
	metrics_observe_sns_seconds(20);
	metrics_observe_sns_seconds(NAN);	/* ignored */
	metrics_observe_sns_seconds(INFINITY);	/* ignored */

	text = render(NULL);
	ok(text != NULL, "histogram: render");
	if (text == NULL)
		return;
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		snprintf(prefix, sizeof(prefix), "snsrelay_sns_request_"
			 "duration_seconds_bucket{le=\"%s\"}", want[i].le);
		ok(sample_value(text, prefix) == want[i].count,
		   "histogram: bucket le=%s is %g", want[i].le, want[i].count);
	}
	is_int(sample_value(text, "snsrelay_sns_request_duration_seconds"
			    "_count"), 6, "histogram: count");
	sum = sample_value(text, "snsrelay_sns_request_duration_seconds_sum");
	ok(fabs(sum - 20.2043) < 1e-9, "histogram: sum is 20.2043 (got %.17g)",
	   sum);

	/* Every bucket line, in order: cumulative and ending at _count. */
	p = text;
	while ((p = strstr(p, "snsrelay_sns_request_duration_seconds_bucket"
			   "{")) != NULL) {
		snprintf(line, sizeof(line), "%.*s", (int)strcspn(p, "\n"), p);
		value = strtod(strchr(line, ' ') + 1, NULL);
		if (value < previous)
			monotonic = false;
		previous = value;
		buckets++;
		p += strlen(line);
	}
	is_int(buckets, 15, "histogram: 14 bounds and +Inf");
	ok(monotonic, "histogram: buckets cumulative");
	ok(previous == 6, "histogram: last bucket equals _count");
	ok(strstr(text, "# TYPE snsrelay_sns_request_duration_seconds "
		  "histogram\n") != NULL, "histogram: TYPE line");
	free(text);
}

/* ---- the series cap ---- */

static void
test_overflow(void)
{
	char label[32], long_label[66], *text;
	int i;

	metrics_reset();
	for (i = 0; i < METRICS_SERIES_MAX + 10; i++) {
		snprintf(label, sizeof(label), "code-%d", i);
		metrics_inc(METRIC_CERT_FETCHES, label, NULL);
	}
	is_int(metrics_get(METRIC_CERT_FETCHES, "code-0", NULL), 1,
	       "overflow: first series kept");
	snprintf(label, sizeof(label), "code-%d", METRICS_SERIES_MAX - 2);
	is_int(metrics_get(METRIC_CERT_FETCHES, label, NULL), 1,
	       "overflow: last regular series kept");
	snprintf(label, sizeof(label), "code-%d", METRICS_SERIES_MAX - 1);
	is_int(metrics_get(METRIC_CERT_FETCHES, label, NULL), 0,
	       "overflow: next series not created");
	is_int(metrics_get(METRIC_CERT_FETCHES, "other", NULL), 11,
	       "overflow: turned-away increments under other");

	metrics_inc(METRIC_CERT_FETCHES, "code-0", NULL);
	is_int(metrics_get(METRIC_CERT_FETCHES, "code-0", NULL), 2,
	       "overflow: existing series still counts");
	metrics_inc(METRIC_CERT_FETCHES, "other", NULL);
	is_int(metrics_get(METRIC_CERT_FETCHES, "other", NULL), 12,
	       "overflow: label other shares the series");

	memset(long_label, 'x', sizeof(long_label) - 1);
	long_label[sizeof(long_label) - 1] = '\0';
	metrics_inc(METRIC_DEAD_LETTERS, long_label, NULL);
	is_int(metrics_get(METRIC_DEAD_LETTERS, "other", NULL), 1,
	       "overflow: 65-byte label value under other");
	long_label[64] = '\0';
	metrics_inc(METRIC_DEAD_LETTERS, long_label, NULL);
	is_int(metrics_get(METRIC_DEAD_LETTERS, long_label, NULL), 1,
	       "overflow: 64-byte label value kept");

	text = render(NULL);
	ok(text != NULL, "overflow: render");
	if (text != NULL) {
		is_int(count_lines_starting(text,
					    "snsrelay_cert_fetches_total{"),
		       METRICS_SERIES_MAX, "overflow: at most the cap rendered");
		is_int(count_lines_starting(text, "snsrelay_cert_fetches_total"
					    "{outcome=\"other\"}"), 1,
		       "overflow: one other line");
	}
	free(text);
}

/* ---- the exposition as a whole ---- */

/* name, optional {label="value",...}, one space, a value. */
#define SAMPLE_RE \
	"^([a-zA-Z_:][a-zA-Z0-9_:]*)" \
	"(\\{[a-zA-Z_][a-zA-Z0-9_]*=\"([^\"\\\\\n]|\\\\[\\\\\"n])*\"" \
	"(,[a-zA-Z_][a-zA-Z0-9_]*=\"([^\"\\\\\n]|\\\\[\\\\\"n])*\")*\\})?" \
	" ([^ ]+)$"
#define COMMENT_RE \
	"^# (HELP [a-zA-Z_:][a-zA-Z0-9_:]* [^\n]+|" \
	"TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram))$"

/* True when value is a valid sample value of the text format. */
static bool
value_is_valid(const char *value)
{
	char *end;

	if (strcmp(value, "+Inf") == 0 || strcmp(value, "-Inf") == 0 ||
	    strcmp(value, "NaN") == 0)
		return true;
	strtod(value, &end);
	return end != value && *end == '\0';
}

/* True when sample name belongs to the family typed last: the same
 * name, or a histogram's _bucket, _sum and _count. */
static bool
name_matches_type(const char *name, const char *family, bool histogram)
{
	size_t n = strlen(family);

	if (strcmp(name, family) == 0)
		return !histogram;
	if (!histogram || strncmp(name, family, n) != 0)
		return false;
	return strcmp(name + n, "_bucket") == 0 ||
	       strcmp(name + n, "_sum") == 0 ||
	       strcmp(name + n, "_count") == 0;
}

struct parse_report {
	size_t samples;
	size_t bad_lines;
	size_t untyped;
	size_t duplicates;
	char first_bad[512];
};

static void
parse_exposition(const char *text, struct parse_report *r)
{
	regex_t sample, comment;
	regmatch_t m[8];
	char line[512], name[256], family[256] = "";
	static char seen[512][512];
	size_t seen_count = 0, i;
	bool histogram = false;
	const char *p = text;
	size_t len;

	memset(r, 0, sizeof(*r));
	if (regcomp(&sample, SAMPLE_RE, REG_EXTENDED) != 0 ||
	    regcomp(&comment, COMMENT_RE, REG_EXTENDED) != 0) {
		printf("Bail out! regcomp failed\n");
		exit(1);
	}
	while (*p != '\0') {
		len = strcspn(p, "\n");
		snprintf(line, sizeof(line), "%.*s", (int)len, p);
		p += len + (p[len] == '\n');

		if (regexec(&comment, line, 8, m, 0) == 0) {
			if (m[2].rm_so >= 0) {
				snprintf(family, sizeof(family), "%.*s",
					 (int)(m[2].rm_eo - m[2].rm_so),
					 line + m[2].rm_so);
				histogram = strcmp(line + m[3].rm_so,
						   "histogram") == 0;
			}
			continue;
		}
		if (regexec(&sample, line, 8, m, 0) != 0 ||
		    !value_is_valid(line + m[6].rm_so)) {
			if (r->bad_lines++ == 0)
				snprintf(r->first_bad, sizeof(r->first_bad),
					 "%s", line);
			continue;
		}
		r->samples++;
		snprintf(name, sizeof(name), "%.*s", (int)m[1].rm_eo, line);
		if (!name_matches_type(name, family, histogram))
			r->untyped++;
		/* The series is the line up to its value. */
		line[m[6].rm_so] = '\0';
		for (i = 0; i < seen_count; i++)
			if (strcmp(seen[i], line) == 0)
				r->duplicates++;
		if (seen_count < sizeof(seen) / sizeof(seen[0]))
			snprintf(seen[seen_count++], sizeof(seen[0]), "%s",
				 line);
	}
	regfree(&sample);
	regfree(&comment);
}

static void
test_exposition(void)
{
	struct metrics_gauges gauges = {
		.spool_pending = 3, .spool_dead = 0, .connections = 2,
		.cert_cache_entries = -1, .uptime_s = 42, .ready = 1,
	};
	struct parse_report report;
	char *text;

	metrics_reset();
	metrics_inc(METRIC_SNS_REQUESTS, "bad_signature", NULL);
	metrics_inc(METRIC_DELIVERIES, "pager", "failed");
	metrics_inc(METRIC_DELIVERIES, "quote\"d", "dead");
	metrics_inc(METRIC_ALERTS_STORED, NULL, NULL);
	metrics_observe_sns_seconds(0.004);

	text = render(&gauges);
	ok(text != NULL, "exposition: render");
	if (text == NULL)
		return;
	parse_exposition(text, &report);
	is_int(report.bad_lines, 0, "exposition: every line parses");
	if (report.bad_lines > 0)
		diag("first bad line: %s", report.first_bad);
	ok(report.samples > 20, "exposition: has samples (%zu)",
	   report.samples);
	is_int(report.untyped, 0, "exposition: samples follow their TYPE");
	is_int(report.duplicates, 0, "exposition: no series twice");
	ok(text[strlen(text) - 1] == '\n', "exposition: ends with newline");

	ok(strstr(text, "# HELP snsrelay_subscriptions_total ") != NULL,
	   "exposition: empty family has HELP");
	ok(strstr(text, "# TYPE snsrelay_subscriptions_total counter\n") !=
	   NULL, "exposition: empty family has TYPE");
	ok(strstr(text, "\nsnsrelay_cert_cache_hits_total 0\n") != NULL,
	   "exposition: unlabeled counter starts at 0");
	ok(strstr(text, "\nsnsrelay_alerts_stored_total 1\n") != NULL,
	   "exposition: unlabeled counter counts");
	is_int(count_lines_starting(text, "snsrelay_subscriptions_total"), 0,
	   "exposition: labeled family without series has no sample");

	ok(strstr(text, "\nsnsrelay_spool_pending_deliveries 3\n") != NULL,
	   "exposition: spool pending gauge");
	ok(strstr(text, "\nsnsrelay_spool_dead_letters 0\n") != NULL,
	   "exposition: zero gauge rendered");
	ok(strstr(text, "\nsnsrelay_http_connections 2\n") != NULL,
	   "exposition: connections gauge");
	ok(strstr(text, "# TYPE snsrelay_cert_cache_entries gauge\n") != NULL,
	   "exposition: unknown gauge keeps its TYPE");
	is_int(count_lines_starting(text, "snsrelay_cert_cache_entries"), 0,
	       "exposition: unknown gauge has no sample");
	ok(strstr(text, "\nsnsrelay_uptime_seconds 42\n") != NULL,
	   "exposition: uptime gauge");
	ok(strstr(text, "\nsnsrelay_ready 1\n") != NULL,
	   "exposition: ready gauge");
	ok(strstr(text, "\nsnsrelay_build_info{version=\"" PACKAGE_VERSION
		  "\"} 1\n") != NULL, "exposition: build_info");
	free(text);

	text = render(NULL);
	ok(text != NULL, "exposition: render without gauges");
	if (text != NULL) {
		parse_exposition(text, &report);
		is_int(report.bad_lines, 0,
		       "exposition: without gauges every line parses");
		is_int(count_lines_starting(text, "snsrelay_ready"), 0,
		       "exposition: without gauges no ready sample");
	}
	free(text);
}

static void
test_render_full(void)
{
	struct buf out;

	buf_init(&out, 512);
	is_int(metrics_render(&out, NULL), -1, "render: full buffer fails");
	buf_free(&out);
}

int
main(void)
{
	test_threads();
	test_labels();
	test_histogram();
	test_overflow();
	test_exposition();
	test_render_full();
	return tap_done();
}
