#include "config.h"

#include <fnmatch.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "snsrelay/sns_url.h"
#include "snsrelay/topics.h"

/*
 * The rules are stricter than RFC 3986 requires, because SNS always sends
 * one plain form.  The "https://" prefix and the host are lower case
 * (upper-case letters are rejected, not folded).  Only the SubscribeURL
 * query may use percent-encoding, and every byte is printable ASCII.
 */

#define URL_MAX 4096
#define URL_HOST_MAX 256
#define URL_REGION_MAX 32
/* A decoded SubscribeURL parameter; real tokens have 256 characters. */
#define URL_PARAM_MAX 1024

#define CERT_PATH_PREFIX "/SimpleNotificationService-"
#define CERT_PATH_HEX 32
#define CERT_PATH_SUFFIX ".pem"

struct url_check {
	const char *what;	/* "SigningCertURL" or "SubscribeURL" */
	const char *code;
	const char *topic_arn;
	const char *host_pattern;
};

struct url_parts {
	const char *host;
	size_t host_len;
	const char *port;	/* digits after ':', or NULL */
	size_t port_len;
	const char *path;	/* from '/' up to '?' or the end */
	size_t path_len;
	const char *query;	/* after '?', or NULL */
	size_t query_len;
};

static bool
url_is_lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool
url_is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static int
url_check_chars(const struct url_check *chk, const char *url, size_t len,
		struct err *e)
{
	size_t i;

	if (len > URL_MAX) {
		err_set(e, chk->code, "%s is %zu bytes long, more than %d",
			chk->what, len, URL_MAX);
		return RESULT_REJECT;
	}
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)url[i];
		const char *reason = NULL;

		if (c <= 0x20 || c >= 0x7f)
			reason = "a space, control or non-ASCII byte";
		else if (c == '\\')
			reason = "a backslash";
		else if (c == '#')
			reason = "a fragment ('#')";
		else if (c == '@')
			reason = "user info ('@')";
		if (reason != NULL) {
			err_set(e, chk->code, "%s contains %s at offset %zu",
				chk->what, reason, i);
			return RESULT_REJECT;
		}
	}
	return RESULT_OK;
}

static int
url_check_scheme(const struct url_check *chk, const char *url,
		 struct err *e)
{
	if (strncmp(url, "https://", 8) == 0)
		return RESULT_OK;
	if (strncasecmp(url, "http://", 7) == 0) {
		err_set(e, chk->code, "%s uses http; SNS serves it over "
			"https only", chk->what);
		return RESULT_REJECT;
	}
	err_set(e, chk->code, "%s does not start with \"https://\" (lower "
		"case)", chk->what);
	return RESULT_REJECT;
}

/* Splits authority[0..len) into host and optional port. */
static int
url_split_authority(const struct url_check *chk, const char *authority,
		    size_t len, struct url_parts *parts, struct err *e)
{
	const char *colon = NULL;
	const char *close;

	parts->host = authority;
	if (len > 0 && authority[0] == '[') {
		close = memchr(authority, ']', len);
		if (close != NULL && (size_t)(close + 1 - authority) < len)
			colon = close + 1;
		if (close == NULL || (colon != NULL && *colon != ':')) {
			err_set(e, chk->code, "%s has an invalid IPv6 host",
				chk->what);
			return RESULT_REJECT;
		}
	} else {
		colon = memchr(authority, ':', len);
	}

	parts->host_len = colon ? (size_t)(colon - authority) : len;
	if (colon != NULL) {
		parts->port = colon + 1;
		parts->port_len = len - parts->host_len - 1;
	}
	if (parts->host_len == 0) {
		err_set(e, chk->code, "%s has no host", chk->what);
		return RESULT_REJECT;
	}
	return RESULT_OK;
}

/* Splits an "https://" URL whose characters were already checked. */
static int
url_split(const struct url_check *chk, const char *url,
	  struct url_parts *parts, struct err *e)
{
	const char *authority = url + 8;
	size_t authority_len = strcspn(authority, "/?");
	const char *path = authority + authority_len;
	int rc;

