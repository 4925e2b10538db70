/*
 * Unit tests for config.c: defaults, the file syntax, value types and
 * bounds, the exact "file:line: problem" reports, environment overrides
 * and the cross-option rules of config_validate.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "snsrelay/config.h"
#include "snsrelay/severity.h"
#include "tap.h"

#define TOPIC_A "arn:aws:sns:us-east-1:123456789012:security-alerts"
#define TOPIC_B "arn:aws:sns:eu-west-1:123456789012:other"

static char tmpdir[] = "/tmp/unit_config.XXXXXX";
static char conf_path[256];

static void
write_file(const char *path, const char *text, size_t len)
{
	FILE *fp = fopen(path, "wb");

	if (fp == NULL || fwrite(text, 1, len, fp) != len) {
		printf("Bail out! cannot write %s\n", path);
		exit(1);
	}
	fclose(fp);
}

/* Loads defaults and then text as a file; returns the problem count. */
static int
load_text(const char *text, struct relay_config *cfg,
	  struct config_report *report)
{
	write_file(conf_path, text, strlen(text));
	if (config_init_defaults(cfg) != 0) {
		printf("Bail out! config_init_defaults failed\n");
		exit(1);
	}
	return config_load_file(cfg, conf_path, report);
}

/* The first report line with its "PATH:" prefix replaced by "F:". */
static const char *
first_problem(const struct config_report *report, size_t i)
{
	static char line[2048];
	size_t n = strlen(conf_path);

	if (i >= report->count)
		return "(no problem reported)";
	if (strncmp(report->lines[i], conf_path, n) == 0)
		snprintf(line, sizeof(line), "F%s", report->lines[i] + n);
	else
		snprintf(line, sizeof(line), "%s", report->lines[i]);
	return line;
}

static void
test_defaults(void)
{
	struct relay_config cfg;
	struct config_report report = { NULL, 0 };

	is_int(config_init_defaults(&cfg), 0, "defaults load");
	is_str(cfg.listen_host, "127.0.0.1", "defaults listen host");
	is_int(cfg.listen_port, 8080, "defaults listen port");
	is_str(cfg.endpoint_path, "/sns", "defaults endpoint_path");
	ok(cfg.tls_cert_file == NULL, "defaults tls_cert_file unset");
	ok(cfg.tls_key_file == NULL, "defaults tls_key_file unset");
	is_int(cfg.max_body_bytes, 1048576, "defaults max_body_bytes");
	is_int(cfg.max_connections, 256, "defaults max_connections");
	is_int(cfg.max_connections_per_ip, 64,
	       "defaults max_connections_per_ip");
	is_int(cfg.connection_memory_limit, 65536,
	       "defaults connection_memory_limit");
	is_int(cfg.request_timeout_s, 15, "defaults request_timeout");
	is_int(cfg.topic_count, 0, "defaults no topics");
	is_int(cfg.max_message_age_s, 3600, "defaults max_message_age");
	is_int(cfg.max_clock_skew_s, 300, "defaults max_clock_skew");
	ok(cfg.cert_dir == NULL, "defaults cert_dir unset");
	ok(cfg.sns_host_pattern == NULL, "defaults sns_host_pattern unset");
	ok(cfg.ca_file == NULL, "defaults ca_file unset");
	is_int(cfg.cert_cache_size, 64, "defaults cert_cache_size");
	is_int(cfg.cert_fetch_timeout_ms, 5000, "defaults cert_fetch_timeout");
	ok(cfg.auto_confirm, "defaults auto_confirm");
	is_int(cfg.confirm_timeout_ms, 5000, "defaults confirm_timeout");
	ok(cfg.discord_webhook_url == NULL, "defaults discord unset");
	is_int(cfg.webhook_count, 0, "defaults no webhooks");
	is_int(cfg.delivery_timeout_ms, 8000, "defaults delivery_timeout");
	is_str(cfg.timezone, "UTC", "defaults timezone");
	is_str(cfg.language, "en", "defaults language");
	is_str(cfg.log_level, "info", "defaults log_level");
	is_str(cfg.log_format, "logfmt", "defaults log_format");
	is_str(cfg.spool_path, "data/spool.db", "defaults spool_path");
	ok(memcmp(&cfg.severity, severity_default(),
		  sizeof(cfg.severity)) == 0, "defaults severity table");
	is_int(config_validate(&cfg, "defaults", &report), 0,
	       "defaults validate");
	config_report_free(&report);
	config_free(&cfg);
}

struct number_case {
	const char *line;
	size_t offset;		/* of an unsigned or size_t field */
	int is_size;
	unsigned long long expected;
};

#define U(field) offsetof(struct relay_config, field), 0
#define Z(field) offsetof(struct relay_config, field), 1

static const struct number_case number_cases[] = {
	{ "request_timeout = 15", U(request_timeout_s), 15 },
	{ "request_timeout = 15s", U(request_timeout_s), 15 },
	{ "request_timeout = 1m", U(request_timeout_s), 60 },
	{ "request_timeout = 1h", U(request_timeout_s), 3600 },
	{ "request_timeout = 2000ms", U(request_timeout_s), 2 },
	{ "max_message_age = 2h", U(max_message_age_s), 7200 },
	{ "max_clock_skew = 0", U(max_clock_skew_s), 0 },
	{ "cert_fetch_timeout = 500ms", U(cert_fetch_timeout_ms), 500 },
	{ "cert_fetch_timeout = 2", U(cert_fetch_timeout_ms), 2000 },
	{ "confirm_timeout = 1m", U(confirm_timeout_ms), 60000 },
	{ "delivery_timeout = 250MS", U(delivery_timeout_ms), 250 },
	{ "max_body_bytes = 1048576", Z(max_body_bytes), 1048576 },
	{ "max_body_bytes = 64k", Z(max_body_bytes), 65536 },
	{ "max_body_bytes = 64KiB", Z(max_body_bytes), 65536 },
	{ "max_body_bytes = 1m", Z(max_body_bytes), 1048576 },
	{ "max_body_bytes = 2MiB", Z(max_body_bytes), 2097152 },
	{ "connection_memory_limit = 32k", Z(connection_memory_limit),
	  32768 },
	{ "max_connections = 1", U(max_connections), 1 },
	{ "max_connections_per_ip = 65536", U(max_connections_per_ip),
	  65536 },
	{ "cert_cache_size = 10", U(cert_cache_size), 10 },
};

