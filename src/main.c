#include "config.h"

#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <json-c/json.h>
#include <microhttpd.h>
#include <openssl/crypto.h>
#include <sqlite3.h>

#include "snsrelay/buf.h"
#include "snsrelay/cert_cache.h"
#include "snsrelay/config.h"
#include "snsrelay/delivery.h"
#include "snsrelay/dispatcher.h"
#include "snsrelay/err.h"
#include "snsrelay/http_client.h"
#include "snsrelay/http_server.h"
#include "snsrelay/limits.h"
#include "snsrelay/log.h"
#include "snsrelay/metrics.h"
#include "snsrelay/relay.h"
#include "snsrelay/spool.h"
#include "snsrelay/spool_cli.h"
#include "snsrelay/test_cli.h"
#include "snsrelay/text.h"

#define EXIT_USAGE 2

struct main_options {
	const char *config_path;	/* NULL: embedded defaults */
	bool check_only;
	bool spool_command;		/* "spool" subcommand given */
	int spool_argc;			/* its arguments after "spool" */
	char **spool_argv;
	bool test_command;		/* "test-destinations" given */
	int test_argc;			/* its arguments after the word */
	char **test_argv;
};

/*
 * Everything the daemon owns while it runs; freed by main_cleanup.  A
 * SIGHUP builds a new relay (configuration, certificate cache,
 * destinations) around the same spool and replaces the live one.
 */
struct main_state {
	struct relay_config cfg;	/* as loaded at start */
	bool cfg_loaded;
	struct relay *relay;		/* live; relay->cfg is &cfg or owned */
	struct http_server *server;
	bool curl_ready;
	bool stopped;			/* served until a stop signal */
	time_t started_at;
	/* Delivery workers still sending after the stop grace; they use
	 * the destinations and libcurl until their send times out. */
	size_t busy_workers;
	struct cert_cache_stats cert_stats;
};

static void
main_print_usage(FILE *out)
{
	fprintf(out,
		"Usage: snsrelay [-c FILE] [--check-config] [--help] "
		"[--help-config] [--version]\n"
		"       snsrelay [-c FILE] spool list|retry|purge ... "
		"(see snsrelay spool --help)\n"
		"       snsrelay [-c FILE] test-destinations ... "
		"(see snsrelay test-destinations --help)\n"
		"Receives AWS SNS deliveries over HTTP(S), verifies their "
		"signatures and\nrelays security-group change alerts to "
		"Discord and other webhooks.\n\n"
		"  -c, --config FILE  read options from FILE (default: "
		"embedded defaults only)\n"
		"      --check-config check the configuration, print every "
		"problem and exit\n"
		"  -h, --help         print this help and exit\n"
		"      --help-config  print every configuration option and "
		"exit\n"
		"  -V, --version      print the version and library "
		"versions and exit\n\n"
		"SNSRELAY_CONFIG names the file when -c is not given.  "
		"Environment variables\nSNSRELAY_<OPTION> override the file; "
		"DISCORD_WEBHOOK_URL\nsets discord_webhook_url.  SIGTERM or "
		"SIGINT stops the relay;\nSIGHUP reloads the configuration file.\n");
}

static void
main_print_version(void)
{
	printf("snsrelay %s\n", PACKAGE_VERSION);
	printf("libmicrohttpd %s\n", MHD_get_version());
	printf("libcurl %s\n", curl_version_info(CURLVERSION_NOW)->version);
	printf("json-c %s\n", json_c_version());
	printf("OpenSSL %s\n", OpenSSL_version(OPENSSL_VERSION_STRING));
	printf("SQLite %s\n", sqlite3_libversion());
}

