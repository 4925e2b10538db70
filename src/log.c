#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "snsrelay/log.h"

/*
 * Room kept free at the end of every line for the longest tail that
 * log_end may add: ,"truncated":true}\n in the JSON format.
 */
#define LOG_TAIL_RESERVE 24
#define LOG_BODY_MAX (LIMIT_LOG_LINE_BYTES - LOG_TAIL_RESERVE)

static atomic_int log_min_level = LOG_INFO;
static atomic_int log_out_format = LOG_FORMAT_LOGFMT;

static const char *const log_level_names[] = {
	[LOG_DEBUG] = "debug",
	[LOG_INFO] = "info",
	[LOG_WARN] = "warn",
	[LOG_ERROR] = "error",
};

void
log_setup(enum log_level min_level, enum log_format format)
{
	atomic_store(&log_min_level, (int)min_level);
	atomic_store(&log_out_format, (int)format);
}

int
log_level_parse(const char *name, enum log_level *level)
{
	size_t i;

	if (name == NULL)
		return -1;
	for (i = 0; i < sizeof(log_level_names) / sizeof(*log_level_names);
	     i++) {
		if (strcasecmp(name, log_level_names[i]) == 0) {
			*level = (enum log_level)i;
			return 0;
		}
	}
	if (strcasecmp(name, "warning") == 0) {
		*level = LOG_WARN;
		return 0;
	}
	return -1;
}

int
log_format_parse(const char *name, enum log_format *format)
{
	if (name == NULL)
		return -1;
	if (strcasecmp(name, "logfmt") == 0) {
		*format = LOG_FORMAT_LOGFMT;
		return 0;
	}
	if (strcasecmp(name, "json") == 0) {
		*format = LOG_FORMAT_JSON;
		return 0;
	}
	return -1;
}

/*
 * Appends n bytes when they fit before limit.  Once a piece does not fit,
 * the line is marked truncated and takes nothing more.
 */
static bool
log_put_upto(struct log_line *line, const char *data, size_t n,
	     size_t limit)
{
	if (line->truncated || line->len > limit || n > limit - line->len) {
		line->truncated = true;
		return false;
	}
	memcpy(line->text + line->len, data, n);
	line->len += n;
	return true;
}

static bool
log_put(struct log_line *line, const char *data, size_t n)
{
	return log_put_upto(line, data, n, LOG_BODY_MAX);
}

static bool
log_put_str(struct log_line *line, const char *s)
{
	return log_put(line, s, strlen(s));
}

/*
 * Returns the length of the valid UTF-8 sequence at s (2 to 4 bytes;
 * overlong forms, surrogates and values above U+10FFFF are invalid), or 0.
 */
static size_t
log_utf8_length(const unsigned char *s, size_t n, uint32_t *cp)
{
	size_t len, i;
	uint32_t c;

	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		len = 2;
		c = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		len = 3;
		c = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4;
		c = s[0] & 0x07;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3f);
	}
	if ((len == 3 && c < 0x800) || (len == 4 && c < 0x10000) ||
	    (c >= 0xd800 && c <= 0xdfff) || c > 0x10ffff)
		return 0;
	*cp = c;
	return len;
}

/*
 * True for code points that a terminal or log viewer may act on: C1
 * controls, the Unicode line and paragraph separators, and the
 * bidirectional overrides that can make text display out of order.
 */
static bool
log_codepoint_is_hostile(uint32_t cp)
{
	return (cp >= 0x80 && cp <= 0x9f) || cp == 0x2028 || cp == 0x2029 ||
	       (cp >= 0x202a && cp <= 0x202e) ||
	       (cp >= 0x2066 && cp <= 0x2069);
}

/*
 * Returns how many bytes at s pass through unescaped: 1 for printable
 * ASCII other than '"' and '\\', 2 to 4 for a harmless UTF-8 sequence,
 * and 0 for a byte that must be escaped.
 */