static void
test_numbers(void)
{
	struct config_report report = { NULL, 0 };
	struct relay_config cfg;
	unsigned long long got;
	char text[256];
	size_t i;

	for (i = 0; i < sizeof(number_cases) / sizeof(*number_cases); i++) {
		const struct number_case *c = &number_cases[i];

		snprintf(text, sizeof(text), "%s\n", c->line);
		is_int(load_text(text, &cfg, &report), 0, "number \"%s\" "
		       "accepted", c->line);
		if (c->is_size)
			got = *(size_t *)((char *)&cfg + c->offset);
		else
			got = *(unsigned *)((char *)&cfg + c->offset);
		is_int(got, c->expected, "number \"%s\" value", c->line);
		config_report_free(&report);
		config_free(&cfg);
	}
}

static void
test_bools(void)
{
	static const struct {
		const char *text;
		int expected;
	} cases[] = {
		{ "yes", 1 }, { "no", 0 }, { "true", 1 }, { "false", 0 },
		{ "on", 1 }, { "off", 0 }, { "1", 1 }, { "0", 0 },
		{ "YES", 1 }, { "Off", 0 },
	};
	struct config_report report = { NULL, 0 };
	struct relay_config cfg;
	char text[64];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		snprintf(text, sizeof(text), "auto_confirm = %s\n",
			 cases[i].text);
		is_int(load_text(text, &cfg, &report), 0, "bool %s accepted",
		       cases[i].text);
		is_int(cfg.auto_confirm, cases[i].expected, "bool %s value",
		       cases[i].text);
		config_report_free(&report);
		config_free(&cfg);
	}
}

static void
test_listen(void)
{
	static const struct {
		const char *text, *host;
		unsigned port;
	} cases[] = {
		{ "127.0.0.1:8080", "127.0.0.1", 8080 },
		{ "[::1]:8080", "::1", 8080 },
		{ "[::]:0", "::", 0 },
		{ "0.0.0.0:8080", "0.0.0.0", 8080 },
		{ "\"10.1.2.3:65535\"", "10.1.2.3", 65535 },
	};
	struct config_report report = { NULL, 0 };
	struct relay_config cfg;
	char text[128];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		snprintf(text, sizeof(text), "listen = %s\n", cases[i].text);
		is_int(load_text(text, &cfg, &report), 0, "listen %s accepted",
		       cases[i].text);
		is_str(cfg.listen_host, cases[i].host, "listen %s host",
		       cases[i].text);
		is_int(cfg.listen_port, cases[i].port, "listen %s port",
		       cases[i].text);
		config_report_free(&report);
		config_free(&cfg);
	}
}

static void
test_strings(void)
{
	struct config_report report = { NULL, 0 };
	struct relay_config cfg;

	if (access("/usr/share/zoneinfo/Etc/GMT+1", R_OK) != 0) {
		diag("tzdata is missing: strings tests skipped");
		return;
	}

	is_int(load_text("# comment\n\n   \t\n  # indented comment\n"
			 "endpoint_path = \"/hooks/sns\"   \n"
			 "timezone = Etc/GMT+1 # inline comment\n"
			 "log_level = \"DEBUG\" # after quotes\n"
			 "log_format=json\r\n"
			 "sns_host_pattern = 127.0.0.1:*\n"
			 "topic = " TOPIC_A "\n"
			 "topic = arn:aws:sns:*:123456789012:*\n"
			 "webhook = audit https://example.com/hooks/a\n"
			 "webhook = chat https://discord.com/api/webhooks/1/x "
			 "discord\n"
			 "webhook = local http://127.0.0.1:9000/h generic\n"
			 "webhook = six http://[::1]:9/h\n"
			 "webhook = lh http://localhost/h\n",
			 &cfg, &report), 0, "strings file accepted");
	is_str(first_problem(&report, 0), "(no problem reported)",
	       "strings no problem");
	is_str(cfg.endpoint_path, "/hooks/sns", "strings quoted value");
	is_str(cfg.timezone, "Etc/GMT+1", "strings inline comment");
	is_str(cfg.log_level, "debug", "strings enum case folded");
	is_str(cfg.log_format, "json", "strings no spaces around =");
	is_str(cfg.sns_host_pattern, "127.0.0.1:*", "strings host pattern");
	is_int(cfg.topic_count, 2, "strings two topics");
	is_str(cfg.topic_count > 1 ? cfg.topics[1] : NULL,
	       "arn:aws:sns:*:123456789012:*", "strings wildcard topic");
	is_int(cfg.webhook_count, 5, "strings five webhooks");
	if (cfg.webhook_count == 5) {
		is_str(cfg.webhooks[0].name, "audit", "webhook name");
		is_str(cfg.webhooks[0].url, "https://example.com/hooks/a",
		       "webhook url");
		is_int(cfg.webhooks[0].format, WEBHOOK_FORMAT_GENERIC,
		       "webhook default generic");
		is_int(cfg.webhooks[1].format, WEBHOOK_FORMAT_DISCORD,
		       "webhook discord format");
	}
	is_int(config_validate(&cfg, "strings", &report), 0,
	       "strings validate");
	config_report_free(&report);
	config_free(&cfg);

	is_int(load_text("tls_cert_file = \"\"\n", &cfg, &report), 0,
	       "empty quoted value unsets");
	ok(cfg.tls_cert_file == NULL, "empty value leaves option unset");
	config_report_free(&report);
	config_free(&cfg);
}

struct bad_case {
	const char *line;
	const char *problem;	/* the whole report line, file as "F" */
};

