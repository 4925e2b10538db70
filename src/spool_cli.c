/*
 * The "snsrelay spool" subcommands.  They open the spool file with a
 * connection of their own, so they work while the relay runs: SQLite's
 * locks keep both consistent.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snsrelay/spool.h"
#include "snsrelay/spool_cli.h"
#include "snsrelay/text.h"

#define CLI_EXIT_OK 0
#define CLI_EXIT_FAILURE 1
#define CLI_EXIT_USAGE 2
/* Characters of last_error shown by "list". */
#define CLI_ERROR_SHOWN 120

struct spool_cli_args {
	const char *state;		/* list: NULL for all states */
	size_t limit;			/* list: 0 for no limit */
	int64_t row;			/* retry: 0 for --all */
	bool all;
	const char *destination;	/* retry: NULL for every one */
	int64_t older_than_ms;		/* purge: -1 until given */
};

struct spool_cli_command {
	const char *name;
	int (*parse)(int argc, char **argv, struct spool_cli_args *args);
	int (*run)(struct spool *spool, const struct spool_cli_args *args);
};

static void
spool_cli_usage(FILE *out)
{
	fprintf(out,
		"Usage: snsrelay [-c FILE] spool list "
		"[pending|dead|delivered|all] [--limit N]\n"
		"       snsrelay [-c FILE] spool retry (ROW|--all) "
		"[--destination NAME]\n"
		"       snsrelay [-c FILE] spool purge --older-than DURATION\n"
		"\n"
		"  list   print deliveries in the given state (default all), "
		"oldest first\n"
		"  retry  make dead deliveries pending again: those of alert "
		"ROW, or all;\n"
		"         a running snsrelay sends them again\n"
		"  purge  delete alerts older than DURATION (for example 7d, "
		"12h, 30m, 90s)\n"
		"         whose deliveries are all delivered or dead\n"
		"\n"
		"The spool file is spool_path from the configuration.\n");
}

static int spool_cli_usage_error(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

/* Prints a usage problem and the usage, and returns exit status 2. */
static int
spool_cli_usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "snsrelay spool: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	spool_cli_usage(stderr);
	return CLI_EXIT_USAGE;
}

/* Parses a decimal number of at least 1 with no sign or trailing text. */
static int
spool_cli_parse_positive(const char *text, int64_t *value)
{
	char *end = NULL;
	long long n;

	if (text[0] < '0' || text[0] > '9')
		return -1;
	errno = 0;
	n = strtoll(text, &end, 10);
	if (errno != 0 || *end != '\0' || n < 1)
		return -1;
	*value = n;
	return 0;
}

/* Parses a number with a unit s, m, h or d into milliseconds.  A unit is
 * required: a bare number is a likely mistake in a deleting command. */
static int
spool_cli_parse_duration(const char *text, int64_t *ms)
{
	static const struct {
		char unit;
		int64_t ms;
	} units[] = {
		{ 's', 1000 }, { 'm', 60000 }, { 'h', 3600000 },
		{ 'd', 86400000 },
	};
	char number[24];
	size_t len = strlen(text), i;
	int64_t n;

	if (len < 2 || len > sizeof(number))
		return -1;
	snprintf(number, sizeof(number), "%.*s", (int)(len - 1), text);
	if (spool_cli_parse_positive(number, &n) != 0)
		return -1;
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (text[len - 1] != units[i].unit)
			continue;
		if (n > INT64_MAX / units[i].ms)
			return -1;
		*ms = n * units[i].ms;
		return 0;
	}
	return -1;
}

/* Returns the value of option name at argv[*i] ("--name VALUE" or
 * "--name=VALUE") and advances *i past it.  Returns NULL when argv[*i]
 * is another word, with *missing set when the value is missing. */
static const char *
spool_cli_option(int argc, char **argv, int *i, const char *name,
		 bool *missing)
{
	size_t len = strlen(name);

	*missing = false;
	if (strncmp(argv[*i], name, len) != 0)
		return NULL;
	if (argv[*i][len] == '=')
		return argv[*i] + len + 1;
	if (argv[*i][len] != '\0')
		return NULL;
	if (*i + 1 >= argc) {
		*missing = true;
		return NULL;
	}
	(*i)++;
	return argv[*i];
}

static bool
spool_cli_is_state(const char *word)
{
	return strcmp(word, "pending") == 0 || strcmp(word, "dead") == 0 ||
	       strcmp(word, "delivered") == 0 || strcmp(word, "all") == 0;
}

static int
spool_cli_parse_list(int argc, char **argv, struct spool_cli_args *args)
{
	const char *value;
	bool missing, have_state = false;
	int64_t limit;
	int i;

	for (i = 1; i < argc; i++) {
		value = spool_cli_option(argc, argv, &i, "--limit", &missing);
		if (missing)
			return spool_cli_usage_error("%s needs a number",
						     "--limit");
		if (value != NULL) {
			if (spool_cli_parse_positive(value, &limit) != 0)
				return spool_cli_usage_error("invalid --limit "
					"\"%s\"; give a number of 1 or more",
					value);
			args->limit = (size_t)limit;
		} else if (!have_state && spool_cli_is_state(argv[i])) {
			have_state = true;
			if (strcmp(argv[i], "all") != 0)
				args->state = argv[i];
		} else {
			return spool_cli_usage_error("unexpected argument "
				"\"%s\" for list", argv[i]);
		}
	}
	return -1;
}

