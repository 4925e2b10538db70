/*
 * Slack incoming-webhook payloads (Block Kit) built from alert documents.
 */
#ifndef SNSRELAY_SLACK_H
#define SNSRELAY_SLACK_H

#include <json-c/json.h>

/* Block Kit limits, in characters (Unicode code points). */
#define SLACK_TEXT_MAX			3000	/* fallback "text" we send */
#define SLACK_HEADER_MAX		150
#define SLACK_SECTION_TEXT_MAX		3000
#define SLACK_FIELDS_MAX		10
#define SLACK_FIELD_TEXT_MAX		2000
#define SLACK_BLOCKS_MAX		50
#define SLACK_CONTEXT_ELEMENTS_MAX	10

/*
 * Returns a new sanitized copy of s in which "&", "<" and ">" are written
 * as "&amp;", "&lt;" and "&gt;", so "<!channel>", "<!here>", "<@U123>"
 * and links cannot form, and "@channel", "@here" and "@everyone" are
 * broken with a zero-width space after the "@".  Returns NULL when
 * memory is short.
 */
char *slack_escape(const char *s);

/*
 * Builds the JSON body for a Slack incoming webhook from one alert: a
 * "text" fallback and at most SLACK_BLOCKS_MAX blocks within the Block
 * Kit limits above.  Event values cannot add mrkdwn formatting, links or
 * mentions.  Never fails on content; returns NULL only when memory is
 * short.
 */
json_object *slack_build_payload(json_object *alert);

#endif