/* Parses the command line; returns -1 to continue, or an exit status. */
static int
main_parse_args(int argc, char **argv, struct main_options *opts)
{
	enum { OPT_CHECK = 256, OPT_HELP_CONFIG };
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check-config", no_argument, NULL, OPT_CHECK },
		{ "help", no_argument, NULL, 'h' },
		{ "help-config", no_argument, NULL, OPT_HELP_CONFIG },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	/* "+": stop at the first word, so options after "spool" are its
	 * own. */
	while ((c = getopt_long(argc, argv, "+c:hV", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			opts->config_path = optarg;
			break;
		case OPT_CHECK:
			opts->check_only = true;
			break;
		case 'h':
			main_print_usage(stdout);
			return EXIT_SUCCESS;
		case OPT_HELP_CONFIG:
			config_print_options(stdout);
			return EXIT_SUCCESS;
		case 'V':
			main_print_version();
			return EXIT_SUCCESS;
		default:
			main_print_usage(stderr);
			return EXIT_USAGE;
		}
	}
	/* For containers, where a flag is harder to pass than a variable. */
	if (opts->config_path == NULL && getenv("SNSRELAY_CONFIG") != NULL &&
	    *getenv("SNSRELAY_CONFIG") != '\0')
		opts->config_path = getenv("SNSRELAY_CONFIG");
	if (optind < argc && strcmp(argv[optind], "spool") == 0) {
		opts->spool_command = true;
		opts->spool_argc = argc - optind - 1;
		opts->spool_argv = argv + optind + 1;
		return -1;
	}
	if (optind < argc && strcmp(argv[optind], "test-destinations") == 0) {
		opts->test_command = true;
		opts->test_argc = argc - optind - 1;
		opts->test_argv = argv + optind + 1;
		return -1;
	}
	if (optind < argc) {
		fprintf(stderr, "snsrelay: unexpected argument \"%s\"\n",
			argv[optind]);
		main_print_usage(stderr);
		return EXIT_USAGE;
	}
	return -1;
}

/* Loads defaults, the file and the environment, then validates. */
static int
main_load_config(const struct main_options *opts, struct relay_config *cfg,
		 struct config_report *report)
{
	const char *origin = opts->config_path ? opts->config_path :
			     "configuration";

	if (config_init_defaults(cfg) != 0)
		return -1;
	if (opts->config_path != NULL)
		config_load_file(cfg, opts->config_path, report);
	config_load_env(cfg, report);
	if (config_validate(cfg, origin, report) == 0)
		config_read_secrets(cfg, origin, report);
	return 0;
}

/* Prints what config_warnings finds, one "warning:" line each. */
static void
main_print_warnings(const struct relay_config *cfg, const char *origin)
{
	struct config_report warnings = { NULL, 0 };
	size_t i;

	config_warnings(cfg, origin, &warnings);
	for (i = 0; i < warnings.count; i++)
		fprintf(stderr, "warning: %s\n", warnings.lines[i]);
	config_report_free(&warnings);
}

/* Logs what config_warnings finds, one config_warning line each. */
static void
main_log_warnings(const struct relay_config *cfg, const char *origin)
{
	struct config_report warnings = { NULL, 0 };
	struct log_line line;
	size_t i;

	config_warnings(cfg, origin, &warnings);
	for (i = 0; i < warnings.count; i++) {
		log_begin(&line, LOG_WARN, "config_warning");
		log_str(&line, "problem", warnings.lines[i]);
		log_end(&line);
	}
	config_report_free(&warnings);
}

static int
main_check_config(const struct main_options *opts,
		  const struct relay_config *cfg,
		  const struct config_report *report)
{
	size_t i;

	for (i = 0; i < report->count; i++)
		fprintf(stderr, "%s\n", report->lines[i]);
	if (report->count > 0) {
		fprintf(stderr, "snsrelay: %zu configuration problem%s\n",
			report->count, report->count == 1 ? "" : "s");
		return EXIT_FAILURE;
	}
	if (cfg->topic_count == 0)
		fprintf(stderr, "warning: no topic is configured, so the relay "
			"will reject every message; add a topic option\n");
	main_print_warnings(cfg, opts->config_path);
	printf("configuration OK: %s\n", opts->config_path ?
	       opts->config_path : "embedded defaults and environment");
	return EXIT_SUCCESS;
}

static void
main_log_startup_failed(const char *code, const char *reason)
{
	struct log_line line;

	log_begin(&line, LOG_ERROR, "startup_failed");
	log_str(&line, "code", code);
	log_str(&line, "reason", reason);
	log_end(&line);
}

static void
main_log_config_problems(const struct config_report *report)
{
	struct log_line line;
	size_t i;

	for (i = 0; i < report->count; i++) {
		log_begin(&line, LOG_ERROR, "config_invalid");
		log_str(&line, "problem", report->lines[i]);
		log_end(&line);
	}
}

static void
main_setup_logging(const struct relay_config *cfg)
{
	enum log_level level = LOG_INFO;
	enum log_format format = LOG_FORMAT_LOGFMT;

	/* Both values were validated; the fallbacks only guard a bug. */
	log_level_parse(cfg->log_level, &level);
	log_format_parse(cfg->log_format, &format);
	log_setup(level, format);
	log_set_repeat_interval(cfg->log_repeat_interval_s);
}

static void
main_log_starting(const struct main_options *opts,
		  const struct relay_config *cfg)
{
	struct log_line line;

	log_begin(&line, LOG_INFO, "starting");
	log_str(&line, "version", PACKAGE_VERSION);
	log_str(&line, "config", opts->config_path ? opts->config_path :
		"embedded defaults");
	log_end(&line);

	if (cfg->topic_count == 0)
		log_message(LOG_WARN, "no_topics", "no topic is configured, "
			    "so every message will be rejected; add a topic "
			    "option");
	if (cfg->sns_host_pattern != NULL)
		log_message(LOG_WARN, "sns_host_pattern_set", "certificate "
			    "and SubscribeURL hosts are checked against "
			    "\"%s\" instead of the AWS rule; use this for "
			    "tests only", cfg->sns_host_pattern);
	if (!cfg->auto_confirm)
		log_message(LOG_WARN, "auto_confirm_off", "subscription "
			    "confirmations are logged, not confirmed");
	main_log_warnings(cfg, opts->config_path);
}

static time_t
main_now(void)
{
	return time(NULL);
}

static void
main_dispatch_options(const struct relay_config *cfg,
		      struct dispatcher_options *opts)
{
	opts->max_age_s = cfg->delivery_max_age_s;
	opts->backoff_min_ms = cfg->retry_min_delay_ms;
	opts->backoff_max_ms = cfg->retry_max_delay_ms;
	opts->batch_max = DISCORD_EMBEDS_MAX;
}

/*
 * Opens the spool and starts the delivery workers.  A file that is not a
 * spool stops the start-up, because it must not be overwritten.  A spool
 * that cannot be opened yet (missing folder, full disk) does not stop
 * it: SNS and /readyz get 503 until the spool opens.
 */
static int
main_start_delivery(struct main_state *st)
{
	struct spool_options spool_opts = {
		.path = st->cfg.spool_path,
		.create_parent = strcmp(st->cfg.spool_path,
					CONFIG_DEFAULT_SPOOL_PATH) == 0,
		.dedup_window_s = st->cfg.dedup_window_s,
	};
	struct dispatcher_options dispatch_opts;
	struct dispatcher *dispatcher;
	struct log_line line;
	struct err e;
	int rc;

	st->relay->spool = spool_new(&spool_opts);
	if (st->relay->spool == NULL) {
		main_log_startup_failed("out_of_memory",
					"cannot create the spool");
		return -1;
	}
	err_clear(&e);
	rc = spool_start(st->relay->spool, &e);
	if (rc == RESULT_REJECT) {
		main_log_startup_failed(e.code, e.msg);
		return -1;
	}
	if (rc == RESULT_RETRY) {
		log_begin(&line, LOG_ERROR, "spool_unavailable");
		log_str(&line, "path", st->cfg.spool_path);
		log_str(&line, "reason", e.msg);
		log_end(&line);
	}
	main_dispatch_options(&st->cfg, &dispatch_opts);
	dispatcher = dispatcher_start(st->relay->spool, st->relay->delivery,
				      &dispatch_opts, &e);
	if (dispatcher == NULL) {
		main_log_startup_failed(e.code, e.msg);
		return -1;
	}
	st->relay->dispatcher = dispatcher;
	return 0;
}

/* A relay for cfg with its own certificate cache and destinations; the
 * caller adds the spool and the dispatcher.  NULL with the reason in e. */
static struct relay *
main_new_relay(const struct relay_config *cfg, struct err *e)
{
	struct cert_cache_options cache_opts = {
		.capacity = cfg->cert_cache_size,
		.seed_dir = cfg->cert_dir,
		.ca_file = cfg->ca_file,
		.fetch_timeout_ms = cfg->cert_fetch_timeout_ms,
		.fetches_per_minute = cfg->cert_fetch_per_minute,
		.failure_ttl_s = cfg->cert_failure_ttl_s,
	};
	struct relay *relay = calloc(1, sizeof(*relay));

	if (relay == NULL) {
		err_set(e, "out_of_memory", "cannot create the relay");
		return NULL;
	}
	relay->cfg = cfg;
	relay->started_at = time(NULL);
	relay->now = main_now;
	relay->certs = cert_cache_new(&cache_opts);
	if (relay->certs == NULL) {
		err_set(e, "out_of_memory",
			"cannot create the certificate cache");
		free(relay);
		return NULL;
	}
	relay->delivery = delivery_new(cfg);
	if (relay->delivery == NULL) {
		err_set(e, "out_of_memory", "cannot create the destinations");
		cert_cache_free(relay->certs);
		free(relay);
		return NULL;
	}
	return relay;
}

/* Creates the certificate cache, the destinations, the spool and the
 * delivery workers. */
static int
main_build_relay(struct main_state *st)
{
	struct err e;

	err_clear(&e);
	st->relay = main_new_relay(&st->cfg, &e);
	if (st->relay == NULL) {
		main_log_startup_failed(e.code, e.msg);
		return -1;
	}
	return main_start_delivery(st);
}

/* Blocks the stop signals in this thread and every thread it starts, so
 * that only sigwait in main receives them. */
static void
main_block_signals(sigset_t *set)
{
	struct sigaction ignore;

	memset(&ignore, 0, sizeof(ignore));
	ignore.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &ignore, NULL);
	/* A write beyond RLIMIT_FSIZE then fails with EFBIG, which the
	 * spool reports as a full disk, instead of killing the relay. */
	sigaction(SIGXFSZ, &ignore, NULL);

	sigemptyset(set);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, set, NULL);
}