static const struct bad_case bad_cases[] = {
	{ "lsten = 127.0.0.1:8080",
	  "F:1: unknown option \"lsten\"; did you mean \"listen\"?" },
	{ "max-body-bytes = 1m", "F:1: unknown option \"max-body-bytes\"; "
	  "did you mean \"max_body_bytes\"?" },
	{ "frobnicate = 1", "F:1: unknown option \"frobnicate\"; snsrelay "
	  "--help-config lists the options" },
	{ "listen 127.0.0.1:8080", "F:1: missing '=' in \"listen "
	  "127.0.0.1:8080\"; expected \"option = value\"" },
	{ "= 5", "F:1: missing option name before '='" },
	{ "endpoint_path = \"/sns", "F:1: missing closing '\"' in the value" },
	{ "endpoint_path = \"/sns\" x",
	  "F:1: unexpected text after the closing '\"'" },
	{ "max_connections = many", "F:1: invalid value \"many\" for "
	  "max_connections: expected a whole number" },
	{ "max_connections = -1", "F:1: invalid value \"-1\" for "
	  "max_connections: expected a whole number" },
	{ "max_connections = 99999999999999999999999", "F:1: invalid value "
	  "\"99999999999999999999999\" for max_connections: expected a whole "
	  "number" },
	{ "max_connections = 0", "F:1: max_connections = 0 is out of range: "
	  "expected 1 to 65536" },
	{ "cert_cache_size = 10001", "F:1: cert_cache_size = 10001 is out of "
	  "range: expected 1 to 10000" },
	{ "request_timeout = 2h", "F:1: request_timeout = 2h is out of "
	  "range: expected 1s to 1h" },
	{ "request_timeout = 1500ms", "F:1: invalid value \"1500ms\" for "
	  "request_timeout: expected whole seconds, such as 15s" },
	{ "request_timeout = 15x", "F:1: invalid value \"15x\" for "
	  "request_timeout: expected a duration such as 15, 15s, 500ms, 5m "
	  "or 1h (a bare number is seconds)" },
	{ "cert_fetch_timeout = 50ms", "F:1: cert_fetch_timeout = 50ms is "
	  "out of range: expected 100ms to 1m" },
	{ "max_body_bytes = 1k", "F:1: max_body_bytes = 1k is out of range: "
	  "expected 64KiB to 64MiB" },
	{ "max_body_bytes = 1GiB", "F:1: invalid value \"1GiB\" for "
	  "max_body_bytes: expected a size such as 1048576, 64k, 64KiB, 1m "
	  "or 1MiB (a bare number is bytes)" },
	{ "auto_confirm = maybe", "F:1: invalid value \"maybe\" for "
	  "auto_confirm: expected yes, no, true, false, on, off, 1 or 0" },
	{ "log_level = verbose", "F:1: invalid value \"verbose\" for "
	  "log_level: expected one of debug, info, warn, error" },
	{ "log_format = xml", "F:1: invalid value \"xml\" for log_format: "
	  "expected one of logfmt, json" },
	{ "listen = localhost:8080", "F:1: invalid value \"localhost:8080\" "
	  "for listen: expected a numeric address and port such as "
	  "127.0.0.1:8080, [::1]:8080 or [::]:0" },
	{ "listen = 127.0.0.1", "F:1: invalid value \"127.0.0.1\" for "
	  "listen: " },
	{ "listen = ::1:8080", "F:1: invalid value \"::1:8080\" for listen: " },
	{ "listen = [::1]", "F:1: invalid value \"[::1]\" for listen: " },
	{ "listen = [::1:8080", "F:1: invalid value \"[::1:8080\" for "
	  "listen: " },
	{ "listen = 127.0.0.1:65536", "F:1: invalid value "
	  "\"127.0.0.1:65536\" for listen: " },
	{ "listen = 1.2.3:80", "F:1: invalid value \"1.2.3:80\" for "
	  "listen: " },
	{ "endpoint_path = sns", "F:1: invalid value \"sns\" for "
	  "endpoint_path: must start with '/'; expected a path such as /sns" },
	{ "endpoint_path = /healthz", "F:1: invalid value \"/healthz\" for "
	  "endpoint_path: /healthz is a route of its own; expected a path "
	  "such as /sns" },
	{ "endpoint_path = /metrics", "F:1: invalid value \"/metrics\" for "
	  "endpoint_path: /metrics is a route of its own; expected a path "
	  "such as /sns" },
	{ "endpoint_path = ", "F:1: invalid value \"\" for endpoint_path: "
	  "must not be empty" },
	{ "timezone = Mars/Olympus", "F:1: invalid value \"Mars/Olympus\" "
	  "for timezone: unknown time zone: no file " },
	{ "timezone = ../../etc/passwd", "F:1: invalid value "
	  "\"../../etc/passwd\" for timezone: expected an IANA time zone "
	  "name such as Europe/Berlin" },
	{ "language = fr", "F:1: invalid value \"fr\" for language: "
	  "expected en or ko" },
	{ "topic = not-an-arn", "F:1: invalid value \"not-an-arn\" for "
	  "topic: " },
	{ "webhook = audit", "F:1: invalid value for webhook: expected NAME "
	  "URL [generic|discord|slack|teams]" },
	{ "webhook = a https://x/y generic extra", "F:1: invalid value for "
	  "webhook: expected NAME URL [generic|discord|slack|teams]" },
	{ "webhook = bad!name https://x/y", "F:1: invalid webhook name "
	  "\"bad!name\": expected 1 to 64 of A-Z, a-z, 0-9, '_' and '-'" },
	{ "webhook = a https://x/y mattermost", "F:1: invalid format "
	  "\"mattermost\" for webhook a: expected generic, discord, slack "
	  "or teams" },
	{ "webhook = a http://example.com/hooks/x/secret", "F:1: invalid URL "
	  "\"http://example.com/hooks/REDACTED/REDACTED\" for webhook a: http:// "
	  "to a host other than loopback; expected https://HOST/... "
	  "(http:// only for 127.0.0.1, [::1] and localhost)" },
	{ "webhook = a http://localhost.evil.example/h", "F:1: invalid URL "
	  "\"http://localhost.evil.example/h\" for webhook a: http:// to a "
	  "host other than loopback; " },
	{ "webhook = a ftp://x/y", "F:1: invalid URL \"REDACTED\" for "
	  "webhook a: unsupported scheme; " },
	{ "discord_webhook_url = http://discord.com/api/webhooks/1/secret",
	  "F:1: invalid value \"http://discord.com/api/REDACTED/REDACTED/"
	  "REDACTED\" for discord_webhook_url: http:// to a host other than "
	  "loopback; " },
	{ "discord_webhook_url = https:///path", "F:1: invalid value "
	  "\"https:///path\" for discord_webhook_url: missing host; " },
	{ "sns_host_pattern = a b", "F:1: invalid value \"a b\" for "
	  "sns_host_pattern: expected an fnmatch(3) pattern" },
	{ "filter = pager", "F:1: filter pager sets nothing: add "
	  "min_severity=LEVEL or events=GLOB,..." },
	{ "filter = ", "F:1: invalid value for filter: expected DESTINATION "
	  "[min_severity=LEVEL] [events=GLOB,...]" },
	{ "filter = pager min_severity=high events=* extra", "F:1: invalid "
	  "value for filter: expected DESTINATION [min_severity=LEVEL] "
	  "[events=GLOB,...]" },
	{ "filter = bad!name min_severity=high", "F:1: invalid filter "
	  "destination \"bad!name\": expected discord or a webhook name" },
	{ "filter = pager min_severity=urgent", "F:1: invalid min_severity "
	  "\"urgent\" for filter pager: expected info, low, medium, high or "
	  "critical" },
	{ "filter = pager min_severity=", "F:1: invalid min_severity \"\" "
	  "for filter pager: expected info, low, medium, high or critical" },
	{ "filter = pager min_severity=Critical", "F:1: invalid min_severity "
	  "\"Critical\" for filter pager: expected info, low, medium, high "
	  "or critical" },
	{ "filter = pager events=", "F:1: empty pattern in events of filter "
	  "pager: expected GLOB,GLOB,... such as "
	  "Authorize*,DeleteSecurityGroup" },
	{ "filter = pager events=Authorize*,,Delete*", "F:1: empty pattern "
	  "in events of filter pager: expected GLOB,GLOB,... such as "
	  "Authorize*,DeleteSecurityGroup" },
	{ "filter = pager events=Authorize*,", "F:1: empty pattern in events "
	  "of filter pager: expected GLOB,GLOB,... such as "
	  "Authorize*,DeleteSecurityGroup" },
	{ "filter = pager severity=high", "F:1: invalid setting "
	  "\"severity=high\" for filter pager: expected min_severity=LEVEL "
	  "or events=GLOB,..." },
	{ "filter = pager min_severity=low min_severity=high", "F:1: "
	  "\"min_severity=high\" repeats a setting of filter pager" },
	{ "filter = pager events=A* events=B*", "F:1: \"events=B*\" repeats "
	  "a setting of filter pager" },
	{ "high_risk_ports = ", "F:1: invalid value \"\" for high_risk_ports: "
	  "empty list: expected ports and ranges separated by ',' such as "
	  "22,3389,8000-8100" },
	{ "high_risk_ports = 22,,23", "F:1: invalid value \"22,,23\" for "
	  "high_risk_ports: empty entry: expected ports and ranges separated "
	  "by ',' such as 22,3389,8000-8100" },
	{ "high_risk_ports = 22,ssh", "F:1: invalid value \"22,ssh\" for "
	  "high_risk_ports: \"ssh\" is not a port or range such as 22 or "
	  "8000-8100" },
	{ "high_risk_ports = 22, 23", "F:1: invalid value \"22, 23\" for "
	  "high_risk_ports: \" 23\" is not a port or range such as 22 or "
	  "8000-8100" },
	{ "high_risk_ports = 70000", "F:1: invalid value \"70000\" for "
	  "high_risk_ports: port in \"70000\" is out of range: expected 0 "
	  "to 65535" },
	{ "high_risk_ports = 8100-8000", "F:1: invalid value \"8100-8000\" "
	  "for high_risk_ports: range \"8100-8000\" is reversed: write the "
	  "lower port first" },
	{ "severity_change = urgent", "F:1: invalid value \"urgent\" for "
	  "severity_change: expected info, low, medium, high or critical" },
	{ "severity_root = ", "F:1: invalid value \"\" for severity_root: "
	  "expected info, low, medium, high or critical" },
	{ "severity_world_open = High", "F:1: invalid value \"High\" for "
	  "severity_world_open: expected info, low, medium, high or "
	  "critical" },
	{ "world_open_min_prefix = 33", "F:1: world_open_min_prefix = 33 is "
	  "out of range: expected 0 to 32" },
	{ "world_open_min_prefix = /8", "F:1: invalid value \"/8\" for "
	  "world_open_min_prefix: expected a whole number" },
};

