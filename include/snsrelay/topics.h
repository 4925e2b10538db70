/*
 * TopicArn allow-list patterns.  A pattern is an ARN of six
 * colon-separated parts; a part may be "*" or contain '*' wildcards that
 * match within that part only, e.g. "arn:aws:sns:*:123456789012:*".
 */
#ifndef SNSRELAY_TOPICS_H
#define SNSRELAY_TOPICS_H

#include <stdbool.h>
#include <stddef.h>

#include "snsrelay/err.h"

/* Checks that pattern has the arn:<partition>:sns:<region>:<account>:<name>
 * form.  Returns 0, or -1 with the reason in e. */
int topic_pattern_check(const char *pattern, struct err *e);

bool topic_pattern_match(const char *pattern, const char *arn);

/* Copies the region part of a topic ARN into out.  Returns 0 or -1. */
int topic_arn_region(const char *arn, char *out, size_t out_size);
int topic_arn_account(const char *arn, char *out, size_t out_size);

#endif
