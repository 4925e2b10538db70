/*
 * Unit tests for log.c: escaping of hostile values, the line layout in
 * both formats, the level filter, truncation, URL redaction and the
 * repeat limit.  Output is captured by putting a temporary file on file
 * descriptor 2.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "snsrelay/log.h"
#include "tap.h"

#define CAPTURE_MAX (4 * LIMIT_LOG_LINE_BYTES)

static FILE *capture_file;
static int saved_stderr = -1;

static void
capture_begin(void)
{
	capture_file = tmpfile();
	if (capture_file == NULL) {
		printf("Bail out! tmpfile failed\n");
		exit(1);
	}
	fflush(stderr);
	saved_stderr = dup(STDERR_FILENO);
	dup2(fileno(capture_file), STDERR_FILENO);
}

/* Restores stderr and returns what was written (static storage). */
static const char *
capture_end(size_t *len)
{
	static char text[CAPTURE_MAX + 1];
	size_t n;

	dup2(saved_stderr, STDERR_FILENO);
	close(saved_stderr);
	rewind(capture_file);
	n = fread(text, 1, CAPTURE_MAX, capture_file);
	text[n] = '\0';
	fclose(capture_file);
	if (len != NULL)
		*len = n;
	return text;
}

/* The captured line without its "ts=... " prefix. */
static const char *
after_timestamp(const char *line)
{
	const char *space = strchr(line, ' ');

	return space ? space + 1 : line;
}

static size_t
count_char(const char *s, size_t n, char c)
{
	size_t i, count = 0;

	for (i = 0; i < n; i++)
		count += s[i] == c;
	return count;
}

struct escape_case {
	const char *name;
	const char *value;
	size_t len;		/* 0: strlen(value) */
	const char *logfmt;	/* the whole v= field as logged */
	const char *decoded;	/* v as a JSON reader sees it */
};

static const struct escape_case escape_cases[] = {
	{ "plain", "plain", 0, "v=plain", "plain" },
	{ "empty", "", 0, "v=\"\"", "" },
	{ "space", "two words", 0, "v=\"two words\"", "two words" },
	{ "equals", "a=b", 0, "v=\"a=b\"", "a=b" },
	{ "quote", "say \"hi\"", 0, "v=\"say \\\"hi\\\"\"", "say \"hi\"" },
	{ "newline", "one\ntwo", 0, "v=\"one\\ntwo\"", "one\ntwo" },
	{ "carriage return", "cr\r", 0, "v=\"cr\\r\"", "cr\r" },
	{ "tab", "a\tb", 0, "v=\"a\\tb\"", "a\tb" },
	{ "backslash", "a\\b", 0, "v=\"a\\\\b\"", "a\\b" },
	{ "control", "\x01", 0, "v=\"\\x01\"", "\\x01" },
	{ "escape", "\x1b[31m", 0, "v=\"\\x1b[31m\"", "\\x1b[31m" },
	{ "delete", "\x7f", 0, "v=\"\\x7f\"", "\\x7f" },
	{ "nul", "a\0b", 3, "v=\"a\\x00b\"", "a\\x00b" },
	{ "utf8", "caf\xc3\xa9", 0, "v=caf\xc3\xa9", "caf\xc3\xa9" },
	{ "emoji", "\xf0\x9f\x94\x92", 0, "v=\xf0\x9f\x94\x92",
	  "\xf0\x9f\x94\x92" },
	{ "invalid byte", "\xff", 0, "v=\"\\xff\"", "\\xff" },
	{ "cut sequence", "a\xc3", 0, "v=\"a\\xc3\"", "a\\xc3" },
	{ "overlong", "\xc0\xaf", 0, "v=\"\\xc0\\xaf\"", "\\xc0\\xaf" },
	{ "surrogate", "\xed\xa0\x80", 0, "v=\"\\xed\\xa0\\x80\"",
	  "\\xed\\xa0\\x80" },
	{ "c1 control", "\xc2\x85", 0, "v=\"\\xc2\\x85\"", "\\xc2\\x85" },
	{ "line separator", "\xe2\x80\xa8", 0, "v=\"\\xe2\\x80\\xa8\"",
	  "\\xe2\\x80\\xa8" },
	{ "bidi override", "\xe2\x80\xae", 0, "v=\"\\xe2\\x80\\xae\"",
	  "\\xe2\\x80\\xae" },
	{ "forged line", "x\nts=2020-01-01T00:00:00.000Z level=error "
	  "event=forged", 0, "v=\"x\\nts=2020-01-01T00:00:00.000Z "
	  "level=error event=forged\"", "x\nts=2020-01-01T00:00:00.000Z "
	  "level=error event=forged" },
	{ "forged field", "ok\" admin=\"yes", 0,
	  "v=\"ok\\\" admin=\\\"yes\"", "ok\" admin=\"yes" },
};

