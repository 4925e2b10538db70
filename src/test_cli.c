/*
 * The "snsrelay test-destinations" command.  It builds an alert with the
 * relay's own formatter, from a sample security-group event or from the
 * event in --event FILE, and marks its title and summary as a test.  It
 * posts the alert once to each destination through delivery.c, so every
 * destination receives its own format.  The spool is never opened.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "snsrelay/alert.h"
#include "snsrelay/buf.h"
#include "snsrelay/delivery.h"
#include "snsrelay/filter.h"
#include "snsrelay/http_client.h"
#include "snsrelay/labels.h"
#include "snsrelay/limits.h"
#include "snsrelay/sns_message.h"
#include "snsrelay/test_cli.h"
#include "snsrelay/text.h"

#define TEST_EXIT_OK 0
#define TEST_EXIT_FAILURE 1
#define TEST_EXIT_USAGE 2

/* SNS caps a message at 256 KiB, so a larger event never reaches the
 * relay. */
#define TEST_EVENT_MAX (256 * 1024)
/* The alert schema's maximum lengths, in code points. */
#define TEST_TITLE_MAX 256
#define TEST_SUMMARY_MAX 2048
#define TEST_TEXT_MAX (16 * 1024)
#define TEST_ID_SIZE 64

/*
 * A CloudTrail record of an SSH rule opened to the internet, in the
 * EventBridge envelope.  The account, group and addresses are the
 * documentation examples of AWS and RFC 5737; test_cli_sample_event sets
 * the ids and times.
 */
static const char test_cli_sample[] =
	"{\"version\":\"0\",\"id\":\"\","
	"\"detail-type\":\"AWS API Call via CloudTrail\","
	"\"source\":\"aws.ec2\",\"account\":\"123456789012\",\"time\":\"\","
	"\"region\":\"us-east-1\",\"resources\":[],"
	"\"detail\":{\"eventVersion\":\"1.09\","
	"\"userIdentity\":{\"type\":\"IAMUser\","
	"\"principalId\":\"AIDAEXAMPLEEXAMPLE0001\","
	"\"arn\":\"arn:aws:iam::123456789012:user/snsrelay-test\","
	"\"accountId\":\"123456789012\",\"userName\":\"snsrelay-test\"},"
	"\"eventTime\":\"\",\"eventSource\":\"ec2.amazonaws.com\","
	"\"eventName\":\"AuthorizeSecurityGroupIngress\","
	"\"awsRegion\":\"us-east-1\",\"sourceIPAddress\":\"192.0.2.10\","
	"\"userAgent\":\"aws-cli/2.15.0 Python/3.11.6\","
	"\"requestParameters\":{\"groupId\":\"sg-0123456789abcdef0\","
	"\"ipPermissions\":{\"items\":[{\"ipProtocol\":\"tcp\","
	"\"fromPort\":22,\"toPort\":22,\"groups\":{},"
	"\"ipRanges\":{\"items\":[{\"cidrIp\":\"0.0.0.0/0\","
	"\"description\":\"snsrelay test, not a real rule\"}]},"
	"\"ipv6Ranges\":{},\"prefixListIds\":{}}]}},"
	"\"responseElements\":{\"_return\":true,"
	"\"securityGroupRuleSet\":{\"items\":[{"
	"\"groupOwnerId\":\"123456789012\","
	"\"groupId\":\"sg-0123456789abcdef0\","
	"\"securityGroupRuleId\":\"sgr-0123456789abcdef0\","
	"\"isEgress\":false,\"ipProtocol\":\"tcp\",\"fromPort\":22,"
	"\"toPort\":22,\"cidrIpv4\":\"0.0.0.0/0\","
	"\"description\":\"snsrelay test, not a real rule\"}]}},"
	"\"eventID\":\"\",\"readOnly\":false,\"eventType\":\"AwsApiCall\","
	"\"managementEvent\":true,\"recipientAccountId\":\"123456789012\","
	"\"eventCategory\":\"Management\"}}";

struct test_cli_args {
	const char *destination;	/* NULL: every destination */
	const char *event_path;		/* NULL: the built-in sample */
};

