#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include "snsrelay/buf.h"
#include "snsrelay/cidr.h"
#include "snsrelay/config.h"
#include "snsrelay/labels.h"
#include "snsrelay/err.h"
#include "snsrelay/filter.h"
#include "snsrelay/limits.h"
#include "snsrelay/log.h"
#include "snsrelay/severity.h"
#include "snsrelay/topics.h"

/* Bounds of the configuration file syntax and of the values in it. */
#define CONFIG_LINE_MAX		8192
#define CONFIG_PROBLEM_MAX	1024
#define CONFIG_QUOTE_MAX	72
#define CONFIG_URL_MAX		2048
#define CONFIG_PATH_MAX		256
#define CONFIG_WEBHOOK_NAME_MAX	64
#define CONFIG_ZONEINFO_DIR	"/usr/share/zoneinfo"

#define MS_PER_S	1000ULL
#define MS_PER_MIN	(60 * MS_PER_S)
#define MS_PER_HOUR	(60 * MS_PER_MIN)
#define KIB		1024ULL
#define MIB		(1024 * KIB)

enum option_type {
	OPTION_STRING,		/* char *; an empty value unsets it */
	OPTION_BOOL,		/* bool */
	OPTION_UINT,		/* unsigned */
	OPTION_DURATION,	/* unsigned, in seconds or milliseconds */
	OPTION_SIZE,		/* size_t, in bytes */
	OPTION_ENUM,		/* char *, one of choices */
	OPTION_LISTEN,		/* listen_host and listen_port */
	OPTION_TOPIC_LIST,	/* topics and topic_count */
	OPTION_WEBHOOK_LIST,	/* webhooks and webhook_count */
	OPTION_FILTER_LIST,	/* filters and filter_count */
	OPTION_PORTS,		/* severity_table, its port ranges */
	OPTION_LEVEL,		/* int, enum severity_level */
};

/* Extra rule on the text of a value.  Returns 0, or -1 with the reason
 * in why. */
typedef int (*option_check_fn)(const char *value, struct buf *why);

struct option_def {
	const char *name;
	enum option_type type;
	size_t offset;			/* of the field in relay_config */
	const char *default_text;	/* NULL: unset or empty list */
	/* Bounds in the unit of the type: a count, bytes or milliseconds. */
	unsigned long long min;
	unsigned long long max;
	/* Durations: milliseconds per stored unit (1000 for seconds). */
	unsigned long long unit_ms;
	const char *const *choices;	/* OPTION_ENUM, NULL-terminated */
	option_check_fn check;
	const char *help;
};

/* Origin of the values being applied, and the problems counted so far. */
struct config_source {
	struct relay_config *cfg;
	struct config_report *report;
	const char *file;		/* NULL for the environment */
	unsigned line;
	const char *variable;		/* environment variable name */
	int problems;
};

static int config_check_path(const char *value, struct buf *why);
static int config_check_endpoint(const char *value, struct buf *why);
static int config_check_url(const char *value, struct buf *why);
static int config_check_timezone(const char *value, struct buf *why);
static int config_check_language(const char *value, struct buf *why);
static int config_check_host_pattern(const char *value, struct buf *why);
static int config_check_cidr_list(const char *value, struct buf *why);
static int config_check_user(const char *value, struct buf *why);

static const char *const config_log_levels[] = {
	"debug", "info", "warn", "error", NULL,
};
static const char *const config_log_formats[] = { "logfmt", "json", NULL };

#define OFFSET(field) offsetof(struct relay_config, field)