	memset(parts, 0, sizeof(*parts));
	rc = url_split_authority(chk, authority, authority_len, parts, e);
	if (rc != RESULT_OK)
		return rc;

	if (*path != '/') {
		err_set(e, chk->code, "%s has no path after its host",
			chk->what);
		return RESULT_REJECT;
	}
	parts->path = path;
	parts->path_len = strcspn(path, "?");
	if (path[parts->path_len] == '?') {
		parts->query = path + parts->path_len + 1;
		parts->query_len = strlen(parts->query);
	}
	return RESULT_OK;
}

/* Checks that the host is lower-case DNS labels, or an IPv6 literal. */
static int
url_check_host_chars(const struct url_check *chk,
		     const struct url_parts *parts, struct err *e)
{
	const char *h = parts->host;
	size_t i, n = parts->host_len;
	char prev = '.';

	if (h[0] == '[') {
		for (i = 1; i + 1 < n; i++) {
			if (!url_is_lower_alnum(h[i]) && h[i] != ':' &&
			    h[i] != '.')
				goto bad;
		}
		return RESULT_OK;
	}
	for (i = 0; i < n; i++) {
		if (h[i] == '.' && prev == '.')
			goto bad;
		if (h[i] != '.' && h[i] != '-' && !url_is_lower_alnum(h[i]))
			goto bad;
		prev = h[i];
	}
	if (prev != '.')
		return RESULT_OK;
bad:
	err_set(e, chk->code, "%s host \"%.*s\" is not a lower-case host "
		"name", chk->what, (int)(n > 80 ? 80 : n), h);
	return RESULT_REJECT;
}

static int
url_check_port(const struct url_check *chk, const struct url_parts *parts,
	       struct err *e)
{
	unsigned long port = 0;
	size_t i;

	if (parts->port_len == 0 || parts->port_len > 5)
		goto bad;
	for (i = 0; i < parts->port_len; i++) {
		if (!url_is_digit(parts->port[i]))
			goto bad;
		port = port * 10 + (unsigned long)(parts->port[i] - '0');
	}
	if (port >= 1 && port <= 65535)
		return RESULT_OK;
bad:
	err_set(e, chk->code, "%s has an invalid port", chk->what);
	return RESULT_REJECT;
}

/* The configured host pattern replaces the AWS rule; a port is allowed. */
static int
url_match_pattern(const struct url_check *chk, const struct url_parts *parts,
		  struct err *e)
{
	char hostport[URL_HOST_MAX + 8];
	size_t n = parts->host_len;

	if (parts->port != NULL) {
		if (url_check_port(chk, parts, e) != RESULT_OK)
			return RESULT_REJECT;
		n += 1 + parts->port_len;
	}
	if (n >= sizeof(hostport)) {
		err_set(e, chk->code, "%s host is longer than %d bytes",
			chk->what, URL_HOST_MAX);
		return RESULT_REJECT;
	}
	memcpy(hostport, parts->host, n);
	hostport[n] = '\0';

	if (fnmatch(chk->host_pattern, hostport, 0) != 0) {
		err_set(e, chk->code, "%s host \"%s\" does not match "
			"sns_host_pattern \"%.60s\"", chk->what, hostport,
			chk->host_pattern);
		return RESULT_REJECT;
	}
	return RESULT_OK;
}

/*
 * Checks an AWS region name: two to four letters, one or more groups of
 * letters, and a number, each joined by '-' ("us-east-1",
 * "us-gov-west-1", "cn-north-1").  Keeps out names such as "s3-us-west-2"
 * and "s3-accelerate" that would turn sns.<region>.amazonaws.com into an
 * S3 bucket host.
 */
static bool
url_region_ok(const char *region)
{
	const char *p = region;
	size_t n = strspn(p, "abcdefghijklmnopqrstuvwxyz");
	int groups = 0;

	if (n < 2 || n > 4 || p[n] != '-')
		return false;
	p += n + 1;
	while ((n = strspn(p, "abcdefghijklmnopqrstuvwxyz")) > 0) {
		if (p[n] != '-')
			return false;
		p += n + 1;
		groups++;
	}
	n = strspn(p, "0123456789");
	return groups > 0 && n >= 1 && n <= 2 && p[n] == '\0';
}