#define ESCAPE_CASES (sizeof(escape_cases) / sizeof(*escape_cases))

static size_t
case_len(const struct escape_case *c)
{
	return c->len ? c->len : strlen(c->value);
}

static void
test_logfmt_escaping(void)
{
	char expected[512];
	const char *out;
	struct log_line line;
	size_t i, n;

	log_setup(LOG_DEBUG, LOG_FORMAT_LOGFMT);
	for (i = 0; i < ESCAPE_CASES; i++) {
		const struct escape_case *c = &escape_cases[i];

		capture_begin();
		log_begin(&line, LOG_INFO, "test");
		log_strn(&line, "v", c->value, case_len(c));
		log_end(&line);
		out = capture_end(&n);

		snprintf(expected, sizeof(expected),
			 "level=info event=test %s\n", c->logfmt);
		is_str(after_timestamp(out), expected, "logfmt %s", c->name);
		is_int(count_char(out, n, '\n'), 1, "logfmt %s one line",
		       c->name);
	}
}

static json_object *
parse_json_line(const char *text)
{
	struct json_tokener *tok = json_tokener_new();
	json_object *obj;

	json_tokener_set_flags(tok, JSON_TOKENER_STRICT |
			       JSON_TOKENER_VALIDATE_UTF8);
	obj = json_tokener_parse_ex(tok, text, (int)strlen(text));
	if (json_tokener_get_error(tok) != json_tokener_success) {
		json_object_put(obj);
		obj = NULL;
	}
	json_tokener_free(tok);
	return obj;
}

static const char *
json_field(json_object *obj, const char *key)
{
	json_object *value;

	if (obj == NULL || !json_object_object_get_ex(obj, key, &value))
		return NULL;
	return json_object_get_string(value);
}

static void
test_json_escaping(void)
{
	struct log_line line;
	json_object *obj;
	const char *out;
	size_t i, n;

	log_setup(LOG_DEBUG, LOG_FORMAT_JSON);
	for (i = 0; i < ESCAPE_CASES; i++) {
		const struct escape_case *c = &escape_cases[i];

		capture_begin();
		log_begin(&line, LOG_WARN, "test");
		log_strn(&line, "v", c->value, case_len(c));
		log_end(&line);
		out = capture_end(&n);

		is_int(count_char(out, n, '\n'), 1, "json %s one line",
		       c->name);
		obj = parse_json_line(out);
		ok(obj != NULL, "json %s parses", c->name);
		is_str(json_field(obj, "v"), c->decoded, "json %s value",
		       c->name);
		json_object_put(obj);
	}
}