static const struct option_def config_options[] = {
	{
		.name = "listen",
		.type = OPTION_LISTEN,
		.offset = OFFSET(listen_host),
		.default_text = "127.0.0.1:8080",
		.help = "Numeric address and TCP port to listen on: "
			"127.0.0.1:8080, [::1]:8080, [::]:8080 for every "
			"interface, port 0 for a free one.",
	},
	{
		.name = "endpoint_path",
		.type = OPTION_STRING,
		.offset = OFFSET(endpoint_path),
		.default_text = "/sns",
		.check = config_check_endpoint,
		.help = "URL path that SNS posts to.  It starts with '/' "
			"and is not /healthz, /readyz or /metrics.",
	},
	{
		.name = "tls_cert_file",
		.type = OPTION_STRING,
		.offset = OFFSET(tls_cert_file),
		.check = config_check_path,
		.help = "PEM certificate chain.  HTTPS is served when both "
			"tls_cert_file and tls_key_file are set.",
	},
	{
		.name = "tls_key_file",
		.type = OPTION_STRING,
		.offset = OFFSET(tls_key_file),
		.check = config_check_path,
		.help = "PEM private key of tls_cert_file.",
	},
	{
		.name = "max_body_bytes",
		.type = OPTION_SIZE,
		.offset = OFFSET(max_body_bytes),
		.default_text = "1MiB",
		.min = LIMIT_BODY_BYTES_MIN,
		.max = 64 * MIB,
		.help = "Largest request body accepted.  Larger bodies get "
			"413.  SNS messages are at most 256 KiB.",
	},
	{
		.name = "max_connections",
		.type = OPTION_UINT,
		.offset = OFFSET(max_connections),
		.default_text = "256",
		.min = 1,
		.max = 65536,
		.help = "Concurrent connections in total.",
	},
	{
		.name = "max_connections_per_ip",
		.type = OPTION_UINT,
		.offset = OFFSET(max_connections_per_ip),
		.default_text = "64",
		.min = 1,
		.max = 65536,
		.help = "Concurrent connections from one client address.",
	},
	{
		.name = "connection_memory_limit",
		.type = OPTION_SIZE,
		.offset = OFFSET(connection_memory_limit),
		.default_text = "64KiB",
		.min = 8 * KIB,
		.max = 1 * MIB,
		.help = "Memory for the request line and headers of one "
			"connection.",
	},
	{
		.name = "request_timeout",
		.type = OPTION_DURATION,
		.offset = OFFSET(request_timeout_s),
		.default_text = "15s",
		.min = 1 * MS_PER_S,
		.max = 1 * MS_PER_HOUR,
		.unit_ms = MS_PER_S,
		.help = "Whole seconds a request's headers and body may take "
			"to arrive, from the accept (or, on a kept-alive "
			"connection, from the request's first byte), and "
			"the idle time before a connection is closed.",
	},
	{
		.name = "basic_auth_user",
		.type = OPTION_STRING,
		.offset = OFFSET(basic_auth_user),
		.check = config_check_user,
		.help = "User name that SNS must send with HTTP Basic "
			"authentication (https://USER:PASSWORD@host/sns in "
			"the subscription).  Needs basic_auth_password or "
			"basic_auth_password_file.",
	},
	{
		.name = "basic_auth_password",
		.type = OPTION_STRING,
		.offset = OFFSET(basic_auth_password),
		.help = "Password of basic_auth_user.  Never logged; prefer "
			"basic_auth_password_file or the environment.",
	},
	{
		.name = "basic_auth_password_file",
		.type = OPTION_STRING,
		.offset = OFFSET(basic_auth_password_file),
		.check = config_check_path,
		.help = "File whose first line is the password of "
			"basic_auth_user, such as a container secret.",
	},
	{
		.name = "allowed_sources",
		.type = OPTION_STRING,
		.offset = OFFSET(allowed_sources),
		.check = config_check_cidr_list,
		.help = "Addresses allowed to post to endpoint_path, as "
			"comma-separated IPv4/IPv6 addresses or CIDR "
			"blocks; others get 403.  Unset: any address.",
	},
	{
		.name = "trusted_proxies",
		.type = OPTION_STRING,
		.offset = OFFSET(trusted_proxies),
		.check = config_check_cidr_list,
		.help = "Load balancers whose X-Forwarded-For header is "
			"believed, as addresses or CIDR blocks.  Unset: the "
			"header is ignored and the peer address is the "
			"client.",
	},
	{
		.name = "metrics",
		.type = OPTION_BOOL,
		.offset = OFFSET(metrics),
		.default_text = "yes",
		.help = "Serve Prometheus metrics at GET /metrics.",
	},
	{
		.name = "topic",
		.type = OPTION_TOPIC_LIST,
		.offset = OFFSET(topics),
		.help = "Allowed TopicArn, exact or with '*' wildcards "
			"within a part.  Repeat for more.  With none, every "
			"message is rejected.",
	},
	{
		.name = "max_message_age",
		.type = OPTION_DURATION,
		.offset = OFFSET(max_message_age_s),
		.default_text = "1h",
		.min = 1 * MS_PER_S,
		.max = 24 * MS_PER_HOUR,
		.unit_ms = MS_PER_S,
		.help = "Messages with an older Timestamp are rejected.  "
			"Whole seconds.",
	},
	{
		.name = "max_clock_skew",
		.type = OPTION_DURATION,
		.offset = OFFSET(max_clock_skew_s),
		.default_text = "5m",
		.min = 0,
		.max = 1 * MS_PER_HOUR,
		.unit_ms = MS_PER_S,
		.help = "Messages with a Timestamp further in the future are "
			"rejected.  Whole seconds.",
	},
	{
		.name = "cert_dir",
		.type = OPTION_STRING,
		.offset = OFFSET(cert_dir),
		.check = config_check_path,
		.help = "Directory of pre-seeded "
			"SimpleNotificationService-*.pem signing "
			"certificates, tried before the network.",
	},
	{
		.name = "sns_host_pattern",
		.type = OPTION_STRING,
		.offset = OFFSET(sns_host_pattern),
		.check = config_check_host_pattern,
		.help = "fnmatch(3) pattern for certificate and SubscribeURL "
			"hosts (host or host:port) that replaces the AWS "
			"rule; for tests and local trials only.",
	},
	{
		.name = "ca_file",
		.type = OPTION_STRING,
		.offset = OFFSET(ca_file),
		.check = config_check_path,
		.help = "CA bundle for outbound TLS instead of the system "
			"store.",
	},
	{
		.name = "cert_cache_size",
		.type = OPTION_UINT,
		.offset = OFFSET(cert_cache_size),
		.default_text = "64",
		.min = 1,
		.max = 10000,
		.help = "Signing keys kept in memory.",
	},
	{
		.name = "cert_fetch_timeout",
		.type = OPTION_DURATION,
		.offset = OFFSET(cert_fetch_timeout_ms),
		.default_text = "5s",
		.min = 100,
		.max = 60 * MS_PER_S,
		.unit_ms = 1,
		.help = "Deadline of one signing certificate download.",
	},
	{
		.name = "cert_fetch_per_minute",
		.type = OPTION_UINT,
		.offset = OFFSET(cert_fetch_per_minute),
		.default_text = "30",
		.min = 1,
		.max = 6000,
		.help = "Signing certificate downloads per minute, all "
			"hosts together; messages beyond it get 503 so "
			"that SNS retries later.",
	},
	{
		.name = "cert_failure_ttl",
		.type = OPTION_DURATION,
		.offset = OFFSET(cert_failure_ttl_s),
		.default_text = "1m",
		.min = 0,
		.max = 1 * MS_PER_HOUR,
		.unit_ms = MS_PER_S,
		.help = "How long a certificate URL that failed to verify or "
			"was not found is not tried again; a failure that may "
			"pass (timeout, network error, 5xx) is kept 10 s at "
			"most, so SNS retries still succeed.  Whole seconds.",
	},
	{
		.name = "auto_confirm",
		.type = OPTION_BOOL,
		.offset = OFFSET(auto_confirm),
		.default_text = "yes",
		.help = "GET the SubscribeURL of a verified "
			"SubscriptionConfirmation.  With no, the URL is "
			"only logged.",
	},
	{
		.name = "confirm_timeout",
		.type = OPTION_DURATION,
		.offset = OFFSET(confirm_timeout_ms),
		.default_text = "5s",
		.min = 100,
		.max = 60 * MS_PER_S,
		.unit_ms = 1,
		.help = "Deadline of the SubscribeURL request.",
	},
	{
		.name = "discord_webhook_url",
		.type = OPTION_STRING,
		.offset = OFFSET(discord_webhook_url),
		.check = config_check_url,
		.help = "Discord webhook for alerts.  DISCORD_WEBHOOK_URL "
			"sets it too.",
	},
	{
		.name = "webhook",
		.type = OPTION_WEBHOOK_LIST,
		.offset = OFFSET(webhooks),
		.help = "Extra destination: NAME URL [generic|discord|slack|teams], "
			"generic when the format is left out.  Repeat for "
			"more.",
	},
	{
		.name = "filter",
		.type = OPTION_FILTER_LIST,
		.offset = OFFSET(filters),
		.help = "Alerts one destination receives: DESTINATION "
			"[min_severity=info|low|medium|high|critical] "
			"[events=GLOB,...], DESTINATION being discord or a "
			"webhook name and GLOB an fnmatch(3) pattern on the "
			"CloudTrail event name.  subscription_ended alerts "
			"always pass.  One per destination; without one, a "
			"destination receives every alert.",
	},
	{
		.name = "delivery_timeout",
		.type = OPTION_DURATION,
		.offset = OFFSET(delivery_timeout_ms),
		.default_text = "8s",
		.min = 100,
		.max = 60 * MS_PER_S,
		.unit_ms = 1,
		.help = "Deadline of one webhook POST, after which the "
			"delivery is retried.",
	},
	{
		.name = "timezone",
		.type = OPTION_STRING,
		.offset = OFFSET(timezone),
		.default_text = "UTC",
		.check = config_check_timezone,
		.help = "IANA time zone for times shown in alerts, e.g. "
			"Europe/Berlin.",
	},
	{
		.name = "language",
		.type = OPTION_STRING,
		.offset = OFFSET(language),
		.default_text = "en",
		.check = config_check_language,
		.help = "Language of the words people read in Discord, Slack "
			"and Teams alerts: en or ko (Korean).",
	},
	{
		.name = "high_risk_ports",
		.type = OPTION_PORTS,
		.offset = OFFSET(severity),
		.default_text = SEVERITY_DEFAULT_PORTS,
		.help = "Ports and ranges (22,8000-8100) that make ingress "
			"open to the internet severity_world_open_high_risk; "
			"the default is the AWS Security Hub EC2.19 list.",
	},
	{
		.name = "world_open_min_prefix",
		.type = OPTION_UINT,
		.offset = OFFSET(severity.world_open_min_prefix),
		.default_text = "0",
		.min = 0,
		.max = 32,
		.help = "An IPv4 CIDR with a shorter prefix (IPv6: 4 times "
			"this) counts as open to the internet, like /0; 8 "
			"catches 0.0.0.0/1.  0: only /0.",
	},
	{
		.name = "severity_world_open_high_risk",
		.type = OPTION_LEVEL,
		.offset = OFFSET(severity.world_open_high_risk),
		.default_text = "critical",
		.help = "Ingress opened to the internet on all ports or a "
			"port of high_risk_ports.",
	},
	{
		.name = "severity_world_open",
		.type = OPTION_LEVEL,
		.offset = OFFSET(severity.world_open),
		.default_text = "high",
		.help = "Other ingress opened to the internet.",
	},
	{
		.name = "severity_root",
		.type = OPTION_LEVEL,
		.offset = OFFSET(severity.root),
		.default_text = "high",
		.help = "Lowest level of any change by the root user.",
	},
	{
		.name = "severity_change",
		.type = OPTION_LEVEL,
		.offset = OFFSET(severity.change),
		.default_text = "medium",
		.help = "Other changes, and group creations and deletions.",
	},
	{
		.name = "severity_revoke",
		.type = OPTION_LEVEL,
		.offset = OFFSET(severity.revoke),
		.default_text = "low",
		.help = "Revocations, which only narrow access.",
	},
	{
		.name = "log_level",
		.type = OPTION_ENUM,
		.offset = OFFSET(log_level),
		.default_text = "info",
		.choices = config_log_levels,
		.help = "Lowest level logged.",
	},
	{
		.name = "log_format",
		.type = OPTION_ENUM,
		.offset = OFFSET(log_format),
		.default_text = "logfmt",
		.choices = config_log_formats,
		.help = "Log line format on standard error.",
	},
	{
		.name = "log_repeat_interval",
		.type = OPTION_DURATION,
		.offset = OFFSET(log_repeat_interval_s),
		.default_text = "10s",
		.min = 0,
		.max = 1 * MS_PER_HOUR,
		.unit_ms = MS_PER_S,
		.help = "A warning or error repeated with the same event and "
			"reason is logged at most once per interval, with "
			"the count of lines left out.  0 logs every one.",
	},
	{
		.name = "spool_path",
		.type = OPTION_STRING,
		.offset = OFFSET(spool_path),
		.default_text = CONFIG_DEFAULT_SPOOL_PATH,
		.check = config_check_path,
		.help = "SQLite spool file.  Every alert is committed here "
			"before SNS gets its 2xx; put it on a persistent "
			"volume.",
	},
	{
		.name = "dedup_window",
		.type = OPTION_DURATION,
		.offset = OFFSET(dedup_window_s),
		.default_text = "24h",
		.min = 1 * MS_PER_HOUR,
		.max = 30 * 24 * MS_PER_HOUR,
		.unit_ms = MS_PER_S,
		.help = "How long a delivered alert's id is remembered, so "
			"that SNS redeliveries and repeated EventBridge "
			"events are stored once.  At least 1h, SNS's retry "
			"limit.",
	},
	{
		.name = "delivery_max_age",
		.type = OPTION_DURATION,
		.offset = OFFSET(delivery_max_age_s),
		.default_text = "24h",
		.min = 1 * MS_PER_MIN,
		.max = 30 * 24 * MS_PER_HOUR,
		.unit_ms = MS_PER_S,
		.help = "An alert not delivered to a destination within "
			"this time becomes a dead letter there (kept in the "
			"spool; see snsrelay spool list dead).",
	},
	{
		.name = "retry_min_delay",
		.type = OPTION_DURATION,
		.offset = OFFSET(retry_min_delay_ms),
		.default_text = "2s",
		.min = 10,
		.max = 10 * MS_PER_MIN,
		.unit_ms = 1,
		.help = "Delay before the first retry of a failed delivery; "
			"it doubles with each attempt, with random jitter.",
	},
	{
		.name = "retry_max_delay",
		.type = OPTION_DURATION,
		.offset = OFFSET(retry_max_delay_ms),
		.default_text = "5m",
		.min = 10,
		.max = 24 * MS_PER_HOUR,
		.unit_ms = 1,
		.help = "Longest delay between two delivery attempts.",
	},
	{
		.name = "shutdown_grace",
		.type = OPTION_DURATION,
		.offset = OFFSET(shutdown_grace_ms),
		.default_text = "10s",
		.min = 0,
		.max = 5 * MS_PER_MIN,
		.unit_ms = 1,
		.help = "On SIGTERM or SIGINT, how long deliveries in flight "
			"may take to finish; the rest stays in the spool for "
			"the next start.",
	},
};

#define CONFIG_OPTION_COUNT (sizeof(config_options) / sizeof(*config_options))

/* Field access through the table's offsets. */
#define FIELD(cfg, opt, type) ((type *)((char *)(cfg) + (opt)->offset))

/*
 * Report
 */

void
config_report_add(struct config_report *report, const char *fmt, ...)
{
	struct buf text;
	char **lines;
	va_list ap;
	size_t i;
	int rc;

	buf_init(&text, CONFIG_PROBLEM_MAX + 512);
	va_start(ap, fmt);
	rc = buf_vprintf(&text, fmt, ap);
	va_end(ap);
	if (rc != 0)
		goto out;
	/* Values quoted by other modules' messages may hold control
	 * characters, which would break the one-problem-a-line output. */
	for (i = 0; i < text.len; i++)
		if ((unsigned char)text.data[i] < 0x20 || text.data[i] == 0x7f)
			text.data[i] = '?';

	lines = realloc(report->lines,
			(report->count + 1) * sizeof(*report->lines));
	if (lines == NULL)
		goto out;
	report->lines = lines;
	report->lines[report->count++] = buf_steal(&text);
out:
	buf_free(&text);
}

void
config_report_free(struct config_report *report)
{
	size_t i;

	for (i = 0; i < report->count; i++)
		free(report->lines[i]);
	free(report->lines);
	report->lines = NULL;
	report->count = 0;
}

