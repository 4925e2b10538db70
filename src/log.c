#include "config.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
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
 * log_end may add: ,"truncated":true}\n in the JSON format, and before
 * it the repeat count, ,"repeated":N with N of at most 20 digits.
 */
#define LOG_TAIL_RESERVE 24
#define LOG_REPEAT_RESERVE 32
#define LOG_BODY_MAX \
	(LIMIT_LOG_LINE_BYTES - LOG_TAIL_RESERVE - LOG_REPEAT_RESERVE)

/*
 * Keys the repeat limit remembers.  A key that repeats while all slots
 * are taken by keys with counts still to report evicts the least
 * recently seen one, whose count is then lost.
 */
#define LOG_REPEAT_SLOTS 64

/* FNV-1a, 64 bits: offset basis and prime. */
#define LOG_FNV_BASIS 0xcbf29ce484222325ULL
#define LOG_FNV_PRIME 0x100000001b3ULL

/* One key of the repeat limit; key 0 marks a free slot. */
struct log_repeat_slot {
	uint64_t key;
	int64_t written_ms;	/* last line of the key that was written */
	int64_t seen_ms;	/* last line of the key, written or not */
	unsigned long long left_out;	/* lines left out since written_ms */
};

static atomic_int log_min_level = LOG_INFO;
static atomic_int log_out_format = LOG_FORMAT_LOGFMT;
static atomic_uint log_repeat_interval_s;

/* Guards the slots and the clock. */
static pthread_mutex_t log_repeat_lock = PTHREAD_MUTEX_INITIALIZER;
static struct log_repeat_slot log_repeat_slots[LOG_REPEAT_SLOTS];
static int64_t (*log_repeat_clock)(void);

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

void
log_set_repeat_interval(unsigned seconds)
{
	atomic_store(&log_repeat_interval_s, seconds);
}

