/*
 * HTTP(S) front end on libmicrohttpd.
 *
 * Each connection runs in its own thread, so a handler that waits on a
 * certificate fetch or a webhook never delays /healthz or other senders.
 * The request body is collected into a bounded buffer owned by the
 * per-request state and handed to the SNS handler once complete.
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <linux/tcp.h>
#endif

#include <json-c/json.h>
#include <microhttpd.h>
#include <openssl/rand.h>

#include "snsrelay/buf.h"
#include "snsrelay/dispatcher.h"
#include "snsrelay/http_server.h"
#include "snsrelay/inbound.h"
#include "snsrelay/limits.h"
#include "snsrelay/log.h"
#include "snsrelay/metrics.h"
#include "snsrelay/sns_handler.h"
#include "snsrelay/spool.h"

#define REQUEST_ID_SIZE 24
#define REMOTE_ADDR_SIZE INET6_ADDRSTRLEN
/* How long a stop waits for requests in flight: SNS stops waiting for
 * a response after 15 s, so a longer wait would help no one. */
#define DRAIN_MAX_MS 15000
#define DRAIN_POLL_MS 50
/* Largest /metrics response.  Every family at METRICS_SERIES_MAX series
 * of about 150 bytes (an estimate) takes under 1 MiB. */
#define METRICS_RENDER_MAX (4 * 1024 * 1024)
/* Most a declared Content-Length allocates before the body arrives, so a
 * client that declares much and sends little cannot hold more per
 * connection.  SNS bodies of security-group events are a few KiB. */
#define BODY_PREALLOC_MAX (64 * 1024)

/* Phase of a connection's current request; see "Request deadlines"
 * below. */
enum watch_phase {
	WATCH_RECEIVING,	/* arriving: its deadline runs */
	WATCH_HANDLING,		/* arrived: the handler works on it */
	WATCH_IDLE,		/* kept alive between two requests */
};

/* Deadline state of one connection, its socket context. */
struct conn_watch {
	int fd;
	enum watch_phase phase;
	int64_t deadline_ms;		/* CLOCK_MONOTONIC; when receiving */
	uint64_t idle_bytes;		/* received when it became idle */
	bool first_request;
	bool closed;			/* shut down by the reaper */
	char remote[REMOTE_ADDR_SIZE];	/* the socket's other end */
	struct conn_watch *prev;
	struct conn_watch *next;
};

/* The open connections of one server and the thread that enforces
 * their deadlines. */
struct watch_list {
	pthread_mutex_t lock;		/* guards everything below */
	pthread_cond_t wake;
	pthread_t reaper;
	bool running;
	bool stopping;
	unsigned timeout_ms;		/* request_timeout */
	struct conn_watch *head;
};

struct http_server {
	struct MHD_Daemon *daemon;
	struct relay *relay;
	unsigned port;
	/* A listening socket taken over from the server before a reload;
	 * -1: bind the configured address. */
	int listen_fd;
	char *tls_cert;		/* PEM text; libmicrohttpd keeps pointers */
	char *tls_key;
	uint32_t id_prefix;	/* random, so ids differ across restarts */
	atomic_ulong next_id;
	atomic_uint active;	/* requests begun and not yet completed */
	/* Source and authentication checks, built from relay->cfg. */
	struct inbound_policy inbound;
	struct watch_list watches;
};

/* Per-request state, stored in libmicrohttpd's connection closure. */
struct request_state {
	struct buf body;
	bool too_large;
	bool responded;		/* a response was queued on the first call */
	char id[REQUEST_ID_SIZE];
	/* The client: the peer, or the address a trusted proxy forwarded
	 * for (X-Forwarded-For).  Logs show it as remote=. */
	char remote[REMOTE_ADDR_SIZE];
	char peer[REMOTE_ADDR_SIZE];	/* the socket's other end */
	const char *route;		/* label of snsrelay_http_requests_total */
	bool sns_post;			/* a POST to endpoint_path */
	struct timespec started;	/* CLOCK_MONOTONIC, at the first call */
};

