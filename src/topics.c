#include "config.h"

#include <fnmatch.h>
#include <stdio.h>
#include <string.h>

#include "snsrelay/topics.h"

#define TOPIC_PARTS 6
/* Topic names have at most 256 characters; the rest of an ARN is short. */
#define TOPIC_ARN_MAX 1024

enum topic_part {
	PART_ARN = 0,
	PART_PARTITION,
	PART_SERVICE,
	PART_REGION,
	PART_ACCOUNT,
	PART_NAME,
};

struct topic_split {
	char text[TOPIC_ARN_MAX];
	const char *part[TOPIC_PARTS];
};

static const char *const part_names[TOPIC_PARTS] = {
	"prefix", "partition", "service", "region", "account", "topic name",
};

/* Splits arn at ':' into exactly six parts.  Returns 0 or -1. */
static int
topic_split(const char *arn, struct topic_split *split)
{
	size_t len = strlen(arn);
	char *p;
	int n = 0;

	if (len >= sizeof(split->text))
		return -1;
	memcpy(split->text, arn, len + 1);

	p = split->text;
	split->part[n++] = p;
	while ((p = strchr(p, ':')) != NULL) {
		if (n == TOPIC_PARTS)
			return -1;
		*p++ = '\0';
		split->part[n++] = p;
	}
	return n == TOPIC_PARTS ? 0 : -1;
}

/* Letters, digits, '-', '_' and '.' (FIFO topics end in ".fifo"), and the
 * '*' wildcard. */
static bool
topic_char_ok(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' ||
	       c == '*';
}

static int
topic_check_part(const char *pattern, int index, const char *part,
		 struct err *e)
{
	const char *p;

	if (*part == '\0') {
		err_set(e, "topic_pattern_invalid", "topic pattern \"%.200s\" "
			"has an empty %s", pattern, part_names[index]);
		return -1;
	}
	for (p = part; *p != '\0'; p++) {
		if (!topic_char_ok(*p)) {
			err_set(e, "topic_pattern_invalid", "topic pattern "
				"\"%.200s\": character '%c' is not allowed in "
				"the %s; only '*' is a wildcard", pattern, *p,
				part_names[index]);
			return -1;
		}
	}
	return 0;
}

int
topic_pattern_check(const char *pattern, struct err *e)
{
	struct topic_split split;
	int i;

	if (topic_split(pattern, &split) != 0) {
		err_set(e, "topic_pattern_invalid", "topic pattern \"%.200s\" "
			"is not arn:<partition>:sns:<region>:<account>:<name> "
			"(six parts separated by ':')", pattern);
		return -1;
	}
	if (strcmp(split.part[PART_ARN], "arn") != 0 ||
	    strcmp(split.part[PART_SERVICE], "sns") != 0) {
		err_set(e, "topic_pattern_invalid", "topic pattern \"%.200s\" "
			"must start with arn:<partition>:sns:", pattern);
		return -1;
	}
	for (i = 0; i < TOPIC_PARTS; i++) {
		if (topic_check_part(pattern, i, split.part[i], e) != 0)
			return -1;
	}
	return 0;
}

bool
topic_pattern_match(const char *pattern, const char *arn)
{
	struct topic_split want, got;
	int i;

	if (topic_split(pattern, &want) != 0 || topic_split(arn, &got) != 0)
		return false;
	for (i = 0; i < TOPIC_PARTS; i++) {
		if (fnmatch(want.part[i], got.part[i], 0) != 0)
			return false;
	}
	return true;
}

static int
topic_arn_part(const char *arn, enum topic_part index, char *out,
	       size_t out_size)
{
	struct topic_split split;
	int n;

	if (topic_split(arn, &split) != 0 || *split.part[index] == '\0')
		return -1;
	n = snprintf(out, out_size, "%s", split.part[index]);
	return n < 0 || (size_t)n >= out_size ? -1 : 0;
}

int
topic_arn_region(const char *arn, char *out, size_t out_size)
{
	return topic_arn_part(arn, PART_REGION, out, out_size);
}

int
topic_arn_account(const char *arn, char *out, size_t out_size)
{
	return topic_arn_part(arn, PART_ACCOUNT, out, out_size);
}
