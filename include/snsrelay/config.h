/*
 * Configuration: an embedded default, overridden by an optional file and
 * then by the environment.  Every option is declared once in a table in
 * config.c, which the parser, --help-config and the sample file follow.
 *
 * File syntax, one option per line:
 *
 *   # comment
 *   listen = 127.0.0.1:8080
 *   topic = arn:aws:sns:us-east-1:123456789012:security-alerts
 *   webhook = audit https://example.com/hooks/snsrelay
 *
 * Values may be wrapped in double quotes.  List options (topic, webhook,
 * filter) may repeat; any other option given twice is a problem.
 */
#ifndef SNSRELAY_CONFIG_H
#define SNSRELAY_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "snsrelay/severity.h"

/* The embedded default spool file; only its folder is created when
 * missing. */
#define CONFIG_DEFAULT_SPOOL_PATH "data/spool.db"

enum webhook_format {
	WEBHOOK_FORMAT_DISCORD = 0,
	WEBHOOK_FORMAT_GENERIC,		/* the documented alert document */
	WEBHOOK_FORMAT_SLACK,		/* Slack incoming webhook */
	WEBHOOK_FORMAT_TEAMS,		/* Teams Workflows webhook */
};

struct webhook_config {
	char *name;			/* [A-Za-z0-9_-], unique */
	char *url;			/* http:// only for loopback hosts */
	enum webhook_format format;
};

/* Which alerts one destination receives; see src/filter.c. */
struct filter_config {
	char *destination;		/* "discord" or a webhook name */
	int min_severity;		/* enum filter_severity, 0 (info) if unset */
	char **events;			/* fnmatch(3) patterns; NULL: any */
	size_t event_count;
	char *origin;			/* "file:line" or "environment:VAR" */
};

struct relay_config {
	/* Listening socket. listen_host is a numeric IPv4 or IPv6 address
	 * ("0.0.0.0" or "::" for every interface); port 0 picks a free one. */
	char *listen_host;
	unsigned listen_port;
	char *endpoint_path;		/* where SNS posts, e.g. "/sns" */
	char *tls_cert_file;		/* HTTPS when both are set */
	char *tls_key_file;

	/* Server limits. */
	size_t max_body_bytes;
	unsigned max_connections;
	unsigned max_connections_per_ip;
	size_t connection_memory_limit;
	unsigned request_timeout_s;

	/* Inbound checks on the SNS endpoint.  Address lists use the
	 * syntax of include/snsrelay/cidr.h; NULL: not set. */
	char *basic_auth_user;		/* HTTP Basic; with a password */
	char *basic_auth_password;	/* secret: never logged */
	char *basic_auth_password_file;	/* alternative to the above */
	char *allowed_sources;		/* NULL: any source */
	char *trusted_proxies;		/* X-Forwarded-For believed from */
	bool metrics;			/* serve GET /metrics */

	/* SNS verification. */
	char **topics;			/* exact ARNs or patterns with '*' */
	size_t topic_count;
	unsigned max_message_age_s;
	unsigned max_clock_skew_s;
	char *cert_dir;			/* pre-seeded signing certificates */
	char *sns_host_pattern;		/* NULL: genuine AWS SNS hosts only */
	char *ca_file;			/* NULL: the system CA store */
	unsigned cert_cache_size;
	unsigned cert_fetch_timeout_ms;
	unsigned cert_fetch_per_minute;	/* downloads, all hosts together */
	unsigned cert_failure_ttl_s;	/* a failed URL is not retried */

	/* Subscriptions. */
	bool auto_confirm;
	unsigned confirm_timeout_ms;

	/* Alerts and delivery. */
	char *discord_webhook_url;	/* also DISCORD_WEBHOOK_URL */
	struct webhook_config *webhooks;
	size_t webhook_count;
	struct filter_config *filters;	/* at most one per destination */
	size_t filter_count;
	unsigned delivery_timeout_ms;
	char *timezone;			/* IANA name for displayed times */
	char *language;			/* "en" or "ko": words of alerts */
	/* Levels of security-group alerts: high_risk_ports, severity_*,
	 * world_open_min_prefix. */
	struct severity_table severity;

	/* Logging. */
	char *log_level;
	char *log_format;
	unsigned log_repeat_interval_s;	/* same warning at most once */

	/* Durable spool (SQLite file) and delivery workers. */
	char *spool_path;
	unsigned dedup_window_s;
	unsigned delivery_max_age_s;
	unsigned retry_min_delay_ms;
	unsigned retry_max_delay_ms;
	unsigned shutdown_grace_ms;
};

/* Problems found while loading, each as "file:line: problem". */
struct config_report {
	char **lines;
	size_t count;
};

void config_report_add(struct config_report *report, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void config_report_free(struct config_report *report);

/* Fills cfg with the embedded default configuration. Returns 0 or -1
 * when memory is short. */
int config_init_defaults(struct relay_config *cfg);

/* Applies a configuration file on top of cfg.  Every problem is added to
 * report; returns the number of problems (0 when the file is clean). */
int config_load_file(struct relay_config *cfg, const char *path,
		     struct config_report *report);

/* Applies environment variables SNSRELAY_<OPTION> (upper case) and
 * DISCORD_WEBHOOK_URL on top of cfg.  Problems are reported as
 * "environment:SNSRELAY_X: problem".  Returns the number of problems. */
int config_load_env(struct relay_config *cfg, struct config_report *report);

/* Checks cross-option rules (TLS pairs, files that must exist, topic
 * patterns, webhook URLs, filter destinations).  Returns the number of problems. */
int config_validate(const struct relay_config *cfg, const char *origin,
		    struct config_report *report);

/* Reads basic_auth_password_file, when set, into basic_auth_password.
 * Call after config_validate found no problem.  Returns the number of
 * problems added to report. */
int config_read_secrets(struct relay_config *cfg, const char *origin,
			struct config_report *report);

/* Adds to warnings what works but is probably a mistake: SNSRELAY_*
 * variables that are not options, topics of any account, and
 * trusted_proxies trusting everyone. */
void config_warnings(const struct relay_config *cfg, const char *origin,
		     struct config_report *warnings);

/* True when arn is allowed by one of cfg->topics. */
bool config_topic_allowed(const struct relay_config *cfg, const char *arn);

void config_free(struct relay_config *cfg);

/* Writes the option table (name, default, meaning) to out, for
 * --help-config. */
#include <stdio.h>
void config_print_options(FILE *out);

#endif
