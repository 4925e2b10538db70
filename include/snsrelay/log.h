/*
 * Structured logging: one line per event, as logfmt (key=value) or JSON,
 * on standard error.  Values are escaped, so client bytes cannot forge
 * lines or fields.
 *
 *   struct log_line line;
 *   log_begin(&line, LOG_WARN, "request_rejected");
 *   log_str(&line, "reason", reason);
 *   log_int(&line, "status", 403);
 *   log_end(&line);
 */
#ifndef SNSRELAY_LOG_H
#define SNSRELAY_LOG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "snsrelay/limits.h"

enum log_level {
	LOG_DEBUG = 0,
	LOG_INFO,
	LOG_WARN,
	LOG_ERROR,
};

enum log_format {
	LOG_FORMAT_LOGFMT = 0,
	LOG_FORMAT_JSON,
};

struct log_line {
	char text[LIMIT_LOG_LINE_BYTES];
	size_t len;
	bool enabled;		/* false when the level is filtered out */
	bool truncated;
	enum log_format format;
	/* The repeat limit's key, kept for warn and error lines while an
	 * interval is set: hashes of the event and of the code and reason
	 * values, 0 when absent. */
	bool repeat_limited;
	uint64_t event_hash;
	uint64_t code_hash;
	uint64_t reason_hash;
};

/* Sets the minimum level and format; safe to call again at any time. */
void log_setup(enum log_level min_level, enum log_format format);

/*
 * Sets the repeat limit: a warn or error line with the same event and
 * the same code (the value of its "code" field, else of its "reason"
 * field, else none) as a line written less than seconds ago is left
 * out, and the next line written for that key carries repeated=N, the
 * number left out.  Info and debug lines are never left out.  0, the
 * initial value, writes every line.
 */
void log_set_repeat_interval(unsigned seconds);

/* Replaces the monotonic clock of the repeat limit (milliseconds); NULL
 * restores it.  For tests. */
void log_set_clock(int64_t (*now_ms)(void));

/* Parses "debug", "info", "warn" or "error".  Returns 0 or -1. */
int log_level_parse(const char *name, enum log_level *level);
int log_format_parse(const char *name, enum log_format *format);

/* Starts a line with ts=, level= and event= fields. */
void log_begin(struct log_line *line, enum log_level level,
	       const char *event);
/* Adds key=value; a NULL value is skipped. */
void log_str(struct log_line *line, const char *key, const char *value);
/* Adds key=value for the first n bytes of value, which may hold NULs. */
void log_strn(struct log_line *line, const char *key, const char *value,
	      size_t n);
void log_int(struct log_line *line, const char *key, long long value);
void log_double(struct log_line *line, const char *key, double value);
void log_fmt(struct log_line *line, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Writes the line with a single write, so lines from threads never mix,
 * unless the repeat limit leaves it out. */
void log_end(struct log_line *line);

/* Shorthand for an event with one msg= field. */
void log_message(enum log_level level, const char *event,
		 const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * Copies url into out with its secret parts replaced by "REDACTED": the
 * user info, the query string, the fragment, and every path segment after
 * the first.  Webhook services put their tokens anywhere in the path
 * (Discord in the fourth segment, Slack from the second, generic hooks
 * often in the second), so only the first segment is kept.  A password
 * with an unencoded '/', '?' or '#' ends the authority early.  The
 * authority is then replaced whole when its port is not a number, and
 * the first segment when it contains an '@'.
 */
void log_redact_url(const char *url, char *out, size_t out_size);

#endif