static int
spool_cli_parse_retry(int argc, char **argv, struct spool_cli_args *args)
{
	const char *value;
	bool missing;
	int i;

	for (i = 1; i < argc; i++) {
		value = spool_cli_option(argc, argv, &i, "--destination",
					 &missing);
		if (missing)
			return spool_cli_usage_error("%s needs a name",
						     "--destination");
		if (value != NULL)
			args->destination = value;
		else if (strcmp(argv[i], "--all") == 0 && args->row == 0)
			args->all = true;
		else if (args->row != 0 || args->all ||
			 spool_cli_parse_positive(argv[i], &args->row) != 0)
			return spool_cli_usage_error("unexpected argument "
				"\"%s\" for retry; give one ROW number or "
				"--all", argv[i]);
	}
	if (args->row == 0 && !args->all)
		return spool_cli_usage_error("%s needs a ROW number (see "
					     "'spool list dead') or --all",
					     "retry");
	return -1;
}

static int
spool_cli_parse_purge(int argc, char **argv, struct spool_cli_args *args)
{
	const char *value;
	bool missing;
	int i;

	for (i = 1; i < argc; i++) {
		value = spool_cli_option(argc, argv, &i, "--older-than",
					 &missing);
		if (missing || value == NULL)
			return spool_cli_usage_error("unexpected argument "
				"\"%s\" for purge; give --older-than "
				"DURATION", argv[i]);
		if (spool_cli_parse_duration(value,
					     &args->older_than_ms) != 0)
			return spool_cli_usage_error("invalid duration \"%s\"; "
				"give a number and a unit s, m, h or d, for "
				"example 7d", value);
	}
	if (args->older_than_ms < 0)
		return spool_cli_usage_error("%s needs --older-than DURATION",
					     "purge");
	return -1;
}

static void
spool_cli_format_ms(int64_t ms, char *out, size_t size)
{
	if (text_format_time((time_t)(ms / 1000), out, size) != 0)
		snprintf(out, size, "-");
}

/* Writes last_error as one line of at most CLI_ERROR_SHOWN characters,
 * or "-" when there is none. */
static void
spool_cli_print_error(const char *error)
{
	char *clean = NULL, *shown = NULL;
	char *p;

	if (error[0] == '\0') {
		printf("-");
		return;
	}
	clean = text_sanitize(error, strlen(error));
	if (clean != NULL) {
		for (p = clean; *p != '\0'; p++)
			if (*p == '\n' || *p == '\t')
				*p = ' ';
		shown = text_truncate(clean, CLI_ERROR_SHOWN);
	}
	printf("%s", shown != NULL ? shown : "(out of memory)");
	free(shown);
	free(clean);
}

static void
spool_cli_print_entry(const struct spool_entry *entry, void *arg)
{
	char received[TEXT_TIME_SIZE], next[TEXT_TIME_SIZE];
	size_t *count = arg;

	spool_cli_format_ms(entry->received_ms, received, sizeof(received));
	if (strcmp(entry->state, "pending") == 0)
		spool_cli_format_ms(entry->next_attempt_ms, next,
				    sizeof(next));
	else
		snprintf(next, sizeof(next), "-");
	printf("%-6lld %-48s %-16s %-9s %8u %-20s %-20s ",
	       (long long)entry->row, entry->alert_id, entry->destination,
	       entry->state, entry->attempts, received, next);
	spool_cli_print_error(entry->last_error);
	printf("\n");
	(*count)++;
}

static int
spool_cli_run_list(struct spool *spool, const struct spool_cli_args *args)
{
	size_t count = 0;
	struct err e;

	err_clear(&e);
	printf("%-6s %-48s %-16s %-9s %8s %-20s %-20s %s\n", "ROW",
	       "ALERT_ID", "DESTINATION", "STATE", "ATTEMPTS", "RECEIVED",
	       "NEXT_ATTEMPT", "LAST_ERROR");
	if (spool_list(spool, args->state, args->limit, spool_cli_print_entry,
		       &count, &e) != RESULT_OK) {
		fprintf(stderr, "snsrelay spool: listing failed: %s\n", e.msg);
		return CLI_EXIT_FAILURE;
	}
	return CLI_EXIT_OK;
}

/* True when name is a destination of cfg, as the daemon names them. */
static bool
spool_cli_destination_known(const struct relay_config *cfg,
			    const char *name)
{
	size_t i;

	if (cfg->discord_webhook_url != NULL && strcmp(name, "discord") == 0)
		return true;
	for (i = 0; i < cfg->webhook_count; i++)
		if (strcmp(name, cfg->webhooks[i].name) == 0)
			return true;
	return cfg->discord_webhook_url == NULL && cfg->webhook_count == 0 &&
	       strcmp(name, "stdout") == 0;
}