/* Host, time and id of this run, which the test alert reports. */
struct test_cli_origin {
	char host[256];
	char when[TEXT_TIME_SIZE];	/* UTC */
	char id[TEST_ID_SIZE];		/* unique per run */
	time_t now;
};

static void
test_cli_usage(FILE *out)
{
	fprintf(out,
		"Usage: snsrelay [-c FILE] test-destinations "
		"[--destination NAME] [--event FILE]\n"
		"\n"
		"Sends one alert marked as a test to every configured "
		"destination, or to NAME\nonly, and prints how each "
		"answered.  Each destination receives the alert in\nits own "
		"format (Discord, Slack, Teams or generic JSON); without a "
		"webhook the\nalert is printed on standard output.  The "
		"spool is not used, filters are\nignored, and a failed send "
		"is not retried.\n"
		"\n"
		"  --destination NAME  send only to NAME: \"discord\" or a "
		"webhook name\n"
		"  --event FILE        build the alert from the EventBridge "
		"event (JSON) in FILE\n"
		"                      instead of the built-in sample of an "
		"SSH rule opened to\n"
		"                      the internet\n"
		"  -h, --help          print this help and exit\n"
		"\n"
		"Exit status: 0 when every destination accepted the alert, "
		"1 when one did not,\n2 on a usage error.\n");
}

static int test_cli_usage_error(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

/* Prints a usage problem and the usage, and returns exit status 2. */
static int
test_cli_usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "snsrelay test-destinations: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	test_cli_usage(stderr);
	return TEST_EXIT_USAGE;
}

/* Returns the value of option name at argv[*i] ("--name VALUE" or
 * "--name=VALUE") and advances *i past it.  Returns NULL when argv[*i]
 * is another word, with *missing set when the value is missing. */
static const char *
test_cli_option(int argc, char **argv, int *i, const char *name,
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

/* Parses the arguments.  Returns -1 to go on, or an exit status. */
static int
test_cli_parse(int argc, char **argv, struct test_cli_args *args)
{
	const char *value;
	bool missing;
	int i;

	for (i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 ||
		    strcmp(argv[i], "-h") == 0) {
			test_cli_usage(stdout);
			return TEST_EXIT_OK;
		}
		value = test_cli_option(argc, argv, &i, "--destination",
					&missing);
		if (missing || (value != NULL && value[0] == '\0'))
			return test_cli_usage_error("--destination needs a "
						    "name");
		if (value != NULL) {
			args->destination = value;
			continue;
		}
		value = test_cli_option(argc, argv, &i, "--event", &missing);
		if (missing || (value != NULL && value[0] == '\0'))
			return test_cli_usage_error("--event needs a file");
		if (value != NULL) {
			args->event_path = value;
			continue;
		}
		return test_cli_usage_error("unexpected argument \"%s\"",
					    argv[i]);
	}
	return -1;
}

/* Checks that text is one JSON object.  Returns 0, or -1 with the
 * reason in why. */
static int
test_cli_check_json(const char *text, size_t len, char *why, size_t size)
{
	json_tokener *tok = json_tokener_new_ex(LIMIT_JSON_DEPTH);
	json_object *obj;
	int rc = -1;

	if (tok == NULL) {
		snprintf(why, size, "out of memory");
		return -1;
	}
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT |
			       JSON_TOKENER_VALIDATE_UTF8);
	obj = json_tokener_parse_ex(tok, text, (int)len);
	if (obj == NULL || json_tokener_get_error(tok) != json_tokener_success)
		snprintf(why, size, "invalid JSON: %s",
			 json_tokener_error_desc(json_tokener_get_error(tok)));
	else if (json_tokener_get_parse_end(tok) != len)
		snprintf(why, size, "text after the JSON object");
	else if (!json_object_is_type(obj, json_type_object))
		snprintf(why, size, "the JSON is not an object");
	else
		rc = 0;
	json_object_put(obj);
	json_tokener_free(tok);
	return rc;
}

/* Reads the event in path into a new string.  Returns NULL after
 * printing the reason. */