static void
config_problem(struct config_source *src, const char *text)
{
	if (src->file != NULL)
		config_report_add(src->report, "%s:%u: %s", src->file,
				  src->line, text);
	else
		config_report_add(src->report, "environment:%s: %s",
				  src->variable, text);
	src->problems++;
}

/*
 * Copies value into out for a message: at most CONFIG_QUOTE_MAX bytes,
 * non-printable bytes as '?', "..." when shortened.
 */
static void
config_quote(const char *value, char *out, size_t out_size)
{
	size_t i, n = 0;

	for (i = 0; value[i] != '\0' && n + 4 < out_size; i++) {
		unsigned char c = (unsigned char)value[i];

		if (i == CONFIG_QUOTE_MAX) {
			memcpy(out + n, "...", 3);
			n += 3;
			break;
		}
		out[n++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
	}
	out[n] = '\0';
}

/* Webhook URLs carry their secret in the path: quote them redacted.  A
 * value that is not an http(s) URL may hold the secret anywhere, so none
 * of it is shown. */
static void
config_quote_url(const char *url, char *out, size_t out_size)
{
	char redacted[CONFIG_URL_MAX];

	if (strncasecmp(url, "https://", 8) != 0 &&
	    strncasecmp(url, "http://", 7) != 0) {
		config_quote("REDACTED", out, out_size);
		return;
	}
	log_redact_url(url, redacted, sizeof(redacted));
	config_quote(redacted, out, out_size);
}

/*
 * Value checks beyond the type
 */

static bool
config_is_printable(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
			return false;
	return true;
}

static int
config_check_path(const char *value, struct buf *why)
{
	if (strlen(value) >= PATH_MAX) {
		buf_printf(why, "path longer than %d bytes", PATH_MAX - 1);
		return -1;
	}
	return 0;
}

static int
config_check_endpoint(const char *value, struct buf *why)
{
	const char *expected = "expected a path such as /sns";

	if (value[0] != '/') {
		buf_printf(why, "must start with '/'; %s", expected);
		return -1;
	}
	if (strcmp(value, "/healthz") == 0 || strcmp(value, "/readyz") == 0 ||
	    strcmp(value, "/metrics") == 0) {
		buf_printf(why, "%s is a route of its own; %s", value,
			   expected);
		return -1;
	}
	if (strlen(value) > CONFIG_PATH_MAX || !config_is_printable(value) ||
	    strpbrk(value, " ?#") != NULL) {
		buf_printf(why, "must be at most %d printable characters "
			   "without spaces, '?' or '#'; %s", CONFIG_PATH_MAX,
			   expected);
		return -1;
	}
	return 0;
}

static bool
config_host_is_loopback(const char *authority, size_t len)
{
	static const char *const names[] = {
		"127.0.0.1", "[::1]", "localhost",
	};
	size_t i, n;

	for (i = 0; i < sizeof(names) / sizeof(*names); i++) {
		n = strlen(names[i]);
		if (len >= n && strncasecmp(authority, names[i], n) == 0 &&
		    (len == n || authority[n] == ':'))
			return true;
	}
	return false;
}

static int
config_check_url(const char *value, struct buf *why)
{
	const char *rule = "expected https://HOST/... (http:// only for "
			   "127.0.0.1, [::1] and localhost)";
	const char *authority;
	size_t len;

	if (strlen(value) > CONFIG_URL_MAX || !config_is_printable(value) ||
	    strchr(value, ' ') != NULL) {
		buf_printf(why, "must be at most %d printable characters "
			   "without spaces; %s", CONFIG_URL_MAX, rule);
		return -1;
	}
	if (strncasecmp(value, "https://", 8) == 0)
		authority = value + 8;
	else if (strncasecmp(value, "http://", 7) == 0)
		authority = value + 7;
	else {
		buf_printf(why, "unsupported scheme; %s", rule);
		return -1;
	}
	len = strcspn(authority, "/?#");
	if (len == 0) {
		buf_printf(why, "missing host; %s", rule);
		return -1;
	}
	if (authority == value + 7 &&
	    !config_host_is_loopback(authority, len)) {
		buf_printf(why, "http:// to a host other than loopback; %s",
			   rule);
		return -1;
	}
	return 0;
}

static bool
config_zone_name_is_safe(const char *name)
{
	const char *p;

	if (name[0] == '\0' || name[0] == '/' || strstr(name, "..") != NULL ||
	    strlen(name) > 255)
		return false;
	for (p = name; *p != '\0'; p++)
		if (!isalnum((unsigned char)*p) && strchr("/_+-", *p) == NULL)
			return false;
	return true;
}

static int
config_check_language(const char *value, struct buf *why)
{
	enum label_language lang;

	if (label_language_parse(value, &lang) == 0)
		return 0;
	buf_printf(why, "expected en or ko");
	return -1;
}

static int
config_check_timezone(const char *value, struct buf *why)
{
	const char *dir = getenv("TZDIR");
	struct buf path;
	struct stat st;
	int rc = -1;

	if (strcmp(value, "UTC") == 0)
		return 0;
	if (!config_zone_name_is_safe(value)) {
		buf_printf(why, "expected an IANA time zone name such as "
			   "Europe/Berlin");
		return -1;
	}
	if (dir == NULL || dir[0] == '\0')
		dir = CONFIG_ZONEINFO_DIR;
	buf_init(&path, PATH_MAX);
	if (buf_printf(&path, "%s/%s", dir, value) == 0 &&
	    stat(path.data, &st) == 0 && S_ISREG(st.st_mode))
		rc = 0;
	else
		buf_printf(why, "unknown time zone: no file %s/<name> (is "
			   "tzdata installed?); expected an IANA name such "
			   "as Europe/Berlin", dir);
	buf_free(&path);
	return rc;
}

static int
config_check_host_pattern(const char *value, struct buf *why)
{
	if (strlen(value) > 255 || !config_is_printable(value) ||
	    strchr(value, ' ') != NULL) {
		buf_printf(why, "expected an fnmatch(3) pattern such as "
			   "127.0.0.1:* of at most 255 printable "
			   "characters without spaces");
		return -1;
	}
	return 0;
}

static int
config_check_cidr_list(const char *value, struct buf *why)
{
	struct cidr_list list = { NULL, 0 };
	int rc = cidr_list_parse(value, &list, why);

	if (rc == 0 && list.count == 0) {
		buf_printf(why, "expected addresses or CIDR blocks such as "
			   "10.0.0.0/8, 2001:db8::/32");
		rc = -1;
	}
	cidr_list_free(&list);
	return rc;
}

/* RFC 7617: the user name of HTTP Basic cannot contain a colon. */
static int
config_check_user(const char *value, struct buf *why)
{
	if (*value == '\0' || strlen(value) > 255 ||
	    !config_is_printable(value) || strchr(value, ':') != NULL) {
		buf_printf(why, "expected at most 255 printable characters "
			   "without ':'");
		return -1;
	}
	return 0;
}

/*
 * Numbers, durations and sizes
 */

/* Parses the leading decimal digits of s into *value; returns the end. */
static const char *
config_parse_digits(const char *s, unsigned long long *value)
{
	unsigned long long v = 0;
	const char *p;

	for (p = s; *p >= '0' && *p <= '9'; p++) {
		unsigned digit = (unsigned)(*p - '0');

		if (v > (ULLONG_MAX - digit) / 10)
			return NULL;
		v = v * 10 + digit;
	}
	if (p == s)
		return NULL;
	*value = v;
	return p;
}

struct config_unit {
	const char *suffix;
	unsigned long long factor;
};

static const struct config_unit config_duration_units[] = {
	{ "", MS_PER_S }, { "ms", 1 }, { "s", MS_PER_S },
	{ "m", MS_PER_MIN }, { "h", MS_PER_HOUR },
};

static const struct config_unit config_size_units[] = {
	{ "", 1 }, { "k", KIB }, { "KiB", KIB }, { "m", MIB },
	{ "MiB", MIB },
};

/* Parses "NUMBER[unit]" into *value (number times the unit's factor). */
static int
config_parse_scaled(const char *s, const struct config_unit *units,
		    size_t unit_count, unsigned long long *value)
{
	unsigned long long number;
	const char *end;
	size_t i;

	end = config_parse_digits(s, &number);
	if (end == NULL)
		return -1;
	for (i = 0; i < unit_count; i++) {
		if (strcasecmp(end, units[i].suffix) != 0)
			continue;
		if (number > ULLONG_MAX / units[i].factor)
			return -1;
		*value = number * units[i].factor;
		return 0;
	}
	return -1;
}

/* Formats a bound with the largest unit that divides it exactly. */
static void
config_format_scaled(unsigned long long value, enum option_type type,
		     char *out, size_t out_size)
{
	if (type == OPTION_DURATION) {
		if (value != 0 && value % MS_PER_HOUR == 0)
			snprintf(out, out_size, "%lluh", value / MS_PER_HOUR);
		else if (value != 0 && value % MS_PER_MIN == 0)
			snprintf(out, out_size, "%llum", value / MS_PER_MIN);
		else if (value % MS_PER_S == 0)
			snprintf(out, out_size, "%llus", value / MS_PER_S);
		else
			snprintf(out, out_size, "%llums", value);
	} else if (type == OPTION_SIZE && value != 0 && value % MIB == 0) {
		snprintf(out, out_size, "%lluMiB", value / MIB);
	} else if (type == OPTION_SIZE && value != 0 && value % KIB == 0) {
		snprintf(out, out_size, "%lluKiB", value / KIB);
	} else {
		snprintf(out, out_size, "%llu", value);
	}
}

static int
config_check_range(const struct option_def *opt, const char *text,
		   unsigned long long value, struct buf *why)
{
	char low[32], high[32], quoted[CONFIG_QUOTE_MAX + 8];

	if (value >= opt->min && value <= opt->max)
		return 0;
	config_format_scaled(opt->min, opt->type, low, sizeof(low));
	config_format_scaled(opt->max, opt->type, high, sizeof(high));
	config_quote(text, quoted, sizeof(quoted));
	buf_printf(why, "%s = %s is out of range: expected %s to %s",
		   opt->name, quoted, low, high);
	return -1;
}

/*
 * Setters, one per type.  Each returns 0, or -1 with the problem in why.
 */

static int
config_invalid(const struct option_def *opt, const char *value,
	       const char *expected, struct buf *why)
{
	char quoted[CONFIG_QUOTE_MAX + 8];

	if (opt->check == config_check_url)
		config_quote_url(value, quoted, sizeof(quoted));
	else
		config_quote(value, quoted, sizeof(quoted));
	buf_printf(why, "invalid value \"%s\" for %s: %s", quoted, opt->name,
		   expected);
	return -1;
}

static int
config_set_string(const struct option_def *opt, struct relay_config *cfg,
		  const char *value, struct buf *why)
{
	char **field = FIELD(cfg, opt, char *);
	struct buf reason;
	char *copy = NULL;
	int rc = -1;

	buf_init(&reason, CONFIG_PROBLEM_MAX / 2);
	if (value[0] == '\0' && opt->default_text != NULL) {
		rc = config_invalid(opt, value, "must not be empty", why);
		goto out;
	}
	if (value[0] != '\0' && opt->check != NULL &&
	    opt->check(value, &reason) != 0) {
		rc = config_invalid(opt, value,
				    reason.data ? reason.data : "rejected",
				    why);
		goto out;
	}
	if (value[0] != '\0' && (copy = strdup(value)) == NULL) {
		buf_printf(why, "out of memory");
		goto out;
	}
	free(*field);
	*field = copy;
	rc = 0;
out:
	buf_free(&reason);
	return rc;
}

static int
config_parse_bool(const char *value, bool *out)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };
	size_t i;

	for (i = 0; i < sizeof(yes) / sizeof(*yes); i++) {
		if (strcasecmp(value, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(value, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return -1;
}

static int
config_set_bool(const struct option_def *opt, struct relay_config *cfg,
		const char *value, struct buf *why)
{
	if (config_parse_bool(value, FIELD(cfg, opt, bool)) != 0)
		return config_invalid(opt, value, "expected yes, no, true, "
				      "false, on, off, 1 or 0", why);
	return 0;
}

static int
config_set_uint(const struct option_def *opt, struct relay_config *cfg,
		const char *value, struct buf *why)
{
	unsigned long long number;
	const char *end = config_parse_digits(value, &number);

	if (end == NULL || *end != '\0')
		return config_invalid(opt, value, "expected a whole number",
				      why);
	if (config_check_range(opt, value, number, why) != 0)
		return -1;
	*FIELD(cfg, opt, unsigned) = (unsigned)number;
	return 0;
}

static int
config_set_duration(const struct option_def *opt, struct relay_config *cfg,
		    const char *value, struct buf *why)
{
	unsigned long long ms;

	if (config_parse_scaled(value, config_duration_units,
				sizeof(config_duration_units) /
				sizeof(*config_duration_units), &ms) != 0)
		return config_invalid(opt, value, "expected a duration such "
				      "as 15, 15s, 500ms, 5m or 1h (a bare "
				      "number is seconds)", why);
	if (ms % opt->unit_ms != 0)
		return config_invalid(opt, value, "expected whole seconds, "
				      "such as 15s", why);
	if (config_check_range(opt, value, ms, why) != 0)
		return -1;
	*FIELD(cfg, opt, unsigned) = (unsigned)(ms / opt->unit_ms);
	return 0;
}

static int
config_set_size(const struct option_def *opt, struct relay_config *cfg,
		const char *value, struct buf *why)
{
	unsigned long long bytes;

	if (config_parse_scaled(value, config_size_units,
				sizeof(config_size_units) /
				sizeof(*config_size_units), &bytes) != 0)
		return config_invalid(opt, value, "expected a size such as "
				      "1048576, 64k, 64KiB, 1m or 1MiB (a "
				      "bare number is bytes)", why);
	if (config_check_range(opt, value, bytes, why) != 0)
		return -1;
	*FIELD(cfg, opt, size_t) = (size_t)bytes;
	return 0;
}

static int
config_set_enum(const struct option_def *opt, struct relay_config *cfg,
		const char *value, struct buf *why)
{
	char **field = FIELD(cfg, opt, char *);
	struct buf expected;
	char *copy;
	size_t i;

	for (i = 0; opt->choices[i] != NULL; i++) {
		if (strcasecmp(value, opt->choices[i]) != 0)
			continue;
		if ((copy = strdup(opt->choices[i])) == NULL) {
			buf_printf(why, "out of memory");
			return -1;
		}
		free(*field);
		*field = copy;
		return 0;
	}

	buf_init(&expected, 256);
	buf_append_str(&expected, "expected one of");
	for (i = 0; opt->choices[i] != NULL; i++)
		buf_printf(&expected, "%s %s", i ? "," : "", opt->choices[i]);
	config_invalid(opt, value, expected.data ? expected.data : "", why);
	buf_free(&expected);
	return -1;
}

/*
 * Splits "HOST:PORT" or "[HOST]:PORT" and checks that HOST is a numeric
 * IPv4 or IPv6 address.  host receives the address without brackets.
 */
static int
config_parse_listen(const char *value, char *host, size_t host_size,
		    unsigned *port)
{
	unsigned char addr[sizeof(struct in6_addr)];
	unsigned long long number;
	const char *colon, *end, *start = value;
	size_t len;
	int family = AF_INET;

	colon = strrchr(value, ':');
	if (colon == NULL)
		return -1;
	len = (size_t)(colon - value);
	if (value[0] == '[') {
		if (len < 2 || value[len - 1] != ']')
			return -1;
		start = value + 1;
		len -= 2;
		family = AF_INET6;
	}
	if (len == 0 || len >= host_size)
		return -1;
	memcpy(host, start, len);
	host[len] = '\0';
	if (inet_pton(family, host, addr) != 1)
		return -1;

	end = config_parse_digits(colon + 1, &number);
	if (end == NULL || *end != '\0' || number > 65535)
		return -1;
	*port = (unsigned)number;
	return 0;
}

static int
config_set_listen(const struct option_def *opt, struct relay_config *cfg,
		  const char *value, struct buf *why)
{
	char host[INET6_ADDRSTRLEN + 1];
	unsigned port;
	char *copy;

	if (config_parse_listen(value, host, sizeof(host), &port) != 0)
		return config_invalid(opt, value, "expected a numeric "
				      "address and port such as "
				      "127.0.0.1:8080, [::1]:8080 or [::]:0",
				      why);
	if ((copy = strdup(host)) == NULL) {
		buf_printf(why, "out of memory");
		return -1;
	}
	free(cfg->listen_host);
	cfg->listen_host = copy;
	cfg->listen_port = port;
	return 0;
}

static int
config_set_ports(const struct option_def *opt, struct relay_config *cfg,
		 const char *value, struct buf *why)
{
	struct buf reason;
	int rc = 0;

	buf_init(&reason, CONFIG_PROBLEM_MAX / 2);
	if (severity_parse_ports(FIELD(cfg, opt, struct severity_table),
				 value, &reason) != 0)
		rc = config_invalid(opt, value,
				    reason.data ? reason.data : "rejected",
				    why);
	buf_free(&reason);
	return rc;
}

static int
config_set_level(const struct option_def *opt, struct relay_config *cfg,
		 const char *value, struct buf *why)
{
	int level = severity_parse_level(value);

	if (level < 0)
		return config_invalid(opt, value, "expected info, low, "
				      "medium, high or critical", why);
	*FIELD(cfg, opt, int) = level;
	return 0;
}

static int
config_add_topic(const struct option_def *opt, struct relay_config *cfg,
		 const char *value, struct buf *why)
{
	struct err e;
	char **topics;
	char *copy;

	err_clear(&e);
	if (topic_pattern_check(value, &e) != 0)
		return config_invalid(opt, value, e.msg, why);
	topics = realloc(cfg->topics,
			 (cfg->topic_count + 1) * sizeof(*cfg->topics));
	if (topics == NULL || (copy = strdup(value)) == NULL) {
		if (topics != NULL)
			cfg->topics = topics;
		buf_printf(why, "out of memory");
		return -1;
	}
	cfg->topics = topics;
	cfg->topics[cfg->topic_count++] = copy;
	return 0;
}

/*
 * Webhooks
 */

static bool
config_webhook_name_is_valid(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > CONFIG_WEBHOOK_NAME_MAX)
		return false;
	return strspn(name, "abcdefghijklmnopqrstuvwxyz"
			    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") == n;
}

static const struct webhook_config *
config_find_webhook(const struct relay_config *cfg, const char *name,
		    size_t before)
{
	size_t i;

	for (i = 0; i < before && i < cfg->webhook_count; i++)
		if (strcmp(cfg->webhooks[i].name, name) == 0)
			return &cfg->webhooks[i];
	return NULL;
}

static int
config_parse_webhook_format(const char *text, enum webhook_format *format)
{
	if (text == NULL || strcasecmp(text, "generic") == 0)
		*format = WEBHOOK_FORMAT_GENERIC;
	else if (strcasecmp(text, "discord") == 0)
		*format = WEBHOOK_FORMAT_DISCORD;
	else if (strcasecmp(text, "slack") == 0)
		*format = WEBHOOK_FORMAT_SLACK;
	else if (strcasecmp(text, "teams") == 0)
		*format = WEBHOOK_FORMAT_TEAMS;
	else
		return -1;
	return 0;
}

/* Checks one webhook entry; fills why and returns -1 on a problem. */
static int
config_check_webhook(const struct relay_config *cfg, const char *name,
		     const char *url, const char *format_text,
		     enum webhook_format *format, struct buf *why)
{
	char quoted[CONFIG_QUOTE_MAX + 8];
	struct buf reason;
	int rc = -1;

	buf_init(&reason, CONFIG_PROBLEM_MAX / 2);
	config_quote(name, quoted, sizeof(quoted));
	if (!config_webhook_name_is_valid(name))
		buf_printf(why, "invalid webhook name \"%s\": expected 1 to "
			   "%d of A-Z, a-z, 0-9, '_' and '-'", quoted,
			   CONFIG_WEBHOOK_NAME_MAX);
	else if (config_find_webhook(cfg, name, cfg->webhook_count))
		buf_printf(why, "duplicate webhook name \"%s\"", quoted);
	else if (cfg->webhook_count >= LIMIT_WEBHOOKS)
		buf_printf(why, "too many webhooks: at most %d",
			   LIMIT_WEBHOOKS);
	else if (config_check_url(url, &reason) != 0) {
		config_quote_url(url, quoted, sizeof(quoted));
		buf_printf(why, "invalid URL \"%s\" for webhook %s: %s",
			   quoted, name, reason.data);
	} else if (config_parse_webhook_format(format_text, format) != 0) {
		config_quote(format_text, quoted, sizeof(quoted));
		buf_printf(why, "invalid format \"%s\" for webhook %s: "
			   "expected generic, discord, slack or teams",
			   quoted, name);
	} else
		rc = 0;
	buf_free(&reason);
	return rc;
}

/* Splits value at blanks into at most max words; returns the count,
 * or max + 1 when there are more. */
static size_t
config_split_words(char *value, char **words, size_t max)
{
	size_t count = 0;
	char *p = value;

	while (*p != '\0') {
		p += strspn(p, " \t");
		if (*p == '\0')
			break;
		if (count == max)
			return max + 1;
		words[count++] = p;
		p += strcspn(p, " \t");
		if (*p != '\0')
			*p++ = '\0';
	}
	return count;
}

static int
config_append_webhook(struct relay_config *cfg, const char *name,
		      const char *url, enum webhook_format format)
{
	struct webhook_config *list, *hook;

	list = realloc(cfg->webhooks,
		       (cfg->webhook_count + 1) * sizeof(*cfg->webhooks));
	if (list == NULL)
		return -1;
	cfg->webhooks = list;
	hook = &list[cfg->webhook_count];
	hook->name = strdup(name);
	hook->url = strdup(url);
	hook->format = format;
	if (hook->name == NULL || hook->url == NULL) {
		free(hook->name);
		free(hook->url);
		return -1;
	}
	cfg->webhook_count++;
	return 0;
}

static int
config_add_webhook(const struct option_def *opt, struct relay_config *cfg,
		   const char *value, struct buf *why)
{
	enum webhook_format format;
	char *words[3], *copy;
	size_t count;
	int rc = -1;

	if ((copy = strdup(value)) == NULL) {
		buf_printf(why, "out of memory");
		return -1;
	}
	count = config_split_words(copy, words, 3);
	if (count < 2 || count > 3) {
		buf_printf(why, "invalid value for webhook: expected "
			   "NAME URL [generic|discord|slack|teams]");
		goto out;
	}
	if (config_check_webhook(cfg, words[0], words[1],
				 count == 3 ? words[2] : NULL, &format,
				 why) != 0)
		goto out;
	if (config_append_webhook(cfg, words[0], words[1], format) != 0) {
		buf_printf(why, "out of memory");
		goto out;
	}
	rc = 0;
out:
	free(copy);
	return rc;
}

/*
 * Filters
 */

#define CONFIG_FILTER_USAGE \
	"expected DESTINATION [min_severity=LEVEL] [events=GLOB,...]"

static void
config_filter_free(struct filter_config *filter)
{
	size_t i;

	for (i = 0; i < filter->event_count; i++)
		free(filter->events[i]);
	free(filter->events);
	free(filter->destination);
	free(filter->origin);
	memset(filter, 0, sizeof(*filter));
}

static int
config_filter_set_severity(struct filter_config *filter, const char *text,
			   struct buf *why)
{
	char quoted[CONFIG_QUOTE_MAX + 8];
	int level = filter_parse_severity(text);

	if (level < 0) {
		config_quote(text, quoted, sizeof(quoted));
		buf_printf(why, "invalid min_severity \"%s\" for filter %s: "
			   "expected info, low, medium, high or critical",
			   quoted, filter->destination);
		return -1;
	}
	filter->min_severity = level;
	return 0;
}

static int
config_filter_add_event(struct filter_config *filter, const char *glob)
{
	char **events, *copy;

	events = realloc(filter->events,
			 (filter->event_count + 1) * sizeof(*events));
	if (events == NULL)
		return -1;
	filter->events = events;
	if ((copy = strdup(glob)) == NULL)
		return -1;
	filter->events[filter->event_count++] = copy;
	return 0;
}

/* Splits text at ',' into filter->events; an empty pattern is a
 * problem. */
static int
config_filter_set_events(struct filter_config *filter, char *text,
			 struct buf *why)
{
	char *glob, *next;

	for (glob = text; glob != NULL; glob = next) {
		next = strchr(glob, ',');
		if (next != NULL)
			*next++ = '\0';
		if (glob[0] == '\0') {
			buf_printf(why, "empty pattern in events of filter "
				   "%s: expected GLOB,GLOB,... such as "
				   "Authorize*,DeleteSecurityGroup",
				   filter->destination);
			return -1;
		}
		if (config_filter_add_event(filter, glob) != 0) {
			buf_printf(why, "out of memory");
			return -1;
		}
	}
	return 0;
}

/* Applies one "key=value" word of a filter entry. */
static int
config_filter_set_word(struct filter_config *filter, char *word,
		       bool *seen_severity, struct buf *why)
{
	char quoted[CONFIG_QUOTE_MAX + 8];

	if (strncmp(word, "min_severity=", 13) == 0 && !*seen_severity) {
		*seen_severity = true;
		return config_filter_set_severity(filter, word + 13, why);
	}
	if (strncmp(word, "events=", 7) == 0 && filter->events == NULL)
		return config_filter_set_events(filter, word + 7, why);
	config_quote(word, quoted, sizeof(quoted));
	if (strncmp(word, "min_severity=", 13) == 0 ||
	    strncmp(word, "events=", 7) == 0)
		buf_printf(why, "\"%s\" repeats a setting of filter %s",
			   quoted, filter->destination);
	else
		buf_printf(why, "invalid setting \"%s\" for filter %s: "
			   "expected min_severity=LEVEL or events=GLOB,...",
			   quoted, filter->destination);
	return -1;
}

/* Checks the destination of a new filter; fills why on a problem. */
static int
config_filter_check_destination(const struct relay_config *cfg,
				const char *name, struct buf *why)
{
	char quoted[CONFIG_QUOTE_MAX + 8];

	config_quote(name, quoted, sizeof(quoted));
	if (!config_webhook_name_is_valid(name))
		buf_printf(why, "invalid filter destination \"%s\": expected "
			   "discord or a webhook name", quoted);
	else if (filter_find(cfg, name) != NULL)
		buf_printf(why, "duplicate filter for destination \"%s\"",
			   quoted);
	else if (cfg->filter_count >= LIMIT_WEBHOOKS + 1)
		buf_printf(why, "too many filters: at most %d",
			   LIMIT_WEBHOOKS + 1);
	else
		return 0;
	return -1;
}

/* Parses words[0..count) into filter. */
static int
config_filter_parse(const struct relay_config *cfg, char **words,
		    size_t count, struct filter_config *filter,
		    struct buf *why)
{
	bool seen_severity = false;
	size_t i;

	if (config_filter_check_destination(cfg, words[0], why) != 0)
		return -1;
	if ((filter->destination = strdup(words[0])) == NULL) {
		buf_printf(why, "out of memory");
		return -1;
	}
	for (i = 1; i < count; i++)
		if (config_filter_set_word(filter, words[i], &seen_severity,
					   why) != 0)
			return -1;
	if (count == 1) {
		buf_printf(why, "filter %s sets nothing: add "
			   "min_severity=LEVEL or events=GLOB,...",
			   filter->destination);
		return -1;
	}
	return 0;
}

static int
config_add_filter(const struct option_def *opt, struct relay_config *cfg,
		  const char *value, struct buf *why)
{
	struct filter_config filter, *list;
	char *words[4], *copy;
	size_t count;
	int rc = -1;

	(void)opt;
	memset(&filter, 0, sizeof(filter));
	if ((copy = strdup(value)) == NULL) {
		buf_printf(why, "out of memory");
		return -1;
	}
	count = config_split_words(copy, words, 3);
	if (count < 1 || count > 3) {
		buf_printf(why, "invalid value for filter: "
			   CONFIG_FILTER_USAGE);
		goto out;
	}
	if (config_filter_parse(cfg, words, count, &filter, why) != 0)
		goto out;
	list = realloc(cfg->filters, (cfg->filter_count + 1) * sizeof(*list));
	if (list == NULL) {
		buf_printf(why, "out of memory");
		goto out;
	}
	cfg->filters = list;
	list[cfg->filter_count++] = filter;
	memset(&filter, 0, sizeof(filter));
	rc = 0;
out:
	config_filter_free(&filter);
	free(copy);
	return rc;
}

/* Records where the filter added last was given, for config_validate. */
static void
config_filter_set_origin(struct config_source *src)
{
	struct filter_config *filter;
	struct buf origin;

	if (src->cfg->filter_count == 0)
		return;
	filter = &src->cfg->filters[src->cfg->filter_count - 1];
	buf_init(&origin, CONFIG_PROBLEM_MAX);
	if (src->file != NULL)
		buf_printf(&origin, "%s:%u", src->file, src->line);
	else
		buf_printf(&origin, "environment:%s", src->variable);
	free(filter->origin);
	filter->origin = buf_steal(&origin);
	buf_free(&origin);
}

static void
config_clear_list(const struct option_def *opt, struct relay_config *cfg)
{
	size_t i;

	if (opt->type == OPTION_FILTER_LIST) {
		for (i = 0; i < cfg->filter_count; i++)
			config_filter_free(&cfg->filters[i]);
		free(cfg->filters);
		cfg->filters = NULL;
		cfg->filter_count = 0;
		return;
	}
	if (opt->type == OPTION_TOPIC_LIST) {
		for (i = 0; i < cfg->topic_count; i++)
			free(cfg->topics[i]);
		free(cfg->topics);
		cfg->topics = NULL;
		cfg->topic_count = 0;
		return;
	}
	for (i = 0; i < cfg->webhook_count; i++) {
		free(cfg->webhooks[i].name);
		free(cfg->webhooks[i].url);
	}
	free(cfg->webhooks);
	cfg->webhooks = NULL;
	cfg->webhook_count = 0;
}

/* Applies value to opt: replaces a single value, appends to a list. */
static int
config_set(const struct option_def *opt, struct relay_config *cfg,
	   const char *value, struct buf *why)
{
	switch (opt->type) {
	case OPTION_STRING:
		return config_set_string(opt, cfg, value, why);
	case OPTION_BOOL:
		return config_set_bool(opt, cfg, value, why);
	case OPTION_UINT:
		return config_set_uint(opt, cfg, value, why);
	case OPTION_DURATION:
		return config_set_duration(opt, cfg, value, why);
	case OPTION_SIZE:
		return config_set_size(opt, cfg, value, why);
	case OPTION_ENUM:
		return config_set_enum(opt, cfg, value, why);
	case OPTION_LISTEN:
		return config_set_listen(opt, cfg, value, why);
	case OPTION_TOPIC_LIST:
		return config_add_topic(opt, cfg, value, why);
	case OPTION_WEBHOOK_LIST:
		return config_add_webhook(opt, cfg, value, why);
	case OPTION_FILTER_LIST:
		return config_add_filter(opt, cfg, value, why);
	case OPTION_PORTS:
		return config_set_ports(opt, cfg, value, why);
	case OPTION_LEVEL:
		return config_set_level(opt, cfg, value, why);
	}
	buf_printf(why, "unsupported option type");
	return -1;
}

/* Applies value and reports a problem through src. */
static void
config_apply(struct config_source *src, const struct option_def *opt,
	     const char *value)
{
	struct buf why;

	buf_init(&why, CONFIG_PROBLEM_MAX);
	if (config_set(opt, src->cfg, value, &why) != 0)
		config_problem(src, why.data ? why.data : "invalid value");
	else if (opt->type == OPTION_FILTER_LIST)
		config_filter_set_origin(src);
	buf_free(&why);
}

/*
 * Defaults and lookup
 */

static bool
config_is_list(const struct option_def *opt)
{
	return opt->type == OPTION_TOPIC_LIST ||
	       opt->type == OPTION_WEBHOOK_LIST ||
	       opt->type == OPTION_FILTER_LIST;
}

int
config_init_defaults(struct relay_config *cfg)
{
	const struct option_def *opt;
	struct buf why;
	int rc = 0;

	memset(cfg, 0, sizeof(*cfg));
	buf_init(&why, CONFIG_PROBLEM_MAX);
	for (opt = config_options; opt < config_options + CONFIG_OPTION_COUNT;
	     opt++) {
		if (opt->default_text == NULL)
			continue;
		if (config_set(opt, cfg, opt->default_text, &why) != 0) {
			rc = -1;
			break;
		}
	}
	buf_free(&why);
	if (rc != 0)
		config_free(cfg);
	return rc;
}

static const struct option_def *
config_find_option(const char *name)
{
	size_t i;

	for (i = 0; i < CONFIG_OPTION_COUNT; i++)
		if (strcmp(config_options[i].name, name) == 0)
			return &config_options[i];
	return NULL;
}

/* Edit distance of a and b, case-insensitive and with '-' equal to '_'. */
static size_t
config_distance(const char *a, const char *b)
{
	size_t row[CONFIG_QUOTE_MAX + 1], la = strlen(a), lb = strlen(b);
	size_t i, j, diagonal, above;

	if (la > CONFIG_QUOTE_MAX || lb > CONFIG_QUOTE_MAX)
		return SIZE_MAX;
	for (j = 0; j <= lb; j++)
		row[j] = j;
	for (i = 1; i <= la; i++) {
		diagonal = row[0];
		row[0] = i;
		for (j = 1; j <= lb; j++) {
			char ca = a[i - 1] == '-' ? '_' : (char)tolower(
				(unsigned char)a[i - 1]);
			size_t cost = ca != b[j - 1];

			above = row[j];
			row[j] = diagonal + cost;
			if (above + 1 < row[j])
				row[j] = above + 1;
			if (row[j - 1] + 1 < row[j])
				row[j] = row[j - 1] + 1;
			diagonal = above;
		}
	}
	return row[lb];
}

/* The closest option name, or NULL when none is close. */
static const char *
config_suggest(const char *name)
{
	const char *best = NULL;
	size_t i, d, best_d = SIZE_MAX, limit;

	limit = strlen(name) / 4 > 2 ? strlen(name) / 4 : 2;
	for (i = 0; i < CONFIG_OPTION_COUNT; i++) {
		d = config_distance(name, config_options[i].name);
		if (d <= limit && d < best_d) {
			best = config_options[i].name;
			best_d = d;
		}
	}
	return best;
}

static void
config_report_unknown(struct config_source *src, const char *name)
{
	const char *suggestion = config_suggest(name);
	char quoted[CONFIG_QUOTE_MAX + 8];
	struct buf why;

	config_quote(name, quoted, sizeof(quoted));
	buf_init(&why, CONFIG_PROBLEM_MAX);
	if (suggestion != NULL)
		buf_printf(&why, "unknown option \"%s\"; did you mean "
			   "\"%s\"?", quoted, suggestion);
	else
		buf_printf(&why, "unknown option \"%s\"; snsrelay "
			   "--help-config lists the options", quoted);
	config_problem(src, why.data ? why.data : "unknown option");
	buf_free(&why);
}

/*
 * File parser
 */

struct config_file_state {
	struct config_source src;
	unsigned first_line[CONFIG_OPTION_COUNT];	/* 0: not seen yet */
};

static char *
config_trim(char *s)
{
	size_t n;

	s += strspn(s, " \t");
	n = strlen(s);
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' ||
			 s[n - 1] == '\r' || s[n - 1] == '\n'))
		s[--n] = '\0';
	return s;
}

/* Removes the quotes or a trailing " # comment" from value in place;
 * returns NULL with why set when the quotes do not pair up. */
static char *
config_unquote(char *value, struct buf *why)
{
	char *end, *rest;

	if (value[0] != '"') {
		for (end = value; (end = strchr(end, '#')) != NULL; end++) {
			if (end == value || (end[-1] != ' ' && end[-1] != '\t'))
				continue;
			*end = '\0';
			return config_trim(value);
		}
		return value;
	}
	end = strchr(value + 1, '"');
	if (end == NULL) {
		buf_printf(why, "missing closing '\"' in the value");
		return NULL;
	}
	rest = config_trim(end + 1);
	if (rest[0] != '\0' && rest[0] != '#') {
		buf_printf(why, "unexpected text after the closing '\"'");
		return NULL;
	}
	*end = '\0';
	return value + 1;
}

/* Splits "key = value"; returns -1 with why set on a syntax problem. */
static int
config_split_line(char *text, char **key, char **value, struct buf *why)
{
	char quoted[CONFIG_QUOTE_MAX + 8];
	char *eq = strchr(text, '=');

	if (eq == NULL) {
		config_quote(text, quoted, sizeof(quoted));
		buf_printf(why, "missing '=' in \"%s\"; expected "
			   "\"option = value\"", quoted);
		return -1;
	}
	*eq = '\0';
	*key = config_trim(text);
	if ((*key)[0] == '\0') {
		buf_printf(why, "missing option name before '='");
		return -1;
	}
	*value = config_unquote(config_trim(eq + 1), why);
	return *value == NULL ? -1 : 0;
}

static void
config_parse_line(struct config_file_state *state, char *text)
{
	const struct option_def *opt;
	char *key, *value;
	struct buf why;
	size_t index;

	buf_init(&why, CONFIG_PROBLEM_MAX);
	if (config_split_line(text, &key, &value, &why) != 0) {
		config_problem(&state->src, why.data);
		goto out;
	}
	if ((opt = config_find_option(key)) == NULL) {
		config_report_unknown(&state->src, key);
		goto out;
	}
	index = (size_t)(opt - config_options);
	if (!config_is_list(opt) && state->first_line[index] != 0) {
		buf_printf(&why, "option \"%s\" given twice (first on line "
			   "%u)", opt->name, state->first_line[index]);
		config_problem(&state->src, why.data);
		goto out;
	}
	if (state->first_line[index] == 0)
		state->first_line[index] = state->src.line;
	config_apply(&state->src, opt, value);
out:
	buf_free(&why);
}

static void
config_read_line(struct config_file_state *state, char *line, size_t len)
{
	char *text;

	if (len > CONFIG_LINE_MAX) {
		config_problem(&state->src, "line longer than 8192 bytes");
		return;
	}
	if (strlen(line) != len) {
		config_problem(&state->src, "line contains a NUL byte");
		return;
	}
	text = config_trim(line);
	if (text[0] == '\0' || text[0] == '#')
		return;
	config_parse_line(state, text);
}

int
config_load_file(struct relay_config *cfg, const char *path,
		 struct config_report *report)
{
	struct config_file_state state;
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	FILE *fp;

	memset(&state, 0, sizeof(state));
	state.src.cfg = cfg;
	state.src.report = report;
	state.src.file = path;
	if ((fp = fopen(path, "r")) == NULL) {
		config_report_add(report, "%s: cannot open: %s", path,
				  strerror(errno));
		return 1;
	}
	while ((len = getline(&line, &cap, fp)) >= 0) {
		state.src.line++;
		config_read_line(&state, line, (size_t)len);
	}
	if (ferror(fp)) {
		config_report_add(report, "%s: read failed: %s", path,
				  strerror(errno));
		state.src.problems++;
	}
	free(line);
	fclose(fp);
	return state.src.problems;
}

/*
 * Environment
 */

static void
config_env_name(const struct option_def *opt, char *out, size_t out_size)
{
	size_t i, n;

	n = (size_t)snprintf(out, out_size, "SNSRELAY_");
	for (i = 0; opt->name[i] != '\0' && n + 1 < out_size; i++)
		out[n++] = (char)toupper((unsigned char)opt->name[i]);
	out[n] = '\0';
}

/* Replaces a list with the items of value, split at any of seps. */
static void
config_env_list(struct config_source *src, const struct option_def *opt,
		const char *value, const char *seps)
{
	char *copy = strdup(value), *item, *next;

	config_clear_list(opt, src->cfg);
	if (copy == NULL) {
		config_problem(src, "out of memory");
		return;
	}
	for (item = copy; item != NULL; item = next) {
		next = item + strcspn(item, seps);
		if (*next != '\0')
			*next++ = '\0';
		else
			next = NULL;
		item = config_trim(item);
		if (item[0] != '\0')
			config_apply(src, opt, item);
	}
	free(copy);
}

static void
config_env_option(struct config_source *src, const struct option_def *opt,
		  const char *value)
{
	char *copy;

	if (opt->type == OPTION_TOPIC_LIST) {
		config_env_list(src, opt, value, ",\n");
		return;
	}
	if (opt->type == OPTION_WEBHOOK_LIST ||
	    opt->type == OPTION_FILTER_LIST) {
		config_env_list(src, opt, value, ";\n");
		return;
	}
	if ((copy = strdup(value)) == NULL) {
		config_problem(src, "out of memory");
		return;
	}
	config_apply(src, opt, config_trim(copy));
	free(copy);
}

int
config_load_env(struct relay_config *cfg, struct config_report *report)
{
	struct config_source src;
	char name[64];
	const char *value;
	size_t i;

	memset(&src, 0, sizeof(src));
	src.cfg = cfg;
	src.report = report;
	for (i = 0; i < CONFIG_OPTION_COUNT; i++) {
		config_env_name(&config_options[i], name, sizeof(name));
		if ((value = getenv(name)) == NULL)
			continue;
		src.variable = name;
		config_env_option(&src, &config_options[i], value);
	}

	/* The name Discord's own documentation uses; the prefixed
	 * variable wins when both are set. */
	value = getenv("DISCORD_WEBHOOK_URL");
	if (value != NULL && getenv("SNSRELAY_DISCORD_WEBHOOK_URL") == NULL) {
		src.variable = "DISCORD_WEBHOOK_URL";
		config_env_option(&src,
				  config_find_option("discord_webhook_url"),
				  value);
	}
	return src.problems;
}

/*
 * Validation of the merged configuration
 */

static int
config_check_readable(const char *origin, const char *option,
		      const char *path, struct config_report *report)
{
	struct stat st;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		config_report_add(report, "%s: %s \"%s\" is not readable: %s",
				  origin, option, path, strerror(errno));
		return 1;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		config_report_add(report, "%s: %s \"%s\" is not a regular "
				  "file", origin, option, path);
		return 1;
	}
	close(fd);
	return 0;
}

