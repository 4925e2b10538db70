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
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <json-c/json.h>
#include <microhttpd.h>
#include <openssl/rand.h>

#include "snsrelay/buf.h"
#include "snsrelay/dispatcher.h"
#include "snsrelay/http_server.h"
#include "snsrelay/limits.h"
#include "snsrelay/log.h"
#include "snsrelay/sns_handler.h"
#include "snsrelay/spool.h"

#define REQUEST_ID_SIZE 24
#define REMOTE_ADDR_SIZE INET6_ADDRSTRLEN
/* How long a stop waits for requests in flight: SNS stops waiting for
 * a response after 15 s, so a longer wait would help no one. */
#define DRAIN_MAX_MS 15000
#define DRAIN_POLL_MS 50

struct http_server {
	struct MHD_Daemon *daemon;
	struct relay *relay;
	unsigned port;
	char *tls_cert;		/* PEM text; libmicrohttpd keeps pointers */
	char *tls_key;
	uint32_t id_prefix;	/* random, so ids differ across restarts */
	atomic_ulong next_id;
	atomic_uint active;	/* requests begun and not yet completed */
};

/* Per-request state, stored in libmicrohttpd's connection closure. */
struct request_state {
	struct buf body;
	bool too_large;
	bool responded;		/* a response was queued on the first call */
	char id[REQUEST_ID_SIZE];
	char remote[REMOTE_ADDR_SIZE];
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
	remote_address(conn, state->remote, sizeof(state->remote));
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

/* Queues a JSON response built from body (consumed). */
static enum MHD_Result
send_json(struct MHD_Connection *conn, unsigned status, json_object *body,
	  const char *request_id, const char *allow)
{
	const char *text;
	struct MHD_Response *resp;
	enum MHD_Result ret;

	text = json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN |
					      JSON_C_TO_STRING_NOSLASHESCAPE);
	resp = MHD_create_response_from_buffer(strlen(text), (void *)text,
					       MHD_RESPMEM_MUST_COPY);
	json_object_put(body);
	if (resp == NULL)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
				"application/json");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL,
				"no-store");
	if (request_id != NULL)
		MHD_add_response_header(resp, "X-Request-Id", request_id);
	if (allow != NULL)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
	ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* Sends {"error": reason, "code": code, "request_id": id} and logs the
 * rejection of a request the SNS handler never saw. */
static enum MHD_Result
send_error(struct MHD_Connection *conn, unsigned status, const char *code,
	   const char *reason, const struct request_state *state,
	   const char *method, const char *url, const char *allow)
{
	json_object *body = json_object_new_object();
	struct log_line line;

	json_object_object_add(body, "error", json_object_new_string(reason));
	json_object_object_add(body, "code", json_object_new_string(code));
	json_object_object_add(body, "request_id",
			       json_object_new_string(state->id));

	log_begin(&line, LOG_WARN, "request_rejected");
	log_str(&line, "request_id", state->id);
	log_str(&line, "remote", state->remote);
	log_str(&line, "method", method);
	log_str(&line, "path", url);
	log_int(&line, "status", status);
	log_str(&line, "code", code);
	log_str(&line, "reason", reason);
	log_end(&line);

	return send_json(conn, status, body, state->id, allow);
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
	return send_json(conn, MHD_HTTP_OK, body, state->id, NULL);
}

/* Ready means alerts can be stored and delivered: the load balancer
 * sends SNS elsewhere while the spool cannot be written. */