/* Reads the partition of topic_arn ("aws", "aws-cn", "aws-us-gov"). */
static int
url_arn_partition(const char *topic_arn, char *out, size_t out_size)
{
	const char *start, *end;
	size_t n;

	if (strncmp(topic_arn, "arn:", 4) != 0)
		return -1;
	start = topic_arn + 4;
	end = strchr(start, ':');
	if (end == NULL || strncmp(end, ":sns:", 5) != 0)
		return -1;
	n = (size_t)(end - start);
	if (n == 0 || n >= out_size)
		return -1;
	memcpy(out, start, n);
	out[n] = '\0';
	return 0;
}

/* Returns the domain SNS uses in the partition, or NULL when the
 * partition and region do not belong together. */
static const char *
url_partition_domain(const char *partition, const char *region)
{
	bool china = strncmp(region, "cn-", 3) == 0;
	bool gov = strncmp(region, "us-gov-", 7) == 0;

	if (strcmp(partition, "aws") == 0 && !china && !gov)
		return "amazonaws.com";
	if (strcmp(partition, "aws-us-gov") == 0 && gov)
		return "amazonaws.com";
	if (strcmp(partition, "aws-cn") == 0 && china)
		return "amazonaws.com.cn";
	return NULL;
}

/* Builds sns.<region>.<domain> for the TopicArn of the message. */
static int
url_expected_host(const struct url_check *chk, char *out, size_t out_size,
		  struct err *e)
{
	char partition[32], region[URL_REGION_MAX];
	const char *domain = NULL;
	int n;

	if (chk->topic_arn == NULL ||
	    url_arn_partition(chk->topic_arn, partition,
			      sizeof(partition)) != 0 ||
	    topic_arn_region(chk->topic_arn, region, sizeof(region)) != 0 ||
	    !url_region_ok(region)) {
		err_set(e, chk->code, "%s cannot be checked: TopicArn is not "
			"arn:<partition>:sns:<region>:... with a valid region",
			chk->what);
		return RESULT_REJECT;
	}
	domain = url_partition_domain(partition, region);
	if (domain == NULL) {
		err_set(e, chk->code, "%s cannot be checked: partition "
			"\"%s\" with region \"%s\" has no built-in SNS host; "
			"set sns_host_pattern", chk->what, partition, region);
		return RESULT_REJECT;
	}
	n = snprintf(out, out_size, "sns.%s.%s", region, domain);
	return n > 0 && (size_t)n < out_size ? RESULT_OK : RESULT_REJECT;
}

static int
url_check_aws_host(const struct url_check *chk, const struct url_parts *parts,
		   struct err *e)
{
	char want[URL_HOST_MAX];
	int rc;

	if (parts->port != NULL) {
		err_set(e, chk->code, "%s names a port; SNS URLs never do",
			chk->what);
		return RESULT_REJECT;
	}
	rc = url_expected_host(chk, want, sizeof(want), e);
	if (rc != RESULT_OK)
		return rc;
	if (parts->host_len != strlen(want) ||
	    memcmp(parts->host, want, parts->host_len) != 0) {
		err_set(e, chk->code, "%s host \"%.*s\" is not %s, the SNS "
			"endpoint of the TopicArn's region", chk->what,
			(int)(parts->host_len > 80 ? 80 : parts->host_len),
			parts->host, want);
		return RESULT_REJECT;
	}
	return RESULT_OK;
}

/* Checks the scheme, characters and host of url and splits it. */
static int
url_check_common(const struct url_check *chk, const char *url,
		 struct url_parts *parts, struct err *e)
{
	int rc;

	if (url == NULL) {
		err_set(e, chk->code, "%s is missing", chk->what);
		return RESULT_REJECT;
	}
	rc = url_check_chars(chk, url, strlen(url), e);
	if (rc == RESULT_OK)
		rc = url_check_scheme(chk, url, e);
	if (rc == RESULT_OK)
		rc = url_split(chk, url, parts, e);
	if (rc == RESULT_OK)
		rc = url_check_host_chars(chk, parts, e);
	if (rc != RESULT_OK)
		return rc;
	if (chk->host_pattern != NULL)
		return url_match_pattern(chk, parts, e);
	return url_check_aws_host(chk, parts, e);
}