static void
remote_address(struct MHD_Connection *connection, char *out, size_t size)
{
	const union MHD_ConnectionInfo *info;
	const struct sockaddr *sa;
	const void *addr;

	snprintf(out, size, "unknown");
	info = MHD_get_connection_info(connection,
				       MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (info == NULL || info->client_addr == NULL)
		return;
	sa = info->client_addr;
	if (sa->sa_family == AF_INET)
		addr = &((const struct sockaddr_in *)sa)->sin_addr;
	else if (sa->sa_family == AF_INET6)
		addr = &((const struct sockaddr_in6 *)sa)->sin6_addr;
	else
		return;
	if (inet_ntop(sa->sa_family, addr, out, (socklen_t)size) == NULL)
		snprintf(out, size, "unknown");
}

/* Appends one X-Forwarded-For header value to the joined list. */
static enum MHD_Result
join_forwarded_for(void *cls, enum MHD_ValueKind kind, const char *key,
		   const char *value)
{
	struct buf *joined = cls;

	(void)kind;
	if (strcasecmp(key, "X-Forwarded-For") != 0 || value == NULL)
		return MHD_YES;
	if ((joined->len > 0 && buf_append_str(joined, ",") != 0) ||
	    buf_append_str(joined, value) != 0) {
		/* Out of memory: no list at all beats one missing its
		 * rightmost hops, because the peer is then the client. */
		buf_free(joined);
		return MHD_NO;
	}
	return MHD_YES;
}

/* Sets state->peer and state->remote, the client behind trusted
 * proxies.  Repeated X-Forwarded-For headers count as one list, in
 * order (RFC 9110, section 5.3). */
static void
resolve_client(struct http_server *server, struct MHD_Connection *conn,
	       struct request_state *state)
{
	struct buf joined;

	remote_address(conn, state->peer, sizeof(state->peer));
	/* The headers already fit in connection_memory_limit. */
	buf_init(&joined, server->relay->cfg->connection_memory_limit);
	if (server->inbound.trusted_proxies.count > 0)
		MHD_get_connection_values(conn, MHD_HEADER_KIND,
					  join_forwarded_for, &joined);
	inbound_client_address(&server->inbound.trusted_proxies,
			       state->peer, joined.data, state->remote,
			       sizeof(state->remote));
	buf_free(&joined);
}

static struct request_state *
request_state_new(struct http_server *server, struct MHD_Connection *conn)
{
	struct request_state *state = calloc(1, sizeof(*state));
	unsigned long n;

	if (state == NULL)
		return NULL;
	buf_init(&state->body, server->relay->cfg->max_body_bytes);
	atomic_fetch_add(&server->active, 1);
	n = atomic_fetch_add(&server->next_id, 1);
	snprintf(state->id, sizeof(state->id), "%08x%08lx",
		 (unsigned)server->id_prefix, n);
	clock_gettime(CLOCK_MONOTONIC, &state->started);
	state->route = "other";
	resolve_client(server, conn, state);
	return state;
}

static void
request_state_free(struct request_state *state)
{
	if (state == NULL)
		return;
	buf_free(&state->body);
	free(state);
}

/* Queues resp (destroyed here) with the headers of every response, and
 * counts the response in the metrics. */
static enum MHD_Result
queue_response(struct MHD_Connection *conn, unsigned status,
	       struct MHD_Response *resp, const struct request_state *state)
{
	struct timespec now;
	char status_text[8];
	enum MHD_Result ret;

	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL,
				"no-store");
	MHD_add_response_header(resp, "X-Request-Id", state->id);
	ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	if (ret != MHD_YES)
		return ret;
	snprintf(status_text, sizeof(status_text), "%u", status);
	metrics_inc(METRIC_HTTP_REQUESTS, state->route, status_text);
	if (state->sns_post) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		metrics_observe_sns_seconds(
			(double)(now.tv_sec - state->started.tv_sec) +
			(double)(now.tv_nsec - state->started.tv_nsec) / 1e9);
	}
	return ret;
}

/* A response with body (consumed) as its JSON text, or NULL. */
static struct MHD_Response *
json_response(json_object *body)
{
	const char *text;
	struct MHD_Response *resp;

	text = json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN |
					      JSON_C_TO_STRING_NOSLASHESCAPE);
	resp = MHD_create_response_from_buffer(strlen(text), (void *)text,
					       MHD_RESPMEM_MUST_COPY);
	json_object_put(body);
	if (resp != NULL)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
					"application/json");
	return resp;
}

/* Queues a JSON response built from body (consumed). */
static enum MHD_Result
send_json(struct MHD_Connection *conn, unsigned status, json_object *body,
	  const struct request_state *state, const char *allow)
{
	struct MHD_Response *resp = json_response(body);

	if (resp == NULL)
		return MHD_NO;
	if (allow != NULL)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
	return queue_response(conn, status, resp, state);
}

/* {"error": reason, "code": code, "request_id": id} */
static json_object *
error_body(const char *code, const char *reason,
	   const struct request_state *state)
{
	json_object *body = json_object_new_object();

	json_object_object_add(body, "error", json_object_new_string(reason));
	json_object_object_add(body, "code", json_object_new_string(code));
	json_object_object_add(body, "request_id",
			       json_object_new_string(state->id));
	return body;
}

/* Logs the rejection of a request the SNS handler never saw, and counts
 * it among the SNS requests when it was a POST to the endpoint. */
static void
log_rejection(enum log_level level, unsigned status, const char *code,
	      const char *reason, const struct request_state *state,
	      const char *method, const char *url)
{
	struct log_line line;

	if (state->sns_post)
		metrics_inc(METRIC_SNS_REQUESTS, code, NULL);

	log_begin(&line, level, "request_rejected");
	log_str(&line, "request_id", state->id);
	log_str(&line, "remote", state->remote);
	if (strcmp(state->peer, state->remote) != 0)
		log_str(&line, "peer", state->peer);
	log_str(&line, "method", method);
	log_str(&line, "path", url);
	log_int(&line, "status", status);
	log_str(&line, "code", code);
	log_str(&line, "reason", reason);
	log_end(&line);
}

/* Sends an error_body and logs the rejection. */
static enum MHD_Result
send_error(struct MHD_Connection *conn, unsigned status, const char *code,
	   const char *reason, const struct request_state *state,
	   const char *method, const char *url, const char *allow)
{
	log_rejection(LOG_WARN, status, code, reason, state, method, url);
	return send_json(conn, status, error_body(code, reason, state), state,
			 allow);
}

static enum MHD_Result
send_health(struct http_server *server, struct MHD_Connection *conn,
	    const struct request_state *state)
{
	json_object *body = json_object_new_object();
	time_t now = server->relay->now();
	long long uptime = (long long)(now - server->relay->started_at);

	json_object_object_add(body, "status", json_object_new_string("ok"));
	json_object_object_add(body, "version",
			       json_object_new_string(PACKAGE_VERSION));
	json_object_object_add(body, "uptime_s",
			       json_object_new_int64(uptime < 0 ? 0 : uptime));
	return send_json(conn, MHD_HTTP_OK, body, state, NULL);
}

