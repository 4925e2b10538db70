/*
 * The HTTP(S) front end on libmicrohttpd: routing, limits, inbound
 * checks (include/snsrelay/inbound.h), and JSON responses.  Routes:
 * POST <endpoint_path> (SNS; allowed_sources and Basic authentication
 * when configured), GET /healthz, GET /readyz, and GET /metrics when the
 * metrics option is on.  The GET routes accept HEAD too and need no
 * credentials.
 */
#ifndef SNSRELAY_HTTP_SERVER_H
#define SNSRELAY_HTTP_SERVER_H

#include "snsrelay/err.h"
#include "snsrelay/relay.h"

struct http_server;

/* Binds and starts serving.  Returns NULL with the reason in e. */
struct http_server *http_server_start(struct relay *relay, struct err *e);

/* The bound port, useful when the configuration asked for port 0. */
unsigned http_server_port(const struct http_server *server);

/*
 * Serves new connections for relay (its endpoint, limits and TLS files)
 * on the listening socket of server, which stops accepting, finishes the
 * requests in flight on its own relay, and is freed.  Returns the server
 * now serving: one for relay, or, when that cannot start, one for the
 * old relay with the reason in e; NULL with the reason in e when neither
 * starts.
 */
struct http_server *http_server_reload(struct http_server *server,
				       struct relay *relay, struct err *e);

/* The relay a server serves. */
struct relay *http_server_relay(const struct http_server *server);

/* Stops accepting, lets requests in flight finish, and frees server. */
void http_server_stop(struct http_server *server);

#endif