#define BAD_CASES (sizeof(bad_cases) / sizeof(*bad_cases))

static void
test_bad_lines(void)
{
	struct config_report report = { NULL, 0 };
	struct relay_config cfg;
	char text[512];
	size_t i, n;

	for (i = 0; i < BAD_CASES; i++) {
		const struct bad_case *c = &bad_cases[i];

		snprintf(text, sizeof(text), "%s\n", c->line);
		is_int(load_text(text, &cfg, &report), 1, "bad \"%s\" one "
		       "problem", c->line);
		n = strlen(c->problem);
		is_str(strncmp(first_problem(&report, 0), c->problem, n) == 0 ?
		       c->problem : first_problem(&report, 0), c->problem,
		       "bad \"%s\" message", c->line);
		ok(strstr(first_problem(&report, 0), "secret") == NULL,
		   "bad \"%s\" hides secrets", c->line);
		config_report_free(&report);
		config_free(&cfg);
	}
}

/* Every bad line in one file: each is reported with its own number. */
static void
test_all_problems_collected(void)
{
	struct config_report report = { NULL, 0 };
	struct relay_config cfg;
	char prefix[32], *text;
	size_t i, len = 0;

	text = calloc(BAD_CASES, 512);
	if (text == NULL) {
		printf("Bail out! out of memory\n");
		exit(1);
	}
	for (i = 0; i < BAD_CASES; i++)
		len += (size_t)snprintf(text + len, 512, "%s\n",
					bad_cases[i].line);
	is_int(load_text(text, &cfg, &report), (int)BAD_CASES,
	       "collect every problem counted");
	is_int(report.count, BAD_CASES, "collect every problem reported");
	for (i = 0; i < BAD_CASES && i < report.count; i++) {
		snprintf(prefix, sizeof(prefix), "F:%zu: ", i + 1);
		ok(strncmp(first_problem(&report, i), prefix,
			   strlen(prefix)) == 0, "collect line %zu numbered",
		   i + 1);
	}
	free(text);
	config_report_free(&report);
	config_free(&cfg);
}