static char *
test_cli_read_event(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *text = NULL, why[128];
	size_t len;

	if (f == NULL) {
		fprintf(stderr, "snsrelay test-destinations: cannot open the "
			"event file %s: %s\n", path, strerror(errno));
		return NULL;
	}
	text = malloc(TEST_EVENT_MAX + 2);
	if (text == NULL) {
		fprintf(stderr, "snsrelay test-destinations: out of memory\n");
		goto fail;
	}
	len = fread(text, 1, TEST_EVENT_MAX + 1, f);
	if (ferror(f)) {
		fprintf(stderr, "snsrelay test-destinations: cannot read the "
			"event file %s: %s\n", path, strerror(errno));
		goto fail;
	}
	if (len > TEST_EVENT_MAX) {
		fprintf(stderr, "snsrelay test-destinations: the event file "
			"%s is larger than %d KiB, the SNS message limit\n",
			path, TEST_EVENT_MAX / 1024);
		goto fail;
	}
	text[len] = '\0';
	if (strlen(text) != len ||
	    test_cli_check_json(text, len, why, sizeof(why)) != 0) {
		fprintf(stderr, "snsrelay test-destinations: the event file "
			"%s is not an EventBridge event: %s\n", path,
			strlen(text) != len ? "it contains a NUL byte" : why);
		goto fail;
	}
	fclose(f);
	return text;
fail:
	fclose(f);
	free(text);
	return NULL;
}

static int
test_cli_set(json_object *obj, const char *key, const char *value)
{
	json_object *str = json_object_new_string(value);

	if (str == NULL || json_object_object_add(obj, key, str) != 0) {
		json_object_put(str);
		return -1;
	}
	return 0;
}

/* Builds the sample event with this run's id and time, to free(). */
static char *
test_cli_sample_event(const struct test_cli_origin *origin)
{
	json_object *event = json_tokener_parse(test_cli_sample);
	json_object *detail = NULL;
	char *text = NULL;
	const char *json;

	if (event == NULL ||
	    !json_object_object_get_ex(event, "detail", &detail) ||
	    test_cli_set(event, "id", origin->id) != 0 ||
	    test_cli_set(event, "time", origin->when) != 0 ||
	    test_cli_set(detail, "eventID", origin->id) != 0 ||
	    test_cli_set(detail, "eventTime", origin->when) != 0)
		goto out;
	json = json_object_to_json_string_ext(event, JSON_C_TO_STRING_PLAIN);
	if (json != NULL)
		text = strdup(json);
out:
	json_object_put(event);
	return text;
}

static void
test_cli_field(struct sns_field *field, const char *value)
{
	field->str = (char *)value;
	field->len = strlen(value);
}

/* The topic the alert names: "snsrelay-test" in the event's region and
 * account, or in the sample's when the event has none. */
static void
test_cli_topic(const char *event_text, char *out, size_t size)
{
	json_object *event = json_tokener_parse(event_text);
	const char *region = alert_get_string(event, "region");
	const char *account = alert_get_string(event, "account");

	snprintf(out, size, "arn:aws:sns:%.32s:%.32s:snsrelay-test",
		 region != NULL ? region : "us-east-1",
		 account != NULL ? account : "123456789012");
	json_object_put(event);
}

/* Replaces member key of alert with text cut to max code points. */
static int
test_cli_replace(json_object *alert, const char *key, const char *text,
		 size_t max)
{
	char *cut = text_truncate(text, max);
	int rc = cut != NULL ? test_cli_set(alert, key, cut) : -1;

	free(cut);
	return rc;
}

/* Marks the alert as a test in its title and summary, which every
 * format shows, and in a "test": true member for programs. */
static int
test_cli_mark(json_object *alert, const struct test_cli_origin *origin)
{
	const char *title = alert_get_string(alert, "title");
	const char *summary = alert_get_string(alert, "summary");
	struct buf b;
	int rc;

	buf_init(&b, 4 * TEST_TEXT_MAX);
	rc = buf_printf(&b, "TEST from snsrelay on %s: %s", origin->host,
			title != NULL ? title : "alert");
	if (rc == 0)
		rc = test_cli_replace(alert, "title", b.data, TEST_TITLE_MAX);
	buf_reset(&b);
	if (rc == 0)
		rc = buf_printf(&b, "Test only, not a real change: sent by "
				"\"snsrelay test-destinations\" on %s at %s "
				"to check this destination.  A real alert for "
				"this event would read: %s", origin->host,
				origin->when, summary != NULL ? summary : "");
	if (rc == 0)
		rc = test_cli_replace(alert, "summary", b.data,
				      TEST_SUMMARY_MAX);
	buf_free(&b);
	if (rc == 0)
		rc = json_object_object_add(alert, "test",
					    json_object_new_boolean(1));
	return rc;
}

