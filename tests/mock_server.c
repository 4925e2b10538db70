/*
 * A loopback HTTP(S) server for the end-to-end tests.  It plays the SNS
 * certificate host and confirmation endpoint (GET requests) and Discord or
 * generic webhooks (POST requests), and appends every request it receives
 * to a record file as one JSON line.
 *
 *   mock_server --port-file FILE [--record FILE] [--docroot DIR]
 *               [--tls-cert PEM --tls-key PEM] [--status LIST]
 *               [--delay-ms N] [--confirm-status N]
 *
 * It listens on 127.0.0.1 on a free port, writes the port number to the
 * port file once it accepts connections, and exits on SIGTERM or SIGINT.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <microhttpd.h>

#include "snsrelay/buf.h"

#define MOCK_BODY_MAX		(4 * 1024 * 1024)
#define MOCK_FILE_MAX		(1024 * 1024)
#define MOCK_STATUS_MAX		32
#define MOCK_DELAY_MS_MAX	60000
#define MOCK_TIMEOUT_S		30

#define SNS_XMLNS "http://sns.amazonaws.com/doc/2010-03-31/"

struct mock_options {
	const char *port_file;
	const char *record_file;	/* NULL: record nothing */
	const char *docroot;		/* NULL: every file GET is a 404 */
	const char *tls_cert_file;
	const char *tls_key_file;
	unsigned statuses[MOCK_STATUS_MAX];	/* for successive POSTs */
	size_t status_count;
	unsigned delay_ms;		/* before answering a POST */
	unsigned confirm_status;	/* of ConfirmSubscription GETs */
};

/* State shared by the connection threads. */
struct mock_state {
	const struct mock_options *opts;
	pthread_mutex_t lock;		/* guards posts and record writes */
	unsigned long posts;		/* POSTs answered so far */
	int record_fd;			/* -1 without --record */
};

/* One request, kept across the calls of the access handler. */
struct mock_request {
	struct buf body;
	bool too_large;
};

static void
mock_usage(FILE *out)
{
	fprintf(out,
	    "usage: mock_server --port-file FILE [--record FILE] "
	    "[--docroot DIR]\n"
	    "                   [--tls-cert PEM --tls-key PEM] "
	    "[--status LIST]\n"
	    "                   [--delay-ms N] [--confirm-status N]\n"
	    "  --status LIST   comma-separated HTTP statuses for successive "
	    "POSTs;\n"
	    "                  the last one repeats (default 200)\n"
	    "  --delay-ms N    milliseconds to wait before answering a POST\n"
	    "  --confirm-status N  status of ConfirmSubscription answers "
	    "(default 200)\n");
}

/* Parses a decimal number in [min, max]. Returns 0 or -1. */
static int
mock_parse_unsigned(const char *s, unsigned min, unsigned max,
		    unsigned *out)
{
	char *end = NULL;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || s[0] == '-')
		return -1;
	if (v < min || v > max)
		return -1;
	*out = (unsigned)v;
	return 0;
}

static int
mock_parse_statuses(const char *list, struct mock_options *opts)
{
	char item[16];
	const char *p = list;
	size_t n;

	opts->status_count = 0;
	while (*p != '\0') {
		n = strcspn(p, ",");
		if (n == 0 || n >= sizeof(item) ||
		    opts->status_count == MOCK_STATUS_MAX)
			return -1;
		memcpy(item, p, n);
		item[n] = '\0';
		if (mock_parse_unsigned(item, 200, 599,
		    &opts->statuses[opts->status_count]) != 0)
			return -1;
		opts->status_count++;
		p += n;
		if (*p == ',')
			p++;
	}
	return opts->status_count > 0 ? 0 : -1;
}