/* Writes the destination names of relay, comma-separated, to out. */
static void
main_destination_names(const struct relay *relay, struct buf *out)
{
	const struct delivery *d = relay->delivery;
	size_t i;

	for (i = 0; i < delivery_count(d); i++)
		buf_printf(out, "%s%s", i ? "," : "",
			   delivery_get(d, i)->name);
}

static void
main_log_ready(const struct main_state *st, const char *event)
{
	const struct relay_config *cfg = st->relay->cfg;
	struct log_line line;
	struct buf names;

	buf_init(&names, LIMIT_LOG_LINE_BYTES);
	main_destination_names(st->relay, &names);
	log_begin(&line, LOG_INFO, event);
	log_str(&line, "address", cfg->listen_host);
	log_int(&line, "port", http_server_port(st->server));
	log_str(&line, "tls", cfg->tls_cert_file ? "on" : "off");
	log_str(&line, "path", cfg->endpoint_path);
	log_int(&line, "topics", (long long)cfg->topic_count);
	log_str(&line, "destinations", names.data ? names.data : "");
	log_str(&line, "basic_auth", cfg->basic_auth_user ? "on" : "off");
	log_end(&line);
	buf_free(&names);
}

/* Frees a relay that no request or worker uses any more.  keep_delivery:
 * workers left sending still read its destinations. */