static int
spool_cli_run_retry(struct spool *spool, const struct spool_cli_args *args)
{
	int64_t changed = 0;
	struct err e;

	err_clear(&e);
	if (spool_retry_dead(spool, args->row, args->destination,
			     spool_now_ms(), &changed, &e) != RESULT_OK) {
		fprintf(stderr, "snsrelay spool: retry failed: %s\n", e.msg);
		return CLI_EXIT_FAILURE;
	}
	if (changed == 0) {
		printf("no dead delivery matched; nothing changed (see "
		       "'snsrelay spool list dead')\n");
		return CLI_EXIT_OK;
	}
	printf("%lld dead deliver%s pending again; a running snsrelay "
	       "sends %s\n", (long long)changed,
	       changed == 1 ? "y is" : "ies are",
	       changed == 1 ? "it" : "them");
	return CLI_EXIT_OK;
}

static int
spool_cli_run_purge(struct spool *spool, const struct spool_cli_args *args)
{
	int64_t before_ms = spool_now_ms() - args->older_than_ms;
	char before[TEXT_TIME_SIZE];
	int64_t removed = 0;
	struct err e;

	err_clear(&e);
	if (spool_purge(spool, before_ms, &removed, &e) != RESULT_OK) {
		fprintf(stderr, "snsrelay spool: purge failed: %s\n", e.msg);
		return CLI_EXIT_FAILURE;
	}
	spool_cli_format_ms(before_ms, before, sizeof(before));
	printf("removed %lld alert%s received before %s; alerts with "
	       "pending deliveries are kept\n", (long long)removed,
	       removed == 1 ? "" : "s", before);
	return CLI_EXIT_OK;
}

static const struct spool_cli_command spool_cli_commands[] = {
	{ "list", spool_cli_parse_list, spool_cli_run_list },
	{ "retry", spool_cli_parse_retry, spool_cli_run_retry },
	{ "purge", spool_cli_parse_purge, spool_cli_run_purge },
};

static const struct spool_cli_command *
spool_cli_find(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(spool_cli_commands) /
	     sizeof(spool_cli_commands[0]); i++)
		if (strcmp(spool_cli_commands[i].name, name) == 0)
			return &spool_cli_commands[i];
	return NULL;
}

/* Opens the existing spool and runs command on it. */
static int
spool_cli_run(const struct relay_config *cfg,
	      const struct spool_cli_command *command,
	      const struct spool_cli_args *args)
{
	struct spool_options opts = { .path = cfg->spool_path };
	struct spool *spool = NULL;
	struct err e;
	int status = CLI_EXIT_FAILURE;

	err_clear(&e);
	spool = spool_new(&opts);
	if (spool == NULL) {
		fprintf(stderr, "snsrelay spool: out of memory\n");
		goto out;
	}
	if (spool_open_existing(spool, &e) != RESULT_OK) {
		fprintf(stderr, "snsrelay spool: %s\n", e.msg);
		goto out;
	}
	status = command->run(spool, args);
	if (fflush(stdout) != 0) {
		fprintf(stderr, "snsrelay spool: writing the output failed: "
			"%s\n", strerror(errno));
		status = CLI_EXIT_FAILURE;
	}
out:
	spool_free(spool);
	return status;
}

int
spool_cli_main(const struct relay_config *cfg, int argc, char **argv)
{
	const struct spool_cli_command *command;
	struct spool_cli_args args;
	int status;

	if (argc < 1)
		return spool_cli_usage_error("%s", "missing subcommand: "
					     "list, retry or purge");
	if (strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0 ||
	    strcmp(argv[0], "help") == 0) {
		spool_cli_usage(stdout);
		return CLI_EXIT_OK;
	}
	command = spool_cli_find(argv[0]);
	if (command == NULL)
		return spool_cli_usage_error("unknown subcommand \"%s\"; use "
					     "list, retry or purge", argv[0]);
	memset(&args, 0, sizeof(args));
	args.older_than_ms = -1;
	status = command->parse(argc, argv, &args);
	if (status >= 0)
		return status;
	/* Deleting younger alerts would forget their ids, and an SNS
	 * redelivery would then post them again. */
	/* A delivery made pending for a destination the daemon does not
	 * have is never sent: refuse rather than report success. */
	if (args.destination != NULL &&
	    !spool_cli_destination_known(cfg, args.destination))
		return spool_cli_usage_error("destination \"%s\" is not in "
					     "the configuration, so a running "
					     "snsrelay would never send its "
					     "deliveries; add it back, or "
					     "check the name",
					     args.destination);
	if (args.older_than_ms >= 0 &&
	    args.older_than_ms < (int64_t)cfg->dedup_window_s * 1000)
		return spool_cli_usage_error("--older-than must be at least "
					     "dedup_window (%u s), so that "
					     "redeliveries stay deduplicated",
					     cfg->dedup_window_s);
	if (cfg->spool_path == NULL || cfg->spool_path[0] == '\0') {
		fprintf(stderr, "snsrelay spool: spool_path is not set; set "
			"it in the configuration file\n");
		return CLI_EXIT_FAILURE;
	}
	return spool_cli_run(cfg, command, &args);
}