/* Ready means alerts can be stored and delivered: the load balancer
 * sends SNS elsewhere while the spool cannot be written.  Returns
 * false with the reason in why otherwise. */
static bool
relay_ready(struct relay *relay, struct err *why)
{
	err_clear(why);
	if (!spool_ready(relay->spool, why))
		return false;
	if (!dispatcher_running(relay->dispatcher)) {
		err_set(why, "workers_stopped",
			"a delivery worker is not running");
		return false;
	}
	return true;
}

static enum MHD_Result
send_ready(struct http_server *server, struct MHD_Connection *conn,
	   const struct request_state *state)
{
	json_object *body = json_object_new_object();
	struct err why;
	bool ready = relay_ready(server->relay, &why);

	json_object_object_add(body, "status",
			       json_object_new_string(ready ? "ready" :
						      "not_ready"));
	if (!ready)
		json_object_object_add(body, "reason",
				       json_object_new_string(why.msg));
	return send_json(conn, ready ? MHD_HTTP_OK :
			 MHD_HTTP_SERVICE_UNAVAILABLE, body, state, NULL);
}

/* The gauges of /metrics, read now; -1 leaves out what is unknown. */
static void
read_gauges(struct http_server *server, struct metrics_gauges *gauges)
{
	struct relay *relay = server->relay;
	const union MHD_DaemonInfo *info;
	struct cert_cache_stats certs;
	struct err why;
	long long uptime = (long long)(relay->now() - relay->started_at);

	gauges->spool_pending = -1;
	gauges->spool_dead = -1;
	if (spool_depth(relay->spool, &gauges->spool_pending,
			&gauges->spool_dead) != 0) {
		gauges->spool_pending = -1;
		gauges->spool_dead = -1;
	}
	info = MHD_get_daemon_info(server->daemon,
				   MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
	gauges->connections = info != NULL ?
		(long long)info->num_connections : -1;
	gauges->cert_cache_entries = -1;
	if (relay->certs != NULL) {
		cert_cache_get_stats(relay->certs, &certs);
		gauges->cert_cache_entries = (long long)certs.entries;
	}
	gauges->uptime_s = uptime < 0 ? 0 : uptime;
	gauges->ready = relay_ready(relay, &why) ? 1 : 0;
}

/* GET /metrics: the Prometheus text exposition format 0.0.4. */
static enum MHD_Result
send_metrics(struct http_server *server, struct MHD_Connection *conn,
	     const struct request_state *state)
{
	struct metrics_gauges gauges;
	struct MHD_Response *resp;
	struct log_line line;
	struct buf text;
	size_t len;
	char *data;

	read_gauges(server, &gauges);
	buf_init(&text, METRICS_RENDER_MAX);
	if (metrics_render(&text, &gauges) != 0 || text.data == NULL) {
		buf_free(&text);
		log_begin(&line, LOG_ERROR, "metrics_failed");
		log_str(&line, "request_id", state->id);
		log_str(&line, "reason", "the metrics exceed the render "
			"buffer or memory is short");
		log_int(&line, "max_bytes", METRICS_RENDER_MAX);
		log_end(&line);
		return send_json(conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
				 error_body("metrics_failed", "the metrics "
					    "could not be rendered; see the "
					    "log", state), state, NULL);
	}
	len = text.len;
	data = buf_steal(&text);
	resp = MHD_create_response_from_buffer(len, data,
					       MHD_RESPMEM_MUST_FREE);
	if (resp == NULL) {
		free(data);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
				"text/plain; version=0.0.4; charset=utf-8");
	return queue_response(conn, MHD_HTTP_OK, resp, state);
}

static enum MHD_Result
send_sns_result(struct MHD_Connection *conn, const struct sns_response *r,
		const struct request_state *state)
{
	json_object *body = json_object_new_object();

	if (r->status >= 200 && r->status < 300) {
		json_object_object_add(body, "result",
				       json_object_new_string(r->code));
		if (r->message_id[0] != '\0')
			json_object_object_add(body, "message_id",
				json_object_new_string(r->message_id));
	} else {
		json_object_object_add(body, "error",
				       json_object_new_string(r->reason));
		json_object_object_add(body, "code",
				       json_object_new_string(r->code));
		json_object_object_add(body, "request_id",
				       json_object_new_string(state->id));
	}
	return send_json(conn, (unsigned)r->status, body, state, NULL);
}

static const char *
header_value(struct MHD_Connection *conn, const char *name)
{
	return MHD_lookup_connection_value(conn, MHD_HEADER_KIND, name);
}

static enum MHD_Result
finish_sns_request(struct http_server *server, struct MHD_Connection *conn,
		   struct request_state *state)
{
	struct sns_request req;
	struct sns_response resp;
	char reason[160];

	if (state->too_large) {
		snprintf(reason, sizeof(reason),
			 "request body exceeds max_body_bytes (%zu bytes)",
			 server->relay->cfg->max_body_bytes);
		return send_error(conn, MHD_HTTP_CONTENT_TOO_LARGE,
				  "body_too_large", reason, state, "POST",
				  server->relay->cfg->endpoint_path, NULL);
	}

	memset(&req, 0, sizeof(req));
	req.body = state->body.data != NULL ? state->body.data : "";
	req.body_len = state->body.len;
	req.message_type_header = header_value(conn, "x-amz-sns-message-type");
	req.raw_delivery_header = header_value(conn, "x-amz-sns-rawdelivery");
	req.remote_addr = state->remote;
	req.request_id = state->id;
	sns_handler_process(server->relay, &req, &resp);
	return send_sns_result(conn, &resp, state);
}

/* Rejects a declared Content-Length over the limit before reading the
 * body, and sizes the body buffer for one within it.  Returns true when
 * a response was queued. */
static bool
reject_declared_length(struct http_server *server,
		       struct MHD_Connection *conn,
		       struct request_state *state, enum MHD_Result *ret)
{
	const char *value = header_value(conn, MHD_HTTP_HEADER_CONTENT_LENGTH);
	unsigned long long length;
	char *end;
	char reason[160];

	if (value == NULL)
		return false;
	length = strtoull(value, &end, 10);
	if (end == value || *end != '\0')
		return false;
	if (length <= server->relay->cfg->max_body_bytes) {
		/* One allocation instead of a doubling series.  Failing is
		 * harmless: appends grow the buffer as they need. */
		(void)buf_reserve(&state->body, length < BODY_PREALLOC_MAX ?
				  (size_t)length : BODY_PREALLOC_MAX);
		return false;
	}
	snprintf(reason, sizeof(reason),
		 "request body of %llu bytes exceeds max_body_bytes "
		 "(%zu bytes)", length, server->relay->cfg->max_body_bytes);
	*ret = send_error(conn, MHD_HTTP_CONTENT_TOO_LARGE, "body_too_large",
			  reason, state, "POST",
			  server->relay->cfg->endpoint_path, NULL);
	return true;
}

static enum MHD_Result
handle_sns_upload(struct http_server *server, struct MHD_Connection *conn,
		  struct request_state *state, const char *data,
		  size_t *data_size)
{
	if (*data_size == 0)
		return finish_sns_request(server, conn, state);
	if (!state->too_large &&
	    buf_append(&state->body, data, *data_size) != 0) {
		/* Keep reading and discarding, so the client gets a 413
		 * rather than a reset connection. */
		state->too_large = true;
		buf_free(&state->body);
	}
	*data_size = 0;
	return MHD_YES;
}

/* A 401 with the challenge of RFC 7617, logged once. */
static enum MHD_Result
send_auth_challenge(struct MHD_Connection *conn,
		    const struct request_state *state, enum inbound_auth auth,
		    const char *why, const char *url)
{
	bool missing = auth == INBOUND_AUTH_MISSING;
	const char *code = missing ? "auth_required" : "auth_invalid";
	struct MHD_Response *resp;

	/* SNS first posts without credentials and sends them only after
	 * this challenge, so a missing header is routine: info, not warn. */
	log_rejection(missing ? LOG_INFO : LOG_WARN, MHD_HTTP_UNAUTHORIZED,
		      code, why, state, "POST", url);
	resp = json_response(error_body(code, missing ?
		"this endpoint requires HTTP Basic authentication; put the "
		"user and password in the subscription URL" :
		"the HTTP Basic credentials were not accepted", state));
	if (resp == NULL)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
				"Basic realm=\"snsrelay\", charset=\"UTF-8\"");
	return queue_response(conn, MHD_HTTP_UNAUTHORIZED, resp, state);
}