static void
main_free_relay(struct main_state *st, struct relay *relay,
		bool keep_delivery)
{
	const struct relay_config *cfg = relay->cfg;

	if (relay->delivery != NULL && !keep_delivery)
		delivery_free(relay->delivery);
	if (relay->certs != NULL)
		cert_cache_free(relay->certs);
	free(relay);
	if (cfg != &st->cfg && cfg != NULL && !keep_delivery) {
		config_free((struct relay_config *)cfg);
		free((struct relay_config *)cfg);
	}
}

/* Replaces *next with a copy of now when they differ.  Returns true when
 * they differed and the copy was made. */
static bool
main_keep_string(const char *now, char **next)
{
	char *copy;

	if (strcmp(now ? now : "", *next ? *next : "") == 0)
		return false;
	copy = now ? strdup(now) : NULL;
	if (now != NULL && copy == NULL)
		return false;
	free(*next);
	*next = copy;
	return true;
}

/*
 * Keeps in next the running values of options a reload cannot apply, and
 * logs a warning for each.  The listening socket and the spool stay open
 * across a reload, and the time zone is process-wide state that threads
 * read.
 */
static void
main_keep_restart_options(const struct relay_config *now,
			  struct relay_config *next)
{
	const char *changed[4];
	size_t count = 0, i;
	struct log_line line;
	bool listen_changed;

