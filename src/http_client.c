#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "snsrelay/http_client.h"

#define HTTP_USER_AGENT "snsrelay/" PACKAGE_VERSION
/* Header lines longer than this are not rate-limit headers; skipped. */
#define HTTP_HEADER_LINE_MAX 512
#define HTTP_HOST_MAX 128

struct http_transfer {
	struct http_response *resp;
	bool too_large;
};

static bool http_client_initialized;

/*
 * One curl handle per thread, reset before each request.  The options
 * start from scratch every time, but the handle keeps its open
 * connections and TLS sessions: a delivery worker posting to the same
 * webhook again skips the TCP and TLS handshakes.
 */
static pthread_key_t http_client_handle_key;

static void
http_client_free_handle(void *handle)
{
	curl_easy_cleanup(handle);
}

int
http_client_global_init(void)
{
	if (http_client_initialized)
		return 0;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return -1;
	if (pthread_key_create(&http_client_handle_key,
			       http_client_free_handle) != 0) {
		curl_global_cleanup();
		return -1;
	}
	http_client_initialized = true;
	return 0;
}

/* Every thread but the caller must have ended its requests. */
void
http_client_global_cleanup(void)
{
	CURL *curl;

	if (!http_client_initialized)
		return;
	curl = pthread_getspecific(http_client_handle_key);
	if (curl != NULL) {
		pthread_setspecific(http_client_handle_key, NULL);
		curl_easy_cleanup(curl);
	}
	pthread_key_delete(http_client_handle_key);
	curl_global_cleanup();
	http_client_initialized = false;
}

/* This thread's handle, reset; NULL when memory is short.  Without
 * http_client_global_init, a handle for this request only (*owned). */
static CURL *
http_client_handle(bool *owned)
{
	CURL *curl;

	*owned = !http_client_initialized;
	if (*owned)
		return curl_easy_init();
	curl = pthread_getspecific(http_client_handle_key);
	if (curl != NULL) {
		curl_easy_reset(curl);
		return curl;
	}
	curl = curl_easy_init();
	if (curl != NULL &&
	    pthread_setspecific(http_client_handle_key, curl) != 0) {
		curl_easy_cleanup(curl);
		curl = NULL;
	}
	return curl;
}

void
http_response_free(struct http_response *resp)
{
	buf_free(&resp->body);
}

static void
http_response_reset_headers(struct http_response *resp)
{
	resp->retry_after_s = -1;
	resp->ratelimit_reset_after_s = -1;
	resp->ratelimit_remaining = -1;
	resp->ratelimit_global = false;
	resp->ratelimit_bucket[0] = '\0';
}

static void
http_response_init(struct http_response *resp, size_t max_body)
{
	resp->status = 0;
	buf_init(&resp->body, max_body);
	http_response_reset_headers(resp);
}

/* Copies the host of url into out, for error messages that must not
 * show paths or queries (webhook tokens live there). */
static void
http_client_host(const char *url, char *out, size_t out_size)
{
	CURLU *u = curl_url();
	char *host = NULL;

	if (u != NULL && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK)
		snprintf(out, out_size, "%s", host);
	else
		snprintf(out, out_size, "(invalid URL)");
	curl_free(host);
	curl_url_cleanup(u);
}

static size_t
http_client_on_body(char *data, size_t size, size_t n, void *userdata)
{
	struct http_transfer *xfer = userdata;
	struct buf *body = &xfer->resp->body;
	size_t len = size * n;

	if (len > body->max - body->len) {
		xfer->too_large = true;
		return 0;
	}
	if (buf_append(body, data, len) != 0)
		return 0;
	return len;
}

/* Parses a non-negative decimal number that fills the whole value. */
static bool
http_parse_double(const char *value, double *out)
{
	char *end = NULL;
	double d;

	errno = 0;
	d = strtod(value, &end);
	if (end == value || *end != '\0' || errno != 0 || !isfinite(d) ||
	    d < 0)
		return false;
	*out = d;
	return true;
}

static bool
http_parse_long(const char *value, long *out)
{
	char *end = NULL;
	long n;

	errno = 0;
	n = strtol(value, &end, 10);
	if (end == value || *end != '\0' || errno != 0 || n < 0)
		return false;
	*out = n;
	return true;
}

static void
http_store_bucket(struct http_response *resp, const char *value)
{
	size_t i, n = strlen(value);

	if (n >= sizeof(resp->ratelimit_bucket))
		return;
	for (i = 0; i < n; i++) {
		if (!isalnum((unsigned char)value[i]) && value[i] != '-' &&
		    value[i] != '_')
			return;
	}
	memcpy(resp->ratelimit_bucket, value, n + 1);
}

static void
http_store_header(struct http_response *resp, const char *name,
		  const char *value)
{
	if (strcasecmp(name, "Retry-After") == 0)
		http_parse_double(value, &resp->retry_after_s);
	else if (strcasecmp(name, "X-RateLimit-Reset-After") == 0)
		http_parse_double(value, &resp->ratelimit_reset_after_s);
	else if (strcasecmp(name, "X-RateLimit-Remaining") == 0)
		http_parse_long(value, &resp->ratelimit_remaining);
	else if (strcasecmp(name, "X-RateLimit-Bucket") == 0)
		http_store_bucket(resp, value);
	else if (strcasecmp(name, "X-RateLimit-Global") == 0)
		resp->ratelimit_global = strcasecmp(value, "true") == 0;
}

