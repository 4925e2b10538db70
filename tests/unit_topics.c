/*
 * topics: allow-list pattern syntax, matching, and ARN parts.
 */
#include "config.h"

#include <stdbool.h>
#include <string.h>

#include "snsrelay/err.h"
#include "snsrelay/topics.h"
#include "tap.h"

#define ARN "arn:aws:sns:us-east-1:123456789012:sg-alerts"

struct check_case {
	const char *pattern;
	bool valid;
};

static const struct check_case check_cases[] = {
	{ ARN, true },
	{ "arn:aws:sns:*:123456789012:*", true },
	{ "arn:*:sns:*:*:*", true },
	{ "arn:aws-cn:sns:cn-north-1:123456789012:alerts", true },
	{ "arn:aws:sns:us-east-1:123456789012:orders.fifo", true },
	{ "arn:aws:sns:us-east-1:123456789012:sg-*-prod", true },
	{ "arn:aws:sns:us-east-1:123456789012:my_topic", true },
	{ "", false },
	{ "*", false },
	{ "arn:aws:sns:us-east-1:123456789012", false },
	{ "arn:aws:sns:us-east-1:123456789012:a:b", false },
	{ "arn:aws:sqs:us-east-1:123456789012:alerts", false },
	{ "urn:aws:sns:us-east-1:123456789012:alerts", false },
	{ "arn:aws:*:us-east-1:123456789012:alerts", false },
	{ "arn::sns:us-east-1:123456789012:alerts", false },
	{ "arn:aws:sns::123456789012:alerts", false },
	{ "arn:aws:sns:us-east-1::alerts", false },
	{ "arn:aws:sns:us-east-1:123456789012:", false },
	{ "arn:aws:sns:us-east-1:123456789012:a?c", false },
	{ "arn:aws:sns:us-east-1:123456789012:[ab]", false },
	{ "arn:aws:sns:us-east-1:123456789012:a\\*", false },
	{ "arn:aws:sns:us-east-1:123456789012:a b", false },
	{ "arn:aws:sns:us-east-1:123456789012:a/b", false },
};

static void
test_pattern_check(void)
{
	const struct check_case *c;
	struct err e;
	size_t i;
	int rc;

	for (i = 0; i < sizeof(check_cases) / sizeof(check_cases[0]); i++) {
		c = &check_cases[i];
		err_clear(&e);
		rc = topic_pattern_check(c->pattern, &e);
		is_int(rc, c->valid ? 0 : -1, "check \"%s\": result",
		       c->pattern);
		if (!c->valid)
			is_str(e.code, "topic_pattern_invalid",
			       "check \"%s\": code", c->pattern);
	}
}

struct match_case {
	const char *pattern;
	const char *arn;
	bool match;
};

static const struct match_case match_cases[] = {
	{ ARN, ARN, true },
	{ "arn:aws:sns:*:123456789012:*", ARN, true },
	{ "arn:aws:sns:*:123456789012:*",
	  "arn:aws:sns:eu-west-1:123456789012:x", true },
	{ "arn:aws:sns:us-*:123456789012:sg-*", ARN, true },
	{ "arn:*:sns:*:*:*", "arn:aws-us-gov:sns:us-gov-west-1:1:t", true },
	{ ARN, "arn:aws:sns:us-east-1:123456789012:sg-alerts2", false },
	{ ARN, "arn:aws:sns:us-east-1:123456789013:sg-alerts", false },
	{ "arn:aws:sns:*:123456789012:*",
	  "arn:aws:sns:us-east-1:999999999999:sg-alerts", false },
	{ "arn:aws:sns:*:123456789012:*",
	  "arn:aws-cn:sns:cn-north-1:123456789012:x", false },
	/* A '*' stays within its part: it never spans a ':'. */
	{ "arn:aws:sns:*:123456789012:*",
	  "arn:aws:sns:us-east-1:x:123456789012:y", false },
	{ "arn:aws:sns:us-east-1:*", ARN, false },
	{ "arn:aws:sns:*:*:*", "arn:aws:sns:us-east-1:123456789012", false },
	{ "arn:aws:sns:*:*:*", "", false },
	{ "arn:aws:sns:*:*:*", "arn:aws:sqs:us-east-1:1:q", false },
	{ "arn:aws:sns:*:*:alerts", "arn:aws:sns:us-east-1:1:ALERTS", false },
};

static void
test_pattern_match(void)
{
	const struct match_case *c;
	size_t i;

	for (i = 0; i < sizeof(match_cases) / sizeof(match_cases[0]); i++) {
		c = &match_cases[i];
		is_int(topic_pattern_match(c->pattern, c->arn), c->match,
		       "match %zu: \"%s\"", i, c->arn);
	}
}

static void
test_arn_parts(void)
{
	char out[32];
	char tiny[4];
	char long_arn[2048];

	is_int(topic_arn_region(ARN, out, sizeof(out)), 0, "region: found");
	is_str(out, "us-east-1", "region: value");
	is_int(topic_arn_account(ARN, out, sizeof(out)), 0,
	       "account: found");
	is_str(out, "123456789012", "account: value");
	is_int(topic_arn_region(ARN, tiny, sizeof(tiny)), -1,
	       "region: buffer too small");
	is_int(topic_arn_region("arn:aws:sns::1:t", out, sizeof(out)), -1,
	       "region: empty part");
	is_int(topic_arn_region("arn:aws:sns:us-east-1", out, sizeof(out)),
	       -1, "region: too few parts");
	is_int(topic_arn_account("arn:aws:sns:r:1:t:x", out, sizeof(out)),
	       -1, "account: too many parts");

	memset(long_arn, 'a', sizeof(long_arn) - 1);
	long_arn[sizeof(long_arn) - 1] = '\0';
	memcpy(long_arn, "arn:aws:sns:r:1:", 16);
	is_int(topic_arn_region(long_arn, out, sizeof(out)), -1,
	       "region: overlong ARN");
	ok(!topic_pattern_match("arn:aws:sns:*:*:*", long_arn),
	   "match: overlong ARN");
}

int
main(void)
{
	test_pattern_check();
	test_pattern_match();
	test_arn_parts();
	return tap_done();
}