static int
mock_apply_option(int c, const char *arg, struct mock_options *opts)
{
	switch (c) {
	case 'p':
		opts->port_file = arg;
		return 0;
	case 'r':
		opts->record_file = arg;
		return 0;
	case 'd':
		opts->docroot = arg;
		return 0;
	case 'c':
		opts->tls_cert_file = arg;
		return 0;
	case 'k':
		opts->tls_key_file = arg;
		return 0;
	case 's':
		return mock_parse_statuses(arg, opts);
	case 'w':
		return mock_parse_unsigned(arg, 0, MOCK_DELAY_MS_MAX,
					   &opts->delay_ms);
	case 'C':
		return mock_parse_unsigned(arg, 200, 599,
					   &opts->confirm_status);
	default:
		return -1;
	}
}

static int
mock_parse_args(int argc, char **argv, struct mock_options *opts)
{
	static const struct option longopts[] = {
		{ "port-file", required_argument, NULL, 'p' },
		{ "record", required_argument, NULL, 'r' },
		{ "docroot", required_argument, NULL, 'd' },
		{ "tls-cert", required_argument, NULL, 'c' },
		{ "tls-key", required_argument, NULL, 'k' },
		{ "status", required_argument, NULL, 's' },
		{ "delay-ms", required_argument, NULL, 'w' },
		{ "confirm-status", required_argument, NULL, 'C' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	opts->statuses[0] = MHD_HTTP_OK;
	opts->status_count = 1;
	opts->confirm_status = MHD_HTTP_OK;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (mock_apply_option(c, optarg, opts) != 0) {
			fprintf(stderr, "mock_server: invalid option or "
			    "value near argument %d\n", optind - 1);
			return -1;
		}
	}
	if (optind != argc || opts->port_file == NULL ||
	    (opts->tls_cert_file == NULL) != (opts->tls_key_file == NULL)) {
		mock_usage(stderr);
		return -1;
	}
	return 0;
}

/* Reads at most MOCK_FILE_MAX bytes of path into out. Returns 0 or -1. */
static int
mock_read_file(const char *path, struct buf *out)
{
	char chunk[4096];
	FILE *f = NULL;
	size_t n;
	int rc = -1;

	buf_init(out, MOCK_FILE_MAX);
	f = fopen(path, "rb");
	if (f == NULL)
		goto out;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		if (buf_append(out, chunk, n) != 0)
			goto out;
	}
	if (ferror(f) || buf_append(out, "", 0) != 0)
		goto out;
	rc = 0;
out:
	if (f != NULL)
		fclose(f);
	if (rc != 0)
		buf_free(out);
	return rc;
}

static enum MHD_Result
mock_respond(struct MHD_Connection *conn, unsigned status,
	     const char *content_type, const char *body, size_t len)
{
	struct MHD_Response *resp = NULL;
	enum MHD_Result ret;

	resp = MHD_create_response_from_buffer(len, (void *)body,
					       MHD_RESPMEM_MUST_COPY);
	if (resp == NULL)
		return MHD_NO;
	if (content_type != NULL)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
					content_type);
	if (status == MHD_HTTP_TOO_MANY_REQUESTS) {
		MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER,
					"1");
		MHD_add_response_header(resp, "X-RateLimit-Remaining", "0");
		MHD_add_response_header(resp, "X-RateLimit-Reset-After",
					"0.5");
		MHD_add_response_header(resp, "X-RateLimit-Bucket", "mock");
	}
	ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result
mock_add_arg(void *cls, enum MHD_ValueKind kind, const char *key,
	     const char *value)
{
	json_object *args = cls;

	json_object_object_add(args, key,
			       value ? json_object_new_string(value) : NULL);
	return MHD_YES;
}

static enum MHD_Result
mock_add_query_part(void *cls, enum MHD_ValueKind kind, const char *key,
		    const char *value)
{
	struct buf *query = cls;

	if (query->len > 0)
		buf_append_str(query, "&");
	buf_append_str(query, key);
	if (value != NULL)
		buf_printf(query, "=%s", value);
	return MHD_YES;
}

static json_object *
mock_header_value(struct MHD_Connection *conn, const char *name)
{
	const char *value;

	value = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, name);
	return value ? json_object_new_string(value) : NULL;
}

/*
 * Builds the record of one request.  "query" is rebuilt from the decoded
 * arguments (libmicrohttpd hands the handler no raw query string), and
 * "args" contains the same arguments as an object.
 */
