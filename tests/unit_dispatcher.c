/*
 * Delivery workers: the retry backoff, the rate-limit bookkeeping,
 * delivery_send_batch against a loopback HTTP server started here, and
 * the dispatcher with a real spool in a temporary folder.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <microhttpd.h>
#include <sqlite3.h>

#include "snsrelay/buf.h"
#include "snsrelay/config.h"
#include "snsrelay/delivery.h"
#include "snsrelay/dispatcher.h"
#include "snsrelay/http_client.h"
#include "snsrelay/log.h"
#include "snsrelay/ratelimit.h"
#include "snsrelay/spool.h"

#include "tap.h"

#define NOW_MS 1700000000000LL
#define TOKEN "secret-token-xyz"

/* ---- backoff ---- */

struct backoff_case {
	const char *name;
	unsigned attempt, min_ms, max_ms;
	double random01;
	int64_t want;
};

static const struct backoff_case backoff_cases[] = {
	{ "first retry", 1, 1000, 60000, 1.0, 1000 },
	{ "second doubles", 2, 1000, 60000, 1.0, 2000 },
	{ "third doubles", 3, 1000, 60000, 1.0, 4000 },
	{ "sixth", 6, 1000, 60000, 1.0, 32000 },
	{ "seventh capped", 7, 1000, 60000, 1.0, 60000 },
	{ "attempt 0 as 1", 0, 1000, 60000, 1.0, 1000 },
	{ "jitter low end", 1, 1000, 60000, 0.0, 500 },
	{ "jitter middle", 3, 1000, 60000, 0.5, 3000 },
	{ "jitter on cap", 20, 1000, 60000, 0.0, 30000 },
	{ "attempt 32", 32, 1000, 60000, 1.0, 60000 },
	{ "attempt 33", 33, 1000, 60000, 1.0, 60000 },
	{ "attempt 1000", 1000, 1000, 60000, 1.0, 60000 },
	{ "attempt UINT_MAX", UINT_MAX, 1000, 60000, 1.0, 60000 },
	{ "largest operands", 32, UINT_MAX, UINT_MAX, 1.0, UINT_MAX },
	{ "max below min", 1, 5000, 1000, 1.0, 1000 },
	{ "random below 0", 1, 1000, 60000, -3.0, 500 },
	{ "random above 1", 1, 1000, 60000, 7.0, 1000 },
	{ "random NaN", 1, 1000, 60000, NAN, 500 },
};

static void
test_backoff_table(void)
{
	const struct backoff_case *c;
	size_t i;

	for (i = 0; i < sizeof(backoff_cases) / sizeof(backoff_cases[0]);
	     i++) {
		c = &backoff_cases[i];
		is_int(dispatcher_backoff_ms(c->attempt, c->min_ms, c->max_ms,
					     c->random01), c->want,
		       "backoff %s", c->name);
	}
}

/* Every attempt and random value stays within [delay/2, delay]. */
static void
test_backoff_bounds(void)
{
	static const double randoms[] = { 0.0, 0.25, 0.5, 0.999, 1.0 };
	int64_t got, delay;
	unsigned attempt, out_of_bounds = 0, shrinks = 0;
	int64_t previous = 0;
	size_t r;

	for (attempt = 1; attempt <= 70; attempt++) {
		delay = attempt <= 7 ? (int64_t)1000 << (attempt - 1) : 60000;
		if (delay > 60000)
			delay = 60000;
		for (r = 0; r < sizeof(randoms) / sizeof(randoms[0]); r++) {
			got = dispatcher_backoff_ms(attempt, 1000, 60000,
						    randoms[r]);
			if (got < delay / 2 || got > delay)
				out_of_bounds++;
		}
		got = dispatcher_backoff_ms(attempt, 1000, 60000, 1.0);
		if (got < previous)
			shrinks++;
		previous = got;
	}
	is_int(out_of_bounds, 0, "backoff jitter within [d/2, d]");
	is_int(shrinks, 0, "backoff never shrinks");
}

/* ---- rate-limit bookkeeping ---- */

static void
result_blank(struct delivery_result *r, enum delivery_outcome outcome)
{
	memset(r, 0, sizeof(*r));
	r->outcome = outcome;
	r->status = outcome == DELIVERY_RATE_LIMITED ? 429 : 200;
	r->sent = 1;
	r->retry_after_s = -1;
	r->ratelimit_remaining = -1;
	r->ratelimit_reset_after_s = -1;
}

static void
test_ratelimit_retry_after(void)
{
	struct ratelimit *rl = ratelimit_new(2);
	struct delivery_result r;

	result_blank(&r, DELIVERY_RATE_LIMITED);
	r.retry_after_s = 0.5;
	is_int(ratelimit_record(rl, 0, true, &r, NOW_MS), 500,
	       "ratelimit body 0.5 s: wait");
	is_int(ratelimit_blocked_until(rl, 0, true), NOW_MS + 500,
	       "ratelimit body 0.5 s: blocked");
	ok(ratelimit_blocked_until(rl, 1, true) <= NOW_MS,
	   "ratelimit body 0.5 s: other free");

	result_blank(&r, DELIVERY_RATE_LIMITED);
	r.retry_after_s = 2;
	is_int(ratelimit_record(rl, 1, false, &r, NOW_MS), 2000,
	       "ratelimit header 2 s: wait");
	is_int(ratelimit_blocked_until(rl, 1, false), NOW_MS + 2000,
	       "ratelimit header 2 s: blocked");

	result_blank(&r, DELIVERY_RATE_LIMITED);
	r.retry_after_s = 0;
	is_int(ratelimit_record(rl, 1, false, &r, NOW_MS),
	       RATELIMIT_WAIT_MIN_MS, "ratelimit 0 s: floor");
	r.retry_after_s = 1e300;
	is_int(ratelimit_record(rl, 1, false, &r, NOW_MS),
	       RATELIMIT_WAIT_MAX_MS, "ratelimit huge: cap");
	ratelimit_free(rl);
}