static void
test_json_layout(void)
{
	struct log_line line;
	json_object *obj, *value = NULL;
	const char *out;

	log_setup(LOG_DEBUG, LOG_FORMAT_JSON);
	capture_begin();
	log_begin(&line, LOG_ERROR, "json_layout");
	log_int(&line, "status", 503);
	log_double(&line, "ratio", 0.5);
	log_str(&line, "skipped", NULL);
	log_fmt(&line, "reason", "code %d", 7);
	log_end(&line);
	out = capture_end(NULL);

	obj = parse_json_line(out);
	ok(obj != NULL, "json layout parses");
	is_str(json_field(obj, "level"), "error", "json layout level");
	is_str(json_field(obj, "event"), "json_layout", "json layout event");
	is_str(json_field(obj, "reason"), "code 7", "json layout log_fmt");
	ok(json_object_object_get_ex(obj, "status", &value) &&
	   json_object_is_type(value, json_type_int), "json layout int type");
	is_int(json_object_get_int(value), 503, "json layout int value");
	ok(json_field(obj, "skipped") == NULL, "json layout NULL skipped");
	ok(strncmp(out, "{\"ts\":\"", 7) == 0, "json layout ts first");
	json_object_put(obj);
}

/* Checks "YYYY-MM-DDTHH:MM:SS.mmmZ" character by character. */
static int
timestamp_is_valid(const char *ts)
{
	const char *shape = "dddd-dd-ddTdd:dd:dd.dddZ";
	size_t i;

	for (i = 0; shape[i] != '\0'; i++) {
		if (shape[i] == 'd' ? (ts[i] < '0' || ts[i] > '9') :
		    ts[i] != shape[i])
			return 0;
	}
	return 1;
}

static void
test_logfmt_layout(void)
{
	struct log_line line;
	const char *out;

	log_setup(LOG_DEBUG, LOG_FORMAT_LOGFMT);
	capture_begin();
	log_begin(&line, LOG_WARN, "layout");
	log_int(&line, "port", 8080);
	log_int(&line, "negative", -5);
	log_double(&line, "uptime", 1.25);
	log_str(&line, "none", NULL);
	log_fmt(&line, "text", "%s=%d", "x", 1);
	log_end(&line);
	out = capture_end(NULL);

	ok(strncmp(out, "ts=", 3) == 0, "logfmt layout ts first");
	ok(timestamp_is_valid(out + 3), "logfmt layout timestamp shape");
	is_str(after_timestamp(out), "level=warn event=layout port=8080 "
	       "negative=-5 uptime=1.250 text=\"x=1\"\n",
	       "logfmt layout fields");

	capture_begin();
	log_message(LOG_ERROR, "message", "failed %d times", 3);
	out = capture_end(NULL);
	is_str(after_timestamp(out), "level=error event=message "
	       "msg=\"failed 3 times\"\n", "log_message msg field");

	capture_begin();
	log_begin(&line, LOG_INFO, "bad key");
	log_str(&line, "a key=", "v");
	log_end(&line);
	out = capture_end(NULL);
	is_str(after_timestamp(out), "level=info event=\"bad key\" "
	       "a_key_=v\n", "logfmt key sanitised");
}

static void
test_level_filter(void)
{
	struct log_line line;
	const char *out;
	size_t n;

	log_setup(LOG_WARN, LOG_FORMAT_LOGFMT);
	capture_begin();
	log_begin(&line, LOG_INFO, "filtered");
	log_str(&line, "k", "v");
	log_end(&line);
	log_message(LOG_DEBUG, "filtered", "x");
	out = capture_end(&n);
	is_int(n, 0, "filter drops info below warn");

	capture_begin();
	log_message(LOG_WARN, "kept", "x");
	log_message(LOG_ERROR, "kept", "y");
	out = capture_end(&n);
	is_int(count_char(out, n, '\n'), 2, "filter keeps warn and error");
	ok(strstr(out, "level=warn event=kept") != NULL, "filter warn line");

	is_int(log_level_parse("debug", &(enum log_level){0}), 0,
	       "level parse debug");
	is_int(log_level_parse("loud", &(enum log_level){0}), -1,
	       "level parse unknown");
	is_int(log_format_parse("json", &(enum log_format){0}), 0,
	       "format parse json");
	is_int(log_format_parse("xml", &(enum log_format){0}), -1,
	       "format parse unknown");
}

