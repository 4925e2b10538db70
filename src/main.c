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
#include "snsrelay/relay.h"
#include "snsrelay/spool.h"
#include "snsrelay/spool_cli.h"
#include "snsrelay/text.h"

#define EXIT_USAGE 2

struct main_options {
	const char *config_path;	/* NULL: embedded defaults */
	bool check_only;
	bool spool_command;		/* "spool" subcommand given */
	int spool_argc;			/* its arguments after "spool" */
	char **spool_argv;
};

/* Everything the daemon owns while it runs; freed by main_cleanup. */
struct main_state {
	struct relay_config cfg;
	bool cfg_loaded;
	struct relay relay;
	struct http_server *server;
	bool curl_ready;
	bool stopped;			/* served until a stop signal */
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
		"SIGINT stops the relay.\n");
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
}

static time_t
main_now(void)
{
	return time(NULL);
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
	struct dispatcher_options dispatch_opts = {
		.max_age_s = st->cfg.delivery_max_age_s,
		.backoff_min_ms = st->cfg.retry_min_delay_ms,
		.backoff_max_ms = st->cfg.retry_max_delay_ms,
		.batch_max = DISCORD_EMBEDS_MAX,
	};
	struct log_line line;
	struct err e;
	int rc;

	st->relay.spool = spool_new(&spool_opts);
	if (st->relay.spool == NULL) {
		main_log_startup_failed("out_of_memory",
					"cannot create the spool");
		return -1;
	}
	err_clear(&e);
	rc = spool_start(st->relay.spool, &e);
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
	st->relay.dispatcher = dispatcher_start(st->relay.spool,
						st->relay.delivery,
						&dispatch_opts, &e);
	if (st->relay.dispatcher == NULL) {
		main_log_startup_failed(e.code, e.msg);
		return -1;
	}
	return 0;
}

/* Creates the certificate cache, the destinations, the spool and the
 * delivery workers. */
static int
main_build_relay(struct main_state *st)
{
	struct cert_cache_options cache_opts = {
		.capacity = st->cfg.cert_cache_size,
		.seed_dir = st->cfg.cert_dir,
		.ca_file = st->cfg.ca_file,
		.fetch_timeout_ms = st->cfg.cert_fetch_timeout_ms,
	};

	st->relay.cfg = &st->cfg;
	st->relay.started_at = time(NULL);
	st->relay.now = main_now;
	st->relay.certs = cert_cache_new(&cache_opts);
	if (st->relay.certs == NULL) {
		main_log_startup_failed("out_of_memory",
					"cannot create the certificate cache");
		return -1;
	}
	st->relay.delivery = delivery_new(&st->cfg);
	if (st->relay.delivery == NULL) {
		main_log_startup_failed("out_of_memory",
					"cannot create the destinations");
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

static void
main_log_ready(const struct main_state *st)
{
	const struct delivery *d = st->relay.delivery;
	struct log_line line;
	struct buf names;
	size_t i;

	buf_init(&names, LIMIT_LOG_LINE_BYTES);
	for (i = 0; i < delivery_count(d); i++)
		buf_printf(&names, "%s%s", i ? "," : "",
			   delivery_get(d, i)->name);

	log_begin(&line, LOG_INFO, "ready");
	log_str(&line, "address", st->cfg.listen_host);
	log_int(&line, "port", http_server_port(st->server));
	log_str(&line, "tls", st->cfg.tls_cert_file ? "on" : "off");
	log_str(&line, "path", st->cfg.endpoint_path);
	log_int(&line, "topics", (long long)st->cfg.topic_count);
	log_str(&line, "destinations", names.data ? names.data : "");
	log_end(&line);
	buf_free(&names);
}

/* Waits for SIGTERM or SIGINT; SIGHUP is logged and otherwise ignored. */
static int
main_wait_for_stop(const sigset_t *set)
{
	int sig = 0;

	for (;;) {
		if (sigwait(set, &sig) != 0)
			continue;
		if (sig == SIGTERM || sig == SIGINT)
			return sig;
		log_message(LOG_INFO, "signal_ignored", "SIGHUP does not "
			    "reload the configuration; restart snsrelay to "
			    "apply changes");
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
	if (st->relay.certs != NULL)
		cert_cache_get_stats(st->relay.certs, &st->cert_stats);
}

static void
main_log_stopped(const struct main_state *st)
{
	struct log_line line;

	log_begin(&line, LOG_INFO, "stopped");
	log_int(&line, "uptime_s",
		(long long)(time(NULL) - st->relay.started_at));
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
	if (st->relay.dispatcher != NULL)
		st->busy_workers = dispatcher_stop(st->relay.dispatcher,
						   st->cfg.shutdown_grace_ms);
	st->relay.dispatcher = NULL;
	if (st->relay.spool != NULL) {
		spool_stop(st->relay.spool);
		spool_free(st->relay.spool);
	}
	st->relay.spool = NULL;
}

static void
main_cleanup(struct main_state *st)
{
	main_stop_services(st);
	/* Workers left sending still use these; the exit releases them. */
	if (st->busy_workers == 0) {
		if (st->relay.delivery != NULL)
			delivery_free(st->relay.delivery);
		if (st->curl_ready)
			http_client_global_cleanup();
	}
	if (st->relay.certs != NULL)
		cert_cache_free(st->relay.certs);
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
	st->server = http_server_start(&st->relay, &e);
	if (st->server == NULL) {
		main_log_startup_failed(e.code, e.msg);
		return EXIT_FAILURE;
	}
	main_log_ready(st);

	sig = main_wait_for_stop(&set);
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
	struct main_options opts = { NULL, false, false, 0, NULL };
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
	} else {
		status = main_run(&st, &opts);
	}
	main_cleanup(&st);
	if (st.stopped)
		main_log_stopped(&st);
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