static void
test_ratelimit_global(void)
{
	struct ratelimit *rl = ratelimit_new(3);
	struct delivery_result r;

	result_blank(&r, DELIVERY_RATE_LIMITED);
	r.retry_after_s = 1.25;
	r.global = true;
	is_int(ratelimit_record(rl, 0, true, &r, NOW_MS), 1250,
	       "ratelimit global: wait");
	is_int(ratelimit_blocked_until(rl, 1, true), NOW_MS + 1250,
	       "ratelimit global: other Discord blocked");
	ok(ratelimit_blocked_until(rl, 2, false) <= NOW_MS,
	   "ratelimit global: generic free");

	/* A global flag from a generic webhook blocks only that webhook. */
	ratelimit_free(rl);
	rl = ratelimit_new(3);
	ratelimit_record(rl, 2, false, &r, NOW_MS);
	ok(ratelimit_blocked_until(rl, 0, true) <= NOW_MS,
	   "ratelimit generic global: Discord free");
	ratelimit_free(rl);
}

static void
test_ratelimit_headerless(void)
{
	static const int64_t want[] = {
		30000, 60000, 120000, 240000, 480000, 600000, 600000,
	};
	struct ratelimit *rl = ratelimit_new(1);
	struct delivery_result r, good;
	size_t i;

	result_blank(&r, DELIVERY_RATE_LIMITED);
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		is_int(ratelimit_record(rl, 0, true, &r, NOW_MS), want[i],
		       "ratelimit header-less 429 #%zu", i + 1);
	is_int(ratelimit_blocked_until(rl, 0, true), NOW_MS + 600000,
	       "ratelimit header-less: blocked");

	result_blank(&good, DELIVERY_OK);
	is_int(ratelimit_record(rl, 0, true, &good, NOW_MS), 0,
	       "ratelimit success: no wait");
	is_int(ratelimit_record(rl, 0, true, &r, NOW_MS), 30000,
	       "ratelimit header-less after success: 30 s");

	/* A 5xx between two header-less 429s does not reset the count. */
	result_blank(&good, DELIVERY_RETRY);
	good.status = 502;
	ratelimit_record(rl, 0, true, &good, NOW_MS);
	is_int(ratelimit_record(rl, 0, true, &r, NOW_MS), 60000,
	       "ratelimit header-less after 502: 60 s");
	ratelimit_free(rl);
}

static void
test_ratelimit_remaining(void)
{
	struct ratelimit *rl = ratelimit_new(1);
	struct delivery_result r;

	result_blank(&r, DELIVERY_OK);
	r.has_ratelimit_headers = true;
	r.ratelimit_remaining = 0;
	r.ratelimit_reset_after_s = 1.5;
	is_int(ratelimit_record(rl, 0, true, &r, NOW_MS), 0,
	       "ratelimit remaining 0: no 429 wait");
	is_int(ratelimit_blocked_until(rl, 0, true), NOW_MS + 1500,
	       "ratelimit remaining 0: blocked 1.5 s");

	r.ratelimit_remaining = 3;
	r.ratelimit_reset_after_s = 9;
	ratelimit_record(rl, 0, true, &r, NOW_MS + 2000);
	ok(ratelimit_blocked_until(rl, 0, true) <= NOW_MS + 2000,
	   "ratelimit remaining 3: free");
	ratelimit_free(rl);
}

static void
test_ratelimit_buckets(void)
{
	struct ratelimit *rl = ratelimit_new(3);
	struct delivery_result r;

	result_blank(&r, DELIVERY_OK);
	r.has_ratelimit_headers = true;
	r.ratelimit_remaining = 4;
	r.ratelimit_reset_after_s = 2;
	snprintf(r.ratelimit_bucket, sizeof(r.ratelimit_bucket), "b1");
	ratelimit_record(rl, 0, true, &r, NOW_MS);
	snprintf(r.ratelimit_bucket, sizeof(r.ratelimit_bucket), "b2");
	ratelimit_record(rl, 2, true, &r, NOW_MS);

	/* Destination 1 learns that it shares b1 and uses it up. */
	snprintf(r.ratelimit_bucket, sizeof(r.ratelimit_bucket), "b1");
	r.ratelimit_remaining = 0;
	ratelimit_record(rl, 1, true, &r, NOW_MS);
	is_int(ratelimit_blocked_until(rl, 1, true), NOW_MS + 2000,
	       "ratelimit bucket: sender blocked");
	is_int(ratelimit_blocked_until(rl, 0, true), NOW_MS + 2000,
	       "ratelimit bucket: sharer blocked");
	ok(ratelimit_blocked_until(rl, 2, true) <= NOW_MS,
	   "ratelimit bucket: other bucket free");

	/* A 429 on the shared bucket blocks the sharer too. */
	result_blank(&r, DELIVERY_RATE_LIMITED);
	r.has_ratelimit_headers = true;
	r.retry_after_s = 5;
	snprintf(r.ratelimit_bucket, sizeof(r.ratelimit_bucket), "b1");
	ratelimit_record(rl, 0, true, &r, NOW_MS);
	is_int(ratelimit_blocked_until(rl, 1, true), NOW_MS + 5000,
	       "ratelimit bucket 429: sharer blocked");
	ok(ratelimit_blocked_until(rl, 2, true) <= NOW_MS,
	   "ratelimit bucket 429: other bucket free");
	ratelimit_free(rl);
}