static void
check_truncated(const char *name, const char *value, enum log_format fmt,
		char last)
{
	const char *tail = fmt == LOG_FORMAT_JSON ?
			   ",\"truncated\":true}\n" : " truncated=true\n";
	struct log_line line;
	json_object *obj;
	const char *out;
	size_t n;

	log_setup(LOG_DEBUG, fmt);
	capture_begin();
	log_begin(&line, LOG_INFO, "long");
	log_str(&line, "v", value);
	log_str(&line, "after", "dropped");
	log_end(&line);
	out = capture_end(&n);

	ok(n <= LIMIT_LOG_LINE_BYTES, "truncate %s fits the limit", name);
	is_int(count_char(out, n, '\n'), 1, "truncate %s one line", name);
	ok(n >= strlen(tail) && strcmp(out + n - strlen(tail), tail) == 0,
	   "truncate %s marker", name);
	ok(strstr(out, "dropped") == NULL, "truncate %s later field dropped",
	   name);
	if (fmt == LOG_FORMAT_JSON) {
		obj = parse_json_line(out);
		ok(obj != NULL, "truncate %s still JSON", name);
		json_object_put(obj);
	} else {
		ok(n > strlen(tail) && out[n - strlen(tail) - 1] == last,
		   "truncate %s value end", name);
	}
}

static void
test_truncation(void)
{
	char *plain = malloc(10001), *spaced = malloc(10001);
	char *escapes = malloc(10001);

	if (plain == NULL || spaced == NULL || escapes == NULL) {
		printf("Bail out! out of memory\n");
		exit(1);
	}
	memset(plain, 'a', 10000);
	plain[10000] = '\0';
	memset(spaced, ' ', 10000);
	spaced[10000] = '\0';
	memset(escapes, '\n', 10000);
	escapes[10000] = '\0';

	check_truncated("logfmt plain", plain, LOG_FORMAT_LOGFMT, 'a');
	check_truncated("logfmt quoted", spaced, LOG_FORMAT_LOGFMT, '"');
	check_truncated("logfmt escapes", escapes, LOG_FORMAT_LOGFMT, '"');
	check_truncated("json plain", plain, LOG_FORMAT_JSON, '"');
	check_truncated("json escapes", escapes, LOG_FORMAT_JSON, '"');
	free(plain);
	free(spaced);
	free(escapes);
}

/* A value cut inside a run of escapes must end on a whole escape. */
static void
test_truncation_boundary(void)
{
	struct log_line line;
	const char *out, *start, *end, *p;
	char value[5000];
	int whole = 1;

	memset(value, '\n', sizeof(value) - 1);
	value[sizeof(value) - 1] = '\0';
	log_setup(LOG_DEBUG, LOG_FORMAT_LOGFMT);
	capture_begin();
	log_begin(&line, LOG_INFO, "boundary");
	log_str(&line, "v", value);
	log_end(&line);
	out = capture_end(NULL);

	start = strstr(out, "v=\"");
	end = strstr(out, "\" truncated=true\n");
	ok(start != NULL && end != NULL, "boundary quote then marker");
	if (start == NULL || end == NULL)
		return;
	for (p = start + 3; p < end; p += 2)
		if (p + 1 >= end || p[0] != '\\' || p[1] != 'n')
			whole = 0;
	ok(whole, "boundary only whole escapes");
}

struct redact_case {
	const char *name;
	const char *url;
	const char *expected;
	const char *secret;	/* must not appear in the output */
};

