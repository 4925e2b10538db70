/*
 * The HTTP(S) front end on libmicrohttpd: routing, limits, and JSON
 * answers.  Routes: POST <endpoint_path> (SNS), GET /healthz.
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

/* Stops accepting, lets requests in flight finish, and frees server. */
void http_server_stop(struct http_server *server);

#endif