static json_object *
mock_record_build(struct MHD_Connection *conn, const char *method,
		  const char *url, const struct mock_request *req)
{
	json_object *rec = json_object_new_object();
	json_object *args = json_object_new_object();
	struct buf query;

	buf_init(&query, MOCK_FILE_MAX);
	MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND,
				  mock_add_query_part, &query);
	MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND,
				  mock_add_arg, args);
	json_object_object_add(rec, "method", json_object_new_string(method));
	json_object_object_add(rec, "path", json_object_new_string(url));
	json_object_object_add(rec, "query", json_object_new_string(
	    query.data ? query.data : ""));
	json_object_object_add(rec, "args", args);
	json_object_object_add(rec, "content_type",
	    mock_header_value(conn, MHD_HTTP_HEADER_CONTENT_TYPE));
	json_object_object_add(rec, "user_agent",
	    mock_header_value(conn, MHD_HTTP_HEADER_USER_AGENT));
	json_object_object_add(rec, "body", json_object_new_string_len(
	    req->body.data ? req->body.data : "", (int)req->body.len));
	buf_free(&query);
	return rec;
}

/* Writes all of data to fd, restarting after short writes. */
static int
mock_write_all(int fd, const char *data, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = write(fd, data, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

static void
mock_record(struct mock_state *st, struct MHD_Connection *conn,
	    const char *method, const char *url,
	    const struct mock_request *req)
{
	json_object *rec = NULL;
	struct buf line;

	if (st->record_fd < 0)
		return;
	/* JSON escaping turns one body byte into at most six ("\u00XX"). */
	buf_init(&line, MOCK_BODY_MAX * 7);
	rec = mock_record_build(conn, method, url, req);
	if (buf_append_str(&line, json_object_to_json_string_ext(rec,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)) != 0 ||
	    buf_append_str(&line, "\n") != 0) {
		fprintf(stderr, "mock_server: out of memory recording %s\n",
			url);
		goto out;
	}

	pthread_mutex_lock(&st->lock);
	if (mock_write_all(st->record_fd, line.data, line.len) != 0)
		fprintf(stderr, "mock_server: failed to write the record: %s\n",
			strerror(errno));
	pthread_mutex_unlock(&st->lock);
out:
	json_object_put(rec);
	buf_free(&line);
}

/* Returns the status for the next POST: the list entry for this POST,
 * or the last entry once the list is used up.  *seq receives the POST's
 * number, starting at 1. */
static unsigned
mock_next_status(struct mock_state *st, unsigned long *seq)
{
	const struct mock_options *opts = st->opts;
	size_t i;

	pthread_mutex_lock(&st->lock);
	*seq = ++st->posts;
	pthread_mutex_unlock(&st->lock);

	i = *seq - 1;
	if (i >= opts->status_count)
		i = opts->status_count - 1;
	return opts->statuses[i];
}

static void
mock_sleep_ms(unsigned ms)
{
	struct timespec ts;

	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (long)(ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* Responds to a POST the way Discord's execute-webhook endpoint does. */
static enum MHD_Result
mock_answer_post(struct mock_state *st, struct MHD_Connection *conn)
{
	static const char rate_limited[] =
	    "{\"message\":\"You are being rate limited.\","
	    "\"retry_after\":0.5,\"global\":false}";
	char body[128];
	unsigned long seq;
	unsigned status;

	status = mock_next_status(st, &seq);
	if (st->opts->delay_ms > 0)
		mock_sleep_ms(st->opts->delay_ms);

	if (status == MHD_HTTP_NO_CONTENT)
		return mock_respond(conn, status, NULL, "", 0);
	if (status == MHD_HTTP_TOO_MANY_REQUESTS)
		return mock_respond(conn, status, "application/json",
				    rate_limited, strlen(rate_limited));
	if (status == MHD_HTTP_OK)
		snprintf(body, sizeof(body),
			 "{\"id\":\"%lu\",\"channel_id\":\"1\"}", seq);
	else
		snprintf(body, sizeof(body),
			 "{\"message\":\"mock answer %u\",\"code\":0}", status);
	return mock_respond(conn, status, "application/json", body,
			    strlen(body));
}

/* Appends s to out with the five XML special characters escaped. */
static void
mock_append_xml(struct buf *out, const char *s)
{
	for (; *s != '\0'; s++) {
		switch (*s) {
		case '&': buf_append_str(out, "&amp;"); break;
		case '<': buf_append_str(out, "&lt;"); break;
		case '>': buf_append_str(out, "&gt;"); break;
		case '"': buf_append_str(out, "&quot;"); break;
		case '\'': buf_append_str(out, "&apos;"); break;
		default: buf_append(out, s, 1); break;
		}
	}
}

static enum MHD_Result
mock_answer_sns_error(struct MHD_Connection *conn, unsigned status,
		      const char *code)
{
	struct buf xml;
	enum MHD_Result ret;

	buf_init(&xml, MOCK_FILE_MAX);
	buf_printf(&xml,
	    "<ErrorResponse xmlns=\"" SNS_XMLNS "\">\n"
	    "  <Error>\n"
	    "    <Type>%s</Type>\n"
	    "    <Code>%s</Code>\n"
	    "    <Message>mock_server answers %u</Message>\n"
	    "  </Error>\n"
	    "  <RequestId>00000000-0000-4000-8000-000000000002</RequestId>\n"
	    "</ErrorResponse>\n",
	    status >= 500 ? "Receiver" : "Sender", code, status);
	ret = mock_respond(conn, status, "text/xml", xml.data, xml.len);
	buf_free(&xml);
	return ret;
}

/* Responds to GET /?Action=ConfirmSubscription&TopicArn=ARN&Token=T with
 * the document SNS returns, naming the subscription ARN:mock-0001. */
static enum MHD_Result
mock_answer_confirm(struct mock_state *st, struct MHD_Connection *conn)
{
	const char *arn, *token;
	struct buf xml;
	enum MHD_Result ret;

	arn = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND,
					  "TopicArn");
	token = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND,
					    "Token");
	if (st->opts->confirm_status != MHD_HTTP_OK)
		return mock_answer_sns_error(conn, st->opts->confirm_status,
					     "InternalFailure");
	if (arn == NULL || token == NULL || *arn == '\0' || *token == '\0')
		return mock_answer_sns_error(conn, MHD_HTTP_BAD_REQUEST,
					     "InvalidParameter");

	buf_init(&xml, MOCK_FILE_MAX);
	buf_append_str(&xml,
	    "<ConfirmSubscriptionResponse xmlns=\"" SNS_XMLNS "\">\n"
	    "  <ConfirmSubscriptionResult>\n"
	    "    <SubscriptionArn>");
	mock_append_xml(&xml, arn);
	buf_append_str(&xml, ":mock-0001</SubscriptionArn>\n"
	    "  </ConfirmSubscriptionResult>\n"
	    "  <ResponseMetadata>\n"
	    "    <RequestId>00000000-0000-4000-8000-000000000001</RequestId>\n"
	    "  </ResponseMetadata>\n"
	    "</ConfirmSubscriptionResponse>\n");
	ret = mock_respond(conn, MHD_HTTP_OK, "text/xml", xml.data, xml.len);
	buf_free(&xml);
	return ret;
}

/* True for a plain file name: no slash, no leading dot. */
static bool
mock_file_name_ok(const char *name)
{
	return name[0] != '\0' && name[0] != '.' &&
	       strchr(name, '/') == NULL && strlen(name) < 256;
}

static enum MHD_Result
mock_answer_file(struct mock_state *st, struct MHD_Connection *conn,
		 const char *url)
{
	static const char not_found[] = "{\"message\":\"404: Not Found\"}";
	struct buf path, content;
	enum MHD_Result ret;
	int rc = -1;

	buf_init(&path, 4096);
	buf_init(&content, MOCK_FILE_MAX);
	if (st->opts->docroot != NULL && mock_file_name_ok(url + 1) &&
	    buf_printf(&path, "%s/%s", st->opts->docroot, url + 1) == 0)
		rc = mock_read_file(path.data, &content);
	buf_free(&path);
	if (rc != 0)
		return mock_respond(conn, MHD_HTTP_NOT_FOUND,
				    "application/json", not_found,
				    strlen(not_found));

	ret = mock_respond(conn, MHD_HTTP_OK, "application/octet-stream",
			   content.data, content.len);
	buf_free(&content);
	return ret;
}

static enum MHD_Result
mock_answer_get(struct mock_state *st, struct MHD_Connection *conn,
		const char *url)
{
	const char *action;

	action = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND,
					     "Action");
	if (strcmp(url, "/") == 0 && action != NULL &&
	    strcmp(action, "ConfirmSubscription") == 0)
		return mock_answer_confirm(st, conn);
	return mock_answer_file(st, conn, url);
}

static enum MHD_Result
mock_answer(struct mock_state *st, struct MHD_Connection *conn,
	    const char *url, const char *method,
	    const struct mock_request *req)
{
	static const char too_large[] = "{\"message\":\"body too large\"}";
	static const char not_allowed[] =
	    "{\"message\":\"405: Method Not Allowed\"}";

	if (req->too_large)
		return mock_respond(conn, MHD_HTTP_CONTENT_TOO_LARGE,
				    "application/json", too_large,
				    strlen(too_large));
	if (strcmp(method, MHD_HTTP_METHOD_POST) == 0)
		return mock_answer_post(st, conn);
	if (strcmp(method, MHD_HTTP_METHOD_GET) == 0)
		return mock_answer_get(st, conn, url);
	return mock_respond(conn, MHD_HTTP_METHOD_NOT_ALLOWED,
			    "application/json", not_allowed,
			    strlen(not_allowed));
}

static enum MHD_Result
mock_handle(void *cls, struct MHD_Connection *conn, const char *url,
	    const char *method, const char *version, const char *upload_data,
	    size_t *upload_data_size, void **req_cls)
{
	struct mock_state *st = cls;
	struct mock_request *req = *req_cls;

	if (req == NULL) {
		req = calloc(1, sizeof(*req));
		if (req == NULL)
			return MHD_NO;
		buf_init(&req->body, MOCK_BODY_MAX);
		*req_cls = req;
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		if (buf_append(&req->body, upload_data,
			       *upload_data_size) != 0)
			req->too_large = true;
		*upload_data_size = 0;
		return MHD_YES;
	}

	mock_record(st, conn, method, url, req);
	return mock_answer(st, conn, url, method, req);
}

static void
mock_request_done(void *cls, struct MHD_Connection *conn, void **req_cls,
		  enum MHD_RequestTerminationCode toe)
{
	struct mock_request *req = *req_cls;

	if (req == NULL)
		return;
	buf_free(&req->body);
	free(req);
	*req_cls = NULL;
}

/* Writes the port to FILE.tmp and renames it to FILE, so that a reader
 * never sees a partial number. */
static int
mock_write_port_file(const char *path, unsigned port)
{
	struct buf tmp;
	FILE *f = NULL;
	int rc = -1;

	buf_init(&tmp, 4096);
	if (buf_printf(&tmp, "%s.tmp", path) != 0)
		goto out;
	f = fopen(tmp.data, "w");
	if (f == NULL)
		goto out;
	fprintf(f, "%u\n", port);
	if (fclose(f) != 0)
		goto out;
	if (rename(tmp.data, path) != 0)
		goto out;
	rc = 0;
out:
	if (rc != 0)
		fprintf(stderr, "mock_server: failed to write %s: %s\n", path,
			strerror(errno));
	buf_free(&tmp);
	return rc;
}

static struct MHD_Daemon *
mock_start_daemon(struct mock_state *st, const struct buf *cert,
		  const struct buf *key)
{
	struct sockaddr_in addr;
	unsigned flags;

	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_port = 0;
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

	flags = MHD_USE_INTERNAL_POLLING_THREAD |
		MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ERROR_LOG;
	if (cert->data == NULL)
		return MHD_start_daemon(flags, 0, NULL, NULL, mock_handle, st,
		    MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
		    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)MOCK_TIMEOUT_S,
		    MHD_OPTION_NOTIFY_COMPLETED, mock_request_done, NULL,
		    MHD_OPTION_END);
	return MHD_start_daemon(flags | MHD_USE_TLS, 0, NULL, NULL,
	    mock_handle, st,
	    MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)MOCK_TIMEOUT_S,
	    MHD_OPTION_NOTIFY_COMPLETED, mock_request_done, NULL,
	    MHD_OPTION_HTTPS_MEM_CERT, cert->data,
	    MHD_OPTION_HTTPS_MEM_KEY, key->data,
	    MHD_OPTION_END);
}