	listen_changed = main_keep_string(now->listen_host,
					  &next->listen_host);
	if (listen_changed || now->listen_port != next->listen_port) {
		changed[count++] = "listen";
		next->listen_port = now->listen_port;
	}
	if (main_keep_string(now->spool_path, &next->spool_path))
		changed[count++] = "spool_path";
	if (main_keep_string(now->timezone, &next->timezone))
		changed[count++] = "timezone";
	if (now->dedup_window_s != next->dedup_window_s) {
		changed[count++] = "dedup_window";
		next->dedup_window_s = now->dedup_window_s;
	}
	for (i = 0; i < count; i++) {
		log_begin(&line, LOG_WARN, "reload_needs_restart");
		log_str(&line, "option", changed[i]);
		log_str(&line, "reason", "kept at its running value; restart "
			"snsrelay to apply the new one");
		log_end(&line);
	}
}

static void
main_log_reload_failed(const char *code, const char *reason)
{
	struct log_line line;

	log_begin(&line, LOG_ERROR, "reload_failed");
	log_str(&line, "code", code);
	log_str(&line, "reason", reason);
	log_str(&line, "action", "the previous configuration stays in "
		"force; fix the file and send SIGHUP again");
	log_end(&line);
	metrics_inc(METRIC_CONFIG_RELOADS, "failed", NULL);
}

/* Loads the configuration again into a new heap object; NULL when it has
 * problems, which are logged. */
static struct relay_config *
main_reload_config(const struct main_options *opts)
{
	struct config_report report = { NULL, 0 };
	struct relay_config *next = calloc(1, sizeof(*next));

	if (next == NULL) {
		main_log_reload_failed("out_of_memory",
				       "cannot load the configuration");
		return NULL;
	}
	if (main_load_config(opts, next, &report) != 0 || report.count > 0) {
		main_log_config_problems(&report);
		main_log_reload_failed("config_invalid", report.count > 0 ?
				       report.lines[0] : "out of memory");
		config_report_free(&report);
		config_free(next);
		free(next);
		return NULL;
	}
	config_report_free(&report);
	return next;
}

/*
 * SIGHUP: builds a relay from the configuration as it is now, hands the
 * listening socket to a server for it (connections and requests in
 * flight finish on the old one), then restarts the delivery workers with
 * the new destinations.  Any failure before the hand-over keeps the old
 * relay in force.
 */