static enum MHD_Result
send_ready(struct http_server *server, struct MHD_Connection *conn,
	   const struct request_state *state)
{
	json_object *body = json_object_new_object();
	struct relay *relay = server->relay;
	struct err why;
	bool ready;

	err_clear(&why);
	ready = spool_ready(relay->spool, &why);
	if (ready && !dispatcher_running(relay->dispatcher)) {
		ready = false;
		err_set(&why, "workers_stopped",
			"a delivery worker is not running");
	}
	json_object_object_add(body, "status",
			       json_object_new_string(ready ? "ready" :
						      "not_ready"));
	if (!ready)
		json_object_object_add(body, "reason",
				       json_object_new_string(why.msg));
	return send_json(conn, ready ? MHD_HTTP_OK :
			 MHD_HTTP_SERVICE_UNAVAILABLE, body, state->id, NULL);
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
	return send_json(conn, (unsigned)r->status, body, state->id, NULL);
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
 * body.  Returns true when a response was queued. */
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
	if (end == value || *end != '\0' ||
	    length <= server->relay->cfg->max_body_bytes)
		return false;
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

static enum MHD_Result
route_first_call(struct http_server *server, struct MHD_Connection *conn,
		 const char *url, const char *method,
		 struct request_state *state)
{
	const char *path = server->relay->cfg->endpoint_path;
	enum MHD_Result ret;

	/* Every branch but an accepted SNS POST responds now. */
	state->responded = true;
	if (strcmp(url, "/healthz") == 0 || strcmp(url, "/readyz") == 0) {
		bool health = strcmp(url, "/healthz") == 0;

		if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
			return send_error(conn, MHD_HTTP_METHOD_NOT_ALLOWED,
					  "method_not_allowed",
					  "this path accepts GET and HEAD "
					  "only", state, method, url,
					  "GET, HEAD");
		return health ? send_health(server, conn, state) :
			send_ready(server, conn, state);
	}
	if (strcmp(url, path) != 0)
		return send_error(conn, MHD_HTTP_NOT_FOUND, "not_found",
				  "no such path; SNS posts to the configured "
				  "endpoint_path", state, method, url, NULL);
	if (strcmp(method, "POST") != 0)
		return send_error(conn, MHD_HTTP_METHOD_NOT_ALLOWED,
				  "method_not_allowed",
				  "the SNS endpoint accepts POST only", state,
				  method, url, "POST");
	if (reject_declared_length(server, conn, state, &ret))
		return ret;
	state->responded = false;
	return MHD_YES;
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
	return handle_sns_upload(server, conn, state, upload_data,
				 upload_data_size);
}

static void
http_server_completed(void *cls, struct MHD_Connection *conn,
		      void **con_cls, enum MHD_RequestTerminationCode code)
{
	struct http_server *server = cls;

	if (*con_cls == NULL)
		return;
	request_state_free(*con_cls);
	*con_cls = NULL;
	atomic_fetch_sub(&server->active, 1);
}

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
	struct MHD_OptionItem tls_options[] = {
		{ MHD_OPTION_HTTPS_MEM_CERT, 0, server->tls_cert },
		{ MHD_OPTION_HTTPS_MEM_KEY, 0, server->tls_key },
		{ MHD_OPTION_END, 0, NULL },
	};
	struct MHD_OptionItem no_options[] = {
		{ MHD_OPTION_END, 0, NULL },
	};

	return MHD_start_daemon(flags, 0, NULL, NULL,
		http_server_access, server,
		/* First, so that messages about later options reach it. */
		MHD_OPTION_EXTERNAL_LOGGER, http_server_log_mhd, server,
		MHD_OPTION_SOCK_ADDR, addr,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned)cfg->max_connections,
		MHD_OPTION_PER_IP_CONNECTION_LIMIT,
		(unsigned)cfg->max_connections_per_ip,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT,
		(size_t)cfg->connection_memory_limit,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)cfg->request_timeout_s,
		MHD_OPTION_NOTIFY_COMPLETED, http_server_completed, server,
		MHD_OPTION_ARRAY, server->tls_cert != NULL ?
		tls_options : no_options,
		MHD_OPTION_END);
}

struct http_server *
http_server_start(struct relay *relay, struct err *e)
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
	if (RAND_bytes((unsigned char *)&server->id_prefix,
		       sizeof(server->id_prefix)) != 1)
		server->id_prefix = (uint32_t)relay->started_at;
	atomic_init(&server->next_id, 1);
	atomic_init(&server->active, 0);
	if (build_listen_address(relay->cfg, &addr, &ipv6, e) != 0 ||
	    load_tls(server, e) != 0)
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
	return server;
fail:
	free(server->tls_cert);
	free(server->tls_key);
	free(server);
	return NULL;
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

void
http_server_stop(struct http_server *server)
{
	struct log_line line;
	unsigned left;

	if (server == NULL)
		return;
	/* Close the listening socket, let the requests in flight finish and
	 * send their responses, then close the remaining idle connections. */
	MHD_quiesce_daemon(server->daemon);
	left = drain_requests(server);
	if (left > 0) {
		log_begin(&line, LOG_WARN, "requests_abandoned");
		log_int(&line, "count", left);
		log_str(&line, "reason", "still running 15 s after the stop");
		log_end(&line);
	}
	MHD_stop_daemon(server->daemon);
	free(server->tls_cert);
	free(server->tls_key);
	free(server);
}