/* Loads the HTTPS certificate and key with OpenSSL and checks that they
 * belong together, so that a mismatch is reported here rather than as a
 * failure to listen. */
static int
config_check_tls_pair(const char *origin, const char *cert_file,
		      const char *key_file, struct config_report *report)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	EVP_PKEY *key = NULL;
	const char *problem = NULL;
	BIO *bio = BIO_new_file(key_file, "r");

	if (bio != NULL)
		key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	if (ctx == NULL)
		problem = "OpenSSL could not create a TLS context";
	else if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1)
		problem = "tls_cert_file holds no PEM certificate OpenSSL "
			"can read";
	else if (key == NULL)
		problem = "tls_key_file holds no PEM private key OpenSSL can "
			"read (an encrypted key is not supported)";
	else if (SSL_CTX_use_PrivateKey(ctx, key) != 1 ||
		 SSL_CTX_check_private_key(ctx) != 1)
		problem = "tls_key_file is not the private key of the "
			"certificate in tls_cert_file";
	ERR_clear_error();
	EVP_PKEY_free(key);
	BIO_free(bio);
	SSL_CTX_free(ctx);
	if (problem == NULL)
		return 0;
	config_report_add(report, "%s: %s (%s, %s)", origin, problem,
			  cert_file, key_file);
	return 1;
}