/* Builds the test alert from event_text as the relay builds the alert of
 * a Notification.  Returns NULL when memory is short. */
static json_object *
test_cli_build_alert(const struct relay_config *cfg, const char *event_text,
		     const struct test_cli_origin *origin)
{
	struct alert_options opts = {
		.timezone = cfg->timezone,
		.severity = &cfg->severity,
		.language = LABEL_LANG_EN,
	};
	char topic[128], timestamp[TEXT_TIME_SIZE + 4];
	struct sns_message msg;
	json_object *alert;

	if (cfg->language != NULL)
		label_language_parse(cfg->language, &opts.language);
	test_cli_topic(event_text, topic, sizeof(topic));
	/* SNS writes milliseconds: "2024-05-01T10:00:05.123Z". */
	snprintf(timestamp, sizeof(timestamp), "%.19s.000Z", origin->when);

	/* EventBridge targets get no Subject, so none is set here. */
	memset(&msg, 0, sizeof(msg));
	msg.type = SNS_TYPE_NOTIFICATION;
	test_cli_field(&msg.type_name, "Notification");
	test_cli_field(&msg.message, event_text);
	test_cli_field(&msg.message_id, origin->id);
	test_cli_field(&msg.timestamp, timestamp);
	test_cli_field(&msg.topic_arn, topic);

	alert = alert_from_notification(&msg, &opts, origin->now);
	if (alert != NULL && test_cli_mark(alert, origin) != 0) {
		json_object_put(alert);
		alert = NULL;
	}
	return alert;
}

static void
test_cli_init_origin(struct test_cli_origin *origin)
{
	char host[256] = "";
	char *clean;

	memset(origin, 0, sizeof(*origin));
	origin->now = time(NULL);
	if (gethostname(host, sizeof(host) - 1) != 0 || host[0] == '\0')
		snprintf(host, sizeof(host), "an unknown host");
	clean = text_sanitize(host, strlen(host));
	snprintf(origin->host, sizeof(origin->host), "%s",
		 clean != NULL ? clean : "an unknown host");
	free(clean);
	if (text_format_time(origin->now, origin->when,
			     sizeof(origin->when)) != 0)
		snprintf(origin->when, sizeof(origin->when),
			 "1970-01-01T00:00:00Z");
	snprintf(origin->id, sizeof(origin->id), "snsrelay-test-%lld-%ld",
		 (long long)origin->now, (long)getpid());
}

static const char *
test_cli_format_name(enum destination_kind kind)
{
	switch (kind) {
	case DESTINATION_DISCORD:
		return "discord";
	case DESTINATION_SLACK:
		return "slack";
	case DESTINATION_TEAMS:
		return "teams";
	case DESTINATION_STDOUT:
		return "stdout";
	case DESTINATION_GENERIC:
		break;
	}
	return "generic";
}

/* Returns the index of the destination named name, or -1. */
static long
test_cli_find(const struct delivery *d, const char *name)
{
	size_t i;

	for (i = 0; i < delivery_count(d); i++)
		if (strcmp(delivery_get(d, i)->name, name) == 0)
			return (long)i;
	return -1;
}

static int
test_cli_unknown_destination(const struct delivery *d, const char *name)
{
	struct buf names;
	size_t i;
	int status;

	buf_init(&names, 4096);
	for (i = 0; i < delivery_count(d); i++)
		buf_printf(&names, "%s%s", i ? ", " : "",
			   delivery_get(d, i)->name);
	status = test_cli_usage_error("no destination is named \"%s\"; the "
				      "configured destinations are: %s", name,
				      names.data != NULL ? names.data : "");
	buf_free(&names);
	return status;
}

static int64_t
test_cli_now_ms(void)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

/*
 * Returns the delivery error without the "NAME (URL): " or "HTTP N from
 * NAME (URL): " prefix that delivery.c writes, because the line already
 * shows both.  An error with another prefix is returned whole.
 */