static size_t
log_plain_length(const unsigned char *s, size_t n)
{
	uint32_t cp = 0;
	size_t len;

	if (s[0] >= 0x20 && s[0] < 0x7f)
		return s[0] == '"' || s[0] == '\\' ? 0 : 1;
	if (s[0] < 0x80)
		return 0;
	len = log_utf8_length(s, n, &cp);
	if (len == 0 || log_codepoint_is_hostile(cp))
		return 0;
	return len;
}

/* Formats the escape of byte c into out; returns its length. */
static size_t
log_escape_byte(unsigned char c, enum log_format format, char *out,
		size_t out_size)
{
	switch (c) {
	case '\n':
		return (size_t)snprintf(out, out_size, "\\n");
	case '\r':
		return (size_t)snprintf(out, out_size, "\\r");
	case '\t':
		return (size_t)snprintf(out, out_size, "\\t");
	case '"':
		return (size_t)snprintf(out, out_size, "\\\"");
	case '\\':
		return (size_t)snprintf(out, out_size, "\\\\");
	default:
		break;
	}
	/* JSON has no \x escape, so the text "\xNN" itself is written
	 * there, which keeps the document valid and readable alike. */
	if (format == LOG_FORMAT_JSON)
		return (size_t)snprintf(out, out_size, "\\\\x%02x", c);
	return (size_t)snprintf(out, out_size, "\\x%02x", c);
}

/* Appends value escaped; stops at the first piece that does not fit
 * before limit, so no escape or UTF-8 sequence is ever cut. */
static void
log_put_escaped(struct log_line *line, const char *value, size_t n,
		size_t limit)
{
	const unsigned char *s = (const unsigned char *)value;
	char esc[8];
	size_t i = 0, plain, len;

	while (i < n) {
		plain = log_plain_length(s + i, n - i);
		if (plain > 0) {
			if (!log_put_upto(line, value + i, plain, limit))
				return;
			i += plain;
			continue;
		}
		len = log_escape_byte(s[i], line->format, esc, sizeof(esc));
		if (!log_put_upto(line, esc, len, limit))
			return;
		i++;
	}
}

/* True when a logfmt value must be quoted to stay one field. */
static bool
log_needs_quotes(const char *value, size_t n)
{
	const unsigned char *s = (const unsigned char *)value;
	size_t i = 0, plain;

	if (n == 0)
		return true;
	while (i < n) {
		if (s[i] == ' ' || s[i] == '=')
			return true;
		plain = log_plain_length(s + i, n - i);
		if (plain == 0)
			return true;
		i += plain;
	}
	return false;
}