static int
config_validate_tls(const struct relay_config *cfg, const char *origin,
		    struct config_report *report)
{
	int problems = 0;

	if ((cfg->tls_cert_file == NULL) != (cfg->tls_key_file == NULL)) {
		config_report_add(report, "%s: tls_cert_file and "
				  "tls_key_file must be set together (HTTPS) "
				  "or both left unset (HTTP)", origin);
		return 1;
	}
	if (cfg->tls_cert_file != NULL)
		problems += config_check_readable(origin, "tls_cert_file",
						  cfg->tls_cert_file, report);
	if (cfg->tls_key_file != NULL)
		problems += config_check_readable(origin, "tls_key_file",
						  cfg->tls_key_file, report);
	if (problems == 0 && cfg->tls_cert_file != NULL)
		problems += config_check_tls_pair(origin, cfg->tls_cert_file,
						  cfg->tls_key_file, report);
	return problems;
}

static int
config_validate_files(const struct relay_config *cfg, const char *origin,
		      struct config_report *report)
{
	int problems = config_validate_tls(cfg, origin, report);
	struct stat st;

	if (cfg->ca_file != NULL)
		problems += config_check_readable(origin, "ca_file",
						  cfg->ca_file, report);
	if (cfg->cert_dir == NULL)
		return problems;
	if (stat(cfg->cert_dir, &st) != 0) {
		config_report_add(report, "%s: cert_dir \"%s\" is not "
				  "accessible: %s", origin, cfg->cert_dir,
				  strerror(errno));
		problems++;
	} else if (!S_ISDIR(st.st_mode) ||
		   access(cfg->cert_dir, R_OK | X_OK) != 0) {
		config_report_add(report, "%s: cert_dir \"%s\" is not a "
				  "readable directory", origin,
				  cfg->cert_dir);
		problems++;
	}
	return problems;
}