static int
mock_load_tls(const struct mock_options *opts, struct buf *cert,
	      struct buf *key)
{
	buf_init(cert, MOCK_FILE_MAX);
	buf_init(key, MOCK_FILE_MAX);
	if (opts->tls_cert_file == NULL)
		return 0;
	if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
		fprintf(stderr, "mock_server: this libmicrohttpd has no TLS "
			"support; run without --tls-cert\n");
		return -1;
	}
	if (mock_read_file(opts->tls_cert_file, cert) != 0 ||
	    mock_read_file(opts->tls_key_file, key) != 0) {
		fprintf(stderr, "mock_server: failed to read %s or %s\n",
			opts->tls_cert_file, opts->tls_key_file);
		return -1;
	}
	return 0;
}

static int
mock_open_record(const struct mock_options *opts)
{
	int fd;

	if (opts->record_file == NULL)
		return -1;
	fd = open(opts->record_file, O_WRONLY | O_CREAT | O_APPEND, 0644);
	if (fd < 0)
		fprintf(stderr, "mock_server: failed to open %s: %s\n",
			opts->record_file, strerror(errno));
	return fd;
}

/* Blocks the stop signals in every thread, so that sigwait in main
 * receives them.  Must run before the daemon starts its threads. */
static void
mock_block_signals(sigset_t *stop)
{
	sigemptyset(stop);
	sigaddset(stop, SIGTERM);
	sigaddset(stop, SIGINT);
	pthread_sigmask(SIG_BLOCK, stop, NULL);
	signal(SIGPIPE, SIG_IGN);
}