static size_t
http_client_on_header(char *data, size_t size, size_t n, void *userdata)
{
	struct http_transfer *xfer = userdata;
	char line[HTTP_HEADER_LINE_MAX];
	size_t len = size * n;
	char *colon, *value;

	if (len >= sizeof(line))
		return len;
	memcpy(line, data, len);
	while (len > 0 && isspace((unsigned char)line[len - 1]))
		len--;
	line[len] = '\0';

	/* A status line starts the headers of another response (after 100). */
	if (strncmp(line, "HTTP/", 5) == 0) {
		http_response_reset_headers(xfer->resp);
		return size * n;
	}
	colon = strchr(line, ':');
	if (colon == NULL)
		return size * n;
	*colon = '\0';
	value = colon + 1;
	while (*value == ' ' || *value == '\t')
		value++;
	http_store_header(xfer->resp, line, value);
	return size * n;
}

static int
http_client_set_common(CURL *curl, const struct http_request *req,
		       struct http_transfer *xfer, char *errbuf)
{
	const char *protocols = req->allow_http ? "http,https" : "https";
	CURLcode c = CURLE_OK;

#define SET(opt, val) if (c == CURLE_OK) c = curl_easy_setopt(curl, opt, val)
	SET(CURLOPT_URL, req->url);
	SET(CURLOPT_PROTOCOLS_STR, protocols);
	SET(CURLOPT_REDIR_PROTOCOLS_STR, protocols);
	SET(CURLOPT_FOLLOWLOCATION, 0L);
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_TIMEOUT_MS, (long)req->timeout_ms);
	SET(CURLOPT_CONNECTTIMEOUT_MS, (long)req->timeout_ms);
	SET(CURLOPT_SSL_VERIFYPEER, 1L);
	SET(CURLOPT_SSL_VERIFYHOST, 2L);
	SET(CURLOPT_USERAGENT, HTTP_USER_AGENT);
	SET(CURLOPT_ERRORBUFFER, errbuf);
	SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)req->max_response_bytes);
	SET(CURLOPT_WRITEFUNCTION, http_client_on_body);
	SET(CURLOPT_WRITEDATA, xfer);
	SET(CURLOPT_HEADERFUNCTION, http_client_on_header);
	SET(CURLOPT_HEADERDATA, xfer);
	if (req->ca_file != NULL)
		SET(CURLOPT_CAINFO, req->ca_file);
#undef SET
	return c == CURLE_OK ? 0 : -1;
}

static int
http_client_set_method(CURL *curl, const struct http_request *req,
		       struct curl_slist **headers)
{
	char content_type[256];
	struct curl_slist *list = NULL;
	CURLcode c;

	if (strcmp(req->method, "GET") == 0)
		return curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L) ==
		       CURLE_OK ? 0 : -1;
	if (strcmp(req->method, "POST") != 0)
		return -1;

	snprintf(content_type, sizeof(content_type), "Content-Type: %s",
		 req->content_type ? req->content_type : "application/json");
	list = curl_slist_append(NULL, content_type);
	/* An empty Expect: keeps curl from waiting for 100-continue. */
	if (list != NULL)
		*headers = curl_slist_append(list, "Expect:");
	if (*headers == NULL) {
		curl_slist_free_all(list);
		return -1;
	}
	c = curl_easy_setopt(curl, CURLOPT_HTTPHEADER, *headers);
	if (c == CURLE_OK)
		c = curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
				     (curl_off_t)req->body_len);
	if (c == CURLE_OK)
		c = curl_easy_setopt(curl, CURLOPT_POSTFIELDS,
				     req->body ? req->body : "");
	return c == CURLE_OK ? 0 : -1;
}

static void
http_client_report(const struct http_request *req, CURLcode code,
		   const struct http_transfer *xfer, const char *errbuf,
		   struct err *e)
{
	char host[HTTP_HOST_MAX];

	http_client_host(req->url, host, sizeof(host));
	if (xfer->too_large || code == CURLE_FILESIZE_EXCEEDED)
		err_set(e, "http_failed", "%s to %s: the response is larger "
			"than %zu bytes", req->method, host,
			req->max_response_bytes);
	else if (code == CURLE_UNSUPPORTED_PROTOCOL)
		err_set(e, "http_failed", "%s to %s rejected: only https "
			"URLs are allowed", req->method, host);
	else if (code == CURLE_OPERATION_TIMEDOUT)
		err_set(e, "http_failed", "%s to %s timed out after %u ms",
			req->method, host, req->timeout_ms);
	else
		err_set(e, "http_failed", "%s to %s failed: %s", req->method,
			host, errbuf[0] ? errbuf : curl_easy_strerror(code));
}

int
http_client_perform(const struct http_request *req,
		    struct http_response *resp, struct err *e)
{
	char errbuf[CURL_ERROR_SIZE] = "";
	struct http_transfer xfer = { resp, false };
	struct curl_slist *headers = NULL;
	CURL *curl = NULL;
	CURLcode code;
	bool owned = false;
	int rc = RESULT_RETRY;

	http_response_init(resp, req->max_response_bytes);
	if (req->timeout_ms == 0) {
		err_set(e, "http_failed", "%s without a deadline is not "
			"allowed", req->method);
		return RESULT_RETRY;
	}
	curl = http_client_handle(&owned);
	if (curl == NULL || http_client_set_common(curl, req, &xfer,
						   errbuf) != 0 ||
	    http_client_set_method(curl, req, &headers) != 0) {
		err_set(e, "http_failed", "cannot set up the %s request "
			"(method or memory)", req->method);
		goto out;
	}

	code = curl_easy_perform(curl);
	if (code != CURLE_OK) {
		http_client_report(req, code, &xfer, errbuf, e);
		goto out;
	}
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &resp->status);
	rc = RESULT_OK;
out:
	if (curl != NULL && owned)
		curl_easy_cleanup(curl);
	else if (curl != NULL)
		curl_easy_setopt(curl, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(headers);
	return rc;
}
