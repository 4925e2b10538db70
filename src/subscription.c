/*
 * Subscription confirmation: a GET on the SubscribeURL of a verified
 * SubscriptionConfirmation, to which SNS responds with a small XML
 * document naming the new SubscriptionArn.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "snsrelay/http_client.h"
#include "snsrelay/limits.h"
#include "snsrelay/metrics.h"
#include "snsrelay/subscription.h"

#define ARN_OPEN "<SubscriptionArn>"
#define ARN_CLOSE "</SubscriptionArn>"

static int
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

int
subscription_parse_arn(const char *xml, char *arn, size_t arn_size)
{
	const char *start, *end;
	size_t len, i;

	if (xml == NULL || arn_size == 0)
		return -1;
	start = strstr(xml, ARN_OPEN);
	if (start == NULL)
		return -1;
	start += strlen(ARN_OPEN);
	end = strstr(start, ARN_CLOSE);
	if (end == NULL)
		return -1;

	while (start < end && is_space(*start))
		start++;
	while (end > start && is_space(end[-1]))
		end--;
	len = (size_t)(end - start);
	if (len == 0 || len >= arn_size)
		return -1;
	for (i = 0; i < len; i++)
		if ((unsigned char)start[i] < 0x21 || start[i] == '<' ||
		    (unsigned char)start[i] > 0x7e)
			return -1;
	memcpy(arn, start, len);
	arn[len] = '\0';
	return 0;
}

static void
copy_printable(const struct buf *body, char *out, size_t size)
{
	size_t i, n = 0;

	for (i = 0; body->data != NULL && i < body->len && n + 1 < size; i++) {
		unsigned char c = (unsigned char)body->data[i];

		out[n++] = (c >= 0x20 && c < 0x7f) ? (char)c : ' ';
	}
	out[n] = '\0';
}

int
subscription_confirm(const char *subscribe_url, const char *ca_file,
		     unsigned timeout_ms, char *arn, size_t arn_size,
		     struct err *e)
{
	struct http_request req;
	struct http_response resp;
	struct err http_err;
	char snippet[160];
	int rc = RESULT_RETRY;

	memset(&req, 0, sizeof(req));
	memset(&resp, 0, sizeof(resp));
	err_clear(&http_err);
	req.method = "GET";
	req.url = subscribe_url;
	req.timeout_ms = timeout_ms;
	req.max_response_bytes = LIMIT_CONFIRM_RESPONSE_BYTES;
	req.ca_file = ca_file;
	req.allow_http = false;

	if (http_client_perform(&req, &resp, &http_err) != RESULT_OK) {
		err_set(e, "confirm_failed",
			"GET of the SubscribeURL failed: %s", http_err.msg);
		goto out;
	}
	if (resp.status != 200) {
		copy_printable(&resp.body, snippet, sizeof(snippet));
		err_set(e, "confirm_failed",
			"GET of the SubscribeURL answered HTTP %ld: %s",
			resp.status, snippet);
		goto out;
	}
	if (subscription_parse_arn(resp.body.data, arn, arn_size) != 0) {
		err_set(e, "confirm_failed",
			"the SubscribeURL answer has no SubscriptionArn "
			"element; the subscription may not be confirmed");
		goto out;
	}
	rc = RESULT_OK;
out:
	metrics_inc(METRIC_SUBSCRIPTIONS,
		    rc == RESULT_OK ? "confirmed" : "confirm_failed", NULL);
	http_response_free(&resp);
	return rc;
}