static int
mock_serve(struct mock_state *st, const struct buf *cert,
	   const struct buf *key)
{
	struct MHD_Daemon *daemon = NULL;
	const union MHD_DaemonInfo *info;
	sigset_t stop;
	int sig;

	mock_block_signals(&stop);
	daemon = mock_start_daemon(st, cert, key);
	if (daemon == NULL) {
		fprintf(stderr, "mock_server: failed to start the server on "
			"127.0.0.1; see the messages above\n");
		return -1;
	}
	info = MHD_get_daemon_info(daemon, MHD_DAEMON_INFO_BIND_PORT);
	if (info == NULL ||
	    mock_write_port_file(st->opts->port_file, info->port) != 0) {
		MHD_stop_daemon(daemon);
		return -1;
	}

	sigwait(&stop, &sig);
	MHD_stop_daemon(daemon);
	return 0;
}

int
main(int argc, char **argv)
{
	struct mock_options opts;
	struct mock_state st;
	struct buf cert, key;
	int rc = 1;

	memset(&opts, 0, sizeof(opts));
	memset(&st, 0, sizeof(st));
	st.opts = &opts;
	st.record_fd = -1;
	pthread_mutex_init(&st.lock, NULL);
	buf_init(&cert, 0);
	buf_init(&key, 0);
	if (mock_parse_args(argc, argv, &opts) != 0)
		goto out;
	if (mock_load_tls(&opts, &cert, &key) != 0)
		goto out;
	st.record_fd = mock_open_record(&opts);
	if (opts.record_file != NULL && st.record_fd < 0)
		goto out;

	if (mock_serve(&st, &cert, &key) == 0)
		rc = 0;
out:
	if (st.record_fd >= 0)
		close(st.record_fd);
	buf_free(&cert);
	buf_free(&key);
	pthread_mutex_destroy(&st.lock);
	return rc;
}