/* Runs the table's value checks again on the values cfg contains. */
static int
config_validate_values(const struct relay_config *cfg, const char *origin,
		       struct config_report *report)
{
	const struct option_def *opt;
	const char *value;
	struct buf why;
	int problems = 0;

	buf_init(&why, CONFIG_PROBLEM_MAX);
	for (opt = config_options; opt < config_options + CONFIG_OPTION_COUNT;
	     opt++) {
		if (opt->type != OPTION_STRING || opt->check == NULL)
			continue;
		value = *(char *const *)((const char *)cfg + opt->offset);
		if (value == NULL && opt->default_text == NULL)
			continue;
		buf_reset(&why);
		if (value == NULL || opt->check(value, &why) != 0) {
			config_report_add(report, "%s: invalid %s: %s", origin,
					  opt->name,
					  why.data ? why.data : "missing");
			problems++;
		}
	}
	buf_free(&why);
	return problems;
}

static int
config_validate_retry(const struct relay_config *cfg, const char *origin,
		      struct config_report *report)
{
	if (cfg->retry_min_delay_ms <= cfg->retry_max_delay_ms)
		return 0;
	config_report_add(report, "%s: retry_min_delay (%u ms) is longer "
			  "than retry_max_delay (%u ms); raise "
			  "retry_max_delay or lower retry_min_delay", origin,
			  cfg->retry_min_delay_ms, cfg->retry_max_delay_ms);
	return 1;
}