void
log_set_clock(int64_t (*now_ms)(void))
{
	pthread_mutex_lock(&log_repeat_lock);
	log_repeat_clock = now_ms;
	pthread_mutex_unlock(&log_repeat_lock);
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

/* Returns the FNV-1a hash of n bytes.  A hash of 0 would read as an
 * absent value, at odds of 1 in 2^64. */
static uint64_t
log_hash(const char *data, size_t n)
{
	uint64_t h = LOG_FNV_BASIS;
	size_t i;

	for (i = 0; i < n; i++) {
		h ^= (unsigned char)data[i];
		h *= LOG_FNV_PRIME;
	}
	return h;
}

void
log_begin(struct log_line *line, enum log_level level, const char *event)
{
	int min_level = atomic_load(&log_min_level);

	line->len = 0;
	line->truncated = false;
	line->format = (enum log_format)atomic_load(&log_out_format);
	line->enabled = (int)level >= min_level;
	line->repeat_limited = false;
	line->event_hash = 0;
	line->code_hash = 0;
	line->reason_hash = 0;
	if (!line->enabled)
		return;
	if ((unsigned)level > LOG_ERROR)
		level = LOG_ERROR;
	if (level >= LOG_WARN && atomic_load(&log_repeat_interval_s) > 0) {
		line->repeat_limited = true;
		line->event_hash = log_hash(event ? event : "",
					    event ? strlen(event) : 0);
	}

	log_put_timestamp(line);
	log_str(line, "level", log_level_names[level]);
	log_str(line, "event", event);
}

/* Keeps the hash of the fields that make two lines "the same error" for
 * the repeat limit: code and reason, and the problem or option a
 * configuration line names.  Lines that differ in any of them are
 * different errors, so a reload that fails for a new reason is always
 * logged. */
static void
log_note_repeat_part(struct log_line *line, const char *key,
		     const char *value, size_t n)
{
	if (strcmp(key, "code") == 0)
		line->code_hash = log_hash(value, n);
	else if (strcmp(key, "reason") == 0 || strcmp(key, "problem") == 0 ||
		 strcmp(key, "option") == 0)
		line->reason_hash = line->reason_hash * LOG_FNV_PRIME ^
				    log_hash(value, n);
}

void
log_strn(struct log_line *line, const char *key, const char *value,
	 size_t n)
{
	size_t saved = line->len;

	if (!line->enabled || value == NULL)
		return;
	/* Before the truncation check: a field cut from the line still
	 * names the line's key. */
	if (line->repeat_limited)
		log_note_repeat_part(line, key, value, n);
	if (line->truncated)
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

	if (!line->enabled)
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

static int64_t
log_monotonic_ms(void)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

/* Rank of a slot as an eviction victim: free, then idle (nothing left
 * out and the interval over), then the rest; lower goes first. */
static int
log_repeat_rank(const struct log_repeat_slot *slot, int64_t now_ms,
		int64_t interval_ms)
{
	if (slot->key == 0)
		return 0;
	if (slot->left_out == 0 && now_ms - slot->written_ms >= interval_ms)
		return 1;
	return 2;
}

/* Returns the slot of key, or the slot to give it: the lowest rank,
 * and among those the least recently seen.  Call with the lock held. */
static struct log_repeat_slot *
log_repeat_slot_for(uint64_t key, int64_t now_ms, int64_t interval_ms)
{
	struct log_repeat_slot *victim = NULL, *slot;
	int victim_rank = 3, rank;
	size_t i;

	for (i = 0; i < LOG_REPEAT_SLOTS; i++) {
		slot = &log_repeat_slots[i];
		if (slot->key == key)
			return slot;
		rank = log_repeat_rank(slot, now_ms, interval_ms);
		if (rank < victim_rank || (rank == victim_rank &&
					   slot->seen_ms < victim->seen_ms)) {
			victim = slot;
			victim_rank = rank;
		}
	}
	return victim;
}

/*
 * Decides whether the line is written under the repeat limit.  Returns
 * false to leave it out; otherwise sets *left_out to the number of lines
 * of its key left out since the last one written.
 */
static bool
log_repeat_admit(const struct log_line *line,
		 unsigned long long *left_out)
{
	int64_t interval_ms = (int64_t)atomic_load(&log_repeat_interval_s) *
			      1000;
	uint64_t part = line->code_hash * LOG_FNV_PRIME ^ line->reason_hash;
	uint64_t key = line->event_hash * LOG_FNV_PRIME ^ part;
	struct log_repeat_slot *slot;
	bool admit = true;
	int64_t now_ms;

	*left_out = 0;
	if (interval_ms == 0)
		return true;
	if (key == 0)
		key = 1;
	pthread_mutex_lock(&log_repeat_lock);
	now_ms = log_repeat_clock ? log_repeat_clock() : log_monotonic_ms();
	slot = log_repeat_slot_for(key, now_ms, interval_ms);
	if (slot->key != key) {
		slot->key = key;
		slot->written_ms = now_ms;
		slot->left_out = 0;
	} else if (now_ms - slot->written_ms < interval_ms) {
		slot->left_out++;
		admit = false;
	} else {
		*left_out = slot->left_out;
		slot->left_out = 0;
		slot->written_ms = now_ms;
	}
	slot->seen_ms = now_ms;
	pthread_mutex_unlock(&log_repeat_lock);
	return admit;
}

/* Appends repeated=N into the room LOG_REPEAT_RESERVE keeps, so it fits
 * even on a truncated line. */
static void
log_put_repeated(struct log_line *line, unsigned long long left_out)
{
	char field[LOG_REPEAT_RESERVE + 1];
	int n;

	if (line->format == LOG_FORMAT_JSON)
		n = snprintf(field, sizeof(field), ",\"repeated\":%llu",
			     left_out);
	else
		n = snprintf(field, sizeof(field), " repeated=%llu", left_out);
	if (n < 0 || (size_t)n > LOG_REPEAT_RESERVE)
		return;
	memcpy(line->text + line->len, field, (size_t)n);
	line->len += (size_t)n;
}

void
log_end(struct log_line *line)
{
	unsigned long long left_out = 0;
	const char *tail;
	size_t n;

	if (!line->enabled)
		return;
	if (line->repeat_limited && !log_repeat_admit(line, &left_out)) {
		line->enabled = false;
		return;
	}
	if (left_out > 0)
		log_put_repeated(line, left_out);
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

/*
 * True when the authority has a ':' that does not start a numeric port,
 * outside an IPv6 literal.  Such an authority is the start of user info
 * whose password contains an unencoded '/', '?' or '#', which ended the
 * authority early, so it contains part of the password.
 */
static bool
log_authority_has_bad_port(const char *auth, size_t len)
{
	size_t i, start = 0, colon = len;

	for (i = 0; i < len; i++)
		if (auth[i] == ']')
			start = i + 1;
	for (i = start; i < len; i++) {
		if (auth[i] == ':') {
			colon = i;
			break;
		}
	}
	for (i = colon + 1; i < len; i++)
		if (auth[i] < '0' || auth[i] > '9')
			return true;
	return false;
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
	if (at == NULL && log_authority_has_bad_port(auth, len)) {
		log_out_append(out, out_size, pos, "REDACTED", 8);
		return;
	}
	if (at == NULL) {
		log_out_append(out, out_size, pos, auth, len);
		return;
	}
	log_out_append(out, out_size, pos, "REDACTED", 8);
	log_out_append(out, out_size, pos, at, len - (size_t)(at - auth));
}

/* Appends the path with every non-empty segment after the first
 * replaced.  The first is replaced too when it contains an '@', because
 * it is then the rest of user info cut by an unencoded '/'. */
static void
log_redact_path(const char *path, size_t len, char *out, size_t out_size,
		size_t *pos)
{
	size_t i = 0, start, segment = 0;
	bool kept;

	while (i < len) {
		/* path[i] is '/' here: every segment starts with one. */
		log_out_append(out, out_size, pos, "/", 1);
		start = ++i;
		while (i < len && path[i] != '/')
			i++;
		segment++;
		kept = segment <= 1 &&
		       memchr(path + start, '@', i - start) == NULL;
		if (kept || i == start)
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