/* Appends the key, with any byte outside [A-Za-z0-9_.-] made '_'. */
static void
log_put_key(struct log_line *line, const char *key)
{
	char safe[64];
	size_t i;

	for (i = 0; key[i] != '\0' && i < sizeof(safe) - 1; i++) {
		char c = key[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			  (c >= '0' && c <= '9') || c == '_' || c == '.' ||
			  c == '-';

		safe[i] = ok ? c : '_';
	}
	safe[i] = '\0';
	if (line->format == LOG_FORMAT_JSON) {
		log_put_str(line, ",\"");
		log_put_str(line, safe);
		log_put_str(line, "\":");
	} else {
		log_put_str(line, " ");
		log_put_str(line, safe);
		log_put_str(line, "=");
	}
}

/* Appends a string value, closing its quotes even when it was cut. */
static void
log_put_value(struct log_line *line, const char *value, size_t n)
{
	bool quoted = line->format == LOG_FORMAT_JSON ||
		      log_needs_quotes(value, n);

	if (!quoted) {
		log_put_escaped(line, value, n, LOG_BODY_MAX);
		return;
	}
	if (!log_put_str(line, "\""))
		return;
	/* Room for the closing quote is held back while the value is
	 * added. */
	log_put_escaped(line, value, n, LOG_BODY_MAX - 1);
	line->text[line->len++] = '"';
}

/* Appends a value that is already safe: a number or a literal. */
static void
log_put_raw_field(struct log_line *line, const char *key, const char *raw)
{
	size_t saved = line->len;

	if (line->truncated)
		return;
	log_put_key(line, key);
	if (!log_put_str(line, raw))
		line->len = saved;
}

static void
log_put_timestamp(struct log_line *line)
{
	struct timespec now;
	struct tm tm;
	char ts[40];
	size_t n;

	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	n = strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(ts + n, sizeof(ts) - n, ".%03ldZ",
		 (long)(now.tv_nsec / 1000000));
	if (line->format == LOG_FORMAT_JSON) {
		log_put_str(line, "{\"ts\":\"");
		log_put_str(line, ts);
		log_put_str(line, "\"");
	} else {
		log_put_str(line, "ts=");
		log_put_str(line, ts);
	}
}

void
log_begin(struct log_line *line, enum log_level level, const char *event)
{
	int min_level = atomic_load(&log_min_level);

	line->len = 0;
	line->truncated = false;
	line->format = (enum log_format)atomic_load(&log_out_format);
	line->enabled = (int)level >= min_level;
	if (!line->enabled)
		return;
	if ((unsigned)level > LOG_ERROR)
		level = LOG_ERROR;

	log_put_timestamp(line);
	log_str(line, "level", log_level_names[level]);
	log_str(line, "event", event);
}

void
log_strn(struct log_line *line, const char *key, const char *value,
	 size_t n)
{
	size_t saved = line->len;

	if (!line->enabled || line->truncated || value == NULL)
		return;
	log_put_key(line, key);
	if (line->truncated) {
		/* Not even the key fitted: drop the field whole. */
		line->len = saved;
		return;
	}
	log_put_value(line, value, n);
}

void
log_str(struct log_line *line, const char *key, const char *value)
{
	if (value == NULL)
		return;
	log_strn(line, key, value, strlen(value));
}

void
log_int(struct log_line *line, const char *key, long long value)
{
	char text[32];

	if (!line->enabled)
		return;
	snprintf(text, sizeof(text), "%lld", value);
	log_put_raw_field(line, key, text);
}

void
log_double(struct log_line *line, const char *key, double value)
{
	char text[64];

	if (!line->enabled)
		return;
	if (isfinite(value))
		snprintf(text, sizeof(text), "%.3f", value);
	else
		snprintf(text, sizeof(text), "%s",
			 line->format == LOG_FORMAT_JSON ? "null" : "NaN");
	log_put_raw_field(line, key, text);
}

static void
log_vfmt(struct log_line *line, const char *key, const char *fmt,
	 va_list ap)
	__attribute__((format(printf, 3, 0)));

static void
log_vfmt(struct log_line *line, const char *key, const char *fmt,
	 va_list ap)
{
	char text[LIMIT_LOG_LINE_BYTES];
	int n;

	if (!line->enabled || line->truncated)
		return;
	n = vsnprintf(text, sizeof(text), fmt, ap);
	if (n < 0)
		return;
	log_str(line, key, text);
	if ((size_t)n >= sizeof(text))
		line->truncated = true;
}

void
log_fmt(struct log_line *line, const char *key, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vfmt(line, key, fmt, ap);
	va_end(ap);
}

static void
log_write_all(const char *data, size_t n)
{
	ssize_t written;

	while (n > 0) {
		written = write(STDERR_FILENO, data, n);
		if (written < 0 && errno == EINTR)
			continue;
		if (written <= 0)
			return;
		data += written;
		n -= (size_t)written;
	}
}

void
log_end(struct log_line *line)
{
	const char *tail;
	size_t n;

	if (!line->enabled)
		return;
	if (line->format == LOG_FORMAT_JSON)
		tail = line->truncated ? ",\"truncated\":true}\n" : "}\n";
	else
		tail = line->truncated ? " truncated=true\n" : "\n";
	n = strlen(tail);
	memcpy(line->text + line->len, tail, n);
	line->len += n;

	/* At most LIMIT_LOG_LINE_BYTES (= PIPE_BUF on Linux) in one write,
	 * so lines from concurrent threads and processes stay whole. */
	log_write_all(line->text, line->len);
	line->enabled = false;
}

void
log_message(enum log_level level, const char *event, const char *fmt, ...)
{
	struct log_line line;
	va_list ap;

	log_begin(&line, level, event);
	if (!line.enabled)
		return;
	va_start(ap, fmt);
	log_vfmt(&line, "msg", fmt, ap);
	va_end(ap);
	log_end(&line);
}

/* Copies at most n bytes of s into out at *pos, always NUL-terminated. */
static void
log_out_append(char *out, size_t out_size, size_t *pos, const char *s,
	       size_t n)
{
	size_t room = out_size - 1 - *pos;

	if (n > room)
		n = room;
	memcpy(out + *pos, s, n);
	*pos += n;
	out[*pos] = '\0';
}

static bool
log_scheme_is_valid(const char *url, size_t len)
{
	size_t i;

	if (len == 0 || !((url[0] >= 'a' && url[0] <= 'z') ||
			  (url[0] >= 'A' && url[0] <= 'Z')))
		return false;
	for (i = 1; i < len; i++) {
		char c = url[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '+' || c == '-' ||
		      c == '.'))
			return false;
	}
	return true;
}