static void
test_structure_problems(void)
{
	struct config_report report = { NULL, 0 };
	struct relay_config cfg;
	char *longline;

	is_int(load_text("listen = 127.0.0.1:1\n# c\nlisten = 127.0.0.1:2\n"
			 "topic = " TOPIC_A "\ntopic = " TOPIC_B "\n",
			 &cfg, &report), 1, "twice one problem");
	is_str(first_problem(&report, 0), "F:3: option \"listen\" given "
	       "twice (first on line 1)", "twice message");
	is_int(cfg.listen_port, 1, "twice keeps the first");
	is_int(cfg.topic_count, 2, "twice lists may repeat");
	config_report_free(&report);
	config_free(&cfg);

	is_int(load_text("webhook = a https://x/1\nwebhook = a https://y/2\n",
			 &cfg, &report), 1, "webhook duplicate one problem");
	is_str(first_problem(&report, 0), "F:2: duplicate webhook name "
	       "\"a\"", "webhook duplicate message");
	config_report_free(&report);
	config_free(&cfg);

	write_file(conf_path, "listen = 1\0x\nauto_confirm = no\n", 31);
	config_init_defaults(&cfg);
	is_int(config_load_file(&cfg, conf_path, &report), 1,
	       "nul byte problem");
	is_str(first_problem(&report, 0), "F:1: line contains a NUL byte",
	       "nul byte message");
	config_report_free(&report);
	config_free(&cfg);

	longline = malloc(9000);
	if (longline == NULL)
		return;
	memset(longline, 'x', 8998);
	longline[8998] = '\n';
	longline[8999] = '\0';
	is_int(load_text(longline, &cfg, &report), 1, "long line problem");
	is_str(first_problem(&report, 0), "F:1: line longer than 8192 bytes",
	       "long line message");
	free(longline);
	config_report_free(&report);
	config_free(&cfg);

	config_init_defaults(&cfg);
	is_int(config_load_file(&cfg, "/nonexistent/snsrelay.conf", &report),
	       1, "missing file problem");
	is_str(report.count ? report.lines[0] : NULL, "/nonexistent/"
	       "snsrelay.conf: cannot open: No such file or directory",
	       "missing file message");
	config_report_free(&report);
	config_free(&cfg);
}

static void
test_filter_lines(void)
{
	struct config_report report = { NULL, 0 };
	struct relay_config cfg;
	const struct filter_config *f;

	is_int(load_text("webhook = pager https://x/1\n"
			 "filter = pager min_severity=critical\n"
			 "filter = \"discord  events=Authorize*,"
			 "DeleteSecurityGroup  min_severity=warning\"\n"
			 "filter = audit events=*\n", &cfg, &report), 0,
	       "filter good lines");
	is_int(cfg.filter_count, 3, "filter three filters");
	if (cfg.filter_count == 3) {
		f = &cfg.filters[0];
		is_str(f->destination, "pager", "filter destination");
		is_int(f->min_severity, 4, "filter critical level");
		is_int(f->event_count, 0, "filter no events");
		ok(f->events == NULL, "filter events NULL");
		f = &cfg.filters[1];
		is_str(f->destination, "discord", "filter discord");
		is_int(f->min_severity, 2, "filter warning is medium");
		is_int(f->event_count, 2, "filter two events");
		is_str(f->event_count ? f->events[0] : NULL, "Authorize*",
		       "filter first glob");
		is_str(f->event_count > 1 ? f->events[1] : NULL,
		       "DeleteSecurityGroup", "filter second glob");
		f = &cfg.filters[2];
		is_int(f->min_severity, 0, "filter default level info");
		is_str(f->event_count ? f->events[0] : NULL, "*",
		       "filter star glob");
		ok(f->origin != NULL && strstr(f->origin, ":4") != NULL,
		   "filter origin line");
	}
	config_report_free(&report);
	config_free(&cfg);
	ok(cfg.filters == NULL && cfg.filter_count == 0, "filter freed");

	is_int(load_text("filter = pager min_severity=high\n# c\n"
			 "filter = pager events=*\n", &cfg, &report), 1,
	       "filter duplicate one problem");
	is_str(first_problem(&report, 0), "F:3: duplicate filter for "
	       "destination \"pager\"", "filter duplicate message");
	is_int(cfg.filter_count, 1, "filter duplicate keeps the first");
	config_report_free(&report);
	config_free(&cfg);
}

static void
test_filter_validate(void)
{
	struct config_report report = { NULL, 0 };
	struct relay_config cfg;

	load_text("webhook = pager https://x/1\n"
		  "filter = pager min_severity=critical\n"
		  "filter = audit events=*\n"
		  "filter = discord min_severity=high\n", &cfg, &report);
	is_int(config_validate(&cfg, "O", &report), 2,
	       "filter unknown two problems");
	is_str(first_problem(&report, 0), "F:3: filter for unknown "
	       "destination \"audit\": expected discord (with "
	       "discord_webhook_url set) or a webhook name",
	       "filter unknown webhook message");
	is_str(first_problem(&report, 1), "F:4: filter for unknown "
	       "destination \"discord\": expected discord (with "
	       "discord_webhook_url set) or a webhook name",
	       "filter unknown discord message");
	config_report_free(&report);
	config_free(&cfg);

	load_text("webhook = pager https://x/1\nwebhook = audit "
		  "https://x/2\nfilter = pager min_severity=critical\n"
		  "filter = audit events=*\nfilter = discord "
		  "min_severity=high\ndiscord_webhook_url = "
		  "https://discord.com/api/x/y\n", &cfg, &report);
	is_int(config_validate(&cfg, "O", &report), 0, "filter known ok");
	config_report_free(&report);
	config_free(&cfg);
}