static const struct redact_case redact_cases[] = {
	{ "discord", "https://discord.com/api/webhooks/123456789/tok-EN_x",
	  "https://discord.com/api/REDACTED/REDACTED/REDACTED", "tok-EN_x" },
	{ "discord query", "https://discord.com/api/webhooks/1/tok?wait=true",
	  "https://discord.com/api/REDACTED/REDACTED/REDACTED?REDACTED",
	  "tok" },
	{ "discordapp", "https://discordapp.com/api/v10/webhooks/9/sec",
	  "https://discordapp.com/api/REDACTED/REDACTED/REDACTED/REDACTED",
	  "sec" },
	{ "slack", "https://hooks.slack.com/services/T0001/B0002/XyZsecret",
	  "https://hooks.slack.com/services/REDACTED/REDACTED/REDACTED",
	  "XyZsecret" },
	{ "teams", "https://contoso.webhook.office.com/webhookb2/"
	  "11111111-2222@3333/IncomingWebhook/abcdef/4444-5555",
	  "https://contoso.webhook.office.com/webhookb2/REDACTED/"
	  "REDACTED/REDACTED/REDACTED", "11111111-2222@3333" },
	{ "user info", "https://user:pa55@example.com/hook",
	  "https://REDACTED@example.com/hook", "pa55" },
	{ "query token", "https://example.com/hook?token=s3cr3t",
	  "https://example.com/hook?REDACTED", "s3cr3t" },
	{ "fragment", "https://example.com/a#s3cr3t",
	  "https://example.com/a#REDACTED", "s3cr3t" },
	{ "two segments", "https://example.com/a/b",
	  "https://example.com/a/REDACTED", NULL },
	{ "generic token path", "http://127.0.0.1:18901/hooks/SECRETTOKEN123",
	  "http://127.0.0.1:18901/hooks/REDACTED", "SECRETTOKEN123" },
	{ "host only", "https://example.com", "https://example.com", NULL },
	{ "root", "https://example.com/", "https://example.com/", NULL },
	{ "trailing slash", "https://h/a/b/sec/", "https://h/a/REDACTED/REDACTED/",
	  "sec" },
	{ "port", "http://127.0.0.1:9000/hooks/x/y",
	  "http://127.0.0.1:9000/hooks/REDACTED/REDACTED", NULL },
	{ "no scheme", "discord.com/api/webhooks/1/sec", "REDACTED", "sec" },
	{ "not a url", "not a url", "REDACTED", NULL },
	{ "empty", "", "REDACTED", NULL },
	{ "empty scheme", ":///x/y/sec", "REDACTED", "sec" },
	{ "bad scheme", "1http://h/a/b/sec", "REDACTED", "sec" },
	{ "one slash", "https:/h/a/b/sec", "REDACTED", "sec" },
	{ "query only", "https://h?sec", "https://h?REDACTED", "sec" },
	{ "at in query", "https://h/a?x=1@sec", "https://h/a?REDACTED",
	  "sec" },
};

static void
test_redact_url(void)
{
	char out[512], small[12];
	size_t i;

	for (i = 0; i < sizeof(redact_cases) / sizeof(*redact_cases); i++) {
		const struct redact_case *c = &redact_cases[i];

		log_redact_url(c->url, out, sizeof(out));
		is_str(out, c->expected, "redact %s", c->name);
		if (c->secret != NULL)
			ok(strstr(out, c->secret) == NULL,
			   "redact %s hides secret", c->name);
	}

	log_redact_url(NULL, out, sizeof(out));
	is_str(out, "", "redact NULL is empty");
	log_redact_url("https://discord.com/api/webhooks/1/secret", small,
		       sizeof(small));
	is_str(small, "https://dis", "redact short output truncated");
	log_redact_url("https://x/a/b/c", out, 0);
	ok(1, "redact zero-size output does not crash");
}

/* The clock of the repeat limit, moved by the tests. */
static int64_t fake_now_ms;

static int64_t
fake_clock(void)
{
	return fake_now_ms;
}