static bool
url_cert_path_ok(const char *path, size_t len)
{
	size_t prefix = strlen(CERT_PATH_PREFIX);
	size_t suffix = strlen(CERT_PATH_SUFFIX);
	size_t i;

	if (len != prefix + CERT_PATH_HEX + suffix ||
	    memcmp(path, CERT_PATH_PREFIX, prefix) != 0 ||
	    memcmp(path + prefix + CERT_PATH_HEX, CERT_PATH_SUFFIX,
		   suffix) != 0)
		return false;
	for (i = prefix; i < prefix + CERT_PATH_HEX; i++) {
		if (!url_is_digit(path[i]) && (path[i] < 'a' || path[i] > 'f'))
			return false;
	}
	return true;
}

int
sns_url_check_cert(const char *url, const char *topic_arn,
		   const char *host_pattern, struct err *e)
{
	const struct url_check chk = {
		"SigningCertURL", "cert_url_invalid", topic_arn, host_pattern,
	};
	struct url_parts parts;
	int rc;

	rc = url_check_common(&chk, url, &parts, e);
	if (rc != RESULT_OK)
		return rc;
	if (parts.query != NULL) {
		err_set(e, chk.code, "SigningCertURL has a query ('?')");
		return RESULT_REJECT;
	}
	if (!url_cert_path_ok(parts.path, parts.path_len)) {
		err_set(e, chk.code, "SigningCertURL path \"%.*s\" is not "
			"/SimpleNotificationService-<32 lower-case hex "
			"digits>.pem", (int)(parts.path_len > 80 ? 80 :
					      parts.path_len), parts.path);
		return RESULT_REJECT;
	}
	return RESULT_OK;
}

static int
url_hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decodes in[0..len) into out.  Returns the decoded length, or
 * -1 for a bad escape, a NUL, or output that does not fit. */
static long
url_percent_decode(const char *in, size_t len, char *out, size_t out_size)
{
	size_t i, n = 0;
	int hi, lo;

	for (i = 0; i < len; i++) {
		char c = in[i];

		if (c == '%') {
			if (len - i < 3)
				return -1;
			hi = url_hex_value(in[i + 1]);
			lo = url_hex_value(in[i + 2]);
			if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
				return -1;
			c = (char)(hi * 16 + lo);
			i += 2;
		}
		if (n + 1 >= out_size)
			return -1;
		out[n++] = c;
	}
	out[n] = '\0';
	return (long)n;
}

/* Unreserved characters, '%' escapes, and the '=', '&' and ':' that
 * SNS writes unescaped. */
static bool
url_query_char_ok(char c)
{
	return url_is_lower_alnum(c) || (c >= 'A' && c <= 'Z') ||
	       strchr("-._~%=&:", c) != NULL;
}

enum subscribe_param {
	PARAM_ACTION = 0,
	PARAM_TOPIC_ARN,
	PARAM_TOKEN,
	PARAM_COUNT,
};

static const char *const subscribe_params[PARAM_COUNT] = {
	"Action", "TopicArn", "Token",
};

struct subscribe_query {
	char value[PARAM_COUNT][URL_PARAM_MAX];
	bool seen[PARAM_COUNT];
};

/* Decodes one name=value pair; unknown names are ignored. */
static int
url_read_param(const struct url_check *chk, const char *param, size_t len,
	       struct subscribe_query *q, struct err *e)
{
	char name[URL_PARAM_MAX];
	const char *eq = memchr(param, '=', len);
	size_t name_len = eq ? (size_t)(eq - param) : 0;
	int i;

	if (eq == NULL || url_percent_decode(param, name_len, name,
					     sizeof(name)) < 0) {
		err_set(e, chk->code, "SubscribeURL query has a parameter "
			"that is not name=value with valid %%-escapes");
		return RESULT_REJECT;
	}
	for (i = 0; i < PARAM_COUNT; i++) {
		if (strcmp(name, subscribe_params[i]) != 0)
			continue;
		if (q->seen[i] ||
		    url_percent_decode(eq + 1, len - name_len - 1, q->value[i],
				       sizeof(q->value[i])) < 0) {
			err_set(e, chk->code, "SubscribeURL parameter %s is "
				"repeated, too long, or badly %%-escaped",
				name);
			return RESULT_REJECT;
		}
		q->seen[i] = true;
	}
	return RESULT_OK;
}