static int
config_validate_logging(const struct relay_config *cfg, const char *origin,
			struct config_report *report)
{
	enum log_level level;
	enum log_format format;
	int problems = 0;

	if (log_level_parse(cfg->log_level, &level) != 0) {
		config_report_add(report, "%s: invalid log_level: expected "
				  "debug, info, warn or error", origin);
		problems++;
	}
	if (log_format_parse(cfg->log_format, &format) != 0) {
		config_report_add(report, "%s: invalid log_format: expected "
				  "logfmt or json", origin);
		problems++;
	}
	return problems;
}

static int
config_validate_lists(const struct relay_config *cfg, const char *origin,
		      struct config_report *report)
{
	const struct webhook_config *hook;
	struct buf why;
	struct err e;
	int problems = 0;
	size_t i;

	for (i = 0; i < cfg->topic_count; i++) {
		err_clear(&e);
		if (topic_pattern_check(cfg->topics[i], &e) == 0)
			continue;
		config_report_add(report, "%s: invalid topic: %s", origin,
				  e.msg);
		problems++;
	}

	buf_init(&why, CONFIG_PROBLEM_MAX);
	for (i = 0; i < cfg->webhook_count; i++) {
		hook = &cfg->webhooks[i];
		buf_reset(&why);
		if (!config_webhook_name_is_valid(hook->name))
			buf_printf(&why, "invalid name");
		else if (config_find_webhook(cfg, hook->name, i) != NULL)
			buf_printf(&why, "duplicate name");
		else if (config_check_url(hook->url, &why) == 0)
			continue;
		config_report_add(report, "%s: webhook %s: %s", origin,
				  hook->name, why.data);
		problems++;
	}
	buf_free(&why);
	return problems;
}

/* A filter must name a destination that exists once the file and the
 * environment are merged, so the check waits until here. */
static int
config_validate_filters(const struct relay_config *cfg, const char *origin,
			struct config_report *report)
{
	const struct filter_config *filter;
	int problems = 0;
	size_t i;

	for (i = 0; i < cfg->filter_count; i++) {
		filter = &cfg->filters[i];
		if (strcmp(filter->destination, "discord") == 0 &&
		    cfg->discord_webhook_url != NULL)
			continue;
		if (config_find_webhook(cfg, filter->destination,
					cfg->webhook_count) != NULL)
			continue;
		config_report_add(report, "%s: filter for unknown destination "
				  "\"%s\": expected discord (with "
				  "discord_webhook_url set) or a webhook name",
				  filter->origin ? filter->origin : origin,
				  filter->destination);
		problems++;
	}
	return problems;
}

/* basic_auth_user needs exactly one source of its password. */
static int
config_validate_auth(const struct relay_config *cfg, const char *origin,
		     struct config_report *report)
{
	bool password = cfg->basic_auth_password != NULL;
	bool file = cfg->basic_auth_password_file != NULL;

	if (cfg->basic_auth_user == NULL) {
		if (!password && !file)
			return 0;
		config_report_add(report, "%s: a basic_auth password is set "
				  "without basic_auth_user; set both or "
				  "neither", origin);
		return 1;
	}
	if (password && file) {
		config_report_add(report, "%s: basic_auth_password and "
				  "basic_auth_password_file are both set; "
				  "keep one", origin);
		return 1;
	}
	if (!password && !file) {
		config_report_add(report, "%s: basic_auth_user is set without "
				  "basic_auth_password or "
				  "basic_auth_password_file", origin);
		return 1;
	}
	if (password && *cfg->basic_auth_password == '\0') {
		config_report_add(report, "%s: basic_auth_password is empty",
				  origin);
		return 1;
	}
	if (file)
		return config_check_readable(origin, "basic_auth_password_file",
					     cfg->basic_auth_password_file,
					     report);
	return 0;
}