/* Checks a POST to endpoint_path before its body is read: the source
 * address, then the credentials, then the declared length.  Returns
 * true when a response was queued. */
static bool
reject_sns_post(struct http_server *server, struct MHD_Connection *conn,
		struct request_state *state, const char *url,
		enum MHD_Result *ret)
{
	const char *why = NULL;
	enum inbound_auth auth;
	char reason[160];

	if (!inbound_source_allowed(&server->inbound, state->remote)) {
		snprintf(reason, sizeof(reason), "source address %s is not in "
			 "allowed_sources", state->remote);
		*ret = send_error(conn, MHD_HTTP_FORBIDDEN,
				  "source_not_allowed", reason, state, "POST",
				  url, NULL);
		return true;
	}
	auth = inbound_check_basic(&server->inbound.credentials,
				   header_value(conn,
						MHD_HTTP_HEADER_AUTHORIZATION),
				   &why);
	if (auth != INBOUND_AUTH_OK) {
		*ret = send_auth_challenge(conn, state, auth, why, url);
		return true;
	}
	return reject_declared_length(server, conn, state, ret);
}

/* GET and HEAD only: /healthz and /readyz always, /metrics when the
 * metrics option is on.  None needs credentials, so that load
 * balancers and Prometheus can call them. */
static enum MHD_Result
route_open(struct http_server *server, struct MHD_Connection *conn,
	   const char *url, const char *method, struct request_state *state)
{
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
		return send_error(conn, MHD_HTTP_METHOD_NOT_ALLOWED,
				  "method_not_allowed",
				  "this path accepts GET and HEAD only", state,
				  method, url, "GET, HEAD");
	if (strcmp(state->route, "healthz") == 0)
		return send_health(server, conn, state);
	if (strcmp(state->route, "readyz") == 0)
		return send_ready(server, conn, state);
	return send_metrics(server, conn, state);
}

/* The metrics label of url, one of a fixed set, so that clients cannot
 * add series. */
static const char *
route_name(const struct relay_config *cfg, const char *url)
{
	if (strcmp(url, "/healthz") == 0)
		return "healthz";
	if (strcmp(url, "/readyz") == 0)
		return "readyz";
	if (strcmp(url, cfg->endpoint_path) == 0)
		return "sns";
	if (cfg->metrics && strcmp(url, "/metrics") == 0)
		return "metrics";
	return "other";
}