static int
url_read_query(const struct url_check *chk, const char *query, size_t len,
	       struct subscribe_query *q, struct err *e)
{
	size_t i, start = 0;
	int rc = RESULT_OK;

	for (i = 0; i < len; i++) {
		if (!url_query_char_ok(query[i])) {
			err_set(e, chk->code, "SubscribeURL query contains '%c', "
				"which SNS never writes there", query[i]);
			return RESULT_REJECT;
		}
	}
	for (i = 0; rc == RESULT_OK && i <= len; i++) {
		if (i < len && query[i] != '&')
			continue;
		rc = url_read_param(chk, query + start, i - start, q, e);
		start = i + 1;
	}
	return rc;
}

static int
url_check_subscribe_query(const struct url_check *chk,
			  const struct subscribe_query *q, struct err *e)
{
	if (!q->seen[PARAM_ACTION] ||
	    strcmp(q->value[PARAM_ACTION], "ConfirmSubscription") != 0) {
		err_set(e, chk->code, "SubscribeURL does not have "
			"Action=ConfirmSubscription");
		return RESULT_REJECT;
	}
	if (!q->seen[PARAM_TOPIC_ARN] || chk->topic_arn == NULL ||
	    strcmp(q->value[PARAM_TOPIC_ARN], chk->topic_arn) != 0) {
		err_set(e, chk->code, "SubscribeURL TopicArn parameter is "
			"missing or differs from the message's TopicArn");
		return RESULT_REJECT;
	}
	if (!q->seen[PARAM_TOKEN] || q->value[PARAM_TOKEN][0] == '\0') {
		err_set(e, chk->code, "SubscribeURL has no Token parameter");
		return RESULT_REJECT;
	}
	return RESULT_OK;
}

int
sns_url_check_subscribe(const char *url, const char *topic_arn,
			const char *host_pattern, struct err *e)
{
	const struct url_check chk = {
		"SubscribeURL", "subscribe_url_invalid", topic_arn,
		host_pattern,
	};
	struct subscribe_query query;
	struct url_parts parts;
	int rc;

	rc = url_check_common(&chk, url, &parts, e);
	if (rc != RESULT_OK)
		return rc;
	if (parts.path_len != 1) {
		err_set(e, chk.code, "SubscribeURL path is not \"/\"");
		return RESULT_REJECT;
	}
	if (parts.query == NULL || parts.query_len == 0) {
		err_set(e, chk.code, "SubscribeURL has no query");
		return RESULT_REJECT;
	}

	memset(&query, 0, sizeof(query));
	rc = url_read_query(&chk, parts.query, parts.query_len, &query, e);
	if (rc != RESULT_OK)
		return rc;
	return url_check_subscribe_query(&chk, &query, e);
}

static bool
url_basename_ok(const char *name, size_t len)
{
	size_t i;

	if (len == 0 || (name[0] == '.' && (len == 1 || (len == 2 &&
							  name[1] == '.'))))
		return false;
	for (i = 0; i < len; i++) {
		char c = name[i];

		if (!url_is_lower_alnum(c) && !(c >= 'A' && c <= 'Z') &&
		    c != '-' && c != '_' && c != '.')
			return false;
	}
	return true;
}

int
sns_url_basename(const char *url, char *out, size_t out_size)
{
	const char *start = strstr(url, "://");
	const char *path, *name;
	size_t path_len, len;

	if (start == NULL)
		return -1;
	path = strchr(start + 3, '/');
	if (path == NULL)
		return -1;
	path_len = strcspn(path, "?#");
	name = path + path_len;
	while (name > path && name[-1] != '/')
		name--;
	len = (size_t)(path + path_len - name);

	if (!url_basename_ok(name, len) || len >= out_size)
		return -1;
	memcpy(out, name, len);
	out[len] = '\0';
	return 0;
}