static void
test_filter_env(void)
{
	struct config_report report = { NULL, 0 };
	struct relay_config cfg;

	load_text("webhook = pager https://x/1\nwebhook = audit https://x/2\n"
		  "filter = audit min_severity=low\n", &cfg, &report);
	setenv("SNSRELAY_FILTER", "pager min_severity=critical;\n"
	       " audit events=Revoke*,* ;", 1);
	is_int(config_load_env(&cfg, &report), 0, "env filter good");
	is_int(cfg.filter_count, 2, "env filters replace the file's");
	is_str(cfg.filter_count ? cfg.filters[0].destination : NULL, "pager",
	       "env filter destination");
	is_int(cfg.filter_count > 1 ? (long long)cfg.filters[1].event_count :
	       -1, 2, "env filter globs");
	is_int(config_validate(&cfg, "O", &report), 0, "env filter valid");
	config_report_free(&report);

	setenv("SNSRELAY_FILTER", "pager min_severity=high;pager events=*;"
	       "nobody min_severity=low", 1);
	is_int(config_load_env(&cfg, &report), 1, "env filter duplicate");
	is_str(report.count ? report.lines[0] : NULL,
	       "environment:SNSRELAY_FILTER: duplicate filter for "
	       "destination \"pager\"", "env filter duplicate message");
	config_report_free(&report);
	is_int(config_validate(&cfg, "O", &report), 1, "env filter unknown");
	is_str(report.count ? report.lines[0] : NULL,
	       "environment:SNSRELAY_FILTER: filter for unknown destination "
	       "\"nobody\": expected discord (with discord_webhook_url set) "
	       "or a webhook name", "env filter unknown message");
	config_report_free(&report);
	unsetenv("SNSRELAY_FILTER");
	config_free(&cfg);
}

static void
clear_env(void)
{
	unsetenv("SNSRELAY_LISTEN");
	unsetenv("SNSRELAY_MAX_CONNECTIONS");
	unsetenv("SNSRELAY_TOPIC");
	unsetenv("SNSRELAY_WEBHOOK");
	unsetenv("SNSRELAY_FILTER");
	unsetenv("SNSRELAY_DISCORD_WEBHOOK_URL");
	unsetenv("DISCORD_WEBHOOK_URL");
	unsetenv("SNSRELAY_TLS_CERT_FILE");
	unsetenv("SNSRELAY_AUTO_CONFIRM");
	unsetenv("SNSRELAY_LANGUAGE");
	unsetenv("SNSRELAY_REQUEST_TIMEOUT");
	unsetenv("SNSRELAY_HIGH_RISK_PORTS");
	unsetenv("SNSRELAY_SEVERITY_CHANGE");
	unsetenv("SNSRELAY_WORLD_OPEN_MIN_PREFIX");
}

/* The severity options fill cfg->severity; defaults stay where no line
 * sets them. */
static void
test_severity_lines(void)
{
	struct config_report report = { NULL, 0 };
	struct relay_config cfg;
	const struct severity_table *t = &cfg.severity;

	is_int(load_text("high_risk_ports = \"22, 8443\"\n", &cfg, &report),
	       1, "severity quoted blank rejected");
	config_report_free(&report);
	config_free(&cfg);

	is_int(load_text("high_risk_ports = 22,8000-8100\n"
			 "world_open_min_prefix = 8\n"
			 "severity_world_open_high_risk = high\n"
			 "severity_world_open = medium\n"
			 "severity_root = critical\n"
			 "severity_change = info\n"
			 "severity_revoke = info\n", &cfg, &report), 0,
	       "severity good lines");
	is_int(t->range_count, 2, "severity port count");
	is_int(t->ranges[1].from, 8000, "severity range from");
	is_int(t->ranges[1].to, 8100, "severity range to");
	is_int(t->world_open_min_prefix, 8, "severity min prefix");
	is_int(t->world_open_high_risk, SEVERITY_HIGH,
	       "severity world open high risk");
	is_int(t->world_open, SEVERITY_MEDIUM, "severity world open");
	is_int(t->root, SEVERITY_CRITICAL, "severity root");
	is_int(t->change, SEVERITY_INFO, "severity change");
	is_int(t->revoke, SEVERITY_INFO, "severity revoke");
	config_report_free(&report);
	config_free(&cfg);

	is_int(load_text("high_risk_ports = 22\nhigh_risk_ports = 23\n",
			 &cfg, &report), 1, "severity ports twice");
	is_str(first_problem(&report, 0), "F:2: option \"high_risk_ports\" "
	       "given twice (first on line 1)", "severity ports twice message");
	config_report_free(&report);
	config_free(&cfg);

	is_int(load_text("severity_revoke = medium\n", &cfg, &report), 0,
	       "severity one level");
	is_int(t->range_count, severity_default()->range_count,
	       "severity default ports kept");
	is_int(t->change, SEVERITY_MEDIUM, "severity default change kept");
	config_report_free(&report);
	config_free(&cfg);
}

static void
test_severity_env(void)
{
	struct config_report report = { NULL, 0 };
	struct relay_config cfg;

	clear_env();
	load_text("high_risk_ports = 22\n", &cfg, &report);
	setenv("SNSRELAY_HIGH_RISK_PORTS", " 443,8443 ", 1);
	setenv("SNSRELAY_SEVERITY_CHANGE", "high", 1);
	setenv("SNSRELAY_WORLD_OPEN_MIN_PREFIX", "8", 1);
	is_int(config_load_env(&cfg, &report), 0, "severity env good");
	is_int(cfg.severity.range_count, 2, "severity env ports replace");
	is_int(cfg.severity.ranges[1].from, 8443, "severity env port");
	is_int(cfg.severity.change, SEVERITY_HIGH, "severity env level");
	is_int(cfg.severity.world_open_min_prefix, 8, "severity env prefix");
	config_report_free(&report);

	setenv("SNSRELAY_HIGH_RISK_PORTS", "9-1", 1);
	is_int(config_load_env(&cfg, &report), 1, "severity env bad");
	is_str(first_problem(&report, 0), "environment:SNSRELAY_HIGH_RISK_"
	       "PORTS: invalid value \"9-1\" for high_risk_ports: range "
	       "\"9-1\" is reversed: write the lower port first",
	       "severity env bad message");
	is_int(cfg.severity.range_count, 2, "severity env bad keeps ports");
	config_report_free(&report);
	config_free(&cfg);
	clear_env();
}