int
config_validate(const struct relay_config *cfg, const char *origin,
		struct config_report *report)
{
	int problems = 0;

	if (origin == NULL)
		origin = "configuration";
	problems += config_validate_values(cfg, origin, report);
	problems += config_validate_files(cfg, origin, report);
	problems += config_validate_logging(cfg, origin, report);
	problems += config_validate_retry(cfg, origin, report);
	problems += config_validate_lists(cfg, origin, report);
	problems += config_validate_filters(cfg, origin, report);
	problems += config_validate_auth(cfg, origin, report);
	if (cfg->discord_webhook_url != NULL &&
	    config_find_webhook(cfg, "discord", cfg->webhook_count)) {
		config_report_add(report, "%s: webhook name \"discord\" is "
				  "taken by discord_webhook_url; choose "
				  "another name", origin);
		problems++;
	}
	return problems;
}

/* SNSRELAY_* variables that are not options: the file name, and the
 * test and build tools' own settings. */
static const char *const config_env_known[] = {
	"SNSRELAY_CONFIG", "SNSRELAY_FIXTURES", "SNSRELAY_KEEP_TMP",
	"SNSRELAY_UPDATE_GOLDEN", "SNSRELAY_SANITIZERS", NULL,
};

static bool
config_env_is_option(const char *name)
{
	char option_name[64];
	size_t i;

	for (i = 0; config_env_known[i] != NULL; i++)
		if (strcmp(name, config_env_known[i]) == 0)
			return true;
	for (i = 0; i < CONFIG_OPTION_COUNT; i++) {
		config_env_name(&config_options[i], option_name,
				sizeof(option_name));
		if (strcmp(name, option_name) == 0)
			return true;
	}
	return false;
}

/* Returns the option whose name starts with prefix (at least 4
 * characters), such as discord_webhook_url for discord_webhook, or NULL. */
static const char *
config_complete(const char *prefix)
{
	size_t i, len = strlen(prefix);

	if (len < 4)
		return NULL;
	for (i = 0; i < CONFIG_OPTION_COUNT; i++)
		if (strncmp(config_options[i].name, prefix, len) == 0)
			return config_options[i].name;
	return NULL;
}

/* A misspelt variable would otherwise be ignored in silence, which in a
 * container configured from the environment alone sends alerts to
 * standard output instead of the webhook. */
static void
config_warn_unknown_env(struct config_report *warnings)
{
	extern char **environ;
	char name[128], option[128], quoted[CONFIG_QUOTE_MAX + 8];
	const char *suggestion;
	char **var;
	size_t len, i;

	for (var = environ; var != NULL && *var != NULL; var++) {
		if (strncmp(*var, "SNSRELAY_", 9) != 0)
			continue;
		len = strcspn(*var, "=");
		if (len >= sizeof(name))
			len = sizeof(name) - 1;
		memcpy(name, *var, len);
		name[len] = '\0';
		if (config_env_is_option(name))
			continue;
		for (i = 0; name[9 + i] != '\0'; i++)
			option[i] = (char)tolower((unsigned char)name[9 + i]);
		option[i] = '\0';
		suggestion = config_suggest(option);
		if (suggestion == NULL)
			suggestion = config_complete(option);
		if (suggestion != NULL)
			config_env_name(config_find_option(suggestion), option,
					sizeof(option));
		config_quote(name, quoted, sizeof(quoted));
		if (suggestion != NULL)
			config_report_add(warnings, "environment:%s: not an "
					  "option, ignored; did you mean %s?",
					  quoted, option);
		else
			config_report_add(warnings, "environment:%s: not an "
					  "option, ignored; snsrelay "
					  "--help-config lists the options",
					  quoted);
	}
}

/* True when the account part of a topic pattern has a wildcard. */
static bool
config_topic_any_account(const char *topic)
{
	const char *p = topic;
	size_t k;

	for (k = 0; k < 4; k++) {
		p = strchr(p, ':');
		if (p == NULL)
			return strchr(topic, '*') != NULL;
		p++;
	}
	return memchr(p, '*', strcspn(p, ":")) != NULL;
}

void
config_warnings(const struct relay_config *cfg, const char *origin,
		struct config_report *warnings)
{
	struct cidr_list proxies = { NULL, 0 };
	size_t i;

	if (origin == NULL)
		origin = "configuration";
	config_warn_unknown_env(warnings);
	for (i = 0; i < cfg->topic_count; i++) {
		if (!config_topic_any_account(cfg->topics[i]))
			continue;
		config_report_add(warnings, "%s: topic %s allows topics of "
				  "any AWS account, so anyone can publish "
				  "genuinely signed messages to this relay; "
				  "name the account", origin, cfg->topics[i]);
	}
	if (cfg->trusted_proxies == NULL ||
	    cidr_list_parse(cfg->trusted_proxies, &proxies, NULL) != 0)
		return;
	for (i = 0; i < proxies.count; i++) {
		if (proxies.entries[i].prefix != 0)
			continue;
		config_report_add(warnings, "%s: trusted_proxies trusts every "
				  "address, so any client can choose its own "
				  "address with X-Forwarded-For and pass "
				  "allowed_sources; list the load balancers "
				  "only", origin);
		break;
	}
	cidr_list_free(&proxies);
}

int
config_read_secrets(struct relay_config *cfg, const char *origin,
		    struct config_report *report)
{
	const char *path = cfg->basic_auth_password_file;
	char line[1024];
	size_t len;
	FILE *f;

	if (path == NULL || cfg->basic_auth_password != NULL)
		return 0;
	if (origin == NULL)
		origin = "configuration";
	f = fopen(path, "re");
	if (f == NULL) {
		config_report_add(report, "%s: basic_auth_password_file \"%s\" "
				  "is not readable: %s", origin, path,
				  strerror(errno));
		return 1;
	}
	if (fgets(line, sizeof(line), f) == NULL)
		line[0] = '\0';
	fclose(f);
	len = strcspn(line, "\r\n");
	line[len] = '\0';
	if (len == 0) {
		config_report_add(report, "%s: basic_auth_password_file \"%s\" "
				  "has an empty first line", origin, path);
		return 1;
	}
	cfg->basic_auth_password = strdup(line);
	OPENSSL_cleanse(line, sizeof(line));
	if (cfg->basic_auth_password == NULL) {
		config_report_add(report, "%s: out of memory", origin);
		return 1;
	}
	return 0;
}

bool
config_topic_allowed(const struct relay_config *cfg, const char *arn)
{
	size_t i;

	if (arn == NULL)
		return false;
	for (i = 0; i < cfg->topic_count; i++)
		if (topic_pattern_match(cfg->topics[i], arn))
			return true;
	return false;
}

void
config_free(struct relay_config *cfg)
{
	const struct option_def *opt;

	for (opt = config_options; opt < config_options + CONFIG_OPTION_COUNT;
	     opt++) {
		if (config_is_list(opt))
			config_clear_list(opt, cfg);
		else if (opt->type == OPTION_STRING ||
			 opt->type == OPTION_ENUM ||
			 opt->type == OPTION_LISTEN) {
			free(*FIELD(cfg, opt, char *));
			*FIELD(cfg, opt, char *) = NULL;
		}
	}
}

/*
 * --help-config
 */

static const char *
config_type_text(const struct option_def *opt)
{
	switch (opt->type) {
	case OPTION_STRING:
		return opt->check == config_check_path ? "path" : "text";
	case OPTION_BOOL:
		return "yes|no";
	case OPTION_UINT:
		return "number";
	case OPTION_DURATION:
		return "duration";
	case OPTION_SIZE:
		return "size";
	case OPTION_ENUM:
		return opt->choices == config_log_formats ?
		       "logfmt|json" : "debug|info|warn|error";
	case OPTION_LISTEN:
		return "address:port";
	case OPTION_TOPIC_LIST:
		return "ARN pattern, repeatable";
	case OPTION_WEBHOOK_LIST:
		return "NAME URL [generic|discord|slack|teams], repeatable";
	case OPTION_FILTER_LIST:
		return "DESTINATION [min_severity=LEVEL] [events=GLOB,...], "
		       "repeatable";
	case OPTION_PORTS:
		return "PORT or FROM-TO, comma-separated";
	case OPTION_LEVEL:
		return "info|low|medium|high|critical";
	}
	return "value";
}

static void
config_print_option(FILE *out, const struct option_def *opt)
{
	char env[64], low[32], high[32];

	config_env_name(opt, env, sizeof(env));
	fprintf(out, "%s (%s)\n", opt->name, config_type_text(opt));
	if (opt->default_text != NULL)
		fprintf(out, "    default: %s\n", opt->default_text);
	else
		fprintf(out, "    default: %s\n",
			config_is_list(opt) ? "none" : "unset");
	if (opt->type == OPTION_UINT || opt->type == OPTION_DURATION ||
	    opt->type == OPTION_SIZE) {
		config_format_scaled(opt->min, opt->type, low, sizeof(low));
		config_format_scaled(opt->max, opt->type, high, sizeof(high));
		fprintf(out, "    range: %s to %s\n", low, high);
	}
	fprintf(out, "    environment: %s\n", env);
	fprintf(out, "    %s\n\n", opt->help);
}

void
config_print_options(FILE *out)
{
	size_t i;

	fprintf(out, "Options of the snsrelay configuration file "
		"(\"option = value\", one per line):\n\n");
	for (i = 0; i < CONFIG_OPTION_COUNT; i++)
		config_print_option(out, &config_options[i]);
	fprintf(out, "Durations: 15 or 15s, 500ms, 5m, 1h (a bare number is "
		"seconds).\nSizes: 1048576, 64k or 64KiB, 1m or 1MiB (a bare "
		"number is bytes).\nEach option can also be set by its "
		"environment variable, which overrides the file;\n"
		"SNSRELAY_TOPIC separates topics with ',' or newlines, "
		"SNSRELAY_WEBHOOK\nand SNSRELAY_FILTER separate entries with "
		"';' or newlines. "
		"DISCORD_WEBHOOK_URL sets discord_webhook_url\nunless "
		"SNSRELAY_DISCORD_WEBHOOK_URL is set.\n");
}
