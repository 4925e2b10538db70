/*
 * Outbound HTTP through libcurl, with one policy for every caller: TLS
 * verified, no redirects, a deadline, and a cap on the response size.
 */
#ifndef SNSRELAY_HTTP_CLIENT_H
#define SNSRELAY_HTTP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

#include "snsrelay/buf.h"
#include "snsrelay/err.h"

struct http_request {
	const char *method;		/* "GET" or "POST" */
	const char *url;
	const char *content_type;	/* POST only */
	const char *body;		/* POST only */
	size_t body_len;
	unsigned timeout_ms;		/* whole transfer */
	size_t max_response_bytes;	/* larger answers fail */
	const char *ca_file;		/* NULL: system CA store */
	bool allow_http;		/* false: https:// only */
};

struct http_response {
	long status;			/* 0 when no answer was received */
	struct buf body;
	/* Rate-limit headers; negative or empty when absent. */
	double retry_after_s;		/* Retry-After */
	double ratelimit_reset_after_s;	/* X-RateLimit-Reset-After */
	long ratelimit_remaining;	/* X-RateLimit-Remaining */
	bool ratelimit_global;		/* X-RateLimit-Global: true */
	char ratelimit_bucket[64];	/* X-RateLimit-Bucket */
};

/* Calls curl_global_init once; call before starting threads. */
int http_client_global_init(void);
void http_client_global_cleanup(void);

/*
 * Performs req and fills resp (release it with http_response_free).
 * Returns RESULT_OK when an HTTP answer of any status arrived, and
 * RESULT_RETRY with the reason in e (code "http_failed") for transport
 * errors, timeouts and oversized answers.
 */
int http_client_perform(const struct http_request *req,
			struct http_response *resp, struct err *e);
void http_response_free(struct http_response *resp);

#endif