/* Appends the authority with any user info replaced. */
static void
log_redact_authority(const char *auth, size_t len, char *out,
		     size_t out_size, size_t *pos)
{
	const char *at = NULL;
	size_t i;

	for (i = 0; i < len; i++)
		if (auth[i] == '@')
			at = auth + i;
	if (at == NULL) {
		log_out_append(out, out_size, pos, auth, len);
		return;
	}
	log_out_append(out, out_size, pos, "REDACTED", 8);
	log_out_append(out, out_size, pos, at, len - (size_t)(at - auth));
}

/* Appends the path with every non-empty segment after the first
 * replaced. */
static void
log_redact_path(const char *path, size_t len, char *out, size_t out_size,
		size_t *pos)
{
	size_t i = 0, start, segment = 0;

	while (i < len) {
		/* path[i] is '/' here: every segment starts with one. */
		log_out_append(out, out_size, pos, "/", 1);
		start = ++i;
		while (i < len && path[i] != '/')
			i++;
		segment++;
		if (segment <= 1 || i == start)
			log_out_append(out, out_size, pos, path + start,
				       i - start);
		else
			log_out_append(out, out_size, pos, "REDACTED", 8);
	}
}

void
log_redact_url(const char *url, char *out, size_t out_size)
{
	const char *sep, *auth, *rest;
	size_t pos = 0, auth_len, path_len;

	if (out == NULL || out_size == 0)
		return;
	out[0] = '\0';
	if (url == NULL)
		return;

	sep = strstr(url, "://");
	if (sep == NULL || !log_scheme_is_valid(url, (size_t)(sep - url))) {
		/* Without a scheme the secret cannot be located, so the
		 * whole URL is replaced. */
		log_out_append(out, out_size, &pos, "REDACTED", 8);
		return;
	}
	log_out_append(out, out_size, &pos, url, (size_t)(sep - url) + 3);

	auth = sep + 3;
	auth_len = strcspn(auth, "/?#");
	log_redact_authority(auth, auth_len, out, out_size, &pos);

	rest = auth + auth_len;
	path_len = strcspn(rest, "?#");
	log_redact_path(rest, path_len, out, out_size, &pos);

	rest += path_len;
	if (*rest == '?')
		log_out_append(out, out_size, &pos, "?REDACTED", 9);
	rest += strcspn(rest, "#");
	if (*rest == '#')
		log_out_append(out, out_size, &pos, "#REDACTED", 9);
}
