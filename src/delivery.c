/*
 * Alert destinations and the synchronous send to each of them.
 *
 * SNS retries the whole message when any destination fails, so each
 * destination remembers the alert ids it accepted recently and skips
 * them on such a retry instead of posting the alert twice.  The memory
 * is a fixed ring in RAM, so it is lost on restart.
 */
#include "config.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "snsrelay/delivery.h"
#include "snsrelay/discord.h"
#include "snsrelay/http_client.h"
#include "snsrelay/limits.h"
#include "snsrelay/log.h"

/* Alert ids remembered per destination, and for how long.  SNS stops
 * retrying an HTTP delivery after one hour. */
#define RECENT_SLOTS 512
#define RECENT_TTL_S 3600
#define ALERT_ID_MAX 160
#define REDACTED_URL_SIZE 512
#define BODY_SNIPPET_MAX 160

struct recent_alert {
	char id[ALERT_ID_MAX];
	time_t at;
};

struct recent_ring {
	struct recent_alert slots[RECENT_SLOTS];
	size_t next;
};

struct delivery {
	struct destination *dests;
	struct recent_ring *recent;	/* one ring per destination */
	size_t count;
	unsigned timeout_ms;
	char *ca_file;
	pthread_mutex_t lock;		/* guards recent and stdout */
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
		enum destination_kind kind =
			w->format == WEBHOOK_FORMAT_DISCORD ?
			DESTINATION_DISCORD : DESTINATION_GENERIC;

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
	pthread_mutex_init(&d->lock, NULL);
	d->timeout_ms = cfg->delivery_timeout_ms;
	d->dests = calloc(slots, sizeof(*d->dests));
	d->recent = calloc(slots, sizeof(*d->recent));
	if (d->dests == NULL || d->recent == NULL)
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
	free(d->recent);
	free(d->ca_file);
	pthread_mutex_destroy(&d->lock);
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

static bool
recent_contains(const struct recent_ring *ring, const char *id, time_t now)
{
	size_t i;

	for (i = 0; i < RECENT_SLOTS; i++) {
		const struct recent_alert *slot = &ring->slots[i];

		if (slot->id[0] != '\0' && now - slot->at < RECENT_TTL_S &&
		    strcmp(slot->id, id) == 0)
			return true;
	}
	return false;
}

static void
recent_add(struct recent_ring *ring, const char *id, time_t now)
{
	struct recent_alert *slot = &ring->slots[ring->next];

	snprintf(slot->id, sizeof(slot->id), "%s", id);
	slot->at = now;
	ring->next = (ring->next + 1) % RECENT_SLOTS;
}

static const char *
alert_id_of(json_object *alert)
{
	json_object *value;

	if (!json_object_object_get_ex(alert, "alert_id", &value) ||
	    !json_object_is_type(value, json_type_string))
		return NULL;
	return json_object_get_string(value);
}

static int
send_stdout(struct delivery *d, json_object *alert, struct err *e)
{
	const char *text = json_object_to_json_string_ext(alert,
		JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	int rc = 0;

	pthread_mutex_lock(&d->lock);
	if (fputs(text, stdout) == EOF || fputc('\n', stdout) == EOF ||
	    fflush(stdout) == EOF)
		rc = -1;
	pthread_mutex_unlock(&d->lock);
	if (rc != 0) {
		err_set(e, "delivery_failed",
			"cannot write the alert to standard output");
		return RESULT_RETRY;
	}
	return RESULT_OK;
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

static int
classify_answer(const struct destination *dest,
		const struct http_response *resp, struct err *e)
{
	char snippet[BODY_SNIPPET_MAX];

	if (resp->status >= 200 && resp->status < 300)
		return RESULT_OK;
	body_snippet(&resp->body, snippet, sizeof(snippet));
	if (resp->status == 429 || resp->status >= 500) {
		err_set(e, "delivery_failed",
			"%s (%s) answered HTTP %ld, a temporary failure: %s",
			dest->name, dest->url_redacted, resp->status, snippet);
		return RESULT_RETRY;
	}
	err_set(e, "delivery_rejected",
		"%s (%s) rejected the alert with HTTP %ld; check the webhook "
		"URL: %s", dest->name, dest->url_redacted, resp->status,
		snippet);
	return RESULT_REJECT;
}

/* Builds the POST body for dest; free() it. */
static char *
render_body(const struct destination *dest, json_object *alert)
{
	json_object *payload = NULL;
	const char *text;
	char *body;
	size_t used;

	if (dest->kind == DESTINATION_DISCORD) {
		payload = discord_build_payload(&alert, 1, &used);
		if (payload == NULL)
			return NULL;
		alert = payload;
	}
	text = json_object_to_json_string_ext(alert,
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

static int
send_http(struct delivery *d, const struct destination *dest,
	  json_object *alert, struct err *e)
{
	struct http_request req;
	struct http_response resp;
	char *body = render_body(dest, alert);
	char *url = target_url(dest);
	int rc;

	memset(&resp, 0, sizeof(resp));
	if (body == NULL || url == NULL) {
		err_set(e, "delivery_failed",
			"out of memory rendering the alert for %s", dest->name);
		rc = RESULT_RETRY;
		goto out;
	}
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
	rc = http_client_perform(&req, &resp, e);
	if (rc == RESULT_OK)
		rc = classify_answer(dest, &resp, e);
	http_response_free(&resp);
out:
	free(body);
	free(url);
	return rc;
}

int
delivery_send(struct delivery *d, size_t i, json_object *alert,
	      struct err *e)
{
	const struct destination *dest = delivery_get(d, i);
	const char *id = alert_id_of(alert);
	time_t now = time(NULL);
	bool seen;
	int rc;

	if (dest == NULL) {
		err_set(e, "delivery_failed", "no destination number %zu", i);
		return RESULT_REJECT;
	}
	if (dest->kind == DESTINATION_STDOUT)
		return send_stdout(d, alert, e);

	pthread_mutex_lock(&d->lock);
	seen = id != NULL && recent_contains(&d->recent[i], id, now);
	pthread_mutex_unlock(&d->lock);
	if (seen)
		return RESULT_OK;

	rc = send_http(d, dest, alert, e);
	if (rc == RESULT_OK && id != NULL) {
		pthread_mutex_lock(&d->lock);
		recent_add(&d->recent[i], id, now);
		pthread_mutex_unlock(&d->lock);
	}
	return rc;
}