/* Logs one line of event with a code or reason field (NULL: none). */
static void
log_coded(enum log_level level, const char *event, const char *code,
	  const char *reason)
{
	struct log_line line;

	log_begin(&line, level, event);
	log_str(&line, "code", code);
	log_str(&line, "reason", reason);
	log_end(&line);
}

static void
test_repeat_suppression(void)
{
	const char *out;
	size_t n;

	log_setup(LOG_DEBUG, LOG_FORMAT_LOGFMT);
	log_set_clock(fake_clock);
	log_set_repeat_interval(10);
	fake_now_ms = 1000000;

	capture_begin();
	log_coded(LOG_WARN, "repeat_a", "spool_full", "disk full");
	fake_now_ms += 1000;
	log_coded(LOG_WARN, "repeat_a", "spool_full", "disk full");
	fake_now_ms += 8000;
	log_coded(LOG_ERROR, "repeat_a", "spool_full", "disk full");
	out = capture_end(&n);
	is_int(count_char(out, n, '\n'), 1, "repeat within interval written once");
	ok(strstr(out, "repeated=") == NULL, "repeat first line has no count");

	/* 10 s after the first line: written, with the 2 left out. */
	fake_now_ms += 1000;
	capture_begin();
	log_coded(LOG_WARN, "repeat_a", "spool_full", "disk full");
	out = capture_end(&n);
	is_int(count_char(out, n, '\n'), 1, "repeat after interval written");
	is_str(after_timestamp(out), "level=warn event=repeat_a "
	       "code=spool_full reason=\"disk full\" repeated=2\n",
	       "repeat after interval carries repeated=2");

	/* The count restarts with each written line. */
	fake_now_ms += 1000;
	capture_begin();
	log_coded(LOG_WARN, "repeat_a", "spool_full", "disk full");
	out = capture_end(&n);
	is_int(n, 0, "repeat after written line left out again");
	fake_now_ms += 10000;
	capture_begin();
	log_coded(LOG_WARN, "repeat_a", "spool_full", "disk full");
	out = capture_end(&n);
	ok(strstr(out, " repeated=1\n") != NULL, "repeat count restarts");

	/* Nothing left out: the next line has no count. */
	fake_now_ms += 10000;
	capture_begin();
	log_coded(LOG_WARN, "repeat_a", "spool_full", "disk full");
	out = capture_end(&n);
	is_int(count_char(out, n, '\n'), 1, "repeat idle key written");
	ok(strstr(out, "repeated=") == NULL, "repeat idle key has no count");
	log_set_repeat_interval(0);
	log_set_clock(NULL);
}

static void
test_repeat_keys(void)
{
	const char *out;
	size_t n;

	log_setup(LOG_DEBUG, LOG_FORMAT_LOGFMT);
	log_set_clock(fake_clock);
	log_set_repeat_interval(10);
	fake_now_ms = 5000000;

	capture_begin();
	log_coded(LOG_WARN, "repeat_b", "code_one", "same reason");
	log_coded(LOG_WARN, "repeat_b", "code_two", "same reason");
	log_coded(LOG_WARN, "repeat_b", "code_one", "same reason");
	log_coded(LOG_WARN, "repeat_b", "code_one", "other reason");
	out = capture_end(&n);
	is_int(count_char(out, n, '\n'), 3, "repeat different codes kept");
	ok(strstr(out, "code=code_two") != NULL, "repeat second code written");
	ok(strstr(out, "reason=\"other reason\"") != NULL,
	   "repeat same code with a new reason written");

	/* Without a code the reason is the key. */
	capture_begin();
	log_coded(LOG_ERROR, "repeat_c", NULL, "reason one");
	log_coded(LOG_ERROR, "repeat_c", NULL, "reason two");
	log_coded(LOG_ERROR, "repeat_c", NULL, "reason one");
	out = capture_end(&n);
	is_int(count_char(out, n, '\n'), 2, "repeat reasons are the key");

	/* Without either, the event alone is the key. */
	capture_begin();
	log_message(LOG_WARN, "repeat_d", "first %d", 1);
	log_message(LOG_WARN, "repeat_d", "second %d", 2);
	log_message(LOG_WARN, "repeat_e", "other event");
	out = capture_end(&n);
	is_int(count_char(out, n, '\n'), 2, "repeat event alone is the key");
	ok(strstr(out, "event=repeat_e") != NULL, "repeat other event written");

	/* Info and debug lines are never left out. */
	capture_begin();
	log_coded(LOG_INFO, "repeat_f", "same", NULL);
	log_coded(LOG_INFO, "repeat_f", "same", NULL);
	log_coded(LOG_DEBUG, "repeat_f", "same", NULL);
	out = capture_end(&n);
	is_int(count_char(out, n, '\n'), 3, "repeat info and debug all written");
	ok(strstr(out, "repeated=") == NULL, "repeat info has no count");
	log_set_repeat_interval(0);
	log_set_clock(NULL);
}