static void
main_reload(struct main_state *st, const struct main_options *opts)
{
	struct relay *old = st->relay, *next;
	struct relay_config *cfg;
	struct dispatcher_options dispatch_opts;
	struct dispatcher *dispatcher;
	struct http_server *server;
	struct err e;
	size_t busy = 0;

	log_message(LOG_INFO, "reloading", "SIGHUP received; loading %s",
		    opts->config_path ? opts->config_path :
		    "the embedded defaults and the environment");
	if ((cfg = main_reload_config(opts)) == NULL)
		return;
	/* A truncated or emptied file is valid, but it would make the relay
	 * reject every message with 403, which SNS never retries. */
	if (cfg->topic_count == 0 && old->cfg->topic_count > 0) {
		main_log_reload_failed("no_topics", "the new configuration has "
				       "no topic, so every message would be "
				       "rejected; is the file complete?");
		config_free(cfg);
		free(cfg);
		return;
	}
	main_keep_restart_options(old->cfg, cfg);
	main_log_warnings(cfg, opts->config_path);
	err_clear(&e);
	next = main_new_relay(cfg, &e);
	if (next == NULL) {
		main_log_reload_failed(e.code, e.msg);
		config_free(cfg);
		free(cfg);
		return;
	}
	next->spool = old->spool;
	next->started_at = old->started_at;

	server = http_server_reload(st->server, next, &e);
	if (server == NULL || http_server_relay(server) != next) {
		/* Still serving the old relay, or nothing at all. */
		st->server = server;
		main_log_reload_failed(e.code, e.msg);
		next->spool = NULL;
		main_free_relay(st, next, false);
		return;
	}
	st->server = server;

	/* The old server is gone; only the old workers remain. */
	if (old->dispatcher != NULL)
		busy = dispatcher_stop(old->dispatcher,
				       old->cfg->shutdown_grace_ms);
	old->dispatcher = NULL;
	main_dispatch_options(cfg, &dispatch_opts);
	dispatcher = dispatcher_start(next->spool, next->delivery,
				      &dispatch_opts, &e);
	if (dispatcher == NULL)
		log_message(LOG_ERROR, "reload_workers_failed", "%s; alerts "
			    "are stored but not delivered until a restart",
			    e.msg);
	next->dispatcher = dispatcher;
	st->relay = next;
	st->busy_workers += busy;
	main_free_relay(st, old, busy > 0);

	main_setup_logging(cfg);
	metrics_inc(METRIC_CONFIG_RELOADS, "ok", NULL);
	main_log_ready(st, "reloaded");
}

/* Serves until SIGTERM or SIGINT, reloading on SIGHUP. */
static int
main_serve(struct main_state *st, const struct main_options *opts,
	   const sigset_t *set)
{
	int sig = 0;

	for (;;) {
		if (sigwait(set, &sig) != 0)
			continue;
		if (sig == SIGTERM || sig == SIGINT)
			return sig;
		if (sig == SIGHUP)
			main_reload(st, opts);
		if (st->server == NULL) {
			log_message(LOG_ERROR, "server_lost", "the server "
				    "could not be restarted after a reload; "
				    "stopping");
			return SIGTERM;
		}
	}
}

static void
main_log_stopping(int sig)
{
	struct log_line line;

	log_begin(&line, LOG_INFO, "stopping");
	log_str(&line, "signal", sig == SIGTERM ? "SIGTERM" : "SIGINT");
	log_end(&line);
}

static void
main_collect_stats(struct main_state *st)
{
	if (st->relay != NULL && st->relay->certs != NULL)
		cert_cache_get_stats(st->relay->certs, &st->cert_stats);
}

static void
main_log_stopped(const struct main_state *st, time_t started_at)
{
	struct log_line line;

	log_begin(&line, LOG_INFO, "stopped");
	log_int(&line, "uptime_s", (long long)(time(NULL) - started_at));
	log_int(&line, "cert_cache_hits", (long long)st->cert_stats.hits);
	log_int(&line, "cert_fetches", (long long)st->cert_stats.fetches);
	log_int(&line, "cert_fetch_failures",
		(long long)st->cert_stats.fetch_failures);
	log_end(&line);
}

/* Stops in the order data flows: no new requests, then no new sends,
 * then the spool, which keeps whatever was not delivered. */
