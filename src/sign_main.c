#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "snsrelay/buf.h"
#include "snsrelay/err.h"
#include "snsrelay/sns_message.h"
#include "snsrelay/sns_sign.h"

#define EXIT_USAGE 2
/* Largest --message-file accepted: far above the 256 KiB SNS allows, so
 * tests can build oversized bodies. */
#define SIGN_MESSAGE_MAX (16 * 1024 * 1024)
#define SIGN_TOKEN_BYTES 64

struct sign_args {
	const char *key_path;
	const char *cert_url;
	const char *topic_arn;
	const char *message;
	const char *message_file;
	const char *type;
	const char *subject;
	const char *message_id;
	const char *timestamp;
	const char *version;
	const char *token;
	const char *subscribe_url;
	const char *unsubscribe_url;
};

static void
sign_print_usage(FILE *out)
{
	fprintf(out,
		"Usage: snsrelay-sign --key KEY.pem --cert-url URL "
		"--topic-arn ARN\n"
		"                     (--message TEXT | --message-file "
		"FILE|-)\n"
		"                     [--type Notification|"
		"SubscriptionConfirmation|UnsubscribeConfirmation]\n"
		"                     [--subject TEXT] [--message-id ID] "
		"[--timestamp ISO8601]\n"
		"                     [--signature-version 1|2] "
		"[--token TOKEN]\n"
		"                     [--subscribe-url URL] "
		"[--unsubscribe-url URL]\n\n"
		"Prints a signed SNS delivery body on standard output.  "
		"Defaults: type\nNotification, a random message id, the "
		"current time, signature version 2,\na random token and a "
		"SubscribeURL on the certificate URL's host.  It never\n"
		"contacts a network.\n");
}

static int
sign_usage_error(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

/* Prints a usage problem and returns EXIT_USAGE. */
static int
sign_usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "snsrelay-sign: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry snsrelay-sign --help.\n");
	return EXIT_USAGE;
}