static enum MHD_Result
route_first_call(struct http_server *server, struct MHD_Connection *conn,
		 const char *url, const char *method,
		 struct request_state *state)
{
	enum MHD_Result ret;

	/* Every branch but an accepted SNS POST responds now. */
	state->responded = true;
	state->route = route_name(server->relay->cfg, url);
	if (strcmp(state->route, "other") == 0)
		return send_error(conn, MHD_HTTP_NOT_FOUND, "not_found",
				  "no such path; SNS posts to the configured "
				  "endpoint_path", state, method, url, NULL);
	if (strcmp(state->route, "sns") != 0)
		return route_open(server, conn, url, method, state);
	if (strcmp(method, "POST") != 0)
		return send_error(conn, MHD_HTTP_METHOD_NOT_ALLOWED,
				  "method_not_allowed",
				  "the SNS endpoint accepts POST only", state,
				  method, url, "POST");
	state->sns_post = true;
	if (reject_sns_post(server, conn, state, url, &ret))
		return ret;
	state->responded = false;
	return MHD_YES;
}

/*
 * Request deadlines.  libmicrohttpd's own timeout (request_timeout)
 * closes a connection after that long without a byte, so a client that
 * trickles one byte every few seconds could keep a connection, and its
 * thread, for as long as it likes.  A reaper thread therefore closes a
 * connection whose request (headers and body) has not fully arrived
 * request_timeout after it began: after the accept for a connection's
 * first request, after the first byte for a later one.  Between requests
 * a kept-alive connection is idle, and only libmicrohttpd's timeout
 * applies.  The handler's own work does not count.
 *
 * libmicrohttpd reports no first byte, so the reaper polls the bytes the
 * kernel received on each idle connection (TCP_INFO, Linux 4.1 and
 * later) every WATCH_TICK_MS; a later request's deadline starts up to one
 * tick late.  Without that count, a later request must arrive within
 * request_timeout of the end of the previous one.
 *
 * The reaper shuts a socket down and leaves the close to libmicrohttpd.
 * It touches a descriptor only while holding the lock and while the
 * connection is in the list.  libmicrohttpd reports the close
 * (MHD_CONNECTION_NOTIFY_CLOSED, which unlinks it under the same lock)
 * before it closes the descriptor, so the number cannot be reused yet.
 * NOTE: that order was read in libmicrohttpd's 1.0 source, not in the
 * 0.9.75 release that Debian ships.
 */
#define WATCH_TICK_MS 250

static int64_t
watch_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Reads the bytes the kernel has received on socket fd.  Returns 0, or
 * -1 when the system does not report them. */
static int
watch_received_bytes(int fd, uint64_t *bytes)
{
#ifdef __linux__
	struct tcp_info info;
	socklen_t len = sizeof(info);

	memset(&info, 0, sizeof(info));
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) != 0 ||
	    len < offsetof(struct tcp_info, tcpi_bytes_received) +
		  sizeof(info.tcpi_bytes_received))
		return -1;
	*bytes = info.tcpi_bytes_received;
	return 0;
#else
	(void)fd;
	(void)bytes;
	return -1;
#endif
}

static void
watch_link(struct watch_list *list, struct conn_watch *watch)
{
	pthread_mutex_lock(&list->lock);
	watch->prev = NULL;
	watch->next = list->head;
	if (list->head != NULL)
		list->head->prev = watch;
	list->head = watch;
	pthread_mutex_unlock(&list->lock);
}

static void
watch_unlink(struct watch_list *list, struct conn_watch *watch)
{
	pthread_mutex_lock(&list->lock);
	if (watch->prev != NULL)
		watch->prev->next = watch->next;
	else
		list->head = watch->next;
	if (watch->next != NULL)
		watch->next->prev = watch->prev;
	pthread_mutex_unlock(&list->lock);
}

/* Starts the first request's deadline at the accept, and removes the
 * connection from the list when it closes (MHD_OPTION_NOTIFY_CONNECTION). */
static void
watch_connection(void *cls, struct MHD_Connection *conn,
		 void **socket_context, enum MHD_ConnectionNotificationCode toe)
{
	struct http_server *server = cls;
	struct conn_watch *watch = *socket_context;
	const union MHD_ConnectionInfo *info;

	if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
		if (watch != NULL) {
			watch_unlink(&server->watches, watch);
			free(watch);
			*socket_context = NULL;
		}
		return;
	}
	info = MHD_get_connection_info(conn,
				       MHD_CONNECTION_INFO_CONNECTION_FD);
	watch = calloc(1, sizeof(*watch));
	/* Without memory the connection has only the idle timeout. */
	if (info == NULL || watch == NULL) {
		free(watch);
		return;
	}
	watch->fd = info->connect_fd;
	watch->phase = WATCH_RECEIVING;
	watch->first_request = true;
	watch->deadline_ms = watch_now_ms() + server->watches.timeout_ms;
	remote_address(conn, watch->remote, sizeof(watch->remote));
	*socket_context = watch;
	watch_link(&server->watches, watch);
}