/* ---- loopback webhook ---- */

/* One scripted response.  headers lists name/value pairs and ends with
 * NULL. */
struct reply {
	unsigned status;
	const char *content_type;
	const char *body;
	const char *headers[9];
};

struct loopback {
	struct MHD_Daemon *daemon;
	unsigned port;
	pthread_mutex_t lock;
	const struct reply *script;	/* responses to successive POSTs */
	size_t script_len;		/* the last one repeats */
	size_t posts;
	char wait_arg[16];		/* query "wait" of the last POST */
	char *last_body;
	struct buf bodies;		/* every POST body, one a line */
	unsigned delay_ms;		/* before each response */
};

static struct loopback server;

static const struct reply ok_reply = {
	200, "application/json", "{\"id\":\"1\"}", { NULL },
};

static void
server_script(const struct reply *script, size_t len)
{
	pthread_mutex_lock(&server.lock);
	server.script = script;
	server.script_len = len;
	server.posts = 0;
	server.wait_arg[0] = '\0';
	free(server.last_body);
	server.last_body = NULL;
	buf_reset(&server.bodies);
	pthread_mutex_unlock(&server.lock);
}

static void
server_delay(unsigned ms)
{
	pthread_mutex_lock(&server.lock);
	server.delay_ms = ms;
	pthread_mutex_unlock(&server.lock);
}

static size_t
server_posts(void)
{
	size_t n;

	pthread_mutex_lock(&server.lock);
	n = server.posts;
	pthread_mutex_unlock(&server.lock);
	return n;
}

/* Stores the request and returns the response to send, with its
 * delay. */
static const struct reply *
server_record(struct MHD_Connection *conn, const struct buf *body,
	      unsigned *delay_ms)
{
	const char *wait = MHD_lookup_connection_value(conn,
		MHD_GET_ARGUMENT_KIND, "wait");
	const struct reply *a;
	size_t i;

	pthread_mutex_lock(&server.lock);
	i = server.posts < server.script_len ? server.posts :
	    server.script_len - 1;
	a = &server.script[i];
	server.posts++;
	*delay_ms = server.delay_ms;
	snprintf(server.wait_arg, sizeof(server.wait_arg), "%s",
		 wait != NULL ? wait : "");
	free(server.last_body);
	server.last_body = strdup(body->data != NULL ? body->data : "");
	if (body->data != NULL)
		buf_append(&server.bodies, body->data, body->len);
	buf_append(&server.bodies, "\n", 1);
	pthread_mutex_unlock(&server.lock);
	return a;
}

static enum MHD_Result
server_respond(struct MHD_Connection *conn, const struct reply *a,
	      unsigned delay_ms)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;
	size_t i;

	resp = MHD_create_response_from_buffer(strlen(a->body),
		(void *)a->body, MHD_RESPMEM_MUST_COPY);
	if (resp == NULL)
		return MHD_NO;
	if (delay_ms > 0)
		usleep(delay_ms * 1000);
	if (a->content_type != NULL)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
					a->content_type);
	for (i = 0; a->headers[i] != NULL && a->headers[i + 1] != NULL;
	     i += 2)
		MHD_add_response_header(resp, a->headers[i],
					a->headers[i + 1]);
	ret = MHD_queue_response(conn, a->status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result
server_handle(void *cls, struct MHD_Connection *conn, const char *url,
	      const char *method, const char *version,
	      const char *upload_data, size_t *upload_data_size,
	      void **con_cls)
{
	struct buf *body = *con_cls;
	const struct reply *a;
	unsigned delay_ms = 0;

	(void)cls;
	(void)url;
	(void)method;
	(void)version;
	if (body == NULL) {
		body = calloc(1, sizeof(*body));
		if (body == NULL)
			return MHD_NO;
		buf_init(body, 1 << 20);
		*con_cls = body;
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		if (buf_append(body, upload_data, *upload_data_size) != 0)
			return MHD_NO;
		*upload_data_size = 0;
		return MHD_YES;
	}
	a = server_record(conn, body, &delay_ms);
	return server_respond(conn, a, delay_ms);
}

static void
server_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
		 enum MHD_RequestTerminationCode toe)
{
	struct buf *body = *con_cls;

	(void)cls;
	(void)conn;
	(void)toe;
	if (body != NULL) {
		buf_free(body);
		free(body);
		*con_cls = NULL;
	}
}

static int
server_start(void)
{
	struct sockaddr_in addr;
	const union MHD_DaemonInfo *info;

	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	pthread_mutex_init(&server.lock, NULL);
	buf_init(&server.bodies, 8 << 20);
	server_script(&ok_reply, 1);
	server.daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD |
		MHD_USE_ERROR_LOG, 0, NULL, NULL, server_handle, NULL,
		MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
		MHD_OPTION_NOTIFY_COMPLETED, server_completed, NULL,
		MHD_OPTION_END);
	if (server.daemon == NULL)
		return -1;
	info = MHD_get_daemon_info(server.daemon, MHD_DAEMON_INFO_BIND_PORT);
	server.port = info != NULL ? info->port : 0;
	return server.port != 0 ? 0 : -1;
}

static void
server_stop(void)
{
	MHD_stop_daemon(server.daemon);
	free(server.last_body);
	server.last_body = NULL;
	buf_free(&server.bodies);
	pthread_mutex_destroy(&server.lock);
}

