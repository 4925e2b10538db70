/*
 * Alert destinations and one send to one of them.
 *
 * A send renders a batch of alerts (several embeds in one Discord
 * message, one document for a generic webhook, JSON lines on standard
 * output), posts it once, and reports the outcome with the receiver's
 * rate-limit information.  Retries, rate-limit waits and the record of
 * what each destination accepted belong to the dispatcher and the spool.
 */
#include "config.h"

#include <math.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "snsrelay/delivery.h"
#include "snsrelay/discord.h"
#include "snsrelay/slack.h"
#include "snsrelay/teams.h"
#include "snsrelay/http_client.h"
#include "snsrelay/limits.h"
#include "snsrelay/log.h"

#define REDACTED_URL_SIZE 512
#define BODY_SNIPPET_MAX 96

struct delivery {
	struct destination *dests;
	size_t count;
	unsigned timeout_ms;
	char *ca_file;
	pthread_mutex_t stdout_lock;	/* keeps JSON lines whole */
};

static bool
url_is_loopback_http(const char *url)
{
	static const char *const prefixes[] = {
		"http://127.0.0.1:", "http://127.0.0.1/", "http://[::1]:",
		"http://[::1]/", "http://localhost:", "http://localhost/",
	};
	size_t i;

	for (i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
		if (strncmp(url, prefixes[i], strlen(prefixes[i])) == 0)
			return true;
	return false;
}

static int
destination_init(struct destination *dest, const char *name,
		 enum destination_kind kind, const char *url)
{
	char redacted[REDACTED_URL_SIZE];

	dest->name = strdup(name);
	dest->kind = kind;
	if (url != NULL) {
		log_redact_url(url, redacted, sizeof(redacted));
		dest->url = strdup(url);
		dest->url_redacted = strdup(redacted);
		if (dest->url == NULL || dest->url_redacted == NULL)
			return -1;
	}
	return dest->name == NULL ? -1 : 0;
}

static enum destination_kind
destination_kind_of(enum webhook_format format)
{
	switch (format) {
	case WEBHOOK_FORMAT_DISCORD:
		return DESTINATION_DISCORD;
	case WEBHOOK_FORMAT_SLACK:
		return DESTINATION_SLACK;
	case WEBHOOK_FORMAT_TEAMS:
		return DESTINATION_TEAMS;
	case WEBHOOK_FORMAT_GENERIC:
		break;
	}
	return DESTINATION_GENERIC;
}

static int
delivery_add_destinations(struct delivery *d, const struct relay_config *cfg)
{
	size_t i;

	if (cfg->discord_webhook_url != NULL &&
	    destination_init(&d->dests[d->count++], "discord",
			     DESTINATION_DISCORD,
			     cfg->discord_webhook_url) != 0)
		return -1;
	for (i = 0; i < cfg->webhook_count; i++) {
		const struct webhook_config *w = &cfg->webhooks[i];
		enum destination_kind kind = destination_kind_of(w->format);

		if (destination_init(&d->dests[d->count++], w->name, kind,
				     w->url) != 0)
			return -1;
	}
	if (d->count == 0 &&
	    destination_init(&d->dests[d->count++], "stdout",
			     DESTINATION_STDOUT, NULL) != 0)
		return -1;
	return 0;
}

struct delivery *
delivery_new(const struct relay_config *cfg)
{
	struct delivery *d = calloc(1, sizeof(*d));
	size_t slots = cfg->webhook_count + 1;

	if (d == NULL)
		return NULL;
	pthread_mutex_init(&d->stdout_lock, NULL);
	d->timeout_ms = cfg->delivery_timeout_ms;
	d->dests = calloc(slots, sizeof(*d->dests));
	if (d->dests == NULL)
		goto fail;
	if (cfg->ca_file != NULL && (d->ca_file = strdup(cfg->ca_file)) == NULL)
		goto fail;
	if (delivery_add_destinations(d, cfg) != 0)
		goto fail;
	return d;
fail:
	delivery_free(d);
	return NULL;
}

void
delivery_free(struct delivery *d)
{
	size_t i;

	if (d == NULL)
		return;
	for (i = 0; i < d->count; i++) {
		free(d->dests[i].name);
		free(d->dests[i].url);
		free(d->dests[i].url_redacted);
	}
	free(d->dests);
	free(d->ca_file);
	pthread_mutex_destroy(&d->stdout_lock);
	free(d);
}

size_t
delivery_count(const struct delivery *d)
{
	return d->count;
}

const struct destination *
delivery_get(const struct delivery *d, size_t i)
{
	return i < d->count ? &d->dests[i] : NULL;
}

static void
result_init(struct delivery_result *result)
{
	memset(result, 0, sizeof(*result));
	result->outcome = DELIVERY_RETRY;
	result->retry_after_s = -1;
	result->ratelimit_remaining = -1;
	result->ratelimit_reset_after_s = -1;
}

static void
result_fail(struct delivery_result *result, enum delivery_outcome outcome,
	    const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void
result_fail(struct delivery_result *result, enum delivery_outcome outcome,
	    const char *fmt, ...)
{
	va_list ap;

	result->outcome = outcome;
	va_start(ap, fmt);
	vsnprintf(result->error, sizeof(result->error), fmt, ap);
	va_end(ap);
}

static void
send_stdout(struct delivery *d, json_object *const *alerts, size_t count,
	    struct delivery_result *result)
{
	const char *text;
	size_t i;
	int rc = 0;

	pthread_mutex_lock(&d->stdout_lock);
	for (i = 0; i < count && rc == 0; i++) {
		text = json_object_to_json_string_ext(alerts[i],
			JSON_C_TO_STRING_PLAIN |
			JSON_C_TO_STRING_NOSLASHESCAPE);
		if (text == NULL || fputs(text, stdout) == EOF ||
		    fputc('\n', stdout) == EOF)
			rc = -1;
	}
	if (fflush(stdout) == EOF)
		rc = -1;
	pthread_mutex_unlock(&d->stdout_lock);

	if (rc != 0) {
		result_fail(result, DELIVERY_RETRY, "stdout: cannot write "
			    "the alert to standard output");
		return;
	}
	result->outcome = DELIVERY_OK;
	result->sent = count;
}

/* Copies the start of a response body into out, printable ASCII only. */
static void
body_snippet(const struct buf *body, char *out, size_t size)
{
	size_t i, n = 0;

	for (i = 0; body->data != NULL && i < body->len && n + 1 < size; i++) {
		unsigned char c = (unsigned char)body->data[i];

		out[n++] = (c >= 0x20 && c < 0x7f) ? (char)c : ' ';
	}
	out[n] = '\0';
}

/* Builds the POST body for dest from the leading alerts; free() it.
 * *sent receives how many alerts it carries.  The Discord renderer
 * writes its JSON text itself, and the others build json-c objects. */
static char *
render_body(const struct destination *dest, json_object *const *alerts,
	    size_t count, size_t *sent)
{
	json_object *payload = NULL, *doc = alerts[0];
	const char *text;
	char *body;

	*sent = 1;
	if (dest->kind == DESTINATION_DISCORD)
		return discord_render_payload(alerts, count, sent);
	if (dest->kind == DESTINATION_SLACK)
		payload = slack_build_payload(alerts[0]);
	else if (dest->kind == DESTINATION_TEAMS)
		payload = teams_build_payload(alerts[0]);
	if (dest->kind != DESTINATION_GENERIC) {
		if (payload == NULL)
			return NULL;
		doc = payload;
	}
	text = json_object_to_json_string_ext(doc,
		JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	body = text != NULL ? strdup(text) : NULL;
	json_object_put(payload);
	return body;
}

/* Discord confirms a stored message only with ?wait=true. */
static char *
target_url(const struct destination *dest)
{
	struct buf url;

	buf_init(&url, strlen(dest->url) + 16);
	if (buf_append_str(&url, dest->url) != 0)
		return NULL;
	if (dest->kind == DESTINATION_DISCORD &&
	    buf_append_str(&url, strchr(dest->url, '?') != NULL ?
			   "&wait=true" : "?wait=true") != 0) {
		buf_free(&url);
		return NULL;
	}
	return buf_steal(&url);
}

static void
copy_ratelimit_headers(const struct http_response *resp,
		       struct delivery_result *result)
{
	result->status = resp->status;
	result->retry_after_s = resp->retry_after_s;
	result->global = resp->ratelimit_global;
	result->ratelimit_remaining = resp->ratelimit_remaining;
	result->ratelimit_reset_after_s = resp->ratelimit_reset_after_s;
	snprintf(result->ratelimit_bucket, sizeof(result->ratelimit_bucket),
		 "%s", resp->ratelimit_bucket);
	result->has_ratelimit_headers = resp->ratelimit_remaining >= 0 ||
		resp->ratelimit_reset_after_s >= 0 ||
		resp->ratelimit_bucket[0] != '\0' || resp->ratelimit_global;
}

/*
 * Returns the unit of the retry_after in a 429 body, in seconds.
 * Discord's v8 changelog moved retry_after from milliseconds to
 * seconds, and a URL without /api/vN/ uses Discord's default API
 * version, which its API reference lists as v6.  Webhook URLs copied
 * from Discord's channel settings carry no version.
 */
static double
retry_after_unit_s(const struct destination *dest)
{
	const char *p;
	char *end = NULL;
	long version;

	if (dest->kind != DESTINATION_DISCORD)
		return 1.0;
	p = strstr(dest->url, "/api/v");
	if (p == NULL)
		return 0.001;
	version = strtol(p + strlen("/api/v"), &end, 10);
	if (end == p + strlen("/api/v") || *end != '/')
		return 0.001;
	return version >= 8 ? 1.0 : 0.001;
}

/*
 * Reads retry_after and global from a 429 body such as
 * {"message":"...","retry_after":0.5,"global":false}.  The longer of the
 * body value and the Retry-After header wins: the header is whole
 * seconds rounded up, so it is a safe floor when the body's unit is
 * uncertain (see retry_after_unit_s).  A body that is not JSON, such as
 * Cloudflare's "error code: 1015" page, leaves the header values as they
 * are.
 */
static void
parse_429_body(const struct buf *body, double unit_s,
	       struct delivery_result *result)
{
	json_tokener *tok = NULL;
	json_object *doc = NULL, *value;
	double seconds;

	if (body->data == NULL || body->len == 0)
		return;
	tok = json_tokener_new_ex(LIMIT_JSON_DEPTH);
	if (tok == NULL)
		return;
	doc = json_tokener_parse_ex(tok, body->data, (int)body->len);
	if (doc != NULL && json_object_object_get_ex(doc, "retry_after",
						     &value) &&
	    (json_object_is_type(value, json_type_double) ||
	     json_object_is_type(value, json_type_int))) {
		seconds = json_object_get_double(value) * unit_s;
		if (isfinite(seconds) && seconds > result->retry_after_s)
			result->retry_after_s = seconds;
	}
	if (doc != NULL && json_object_object_get_ex(doc, "global", &value) &&
	    json_object_is_type(value, json_type_boolean) &&
	    json_object_get_boolean(value))
		result->global = true;
	json_object_put(doc);
	json_tokener_free(tok);
}

static enum delivery_outcome
outcome_of_status(long status)
{
	if (status >= 200 && status < 300)
		return DELIVERY_OK;
	if (status == 429)
		return DELIVERY_RATE_LIMITED;
	if (status == 404)
		return DELIVERY_GONE;
	if (status >= 500)
		return DELIVERY_RETRY;
	return DELIVERY_REJECTED;	/* other 4xx, and 1xx/3xx: no
					 * redirects are followed */
}

static void
classify_answer(const struct destination *dest,
		const struct http_response *resp,
		struct delivery_result *result)
{
	char snippet[BODY_SNIPPET_MAX];

	copy_ratelimit_headers(resp, result);
	if (resp->status == 429)
		parse_429_body(&resp->body, retry_after_unit_s(dest),
			       result);
	result->outcome = outcome_of_status(resp->status);
	if (result->outcome == DELIVERY_OK)
		return;

	body_snippet(&resp->body, snippet, sizeof(snippet));
	/* The status first: "snsrelay spool list" shows the start. */
	snprintf(result->error, sizeof(result->error),
		 "HTTP %ld from %.40s (%.80s): %s", resp->status, dest->name,
		 dest->url_redacted,
		 snippet[0] != '\0' ? snippet : "(empty body)");
}

static void
send_http(struct delivery *d, const struct destination *dest,
	  json_object *const *alerts, size_t count,
	  struct delivery_result *result)
{
	struct http_request req;
	struct http_response resp;
	struct err e;
	size_t sent = 0;
	char *body = render_body(dest, alerts, count, &sent);
	char *url = target_url(dest);

	memset(&resp, 0, sizeof(resp));
	if (body == NULL || url == NULL) {
		result_fail(result, DELIVERY_RETRY, "%.40s: out of memory "
			    "rendering the alert", dest->name);
		goto out;
	}
	result->sent = sent;
	memset(&req, 0, sizeof(req));
	req.method = "POST";
	req.url = url;
	req.content_type = "application/json";
	req.body = body;
	req.body_len = strlen(body);
	req.timeout_ms = d->timeout_ms;
	req.max_response_bytes = LIMIT_WEBHOOK_RESPONSE_BYTES;
	req.ca_file = d->ca_file;
	req.allow_http = url_is_loopback_http(dest->url);

	err_clear(&e);
	if (http_client_perform(&req, &resp, &e) == RESULT_OK)
		classify_answer(dest, &resp, result);
	else
		result_fail(result, DELIVERY_RETRY, "%.40s (%.80s): %s",
			    dest->name, dest->url_redacted, e.msg);
	http_response_free(&resp);
out:
	free(body);
	free(url);
}

void
delivery_send_batch(struct delivery *d, size_t i,
		    json_object *const *alerts, size_t count,
		    struct delivery_result *result)
{
	const struct destination *dest = delivery_get(d, i);

	result_init(result);
	if (dest == NULL) {
		result_fail(result, DELIVERY_REJECTED,
			    "no destination number %zu", i);
		return;
	}
	if (count == 0) {
		result->outcome = DELIVERY_OK;
		return;
	}
	if (dest->kind == DESTINATION_STDOUT)
		send_stdout(d, alerts, count, result);
	else
		send_http(d, dest, alerts, count, result);
}

int
delivery_send(struct delivery *d, size_t i, json_object *alert,
	      struct err *e)
{
	struct delivery_result result;

	delivery_send_batch(d, i, &alert, 1, &result);
	switch (result.outcome) {
	case DELIVERY_OK:
		return RESULT_OK;
	case DELIVERY_RETRY:
	case DELIVERY_RATE_LIMITED:
		err_set(e, "delivery_failed", "%s", result.error);
		return RESULT_RETRY;
	default:
		err_set(e, "delivery_rejected", "%s; check the webhook URL",
			result.error);
		return RESULT_REJECT;
	}
}