static const char *
test_cli_error_detail(const struct destination *dest,
		      const struct delivery_result *result)
{
	char prefix[256];
	int n;

	if (result->status > 0)
		n = snprintf(prefix, sizeof(prefix), "HTTP %ld from %.40s "
			     "(%.80s): ", result->status, dest->name,
			     dest->url_redacted);
	else
		n = snprintf(prefix, sizeof(prefix), "%.40s (%.80s): ",
			     dest->name, dest->url_redacted);
	if (n > 0 && strncmp(result->error, prefix, (size_t)n) == 0)
		return result->error + n;
	return result->error;
}

/* Appends what the operator should do about a failed send. */
static void
test_cli_hint(struct buf *line, const struct destination *dest,
	      const struct delivery_result *result, unsigned timeout_ms)
{
	long status = result->status;
	double wait_s = result->retry_after_s >= 0 ? result->retry_after_s :
			result->ratelimit_reset_after_s;

	if (status == 401 || status == 403 || status == 404)
		buf_printf(line, "the webhook URL is wrong or the webhook "
			   "was deleted; copy the URL again from the "
			   "service's webhook settings into the "
			   "configuration");
	else if (status == 429 && wait_s >= 0)
		buf_printf(line, "rate limited; retry after %.3g s", wait_s);
	else if (status == 429)
		buf_printf(line, "rate limited; retry in a minute");
	else if (status >= 500)
		buf_printf(line, "the service failed; retry later and check "
			   "its status page");
	else if (status >= 400)
		buf_printf(line, "the service rejected the request; check "
			   "that the format %s matches the service of this "
			   "URL", test_cli_format_name(dest->kind));
	else if (status > 0)
		buf_printf(line, "snsrelay follows no redirects; configure "
			   "the URL the redirect points to");
	else if (dest->kind == DESTINATION_STDOUT)
		buf_printf(line, "check that standard output is writable");
	else if (strstr(result->error, "timed out") != NULL)
		buf_printf(line, "no answer within delivery_timeout (%u ms); "
			   "check the network path to the service and any "
			   "proxy (https_proxy)", timeout_ms);
	else
		buf_printf(line, "check the host name, DNS, the network path "
			   "and any proxy (https_proxy); for a TLS error, "
			   "check ca_file");
}

/* Appends "ok, ..." or "failed, ...: detail; hint" for one send. */
static void
test_cli_describe(struct buf *line, const struct destination *dest,
		  const struct delivery_result *result, int64_t elapsed_ms,
		  unsigned timeout_ms)
{
	if (result->outcome == DELIVERY_OK &&
	    dest->kind == DESTINATION_STDOUT) {
		buf_printf(line, "ok, the alert is printed above because no "
			   "webhook is configured");
		return;
	}
	if (result->outcome == DELIVERY_OK) {
		buf_printf(line, "ok, HTTP %ld in %lld ms", result->status,
			   (long long)elapsed_ms);
		return;
	}
	if (result->status > 0)
		buf_printf(line, "failed, HTTP %ld in %lld ms: %s; ",
			   result->status, (long long)elapsed_ms,
			   test_cli_error_detail(dest, result));
	else
		buf_printf(line, "failed after %lld ms: %s; ",
			   (long long)elapsed_ms,
			   test_cli_error_detail(dest, result));
	test_cli_hint(line, dest, result, timeout_ms);
}

/* Sends the alert to destination i and prints its line.  Returns true
 * when the destination accepted it. */
static bool
test_cli_send_one(const struct relay_config *cfg, struct delivery *d,
		  size_t i, json_object *alert, int name_width, int url_width)
{
	const struct destination *dest = delivery_get(d, i);
	struct delivery_result result;
	struct buf line;
	int64_t started_ms = test_cli_now_ms();

	delivery_send_batch(d, i, &alert, 1, &result);
	buf_init(&line, 4096);
	test_cli_describe(&line, dest, &result,
			  test_cli_now_ms() - started_ms,
			  cfg->delivery_timeout_ms);
	if (!filter_accepts(filter_find(cfg, dest->name), alert))
		buf_printf(&line, " (its filter drops real alerts like this "
			   "one)");
	printf("%-*s %-7s %-*s %s\n", name_width, dest->name,
	       test_cli_format_name(dest->kind), url_width,
	       dest->url_redacted != NULL ? dest->url_redacted : "-",
	       line.data != NULL ? line.data : "(out of memory)");
	fflush(stdout);
	buf_free(&line);
	return result.outcome == DELIVERY_OK;
}