/* A loopback port that nothing listens on: bound, then closed. */
static unsigned
closed_port(void)
{
	struct sockaddr_in addr;
	socklen_t len = sizeof(addr);
	unsigned port = 0;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && bind(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&addr, &len) == 0)
		port = ntohs(addr.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

/* ---- destinations ---- */

enum { DEST_DISCORD = 0, DEST_HOOK, DEST_CLOSED, DEST_LEGACY };

struct fixture {
	char discord_url[128];
	char hook_url[128];
	char closed_url[128];
	char legacy_url[128];
	struct webhook_config webhooks[3];
	struct relay_config cfg;
	struct delivery *delivery;
};

static int
fixture_init(struct fixture *f)
{
	memset(f, 0, sizeof(*f));
	snprintf(f->discord_url, sizeof(f->discord_url),
		 "http://127.0.0.1:%u/api/v10/webhooks/42/" TOKEN,
		 server.port);
	snprintf(f->legacy_url, sizeof(f->legacy_url),
		 "http://127.0.0.1:%u/api/webhooks/7/" TOKEN, server.port);
	snprintf(f->hook_url, sizeof(f->hook_url),
		 "http://127.0.0.1:%u/hook", server.port);
	snprintf(f->closed_url, sizeof(f->closed_url),
		 "http://127.0.0.1:%u/hook", closed_port());
	f->webhooks[0].name = "hook";
	f->webhooks[0].url = f->hook_url;
	f->webhooks[0].format = WEBHOOK_FORMAT_GENERIC;
	f->webhooks[1].name = "closed";
	f->webhooks[1].url = f->closed_url;
	f->webhooks[1].format = WEBHOOK_FORMAT_GENERIC;
	f->webhooks[2].name = "legacy";
	f->webhooks[2].url = f->legacy_url;
	f->webhooks[2].format = WEBHOOK_FORMAT_DISCORD;
	f->cfg.discord_webhook_url = f->discord_url;
	f->cfg.webhooks = f->webhooks;
	f->cfg.webhook_count = 3;
	f->cfg.delivery_timeout_ms = 3000;
	f->delivery = delivery_new(&f->cfg);
	return f->delivery != NULL ? 0 : -1;
}

/* Alert number n with text as its message text. */
static char *
alert_text_with(unsigned n, const char *text)
{
	struct buf b;

	buf_init(&b, 1 << 16);
	buf_printf(&b,
		"{\"schema\":\"snsrelay.alert/1\",\"alert_id\":\"sns:m-%u\","
		"\"kind\":\"notification\",\"severity\":\"info\","
		"\"title\":\"Notification %u\",\"summary\":\"Message %u.\","
		"\"received_at\":\"2024-05-01T10:00:10Z\","
		"\"occurred_at\":\"2024-05-01T10:00:05Z\","
		"\"sns\":{\"message_id\":\"m-%u\","
		"\"topic_arn\":\"arn:aws:sns:us-east-1:111122223333:t\","
		"\"subject\":null,\"timestamp\":\"2024-05-01T10:00:05.123Z\","
		"\"type\":\"Notification\"},\"format\":\"text\","
		"\"text\":\"%s\"}", n, n, n, n, text);
	return buf_steal(&b);
}

static char *
alert_text(unsigned n)
{
	char text[32];

	snprintf(text, sizeof(text), "short text %u", n);
	return alert_text_with(n, text);
}

static json_object *
alert_doc(unsigned n)
{
	char *text = alert_text(n);
	json_object *doc = json_tokener_parse(text);

	free(text);
	return doc;
}

static size_t
embeds_in(const char *body)
{
	json_object *doc = body != NULL ? json_tokener_parse(body) : NULL;
	json_object *embeds = NULL;
	size_t n = 0;

	if (json_object_object_get_ex(doc, "embeds", &embeds) &&
	    json_object_is_type(embeds, json_type_array))
		n = json_object_array_length(embeds);
	json_object_put(doc);
	return n;
}

/* Sends alerts 1..count to dest after scripting one response. */
static void
send_with(struct fixture *f, size_t dest, const struct reply *a,
	  size_t count, struct delivery_result *r)
{
	json_object *alerts[16];
	size_t i;

	server_script(a, 1);
	for (i = 0; i < count; i++)
		alerts[i] = alert_doc((unsigned)i + 1);
	delivery_send_batch(f->delivery, dest, alerts, count, r);
	for (i = 0; i < count; i++)
		json_object_put(alerts[i]);
}

static void
test_send_ok(struct fixture *f)
{
	struct delivery_result r;

	send_with(f, DEST_HOOK, &ok_reply, 3, &r);
	is_int(r.outcome, DELIVERY_OK, "send 200: OK");
	is_int(r.status, 200, "send 200: status");
	is_int(r.sent, 1, "send 200: generic sends one");
	is_str(server.wait_arg, "", "send 200: generic without wait");
	ok(server.last_body != NULL &&
	   strstr(server.last_body, "\"alert_id\":\"sns:m-1\"") != NULL,
	   "send 200: generic body is the alert");
	is_str(r.error, "", "send 200: no error");
}

static void
test_send_discord_batch(struct fixture *f)
{
	struct delivery_result r;

	send_with(f, DEST_DISCORD, &ok_reply, 15, &r);
	is_int(r.outcome, DELIVERY_OK, "discord 15: OK");
	is_int(r.sent, 10, "discord 15: sent 10");
	is_str(server.wait_arg, "true", "discord 15: wait=true");
	is_int(embeds_in(server.last_body), 10, "discord 15: 10 embeds");

	send_with(f, DEST_DISCORD, &ok_reply, 3, &r);
	is_int(r.sent, 3, "discord 3: sent 3");
	is_int(embeds_in(server.last_body), 3, "discord 3: 3 embeds");
}

static void
test_send_429_json(struct fixture *f)
{
	static const struct reply a = {
		429, "application/json",
		"{\"message\":\"You are being rate limited.\","
		"\"retry_after\":0.5,\"global\":false}",
		{ "Retry-After", "1", "X-RateLimit-Bucket", "abc123",
		  "X-RateLimit-Remaining", "0",
		  "X-RateLimit-Reset-After", "0.5", NULL },
	};
	static const struct reply g = {
		429, "application/json",
		"{\"message\":\"global\",\"retry_after\":3,\"global\":true}",
		{ "Retry-After", "3", "X-RateLimit-Global", "true", NULL },
	};
	static const struct reply legacy = {
		429, "application/json",
		"{\"message\":\"slow\",\"retry_after\":1500,"
		"\"global\":false}", { NULL },
	};
	struct delivery_result r;

	send_with(f, DEST_DISCORD, &a, 2, &r);
	is_int(r.outcome, DELIVERY_RATE_LIMITED, "429 json: RATE_LIMITED");
	is_int(r.status, 429, "429 json: status");
	/* The header's rounded-up 1 is the floor under the body's 0.5. */
	ok(fabs(r.retry_after_s - 1.0) < 1e-9,
	   "429 json: header floors body retry_after");
	ok(r.has_ratelimit_headers, "429 json: rate-limit headers");
	is_str(r.ratelimit_bucket, "abc123", "429 json: bucket");
	is_int(r.ratelimit_remaining, 0, "429 json: remaining");
	ok(fabs(r.ratelimit_reset_after_s - 0.5) < 1e-9,
	   "429 json: reset after");
	ok(!r.global, "429 json: not global");
	is_int(r.sent, 2, "429 json: sent");

	send_with(f, DEST_DISCORD, &g, 1, &r);
	ok(r.global, "429 global: global");
	ok(fabs(r.retry_after_s - 3) < 1e-9, "429 global: retry_after");

	/* A URL without /api/vN/ gets Discord's API v6, which sends
	 * retry_after in milliseconds. */
	send_with(f, DEST_LEGACY, &legacy, 1, &r);
	is_int(r.outcome, DELIVERY_RATE_LIMITED, "429 v6: RATE_LIMITED");
	ok(fabs(r.retry_after_s - 1.5) < 1e-9, "429 v6: milliseconds");
	send_with(f, DEST_HOOK, &legacy, 1, &r);
	ok(fabs(r.retry_after_s - 1500) < 1e-9, "429 generic: seconds");
}

static void
test_send_429_bare(struct fixture *f)
{
	static const struct reply plain = {
		429, "text/plain", "error code: 1015", { NULL },
	};
	static const struct reply blocked = {
		429, "application/json",
		"{\"code\":0,\"message\":\"You are being blocked\"}", { NULL },
	};
	static const struct reply header = {
		429, "text/plain", "rate_limited", { "Retry-After", "2", NULL },
	};
	struct delivery_result r;

	send_with(f, DEST_DISCORD, &plain, 1, &r);
	is_int(r.outcome, DELIVERY_RATE_LIMITED, "429 text: RATE_LIMITED");
	ok(!r.has_ratelimit_headers, "429 text: no rate-limit headers");
	ok(r.retry_after_s < 0, "429 text: no retry_after");
	ok(strstr(r.error, "error code: 1015") != NULL,
	   "429 text: body in error");

	send_with(f, DEST_DISCORD, &blocked, 1, &r);
	ok(!r.has_ratelimit_headers && r.retry_after_s < 0,
	   "429 cloudflare json: no timing");

	send_with(f, DEST_HOOK, &header, 1, &r);
	is_int(r.outcome, DELIVERY_RATE_LIMITED, "429 header: RATE_LIMITED");
	ok(fabs(r.retry_after_s - 2) < 1e-9, "429 header: Retry-After 2");
	ok(!r.has_ratelimit_headers, "429 header: no X-RateLimit");
}

static void
test_send_errors(struct fixture *f)
{
	static const struct reply gone = {
		404, "application/json",
		"{\"message\":\"Unknown Webhook\",\"code\":10015}", { NULL },
	};
	static const struct reply bad = {
		400, "application/json", "{\"message\":\"Invalid Form\x01\"}",
		{ NULL },
	};
	static const struct reply broken = {
		500, "text/plain", "oops", { NULL },
	};
	struct delivery_result r;

	send_with(f, DEST_DISCORD, &gone, 1, &r);
	is_int(r.outcome, DELIVERY_GONE, "404: GONE");
	ok(strstr(r.error, "discord") != NULL, "404: error names destination");
	ok(strstr(r.error, "REDACTED") != NULL, "404: error has redacted URL");
	ok(strstr(r.error, TOKEN) == NULL, "404: error hides the token");
	ok(strstr(r.error, "404") != NULL, "404: error has status");
	ok(strstr(r.error, "Unknown Webhook") != NULL, "404: error has body");

	send_with(f, DEST_HOOK, &bad, 1, &r);
	is_int(r.outcome, DELIVERY_REJECTED, "400: REJECTED");
	ok(strchr(r.error, '\x01') == NULL, "400: control byte removed");

	send_with(f, DEST_HOOK, &broken, 1, &r);
	is_int(r.outcome, DELIVERY_RETRY, "500: RETRY");
	is_int(r.status, 500, "500: status");

	send_with(f, DEST_CLOSED, &ok_reply, 1, &r);
	is_int(r.outcome, DELIVERY_RETRY, "closed port: RETRY");
	is_int(r.status, 0, "closed port: no status");
	ok(strstr(r.error, "closed") != NULL, "closed port: names dest");
}

static void
test_send_remaining(struct fixture *f)
{
	static const struct reply a = {
		200, "application/json", "{\"id\":\"1\"}",
		{ "X-RateLimit-Remaining", "0", "X-RateLimit-Reset-After",
		  "1.5", "X-RateLimit-Bucket", "b-1", NULL },
	};
	struct delivery_result r;

	send_with(f, DEST_DISCORD, &a, 1, &r);
	is_int(r.outcome, DELIVERY_OK, "remaining 0: OK");
	is_int(r.ratelimit_remaining, 0, "remaining 0: remaining");
	ok(fabs(r.ratelimit_reset_after_s - 1.5) < 1e-9,
	   "remaining 0: reset after");
	is_str(r.ratelimit_bucket, "b-1", "remaining 0: bucket");
}

static void
test_send_wrapper(struct fixture *f)
{
	static const struct reply bad = { 400, NULL, "bad", { NULL } };
	static const struct reply busy = { 503, NULL, "busy", { NULL } };
	static const struct reply limited = { 429, NULL, "", { NULL } };
	json_object *alert = alert_doc(1);
	struct err e;

	server_script(&ok_reply, 1);
	is_int(delivery_send(f->delivery, DEST_HOOK, alert, &e), RESULT_OK,
	       "delivery_send 200");
	server_script(&busy, 1);
	is_int(delivery_send(f->delivery, DEST_HOOK, alert, &e),
	       RESULT_RETRY, "delivery_send 503");
	is_str(e.code, "delivery_failed", "delivery_send 503: code");
	server_script(&limited, 1);
	is_int(delivery_send(f->delivery, DEST_HOOK, alert, &e),
	       RESULT_RETRY, "delivery_send 429");
	server_script(&bad, 1);
	is_int(delivery_send(f->delivery, DEST_HOOK, alert, &e),
	       RESULT_REJECT, "delivery_send 400");
	is_str(e.code, "delivery_rejected", "delivery_send 400: code");
	json_object_put(alert);
}

/* ---- dispatcher with a real spool ---- */

struct spool_fixture {
	char dir[64];
	char path[128];
	struct spool *spool;
};

static int
spool_fixture_start(struct spool_fixture *sf)
{
	struct spool_options opts;
	struct err e;

	memset(sf, 0, sizeof(*sf));
	snprintf(sf->dir, sizeof(sf->dir), "/tmp/unit_dispatcher.XXXXXX");
	if (mkdtemp(sf->dir) == NULL)
		return -1;
	snprintf(sf->path, sizeof(sf->path), "%s/spool.db", sf->dir);
	memset(&opts, 0, sizeof(opts));
	opts.path = sf->path;
	opts.dedup_window_s = 3600;
	sf->spool = spool_new(&opts);
	if (sf->spool == NULL || spool_start(sf->spool, &e) != RESULT_OK) {
		diag("spool: %s", sf->spool != NULL ? e.msg : "no memory");
		return -1;
	}
	return 0;
}

static void
spool_fixture_stop(struct spool_fixture *sf)
{
	char file[160];
	static const char *const suffixes[] = { "", "-wal", "-shm" };
	size_t i;

	if (sf->spool != NULL) {
		spool_stop(sf->spool);
		spool_free(sf->spool);
	}
	for (i = 0; i < 3; i++) {
		snprintf(file, sizeof(file), "%s%s", sf->path, suffixes[i]);
		unlink(file);
	}
	rmdir(sf->dir);
}

static int64_t
count_state(struct spool *spool, const char *state)
{
	int64_t n = -1;
	struct err e;

	if (spool_count(spool, state, &n, &e) != RESULT_OK)
		diag("spool_count %s: %s", state, e.msg);
	return n;
}

/* Stores doc, the document of alert number n, for dest, and frees doc. */
static int
put_document(struct spool *spool, unsigned n, const char *dest, char *doc)
{
	char id[32], message_id[32];
	bool duplicate = false;
	struct err e;
	int rc;

	snprintf(id, sizeof(id), "sns:m-%u", n);
	snprintf(message_id, sizeof(message_id), "m-%u", n);
	rc = spool_put(spool, id, message_id, "arn:aws:sns:us-east-1:1:t",
		       doc, &dest, 1, &duplicate, &e);
	if (rc != RESULT_OK)
		diag("spool_put: %s", e.msg);
	free(doc);
	return rc;
}

static int
put_alert(struct spool *spool, unsigned n, const char *dest)
{
	return put_document(spool, n, dest, alert_text(n));
}

/* Waits up to ms for count_state(state) to reach want. */
static int64_t
wait_for_state(struct spool *spool, const char *state, int64_t want,
	       unsigned ms)
{
	int64_t n = count_state(spool, state);
	unsigned waited = 0;

	while (n != want && waited < ms) {
		usleep(20000);
		waited += 20;
		n = count_state(spool, state);
	}
	return n;
}

static const struct dispatcher_options fast_options = {
	3600, 50, 200, 10,
};

static void
test_dispatcher_retries(struct fixture *f)
{
	static const struct reply script[] = {
		{ 500, "text/plain", "down", { NULL } },
		{ 502, "text/plain", "down", { NULL } },
		{ 200, "application/json", "{}", { NULL } },
	};
	struct spool_fixture sf;
	struct dispatcher *d = NULL;
	struct err e;

	if (spool_fixture_start(&sf) != 0) {
		ok(0, "dispatcher retries: spool started");
		goto out;
	}
	server_script(script, 3);
	is_int(put_alert(sf.spool, 1, "hook"), RESULT_OK,
	       "dispatcher retries: alert stored");
	d = dispatcher_start(sf.spool, f->delivery, &fast_options, &e);
	ok(d != NULL, "dispatcher retries: started");
	if (d == NULL)
		goto out;
	ok(dispatcher_running(d), "dispatcher retries: running");
	dispatcher_notify(d);
	is_int(wait_for_state(sf.spool, "delivered", 1, 10000), 1,
	       "dispatcher retries: delivered");
	usleep(300000);
	is_int(server_posts(), 3, "dispatcher retries: three POSTs");
	is_int(count_state(sf.spool, "pending"), 0,
	       "dispatcher retries: nothing pending");
out:
	dispatcher_stop(d, 2000);
	spool_fixture_stop(&sf);
}

static void
test_dispatcher_gone(struct fixture *f)
{
	static const struct reply gone = {
		404, "application/json", "{\"message\":\"Unknown Webhook\"}",
		{ NULL },
	};
	struct spool_fixture sf;
	struct dispatcher *d = NULL;
	struct err e;

	if (spool_fixture_start(&sf) != 0) {
		ok(0, "dispatcher 404: spool started");
		goto out;
	}
	server_script(&gone, 1);
	put_alert(sf.spool, 1, "hook");
	d = dispatcher_start(sf.spool, f->delivery, &fast_options, &e);
	if (d == NULL) {
		ok(0, "dispatcher 404: started");
		goto out;
	}
	is_int(wait_for_state(sf.spool, "dead", 1, 5000), 1,
	       "dispatcher 404: dead letter");
	put_alert(sf.spool, 2, "hook");
	dispatcher_notify(d);
	is_int(wait_for_state(sf.spool, "dead", 2, 5000), 2,
	       "dispatcher 404: next alert dead too");
	is_int(server_posts(), 1, "dispatcher 404: one POST only");
out:
	dispatcher_stop(d, 2000);
	spool_fixture_stop(&sf);
}

static void
test_dispatcher_rate_limited(struct fixture *f)
{
	static const struct reply script[] = {
		{ 429, "application/json",
		  "{\"message\":\"slow\",\"retry_after\":0.3,"
		  "\"global\":false}", { NULL } },
		{ 200, "application/json", "{}", { NULL } },
	};
	struct spool_fixture sf;
	struct dispatcher *d = NULL;
	struct err e;

	if (spool_fixture_start(&sf) != 0) {
		ok(0, "dispatcher 429: spool started");
		goto out;
	}
	server_script(script, 2);
	put_alert(sf.spool, 1, "discord");
	put_alert(sf.spool, 2, "discord");
	d = dispatcher_start(sf.spool, f->delivery, &fast_options, &e);
	if (d == NULL) {
		ok(0, "dispatcher 429: started");
		goto out;
	}
	is_int(wait_for_state(sf.spool, "delivered", 2, 5000), 2,
	       "dispatcher 429: both delivered");
	is_int(server_posts(), 2, "dispatcher 429: one batch, one retry");
	is_int(embeds_in(server.last_body), 2, "dispatcher 429: batch of 2");
out:
	dispatcher_stop(d, 2000);
	spool_fixture_stop(&sf);
}

/* How many POST bodies so far carried the embed of alert n. */
static size_t
posts_with_alert(unsigned n)
{
	char title[64];
	const char *p;
	size_t count = 0;

	snprintf(title, sizeof(title), "\"title\":\"[INFO] Notification %u\"",
		 n);
	pthread_mutex_lock(&server.lock);
	p = server.bodies.data;
	while (p != NULL && (p = strstr(p, title)) != NULL) {
		count++;
		p++;
	}
	pthread_mutex_unlock(&server.lock);
	return count;
}

/* How many POST bodies so far contained part. */
static size_t
posts_containing(const char *part)
{
	const char *p;
	size_t count = 0;

	pthread_mutex_lock(&server.lock);
	p = server.bodies.data;
	while (p != NULL && (p = strstr(p, part)) != NULL) {
		count++;
		p++;
	}
	pthread_mutex_unlock(&server.lock);
	return count;
}

/* Changes the stored title of alert n, as another process could, through
 * a connection of its own.  Returns the rows changed, or -1. */
static int
retitle_stored_alert(const char *path, unsigned n, const char *title)
{
	char sql[256];
	sqlite3 *db = NULL;
	int changed = -1;

	snprintf(sql, sizeof(sql), "UPDATE alerts SET document = replace("
		 "document, '\"title\":\"Notification %u\"', "
		 "'\"title\":\"%s\"') WHERE alert_id = 'sns:m-%u'", n, title,
		 n);
	if (sqlite3_open(path, &db) == SQLITE_OK &&
	    sqlite3_busy_timeout(db, 5000) == SQLITE_OK &&
	    sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK)
		changed = sqlite3_changes(db);
	else
		diag("retitle alert %u: %s", n, sqlite3_errmsg(db));
	sqlite3_close(db);
	return changed;
}

/*
 * The server delays its response to the first message.  Meanwhile the
 * stored text of alert 3, which the worker keeps parsed for the next
 * message, changes.  The next message must carry the new text, not the
 * kept parse of the old one.
 */
static void
test_dispatcher_leftover_changed(struct fixture *f)
{
	struct spool_fixture sf;
	struct dispatcher *d = NULL;
	char text[2501];
	unsigned n;
	size_t waited;
	struct err e;

	if (spool_fixture_start(&sf) != 0) {
		ok(0, "leftover changed: spool started");
		goto out;
	}
	server_script(&ok_reply, 1);
	server_delay(3000);
	memset(text, 'x', sizeof(text) - 1);
	text[sizeof(text) - 1] = '\0';
	for (n = 1; n <= 5; n++)
		put_document(sf.spool, n, "discord", alert_text_with(n, text));
	d = dispatcher_start(sf.spool, f->delivery, &fast_options, &e);
	if (d == NULL) {
		ok(0, "leftover changed: started");
		goto out;
	}
	for (waited = 0; server_posts() == 0 && waited < 10000; waited += 10)
		usleep(10 * 1000);
	is_int(server_posts(), 1, "leftover changed: first message received");
	is_int(posts_with_alert(3), 0,
	       "leftover changed: alert 3 not in the first message");
	is_int(retitle_stored_alert(sf.path, 3, "Changed 3"), 1,
	       "leftover changed: stored text changed");
	server_delay(0);
	is_int(wait_for_state(sf.spool, "delivered", 5, 15000), 5,
	       "leftover changed: all delivered");
	is_int(posts_containing("\"title\":\"[INFO] Changed 3\""), 1,
	       "leftover changed: new text sent");
	is_int(posts_with_alert(3), 0, "leftover changed: old text not sent");
out:
	dispatcher_stop(d, 2000);
	server_delay(0);
	spool_fixture_stop(&sf);
}

/*
 * Alerts of about 2500 characters: a Discord message takes two, so each
 * batch of due alerts leaves some for the next one.  The first message
 * fails once.  Every alert is still sent, and sent again only after the
 * failure.
 */
static void
test_dispatcher_leftovers(struct fixture *f)
{
	static const struct reply script[] = {
		{ 500, "text/plain", "down", { NULL } },
		{ 200, "application/json", "{}", { NULL } },
	};
	struct spool_fixture sf;
	struct dispatcher *d = NULL;
	char text[2501];
	unsigned n;
	struct err e;

	if (spool_fixture_start(&sf) != 0) {
		ok(0, "dispatcher leftovers: spool started");
		goto out;
	}
	server_script(script, 2);
	memset(text, 'x', sizeof(text) - 1);
	text[sizeof(text) - 1] = '\0';
	for (n = 1; n <= 7; n++)
		put_document(sf.spool, n, "discord", alert_text_with(n, text));
	d = dispatcher_start(sf.spool, f->delivery, &fast_options, &e);
	if (d == NULL) {
		ok(0, "dispatcher leftovers: started");
		goto out;
	}
	is_int(wait_for_state(sf.spool, "delivered", 7, 10000), 7,
	       "dispatcher leftovers: all delivered");
	is_int(server_posts(), 5,
	       "dispatcher leftovers: one failure and four messages");
	is_int(posts_with_alert(1), 2, "dispatcher leftovers: 1 sent twice");
	is_int(posts_with_alert(2), 2, "dispatcher leftovers: 2 sent twice");
	for (n = 3; n <= 7; n++)
		is_int(posts_with_alert(n), 1,
		       "dispatcher leftovers: %u sent once", n);
	is_int(count_state(sf.spool, "pending"), 0,
	       "dispatcher leftovers: nothing pending");
out:
	dispatcher_stop(d, 2000);
	spool_fixture_stop(&sf);
}

static int64_t
elapsed_ms(const struct timespec *since)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (int64_t)(now.tv_sec - since->tv_sec) * 1000 +
	       (now.tv_nsec - since->tv_nsec) / 1000000;
}