static void
test_env(void)
{
	struct config_report report = { NULL, 0 };
	struct relay_config cfg;

	clear_env();
	load_text("listen = 127.0.0.1:1\ntopic = " TOPIC_A "\n"
		  "tls_cert_file = /x\n", &cfg, &report);
	setenv("SNSRELAY_LISTEN", "[::1]:9000", 1);
	setenv("SNSRELAY_TOPIC", TOPIC_B ", arn:aws:sns:*:123456789012:a\n"
	       "arn:aws:sns:*:123456789012:b,", 1);
	setenv("SNSRELAY_WEBHOOK", "a https://x/1; b https://y/2 discord\n"
	       "c http://127.0.0.1:1/x", 1);
	setenv("SNSRELAY_AUTO_CONFIRM", " off ", 1);
	setenv("SNSRELAY_LANGUAGE", "ko", 1);
	setenv("SNSRELAY_TLS_CERT_FILE", "", 1);
	setenv("DISCORD_WEBHOOK_URL", "https://discord.com/api/webhooks/1/d",
	       1);
	is_int(config_load_env(&cfg, &report), 0, "env good values");
	is_str(cfg.listen_host, "::1", "env listen host");
	is_str(cfg.language, "ko", "env language");
	is_int(cfg.listen_port, 9000, "env listen port");
	is_int(cfg.topic_count, 3, "env topics replace the file's");
	is_str(cfg.topic_count ? cfg.topics[0] : NULL, TOPIC_B,
	       "env topic trimmed");
	is_int(cfg.webhook_count, 3, "env three webhooks");
	is_int(cfg.webhook_count > 1 ? (long long)cfg.webhooks[1].format : -1,
	       WEBHOOK_FORMAT_DISCORD, "env webhook format");
	ok(!cfg.auto_confirm, "env bool trimmed");
	ok(cfg.tls_cert_file == NULL, "env empty value unsets");
	is_str(cfg.discord_webhook_url, "https://discord.com/api/webhooks/1/d",
	       "env DISCORD_WEBHOOK_URL");
	config_report_free(&report);

	setenv("SNSRELAY_DISCORD_WEBHOOK_URL", "https://127.0.0.2/prefixed", 1);
	config_load_env(&cfg, &report);
	is_str(cfg.discord_webhook_url, "https://127.0.0.2/prefixed",
	       "env prefixed discord wins");
	config_report_free(&report);

	setenv("SNSRELAY_MAX_CONNECTIONS", "lots", 1);
	setenv("SNSRELAY_REQUEST_TIMEOUT", "0", 1);
	unsetenv("SNSRELAY_DISCORD_WEBHOOK_URL");
	setenv("DISCORD_WEBHOOK_URL", "ftp://x", 1);
	is_int(config_load_env(&cfg, &report), 3, "env bad values counted");
	is_str(report.count > 0 ? report.lines[0] : NULL,
	       "environment:SNSRELAY_MAX_CONNECTIONS: invalid value \"lots\" "
	       "for max_connections: expected a whole number",
	       "env bad value message");
	is_str(report.count > 1 ? report.lines[1] : NULL,
	       "environment:SNSRELAY_REQUEST_TIMEOUT: request_timeout = 0 is "
	       "out of range: expected 1s to 1h", "env range message");
	ok(report.count > 2 && strncmp(report.lines[2],
	   "environment:DISCORD_WEBHOOK_URL: invalid value", 46) == 0,
	   "env discord message");
	config_report_free(&report);
	config_free(&cfg);
	clear_env();
}

static char *
make_file(const char *name)
{
	static char paths[4][256];
	static int next;
	char *path = paths[next++ % 4];

	snprintf(path, 256, "%s/%s", tmpdir, name);
	write_file(path, "x\n", 2);
	return path;
}

/* Writes a new RSA key and a self-signed certificate for it as PEM files
 * under tmpdir. */
static void
make_tls_pair(const char *cert_name, const char *key_name, char *cert_path,
	      char *key_path, size_t size)
{
	EVP_PKEY *key = EVP_RSA_gen(2048);
	X509 *cert = X509_new();
	FILE *f;

	snprintf(cert_path, size, "%s/%s", tmpdir, cert_name);
	snprintf(key_path, size, "%s/%s", tmpdir, key_name);
	ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
	X509_gmtime_adj(X509_getm_notBefore(cert), 0);
	X509_gmtime_adj(X509_getm_notAfter(cert), 86400);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(cert), "CN",
				   MBSTRING_ASC,
				   (const unsigned char *)"localhost", -1, -1,
				   0);
	X509_set_issuer_name(cert, X509_get_subject_name(cert));
	X509_set_pubkey(cert, key);
	X509_sign(cert, key, EVP_sha256());
	f = fopen(cert_path, "w");
	PEM_write_X509(f, cert);
	fclose(f);
	f = fopen(key_path, "w");
	PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);
	fclose(f);
	X509_free(cert);
	EVP_PKEY_free(key);
}

/* Sets a string option of cfg to a copy of value. */
static void
set_str(char **field, const char *value)
{
	free(*field);
	*field = value ? strdup(value) : NULL;
}

static int
validate_count(struct relay_config *cfg, const char *want, const char *name)
{
	struct config_report report = { NULL, 0 };
	int n = config_validate(cfg, "O", &report);
	size_t len = want ? strlen(want) : 0;

	if (want != NULL)
		is_str(report.count && strncmp(report.lines[0], want, len) == 0
		       ? want : (report.count ? report.lines[0] : "(none)"),
		       want, "validate %s message", name);
	config_report_free(&report);
	return n;
}