static void
test_repeat_disabled(void)
{
	const char *out;
	size_t n;
	int i;

	log_setup(LOG_DEBUG, LOG_FORMAT_LOGFMT);
	log_set_clock(fake_clock);
	log_set_repeat_interval(0);
	fake_now_ms = 9000000;

	capture_begin();
	for (i = 0; i < 5; i++)
		log_coded(LOG_ERROR, "repeat_g", "same", NULL);
	out = capture_end(&n);
	is_int(count_char(out, n, '\n'), 5, "repeat interval 0 writes all");
	ok(strstr(out, "repeated=") == NULL, "repeat interval 0 has no count");
	log_set_clock(NULL);
}

static void
test_repeat_json(void)
{
	json_object *obj, *value = NULL;
	const char *out;

	log_setup(LOG_DEBUG, LOG_FORMAT_JSON);
	log_set_clock(fake_clock);
	log_set_repeat_interval(1);
	fake_now_ms = 12000000;

	capture_begin();
	log_coded(LOG_WARN, "repeat_h", "same", NULL);
	log_coded(LOG_WARN, "repeat_h", "same", NULL);
	out = capture_end(NULL);
	fake_now_ms += 1000;
	capture_begin();
	log_coded(LOG_WARN, "repeat_h", "same", NULL);
	out = capture_end(NULL);
	obj = parse_json_line(out);
	ok(obj != NULL, "repeat json line parses");
	ok(json_object_object_get_ex(obj, "repeated", &value) &&
	   json_object_is_type(value, json_type_int), "repeat json int type");
	is_int(json_object_get_int(value), 1, "repeat json count");
	json_object_put(obj);
	log_set_repeat_interval(0);
	log_set_clock(NULL);
}

/* A line cut at the size limit still gets its count. */
static void
test_repeat_truncated(void)
{
	char *value = malloc(10001);
	const char *out;
	size_t n;

	if (value == NULL) {
		printf("Bail out! out of memory\n");
		exit(1);
	}
	memset(value, 'a', 10000);
	value[10000] = '\0';
	log_setup(LOG_DEBUG, LOG_FORMAT_LOGFMT);
	log_set_clock(fake_clock);
	log_set_repeat_interval(1);
	fake_now_ms = 15000000;

	capture_begin();
	log_coded(LOG_WARN, "repeat_i", "same", value);
	log_coded(LOG_WARN, "repeat_i", "same", value);
	fake_now_ms += 1000;
	log_coded(LOG_WARN, "repeat_i", "same", value);
	out = capture_end(&n);
	is_int(count_char(out, n, '\n'), 2, "repeat truncated written twice");
	ok(strstr(out, " repeated=1 truncated=true\n") != NULL,
	   "repeat truncated carries the count");
	ok(n <= 2 * LIMIT_LOG_LINE_BYTES, "repeat truncated fits the limit");
	log_set_repeat_interval(0);
	log_set_clock(NULL);
	free(value);
}