static void
main_stop_services(struct main_state *st)
{
	if (st->server != NULL)
		http_server_stop(st->server);
	st->server = NULL;
	if (st->relay == NULL)
		return;
	if (st->relay->dispatcher != NULL)
		st->busy_workers += dispatcher_stop(st->relay->dispatcher,
				st->relay->cfg->shutdown_grace_ms);
	st->relay->dispatcher = NULL;
	if (st->relay->spool != NULL) {
		spool_stop(st->relay->spool);
		spool_free(st->relay->spool);
	}
	st->relay->spool = NULL;
}

static void
main_cleanup(struct main_state *st)
{
	main_stop_services(st);
	/* Workers left sending still use the destinations and libcurl; the
	 * exit releases them. */
	if (st->relay != NULL)
		main_free_relay(st, st->relay, st->busy_workers > 0);
	st->relay = NULL;
	if (st->busy_workers == 0 && st->curl_ready)
		http_client_global_cleanup();
	if (st->cfg_loaded)
		config_free(&st->cfg);
}

/* Starts the relay and serves until a stop signal; returns the status. */
static int
main_run(struct main_state *st, const struct main_options *opts)
{
	sigset_t set;
	struct err e;
	int sig;

	main_setup_logging(&st->cfg);
	main_log_starting(opts, &st->cfg);
	/* Before any module can start a thread, so that every thread
	 * inherits the mask. */
	main_block_signals(&set);
	/* Local times in alerts use this zone; set once, before threads. */
	if (text_use_timezone(st->cfg.timezone) != 0) {
		main_log_startup_failed("timezone_failed",
					"cannot set the time zone: out of "
					"memory");
		return EXIT_FAILURE;
	}
	if (http_client_global_init() != 0) {
		main_log_startup_failed("curl_init_failed",
					"libcurl global initialisation failed");
		return EXIT_FAILURE;
	}
	st->curl_ready = true;
	if (main_build_relay(st) != 0)
		return EXIT_FAILURE;

	err_clear(&e);
	st->server = http_server_start(st->relay, &e);
	if (st->server == NULL) {
		main_log_startup_failed(e.code, e.msg);
		return EXIT_FAILURE;
	}
	st->started_at = st->relay->started_at;
	main_log_ready(st, "ready");

	sig = main_serve(st, opts, &set);
	main_log_stopping(sig);
	main_stop_services(st);
	main_collect_stats(st);
	st->stopped = true;
	return EXIT_SUCCESS;
}

int
main(int argc, char **argv)
{
	struct config_report report = { NULL, 0 };
	struct main_options opts = { .config_path = NULL };
	struct main_state st;
	int status;

	memset(&st, 0, sizeof(st));
	status = main_parse_args(argc, argv, &opts);
	if (status >= 0)
		return status;

	if (main_load_config(&opts, &st.cfg, &report) != 0) {
		main_log_startup_failed("out_of_memory",
					"cannot load the configuration");
		return EXIT_FAILURE;
	}
	st.cfg_loaded = true;
	if (opts.check_only) {
		status = main_check_config(&opts, &st.cfg, &report);
	} else if (report.count > 0) {
		main_log_config_problems(&report);
		main_log_startup_failed("config_invalid", "the configuration "
					"has problems; run snsrelay "
					"--check-config for the list");
		status = EXIT_FAILURE;
	} else if (opts.spool_command) {
		status = spool_cli_main(&st.cfg, opts.spool_argc,
					opts.spool_argv);
	} else if (opts.test_command) {
		main_setup_logging(&st.cfg);
		status = test_cli_main(&st.cfg, opts.test_argc,
				       opts.test_argv);
	} else {
		status = main_run(&st, &opts);
	}
	main_cleanup(&st);
	if (st.stopped)
		main_log_stopped(&st, st.started_at);
	config_report_free(&report);
	if (st.busy_workers > 0) {
		/* Detached workers still hold the destinations and libcurl,
		 * which main_cleanup left alone: end now, without the exit
		 * handlers that would free what they use. */
		fflush(stdout);
		_exit(status);
	}
	return status;
}