static struct conn_watch *
watch_of(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *info;

	info = MHD_get_connection_info(conn,
				       MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	return info != NULL ? info->socket_context : NULL;
}

/* The request has fully arrived: its deadline no longer applies. */
static void
watch_request_received(struct http_server *server,
		       struct MHD_Connection *conn)
{
	struct conn_watch *watch = watch_of(conn);

	if (watch == NULL)
		return;
	pthread_mutex_lock(&server->watches.lock);
	watch->phase = WATCH_HANDLING;
	pthread_mutex_unlock(&server->watches.lock);
}

/* The response was sent: the connection is idle until its next byte. */
static void
watch_request_done(struct http_server *server, struct MHD_Connection *conn)
{
	struct conn_watch *watch = watch_of(conn);
	uint64_t bytes = 0;
	bool counted;

	if (watch == NULL)
		return;
	counted = watch_received_bytes(watch->fd, &bytes) == 0;
	pthread_mutex_lock(&server->watches.lock);
	watch->first_request = false;
	watch->idle_bytes = bytes;
	watch->phase = counted ? WATCH_IDLE : WATCH_RECEIVING;
	watch->deadline_ms = watch_now_ms() + server->watches.timeout_ms;
	pthread_mutex_unlock(&server->watches.lock);
}

static void
watch_log_timeout(const struct conn_watch *watch, unsigned timeout_ms)
{
	struct log_line line;

	log_begin(&line, LOG_WARN, "request_timed_out");
	log_str(&line, "remote", watch->remote);
	log_str(&line, "request", watch->first_request ? "first" : "later");
	log_int(&line, "request_timeout_s", timeout_ms / 1000);
	log_str(&line, "reason", "the request did not arrive in full within "
		"request_timeout of its start; the connection was closed");
	log_end(&line);
}

/* One pass over the connections, with the lock held. */
static void
watch_check(struct watch_list *list, int64_t now_ms)
{
	struct conn_watch *watch;
	uint64_t bytes;

	for (watch = list->head; watch != NULL; watch = watch->next) {
		if (watch->closed)
			continue;
		if (watch->phase == WATCH_IDLE &&
		    watch_received_bytes(watch->fd, &bytes) == 0 &&
		    bytes > watch->idle_bytes) {
			watch->phase = WATCH_RECEIVING;
			watch->deadline_ms = now_ms + list->timeout_ms;
		}
		if (watch->phase != WATCH_RECEIVING ||
		    now_ms < watch->deadline_ms)
			continue;
		/* The connection's thread then reads end-of-file and
		 * closes the connection. */
		shutdown(watch->fd, SHUT_RDWR);
		watch->closed = true;
		watch_log_timeout(watch, list->timeout_ms);
	}
}

static void *
watch_reaper(void *arg)
{
	struct watch_list *list = arg;
	struct timespec until;
	int64_t wake_ms;

	pthread_mutex_lock(&list->lock);
	while (!list->stopping) {
		wake_ms = watch_now_ms() + WATCH_TICK_MS;
		until.tv_sec = wake_ms / 1000;
		until.tv_nsec = (long)(wake_ms % 1000) * 1000000;
		pthread_cond_timedwait(&list->wake, &list->lock, &until);
		if (!list->stopping)
			watch_check(list, watch_now_ms());
	}
	pthread_mutex_unlock(&list->lock);
	return NULL;
}

static int
watch_start(struct watch_list *list, unsigned timeout_s, struct err *e)
{
	pthread_condattr_t attr;
	int rc;

	memset(list, 0, sizeof(*list));
	list->timeout_ms = timeout_s * 1000;
	if (pthread_mutex_init(&list->lock, NULL) != 0)
		goto fail;
	if (pthread_condattr_init(&attr) != 0)
		goto fail_lock;
	rc = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	if (rc == 0)
		rc = pthread_cond_init(&list->wake, &attr);
	pthread_condattr_destroy(&attr);
	if (rc != 0)
		goto fail_lock;
	if (pthread_create(&list->reaper, NULL, watch_reaper, list) != 0) {
		pthread_cond_destroy(&list->wake);
		goto fail_lock;
	}
	list->running = true;
	return 0;
fail_lock:
	pthread_mutex_destroy(&list->lock);
fail:
	err_set(e, "thread_failed", "cannot start the request deadline "
		"thread; check the process and memory limits");
	return -1;
}

/* Stops the reaper once libmicrohttpd has closed every connection. */
static void
watch_stop(struct watch_list *list)
{
	struct conn_watch *watch, *next;

	if (!list->running)
		return;
	pthread_mutex_lock(&list->lock);
	list->stopping = true;
	pthread_cond_signal(&list->wake);
	pthread_mutex_unlock(&list->lock);
	pthread_join(list->reaper, NULL);
	for (watch = list->head; watch != NULL; watch = next) {
		next = watch->next;
		free(watch);
	}
	pthread_cond_destroy(&list->wake);
	pthread_mutex_destroy(&list->lock);
	list->running = false;
}

/* The per-address limit, kept below max_connections so that one client
 * address cannot take every connection: an eighth of them (at least
 * one) stays for other addresses. */
static unsigned
per_ip_limit(const struct relay_config *cfg)
{
	unsigned total = cfg->max_connections;
	unsigned reserve = total / 8 > 0 ? total / 8 : 1;

	if (total <= 1)
		return 1;
	if (cfg->max_connections_per_ip > total - reserve)
		return total - reserve;
	return cfg->max_connections_per_ip;
}

static void
log_per_ip_limit(const struct relay_config *cfg)
{
	struct log_line line;

	if (per_ip_limit(cfg) == cfg->max_connections_per_ip)
		return;
	log_begin(&line, LOG_WARN, "per_ip_limit_lowered");
	log_int(&line, "max_connections_per_ip", cfg->max_connections_per_ip);
	log_int(&line, "max_connections", cfg->max_connections);
	log_int(&line, "used", per_ip_limit(cfg));
	log_str(&line, "reason", "one client address may not hold every "
		"connection; set max_connections_per_ip below "
		"max_connections");
	log_end(&line);
}

static enum MHD_Result
http_server_access(void *cls, struct MHD_Connection *conn, const char *url,
		   const char *method, const char *version,
		   const char *upload_data, size_t *upload_data_size,
		   void **con_cls)
{
	struct http_server *server = cls;
	struct request_state *state = *con_cls;

	if (state == NULL) {
		state = request_state_new(server, conn);
		if (state == NULL)
			return MHD_NO;
		*con_cls = state;
		return route_first_call(server, conn, url, method, state);
	}
	if (state->responded) {
		*upload_data_size = 0;
		return MHD_YES;
	}
	/* The last call of a request with a body: all of it arrived. */
	if (*upload_data_size == 0)
		watch_request_received(server, conn);
	return handle_sns_upload(server, conn, state, upload_data,
				 upload_data_size);
}

static void
http_server_completed(void *cls, struct MHD_Connection *conn,
		      void **con_cls, enum MHD_RequestTerminationCode code)
{
	struct http_server *server = cls;

	watch_request_done(server, conn);
	if (*con_cls == NULL)
		return;
	request_state_free(*con_cls);
	*con_cls = NULL;
	atomic_fetch_sub(&server->active, 1);
}

static void http_server_log_mhd(void *cls, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

/* Routes libmicrohttpd's own messages through the logger. */
static void
http_server_log_mhd(void *cls, const char *fmt, va_list ap)
{
	char text[512];
	size_t len;
	struct log_line line;

	vsnprintf(text, sizeof(text), fmt, ap);
	len = strlen(text);
	while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r'))
		text[--len] = '\0';
	log_begin(&line, LOG_WARN, "http_library_message");
	log_str(&line, "msg", text);
	log_end(&line);
}

static char *
read_pem_file(const char *path, struct err *e)
{
	FILE *f = fopen(path, "rb");
	struct buf b;
	char chunk[4096];
	size_t n;

	if (f == NULL) {
		err_set(e, "tls_file_unreadable",
			"cannot open TLS file %s; check the path and its "
			"permissions", path);
		return NULL;
	}
	buf_init(&b, 1024 * 1024);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		if (buf_append(&b, chunk, n) != 0) {
			err_set(e, "tls_file_unreadable",
				"TLS file %s is larger than 1 MiB", path);
			fclose(f);
			buf_free(&b);
			return NULL;
		}
	}
	fclose(f);
	return buf_steal(&b);
}

static int
load_tls(struct http_server *server, struct err *e)
{
	const struct relay_config *cfg = server->relay->cfg;

	if (cfg->tls_cert_file == NULL || cfg->tls_key_file == NULL)
		return 0;
	server->tls_cert = read_pem_file(cfg->tls_cert_file, e);
	if (server->tls_cert == NULL)
		return -1;
	server->tls_key = read_pem_file(cfg->tls_key_file, e);
	if (server->tls_key == NULL)
		return -1;
	return 0;
}

/* Fills addr from the configured numeric host and port. */
static int
build_listen_address(const struct relay_config *cfg,
		     struct sockaddr_storage *addr, bool *ipv6,
		     struct err *e)
{
	struct sockaddr_in *in4 = (struct sockaddr_in *)addr;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)addr;

	memset(addr, 0, sizeof(*addr));
	if (inet_pton(AF_INET, cfg->listen_host, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons((uint16_t)cfg->listen_port);
		*ipv6 = false;
		return 0;
	}
	if (inet_pton(AF_INET6, cfg->listen_host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)cfg->listen_port);
		*ipv6 = true;
		return 0;
	}
	err_set(e, "listen_invalid",
		"listen address %s is not a numeric IPv4 or IPv6 address",
		cfg->listen_host);
	return -1;
}