/* A send slower than the grace is left behind, and its alert stays
 * pending for the next start. */
static void
test_dispatcher_stop_grace(struct fixture *f)
{
	static const struct reply slow = {
		200, "application/json", "{}", { NULL },
	};
	struct spool_fixture sf;
	struct dispatcher *d = NULL;
	struct timespec start;
	unsigned waited = 0;
	struct err e;

	if (spool_fixture_start(&sf) != 0) {
		ok(0, "dispatcher stop: spool started");
		goto out;
	}
	server_script(&slow, 1);
	server_delay(1500);
	put_alert(sf.spool, 1, "hook");
	d = dispatcher_start(sf.spool, f->delivery, &fast_options, &e);
	if (d == NULL) {
		ok(0, "dispatcher stop: started");
		goto out;
	}
	while (server_posts() == 0 && waited < 5000) {
		usleep(10000);
		waited += 10;
	}
	clock_gettime(CLOCK_MONOTONIC, &start);
	dispatcher_stop(d, 200);
	ok(elapsed_ms(&start) < 1000, "dispatcher stop: within grace");
	is_int(count_state(sf.spool, "pending"), 1,
	       "dispatcher stop: alert still pending");

	/* The worker left behind finishes its send without recording it. */
	usleep(2000000);
	is_int(count_state(sf.spool, "pending"), 1,
	       "dispatcher stop: late response not recorded");
out:
	server_delay(0);
	spool_fixture_stop(&sf);
}

int
main(void)
{
	struct fixture f;

	log_setup(LOG_ERROR, LOG_FORMAT_LOGFMT);
	test_backoff_table();
	test_backoff_bounds();
	test_ratelimit_retry_after();
	test_ratelimit_global();
	test_ratelimit_headerless();
	test_ratelimit_remaining();
	test_ratelimit_buckets();

	if (http_client_global_init() != 0 || server_start() != 0 ||
	    fixture_init(&f) != 0) {
		ok(0, "loopback server and destinations set up");
		return tap_done();
	}
	test_send_ok(&f);
	test_send_discord_batch(&f);
	test_send_429_json(&f);
	test_send_429_bare(&f);
	test_send_errors(&f);
	test_send_remaining(&f);
	test_send_wrapper(&f);

	test_dispatcher_retries(&f);
	test_dispatcher_gone(&f);
	test_dispatcher_rate_limited(&f);
	test_dispatcher_leftovers(&f);
	test_dispatcher_leftover_changed(&f);
	test_dispatcher_stop_grace(&f);

	delivery_free(f.delivery);
	server_stop();
	http_client_global_cleanup();
	return tap_done();
}