/* Long options that take a value, in the order of sign_fields. */
static const struct option sign_longopts[] = {
	{ "key", required_argument, NULL, 0 },
	{ "cert-url", required_argument, NULL, 1 },
	{ "topic-arn", required_argument, NULL, 2 },
	{ "message", required_argument, NULL, 3 },
	{ "message-file", required_argument, NULL, 4 },
	{ "type", required_argument, NULL, 5 },
	{ "subject", required_argument, NULL, 6 },
	{ "message-id", required_argument, NULL, 7 },
	{ "timestamp", required_argument, NULL, 8 },
	{ "signature-version", required_argument, NULL, 9 },
	{ "token", required_argument, NULL, 10 },
	{ "subscribe-url", required_argument, NULL, 11 },
	{ "unsubscribe-url", required_argument, NULL, 12 },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static const size_t sign_fields[] = {
	offsetof(struct sign_args, key_path),
	offsetof(struct sign_args, cert_url),
	offsetof(struct sign_args, topic_arn),
	offsetof(struct sign_args, message),
	offsetof(struct sign_args, message_file),
	offsetof(struct sign_args, type),
	offsetof(struct sign_args, subject),
	offsetof(struct sign_args, message_id),
	offsetof(struct sign_args, timestamp),
	offsetof(struct sign_args, version),
	offsetof(struct sign_args, token),
	offsetof(struct sign_args, subscribe_url),
	offsetof(struct sign_args, unsubscribe_url),
};

/* Parses argv into args; returns -1 to continue, or an exit status. */
static int
sign_parse_args(int argc, char **argv, struct sign_args *args)
{
	const size_t count = sizeof(sign_fields) / sizeof(*sign_fields);
	int c;

	while ((c = getopt_long(argc, argv, "h", sign_longopts, NULL)) != -1) {
		if (c >= 0 && (size_t)c < count) {
			*(const char **)((char *)args + sign_fields[c]) =
				optarg;
			continue;
		}
		if (c == 'h') {
			sign_print_usage(stdout);
			return EXIT_SUCCESS;
		}
		/* getopt_long has already named the bad option. */
		return sign_usage_error("%s", "invalid command line");
	}
	if (optind < argc)
		return sign_usage_error("unexpected argument \"%s\"",
					argv[optind]);
	return -1;
}

/* Checks the combination of options; returns -1 or EXIT_USAGE. */
static int
sign_check_args(const struct sign_args *args, enum sns_type *type)
{
	if (args->key_path == NULL)
		return sign_usage_error("%s", "missing --key");
	if (args->cert_url == NULL)
		return sign_usage_error("%s", "missing --cert-url");
	if (strstr(args->cert_url, "://") == NULL ||
	    strcspn(strstr(args->cert_url, "://") + 3, "/?#") == 0)
		return sign_usage_error("--cert-url \"%s\" has no host; "
					"expected https://HOST/NAME.pem",
					args->cert_url);
	if (args->topic_arn == NULL)
		return sign_usage_error("%s", "missing --topic-arn");
	if ((args->message == NULL) == (args->message_file == NULL))
		return sign_usage_error("%s", "give exactly one of "
					"--message and --message-file");
	if (sns_type_from_string(args->type ? args->type : "Notification",
				 type) != 0)
		return sign_usage_error("unknown --type \"%s\"; expected "
					"Notification, "
					"SubscriptionConfirmation or "
					"UnsubscribeConfirmation",
					args->type);
	if (args->version != NULL && strcmp(args->version, "1") != 0 &&
	    strcmp(args->version, "2") != 0)
		return sign_usage_error("unsupported --signature-version "
					"\"%s\"; expected 1 or 2",
					args->version);
	return -1;
}

static int
sign_read_message(const char *path, struct buf *out)
{
	char chunk[65536];
	size_t n;
	FILE *fp = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	int rc = 0;

	if (fp == NULL) {
		fprintf(stderr, "snsrelay-sign: cannot open message file "
			"%s: %s\n", path, strerror(errno));
		return -1;
	}
	while (rc == 0 && (n = fread(chunk, 1, sizeof(chunk), fp)) > 0)
		rc = buf_append(out, chunk, n);
	if (rc != 0)
		fprintf(stderr, "snsrelay-sign: message file %s is larger "
			"than %d bytes\n", path, SIGN_MESSAGE_MAX);
	else if (ferror(fp)) {
		fprintf(stderr, "snsrelay-sign: cannot read message file "
			"%s\n", path);
		rc = -1;
	}
	if (fp != stdin)
		fclose(fp);
	return rc;
}

static EVP_PKEY *
sign_load_key(const char *path)
{
	EVP_PKEY *key = NULL;
	FILE *fp = fopen(path, "r");
	char reason[256];

	if (fp == NULL) {
		fprintf(stderr, "snsrelay-sign: cannot open key %s: %s\n",
			path, strerror(errno));
		return NULL;
	}
	key = PEM_read_PrivateKey(fp, NULL, NULL, NULL);
	fclose(fp);
	if (key == NULL) {
		ERR_error_string_n(ERR_get_error(), reason, sizeof(reason));
		fprintf(stderr, "snsrelay-sign: %s contains no readable PEM "
			"private key: %s\n", path, reason);
	}
	return key;
}

/* Formats n random bytes as lower-case hex into out (2n + 1 bytes). */
static int
sign_random_hex(char *out, size_t n)
{
	unsigned char bytes[SIGN_TOKEN_BYTES];
	size_t i;

	if (n > sizeof(bytes) || RAND_bytes(bytes, (int)n) != 1)
		return -1;
	for (i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", bytes[i]);
	return 0;
}

/* Writes a random version 4 UUID (RFC 4122) into out[37]. */
static int
sign_random_uuid(char out[37])
{
	unsigned char b[16];

	if (RAND_bytes(b, sizeof(b)) != 1)
		return -1;
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
		 "%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2], b[3], b[4],
		 b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
		 b[14], b[15]);
	return 0;
}

/* Writes the current UTC time as YYYY-MM-DDTHH:MM:SS.mmmZ. */
static void
sign_timestamp_now(char *out, size_t out_size)
{
	struct timespec now;
	struct tm tm;
	size_t n;

	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	n = strftime(out, out_size, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + n, out_size - n, ".%03ldZ",
		 (long)(now.tv_nsec / 1000000));
}

static int
sign_set(struct sns_field *field, const char *value, size_t len)
{
	free(field->str);
	field->str = malloc(len + 1);
	if (field->str == NULL)
		return -1;
	memcpy(field->str, value, len);
	field->str[len] = '\0';
	field->len = len;
	return 0;
}

static int
sign_set_str(struct sns_field *field, const char *value)
{
	return sign_set(field, value, strlen(value));
}

/* The "host[:port]" part of url, or NULL when url has none. */
static char *
sign_url_authority(const char *url)
{
	const char *start = strstr(url, "://");
	size_t len;
	char *out;

	if (start == NULL)
		return NULL;
	start += 3;
	len = strcspn(start, "/?#");
	if (len == 0 || (out = malloc(len + 1)) == NULL)
		return NULL;
	memcpy(out, start, len);
	out[len] = '\0';
	return out;
}

/* Sets Token and SubscribeURL: defaults for the two confirmation types,
 * and the values given on the command line for any type. */
static int
sign_fill_confirmation(struct sns_message *msg, const struct sign_args *args,
		       const char *host)
{
	char token[2 * SIGN_TOKEN_BYTES + 1];
	bool confirmation = msg->type != SNS_TYPE_NOTIFICATION;
	struct buf url;
	int rc = -1;

	if (args->token != NULL)
		snprintf(token, sizeof(token), "%s", args->token);
	else if (sign_random_hex(token, SIGN_TOKEN_BYTES) != 0)
		return -1;
	if ((confirmation || args->token != NULL) &&
	    sign_set_str(&msg->token, args->token ? args->token : token))
		return -1;

	buf_init(&url, 16384);
	if (args->subscribe_url != NULL)
		buf_append_str(&url, args->subscribe_url);
	else if (confirmation)
		buf_printf(&url, "https://%s/?Action=ConfirmSubscription&"
			   "TopicArn=%s&Token=%s", host, args->topic_arn,
			   msg->token.str);
	if (url.len == 0 ||
	    sign_set(&msg->subscribe_url, url.data, url.len) == 0)
		rc = 0;
	buf_free(&url);
	return rc;
}

/* Sets UnsubscribeURL: a default for notifications, as SNS sends. */
static int
sign_fill_unsubscribe(struct sns_message *msg, const struct sign_args *args,
		      const char *host)
{
	struct buf url;
	char id[37];
	int rc = -1;

	buf_init(&url, 16384);
	if (args->unsubscribe_url != NULL)
		buf_append_str(&url, args->unsubscribe_url);
	else if (msg->type == SNS_TYPE_NOTIFICATION &&
		 sign_random_uuid(id) == 0)
		buf_printf(&url, "https://%s/?Action=Unsubscribe&"
			   "SubscriptionArn=%s:%s", host, args->topic_arn, id);
	if (url.len == 0 ||
	    sign_set(&msg->unsubscribe_url, url.data, url.len) == 0)
		rc = 0;
	buf_free(&url);
	return rc;
}

static int
sign_fill_type_fields(struct sns_message *msg, const struct sign_args *args)
{
	char *host = sign_url_authority(args->cert_url);
	int rc = -1;

	if (host == NULL)
		return -1;
	if (sign_fill_confirmation(msg, args, host) == 0 &&
	    sign_fill_unsubscribe(msg, args, host) == 0)
		rc = 0;
	free(host);
	return rc;
}

static int
sign_fill_common_fields(struct sns_message *msg,
			const struct sign_args *args, const struct buf *text)
{
	char id[37], ts[40];

	if (args->message_id == NULL && sign_random_uuid(id) != 0)
		return -1;
	if (args->timestamp == NULL)
		sign_timestamp_now(ts, sizeof(ts));
	if (sign_set_str(&msg->type_name, sns_type_to_string(msg->type)) ||
	    sign_set(&msg->message, text->data ? text->data : "",
		     text->len) ||
	    sign_set_str(&msg->message_id, args->message_id ?
			 args->message_id : id) ||
	    sign_set_str(&msg->timestamp, args->timestamp ?
			 args->timestamp : ts) ||
	    sign_set_str(&msg->topic_arn, args->topic_arn) ||
	    sign_set_str(&msg->signing_cert_url, args->cert_url))
		return -1;
	if (args->subject != NULL &&
	    sign_set_str(&msg->subject, args->subject) != 0)
		return -1;
	return 0;
}

/* Builds, signs and prints the message; returns the exit status. */
static int
sign_run(const struct sign_args *args, enum sns_type type)
{
	struct sns_message msg;
	EVP_PKEY *key = NULL;
	struct buf text;
	char *body = NULL;
	struct err e;
	int status = EXIT_FAILURE;

	memset(&msg, 0, sizeof(msg));
	msg.type = type;
	buf_init(&text, SIGN_MESSAGE_MAX);
	err_clear(&e);
	if (args->message != NULL)
		buf_append_str(&text, args->message);
	else if (sign_read_message(args->message_file, &text) != 0)
		goto out;
	if ((key = sign_load_key(args->key_path)) == NULL)
		goto out;
	if (sign_fill_common_fields(&msg, args, &text) != 0 ||
	    sign_fill_type_fields(&msg, args) != 0) {
		fprintf(stderr, "snsrelay-sign: cannot build the message "
			"(out of memory or no random bytes)\n");
		goto out;
	}
	if (sns_sign_message(&msg, key, args->version ? args->version : "2",
			     &e) != 0) {
		fprintf(stderr, "snsrelay-sign: signing failed: %s\n", e.msg);
		goto out;
	}
	if ((body = sns_message_to_json(&msg)) == NULL) {
		fprintf(stderr, "snsrelay-sign: out of memory\n");
		goto out;
	}
	fputs(body, stdout);
	if (body[0] == '\0' || body[strlen(body) - 1] != '\n')
		fputc('\n', stdout);
	status = fflush(stdout) == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
out:
	free(body);
	EVP_PKEY_free(key);
	sns_message_free(&msg);
	buf_free(&text);
	return status;
}

int
main(int argc, char **argv)
{
	struct sign_args args;
	enum sns_type type = SNS_TYPE_NOTIFICATION;
	int status;

	memset(&args, 0, sizeof(args));
	status = sign_parse_args(argc, argv, &args);
	if (status >= 0)
		return status;
	status = sign_check_args(&args, &type);
	if (status >= 0)
		return status;
	return sign_run(&args, type);
}