static void
test_validate(void)
{
	struct relay_config cfg;
	char cert[256], key[256], other_cert[256], other_key[256];

	make_tls_pair("cert.pem", "key.pem", cert, key, sizeof(cert));
	make_tls_pair("other-cert.pem", "other-key.pem", other_cert,
		      other_key, sizeof(other_cert));
	config_init_defaults(&cfg);
	set_str(&cfg.tls_cert_file, cert);
	is_int(validate_count(&cfg, "O: tls_cert_file and tls_key_file must "
			      "be set together", "tls pair"), 1,
	       "validate tls pair");
	set_str(&cfg.tls_key_file, key);
	is_int(validate_count(&cfg, NULL, "tls ok"), 0, "validate tls ok");
	set_str(&cfg.tls_key_file, other_key);
	is_int(validate_count(&cfg, "O: tls_key_file is not the private key "
			      "of the certificate in tls_cert_file",
			      "tls mismatch"), 1, "validate tls mismatch");
	set_str(&cfg.tls_key_file, make_file("junk-key.pem"));
	is_int(validate_count(&cfg, "O: tls_key_file holds no PEM private key",
			      "tls not a key"), 1, "validate tls not a key");
	set_str(&cfg.tls_key_file, "/nonexistent/key.pem");
	is_int(validate_count(&cfg, "O: tls_key_file \"/nonexistent/key.pem\" "
			      "is not readable: No such file or directory",
			      "tls unreadable"), 1, "validate tls unreadable");
	set_str(&cfg.tls_cert_file, NULL);
	set_str(&cfg.tls_key_file, NULL);

	set_str(&cfg.cert_dir, cert);
	is_int(validate_count(&cfg, "O: cert_dir \"", "cert_dir file"), 1,
	       "validate cert_dir not a directory");
	set_str(&cfg.cert_dir, tmpdir);
	is_int(validate_count(&cfg, NULL, "cert_dir"), 0,
	       "validate cert_dir directory");
	set_str(&cfg.ca_file, "/nonexistent/ca.pem");
	is_int(validate_count(&cfg, "O: ca_file \"/nonexistent/ca.pem\" is "
			      "not readable", "ca_file"), 1,
	       "validate ca_file missing");
	set_str(&cfg.ca_file, tmpdir);
	is_int(validate_count(&cfg, "O: ca_file", "ca_file dir"), 1,
	       "validate ca_file directory");
	set_str(&cfg.ca_file, NULL);

	set_str(&cfg.endpoint_path, "/healthz");
	is_int(validate_count(&cfg, "O: invalid endpoint_path: /healthz",
			      "endpoint"), 1, "validate endpoint_path");
	set_str(&cfg.endpoint_path, "/sns");
	set_str(&cfg.timezone, "No/Such_Zone");
	is_int(validate_count(&cfg, "O: invalid timezone: unknown time zone",
			      "timezone"), 1, "validate timezone");
	set_str(&cfg.timezone, "UTC");
	set_str(&cfg.log_level, "loud");
	set_str(&cfg.log_format, "xml");
	is_int(validate_count(&cfg, "O: invalid log_level", "log"), 2,
	       "validate log level and format");
	set_str(&cfg.log_level, "info");
	set_str(&cfg.log_format, "logfmt");
	set_str(&cfg.discord_webhook_url, "http://example.com/x");
	is_int(validate_count(&cfg, "O: invalid discord_webhook_url: http:// "
			      "to a host other than loopback", "discord"), 1,
	       "validate discord url");
	config_free(&cfg);
}

static void
test_validate_lists(void)
{
	struct config_report report = { NULL, 0 };
	struct relay_config cfg;

	load_text("discord_webhook_url = https://discord.com/api/webhooks/1/x\n"
		  "webhook = discord https://example.com/h\n", &cfg, &report);
	is_int(validate_count(&cfg, "O: webhook name \"discord\" is taken by "
			      "discord_webhook_url", "discord name"), 1,
	       "validate discord name clash");
	config_report_free(&report);
	config_free(&cfg);

	config_init_defaults(&cfg);
	cfg.topics = calloc(1, sizeof(char *));
	if (cfg.topics == NULL)
		return;
	cfg.topics[0] = strdup("arn:aws:sns");
	cfg.topic_count = 1;
	is_int(validate_count(&cfg, "O: invalid topic: ", "topic"), 1,
	       "validate topic pattern");
	config_free(&cfg);
}

static void
test_topic_allowed(void)
{
	struct config_report report = { NULL, 0 };
	struct relay_config cfg;

	load_text("topic = " TOPIC_A "\ntopic = arn:aws:sns:eu-*:"
		  "123456789012:*\n", &cfg, &report);
	ok(config_topic_allowed(&cfg, TOPIC_A), "allowed exact");
	ok(config_topic_allowed(&cfg, TOPIC_B), "allowed wildcard");
	ok(!config_topic_allowed(&cfg, "arn:aws:sns:us-east-1:123456789012:"
				 "other"), "allowed rejects other");
	ok(!config_topic_allowed(&cfg, NULL), "allowed rejects NULL");
	config_report_free(&report);
	config_free(&cfg);

	config_init_defaults(&cfg);
	ok(!config_topic_allowed(&cfg, TOPIC_A), "allowed none configured");
	config_free(&cfg);
}

static void
test_print_options(void)
{
	FILE *fp = tmpfile();
	char text[16384];
	size_t n;

	if (fp == NULL)
		return;
	config_print_options(fp);
	rewind(fp);
	n = fread(text, 1, sizeof(text) - 1, fp);
	text[n] = '\0';
	fclose(fp);
	ok(strstr(text, "listen (address:port)\n    default: "
		  "127.0.0.1:8080\n") != NULL, "print listen default");
	ok(strstr(text, "environment: SNSRELAY_MAX_BODY_BYTES") != NULL,
	   "print environment name");
	ok(strstr(text, "range: 64KiB to 64MiB") != NULL, "print size range");
	ok(strstr(text, "webhook (NAME URL [generic|discord|slack|teams], repeatable)") !=
	   NULL, "print webhook type");
	ok(strstr(text, "DISCORD_WEBHOOK_URL") != NULL, "print discord note");
	ok(strstr(text, "high_risk_ports (PORT or FROM-TO, comma-separated)\n"
		  "    default: " SEVERITY_DEFAULT_PORTS "\n") != NULL,
	   "print high_risk_ports");
	ok(strstr(text, "severity_root (info|low|medium|high|critical)\n"
		  "    default: high\n") != NULL, "print severity_root");
}

int
main(void)
{
	if (mkdtemp(tmpdir) == NULL)
		skip_all("mkdtemp failed");
	snprintf(conf_path, sizeof(conf_path), "%s/test.conf", tmpdir);
	clear_env();
	unsetenv("TZDIR");

	test_defaults();
	test_numbers();
	test_bools();
	test_listen();
	test_strings();
	test_bad_lines();
	test_all_problems_collected();
	test_structure_problems();
	test_env();
	test_filter_lines();
	test_filter_validate();
	test_filter_env();
	test_severity_lines();
	test_severity_env();
	test_validate();
	test_validate_lists();
	test_topic_allowed();
	test_print_options();

	unlink(conf_path);
	unlink(make_file("cert.pem"));
	unlink(make_file("key.pem"));
	rmdir(tmpdir);
	return tap_done();
}