static unsigned
daemon_flags(const struct relay_config *cfg, bool ipv6, bool tls)
{
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD |
		MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL |
		MHD_USE_ITC | MHD_USE_ERROR_LOG;

	if (ipv6)
		flags |= strcmp(cfg->listen_host, "::") == 0 ?
			MHD_USE_DUAL_STACK : MHD_USE_IPv6;
	if (tls)
		flags |= MHD_USE_TLS;
	return flags;
}

static struct MHD_Daemon *
start_daemon(struct http_server *server, const struct sockaddr *addr,
	     unsigned flags)
{
	const struct relay_config *cfg = server->relay->cfg;
	struct MHD_OptionItem extra[4];
	size_t n = 0;

	if (server->tls_cert != NULL) {
		extra[n++] = (struct MHD_OptionItem){
			MHD_OPTION_HTTPS_MEM_CERT, 0, server->tls_cert };
		extra[n++] = (struct MHD_OptionItem){
			MHD_OPTION_HTTPS_MEM_KEY, 0, server->tls_key };
	}
	if (server->listen_fd >= 0)
		extra[n++] = (struct MHD_OptionItem){
			MHD_OPTION_LISTEN_SOCKET, server->listen_fd, NULL };
	extra[n] = (struct MHD_OptionItem){ MHD_OPTION_END, 0, NULL };

	return MHD_start_daemon(flags, 0, NULL, NULL,
		http_server_access, server,
		/* First, so that messages about later options reach it. */
		MHD_OPTION_EXTERNAL_LOGGER, http_server_log_mhd, server,
		MHD_OPTION_SOCK_ADDR, addr,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned)cfg->max_connections,
		MHD_OPTION_PER_IP_CONNECTION_LIMIT, per_ip_limit(cfg),
		MHD_OPTION_CONNECTION_MEMORY_LIMIT,
		(size_t)cfg->connection_memory_limit,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)cfg->request_timeout_s,
		MHD_OPTION_NOTIFY_COMPLETED, http_server_completed, server,
		MHD_OPTION_NOTIFY_CONNECTION, watch_connection, server,
		MHD_OPTION_ARRAY, extra,
		MHD_OPTION_END);
}