/* Sends to destination only, or to every one when only is -1.  Returns
 * the exit status. */
static int
test_cli_send_all(const struct relay_config *cfg, struct delivery *d,
		  json_object *alert, long only)
{
	size_t i, count = delivery_count(d), tried = 0, accepted = 0;
	int name_width = 0, url_width = 1, n;

	for (i = 0; i < count; i++) {
		const struct destination *dest = delivery_get(d, i);

		if (only >= 0 && (size_t)only != i)
			continue;
		n = (int)strlen(dest->name);
		name_width = n > name_width ? n : name_width;
		n = dest->url_redacted ? (int)strlen(dest->url_redacted) : 1;
		url_width = n > url_width ? n : url_width;
	}
	for (i = 0; i < count; i++) {
		if (only >= 0 && (size_t)only != i)
			continue;
		tried++;
		if (test_cli_send_one(cfg, d, i, alert, name_width,
				      url_width))
			accepted++;
	}
	printf("%zu of %zu destination%s accepted the test alert\n",
	       accepted, tried, tried == 1 ? "" : "s");
	return accepted == tried ? TEST_EXIT_OK : TEST_EXIT_FAILURE;
}

/* Builds the alert and the destinations, then sends. */
static int
test_cli_run(const struct relay_config *cfg, const struct test_cli_args *args,
	     char *event_text)
{
	struct test_cli_origin origin;
	struct delivery *d = delivery_new(cfg);
	json_object *alert = NULL;
	char *sample = NULL;
	long only = -1;
	int status = TEST_EXIT_FAILURE;

	test_cli_init_origin(&origin);
	if (event_text == NULL)
		event_text = sample = test_cli_sample_event(&origin);
	if (d == NULL || event_text == NULL ||
	    (alert = test_cli_build_alert(cfg, event_text, &origin)) == NULL) {
		fprintf(stderr, "snsrelay test-destinations: out of memory "
			"building the test alert\n");
		goto out;
	}
	if (args->destination != NULL) {
		only = test_cli_find(d, args->destination);
		if (only < 0) {
			status = test_cli_unknown_destination(d,
							      args->destination);
			goto out;
		}
	}
	if (delivery_count(d) == 1 &&
	    delivery_get(d, 0)->kind == DESTINATION_STDOUT)
		fprintf(stderr, "snsrelay test-destinations: no webhook is "
			"configured (set discord_webhook_url, "
			"DISCORD_WEBHOOK_URL or webhook), so alerts go to "
			"standard output; the test alert follows\n");
	status = test_cli_send_all(cfg, d, alert, only);
out:
	json_object_put(alert);
	delivery_free(d);
	free(sample);
	return status;
}

int
test_cli_main(const struct relay_config *cfg, int argc, char **argv)
{
	struct test_cli_args args = { NULL, NULL };
	char *event_text = NULL;
	int status;

	status = test_cli_parse(argc, argv, &args);
	if (status >= 0)
		return status;
	if (args.event_path != NULL) {
		event_text = test_cli_read_event(args.event_path);
		if (event_text == NULL)
			return TEST_EXIT_USAGE;
	}
	/* Local times in the alert use this zone, as in the relay. */
	if (text_use_timezone(cfg->timezone) != 0 ||
	    http_client_global_init() != 0) {
		fprintf(stderr, "snsrelay test-destinations: cannot set up "
			"the time zone or libcurl (out of memory)\n");
		free(event_text);
		return TEST_EXIT_FAILURE;
	}
	status = test_cli_run(cfg, &args, event_text);
	http_client_global_cleanup();
	free(event_text);
	if (fflush(stdout) != 0) {
		fprintf(stderr, "snsrelay test-destinations: writing the "
			"output failed: %s\n", strerror(errno));
		status = TEST_EXIT_FAILURE;
	}
	return status;
}