/* More keys than the table has slots: every new key's first line is
 * written, and the least recently seen keys are evicted. */
static void
test_repeat_many_keys(void)
{
	char code[32];
	const char *out;
	size_t n;
	int i;

	log_setup(LOG_DEBUG, LOG_FORMAT_LOGFMT);
	log_set_clock(fake_clock);
	log_set_repeat_interval(10);
	fake_now_ms = 20000000;

	capture_begin();
	for (i = 0; i < 200; i++) {
		snprintf(code, sizeof(code), "code_%d", i);
		log_coded(LOG_WARN, "repeat_j", code, NULL);
		fake_now_ms++;
	}
	out = capture_end(&n);
	is_int(count_char(out, n, '\n'), 200, "repeat 200 keys all written");

	capture_begin();
	log_coded(LOG_WARN, "repeat_j", "code_199", NULL);
	out = capture_end(&n);
	is_int(n, 0, "repeat recent key still remembered");

	/* The least recently seen keys made room for the later ones. */
	capture_begin();
	log_coded(LOG_WARN, "repeat_j", "code_0", NULL);
	out = capture_end(&n);
	is_int(count_char(out, n, '\n'), 1, "repeat evicted key written");
	log_set_repeat_interval(0);
	log_set_clock(NULL);
}

/* Webhook URLs with a password, logged the way the relay logs them: the
 * redacted URL and an error text built from it. */
static void
test_no_password_logged(void)
{
	static const char *const urls[] = {
		"https://alice:pa55word@hooks.example.com/hook/tok",
		"https://alice:pa55word@hooks.example.com:8443/",
		"https://alice:pa55word@[::1]:8443/hook",
		"https://alice:pa55@word@hooks.example.com/hook",
		"https://alice:pa55/word@hooks.example.com/hook",
		"https://alice:pa55?word@hooks.example.com/hook",
		"https://alice:pa55#word@hooks.example.com/hook",
		"http://alice:pa55word@127.0.0.1:9000/hooks/x",
	};
	char redacted[512];
	struct log_line line;
	const char *out;
	size_t i;

	log_setup(LOG_DEBUG, LOG_FORMAT_LOGFMT);
	for (i = 0; i < sizeof(urls) / sizeof(*urls); i++) {
		log_redact_url(urls[i], redacted, sizeof(redacted));
		capture_begin();
		log_begin(&line, LOG_ERROR, "delivery_failed");
		log_str(&line, "url", redacted);
		log_fmt(&line, "reason", "POST to %s failed", redacted);
		log_end(&line);
		out = capture_end(NULL);
		ok(strstr(out, "pa55") == NULL && strstr(out, "word") == NULL,
		   "password %zu not logged", i);
		ok(strstr(out, "alice") == NULL, "user %zu not logged", i);
	}
	log_redact_url("https://hooks.example.com:8443/hook/tok", redacted,
		       sizeof(redacted));
	is_str(redacted, "https://hooks.example.com:8443/hook/REDACTED",
	       "redact numeric port kept");
	log_redact_url("https://[::1]:8443/hook/tok", redacted,
		       sizeof(redacted));
	is_str(redacted, "https://[::1]:8443/hook/REDACTED",
	       "redact IPv6 literal kept");
	log_redact_url("https://alice:pa55/word@h/hook", redacted,
		       sizeof(redacted));
	is_str(redacted, "https://REDACTED/REDACTED/REDACTED",
	       "redact password with slash");
}

int
main(void)
{
	test_logfmt_escaping();
	test_json_escaping();
	test_json_layout();
	test_logfmt_layout();
	test_level_filter();
	test_truncation();
	test_truncation_boundary();
	test_redact_url();
	test_repeat_suppression();
	test_repeat_keys();
	test_repeat_disabled();
	test_repeat_json();
	test_repeat_truncated();
	test_repeat_many_keys();
	test_no_password_logged();
	return tap_done();
}