/* The local port of a bound socket, or fallback. */
static unsigned
socket_port(int fd, unsigned fallback)
{
	struct sockaddr_storage addr;
	socklen_t len = sizeof(addr);

	if (getsockname(fd, (struct sockaddr *)&addr, &len) != 0)
		return fallback;
	if (addr.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&addr)->sin_port);
	if (addr.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&addr)->sin6_port);
	return fallback;
}

/* Starts a server for relay on listen_fd, or on the configured address
 * when listen_fd is -1. */
static struct http_server *
server_create(struct relay *relay, int listen_fd, struct err *e)
{
	struct http_server *server = calloc(1, sizeof(*server));
	struct sockaddr_storage addr;
	const union MHD_DaemonInfo *info;
	bool ipv6;

	if (server == NULL) {
		err_set(e, "out_of_memory", "out of memory starting the server");
		return NULL;
	}
	server->relay = relay;
	server->listen_fd = listen_fd;
	if (RAND_bytes((unsigned char *)&server->id_prefix,
		       sizeof(server->id_prefix)) != 1)
		server->id_prefix = (uint32_t)relay->started_at;
	atomic_init(&server->next_id, 1);
	atomic_init(&server->active, 0);
	if (build_listen_address(relay->cfg, &addr, &ipv6, e) != 0 ||
	    inbound_policy_init(&server->inbound, relay->cfg, e) != 0 ||
	    load_tls(server, e) != 0 ||
	    watch_start(&server->watches, relay->cfg->request_timeout_s,
			e) != 0)
		goto fail;
	server->daemon = start_daemon(server, (const struct sockaddr *)&addr,
		daemon_flags(relay->cfg, ipv6, server->tls_cert != NULL));
	if (server->daemon == NULL) {
		err_set(e, "listen_failed",
			"cannot listen on %s port %u; is the address local "
			"and the port free?", relay->cfg->listen_host,
			relay->cfg->listen_port);
		goto fail;
	}
	info = MHD_get_daemon_info(server->daemon,
				   MHD_DAEMON_INFO_BIND_PORT);
	server->port = info != NULL ? info->port : relay->cfg->listen_port;
	if (listen_fd >= 0)
		server->port = socket_port(listen_fd, server->port);
	log_per_ip_limit(relay->cfg);
	return server;
fail:
	watch_stop(&server->watches);
	inbound_policy_free(&server->inbound);
	free(server->tls_cert);
	free(server->tls_key);
	free(server);
	return NULL;
}

struct http_server *
http_server_start(struct relay *relay, struct err *e)
{
	return server_create(relay, -1, e);
}

unsigned
http_server_port(const struct http_server *server)
{
	return server->port;
}

/* Waits until no request is in flight, or DRAIN_MAX_MS.  Returns the
 * number still in flight. */
static unsigned
drain_requests(struct http_server *server)
{
	struct timespec pause = { 0, DRAIN_POLL_MS * 1000000L };
	unsigned waited_ms = 0;
	unsigned active;

	while ((active = atomic_load(&server->active)) > 0 &&
	       waited_ms < DRAIN_MAX_MS) {
		nanosleep(&pause, NULL);
		waited_ms += DRAIN_POLL_MS;
	}
	return active;
}

/* Lets the requests in flight on a quiesced server finish and send
 * their responses, then closes its remaining idle connections and frees
 * it. */
static void
server_retire(struct http_server *server)
{
	struct log_line line;
	unsigned left;

	left = drain_requests(server);
	if (left > 0) {
		log_begin(&line, LOG_WARN, "requests_abandoned");
		log_int(&line, "count", left);
		log_str(&line, "reason", "still running 15 s after the stop");
		log_end(&line);
	}
	MHD_stop_daemon(server->daemon);
	watch_stop(&server->watches);
	inbound_policy_free(&server->inbound);
	free(server->tls_cert);
	free(server->tls_key);
	free(server);
}

void
http_server_stop(struct http_server *server)
{
	MHD_socket fd;

	if (server == NULL)
		return;
	/* No new connections from here on. */
	fd = MHD_quiesce_daemon(server->daemon);
	if (fd != MHD_INVALID_SOCKET)
		close(fd);
	server_retire(server);
}

/*
 * The listening socket passes from the old daemon to the new one without
 * being closed, so connections waiting in its backlog are accepted by the
 * new daemon rather than refused.
 */
struct http_server *
http_server_reload(struct http_server *server, struct relay *relay,
		   struct err *e)
{
	struct http_server *next;
	struct err first;
	MHD_socket fd;

	fd = MHD_quiesce_daemon(server->daemon);
	if (fd == MHD_INVALID_SOCKET) {
		err_set(e, "reload_failed", "the server cannot hand over its "
			"listening socket; restart snsrelay to apply the "
			"configuration");
		return server;
	}
	err_clear(&first);
	next = server_create(relay, fd, &first);
	if (next == NULL) {
		/* Serve on with the old settings. */
		next = server_create(server->relay, fd, e);
		if (next == NULL)
			close(fd);
		*e = first;
	}
	server_retire(server);
	return next;
}

struct relay *
http_server_relay(const struct http_server *server)
{
	return server->relay;
}
