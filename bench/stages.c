/*
 * bench/stages: the CPU time of each step that a notification goes
 * through, measured in one thread without HTTP, threads or the spool.
 *
 * Usage: bench/stages --bodies FILE --cert PEM [--rounds N]
 *
 * FILE contains signed SNS bodies, each followed by a line containing only
 * the ASCII record separator (octal 036), as bench/run.sh writes them.
 * PEM is the certificate whose key signed them.  Each step runs over
 * every body, ROUNDS times (default 5).  The table shows the fastest
 * round divided by the body count, so a busy machine inflates the
 * figures less.  The steps:
 *
 *   parse      sns_message_parse of the body
 *   verify     sns_verify_signature: string to sign, hash, RSA
 *   rsa        the RSA public-key operation alone, the floor of verify
 *   alert      alert_from_notification (parses the Message)
 *   serialize  the alert document as the spool stores it
 *   discord    parse of the stored document and discord_render_payload,
 *              as a delivery worker does for a message of one alert
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "snsrelay/alert.h"
#include "snsrelay/discord.h"
#include "snsrelay/err.h"
#include "snsrelay/sns_message.h"
#include "snsrelay/sns_verify.h"
#include "snsrelay/text.h"

#define JSON_FLAGS (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

struct body {
	char *text;
	size_t len;
};

struct corpus {
	struct body *bodies;
	size_t count;
	struct sns_message *messages;	/* parsed once, for later steps */
	unsigned char **signatures;	/* decoded Signature values */
	size_t *signature_lens;
	char **documents;		/* serialized alerts */
	json_object **alerts;		/* built for each round of serialize */
	EVP_PKEY *key;
};

typedef int (*stage_fn)(struct corpus *c, size_t i);

/* A step, and what must happen, untimed, before and after each round. */
struct stage {
	const char *name;
	stage_fn run;
	void (*before)(struct corpus *c);
	void (*after)(struct corpus *c);
	double best_ns;		/* per body, fastest round */
};

static void die(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));

static void
die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "stages: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

static double
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* ---- input ---- */

static char *
read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *data;
	long size;

	if (f == NULL)
		die("cannot open %s", path);
	if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET) != 0)
		die("cannot read %s", path);
	data = malloc((size_t)size + 1);
	if (data == NULL || fread(data, 1, (size_t)size, f) != (size_t)size)
		die("cannot read %s", path);
	fclose(f);
	data[size] = '\0';
	*len = (size_t)size;
	return data;
}

/* Splits the file at lines that contain only "\036". */
static void
load_bodies(struct corpus *c, const char *path)
{
	size_t len, cap = 0;
	char *data = read_file(path, &len), *start = data, *sep;

	while ((sep = strstr(start, "\036\n")) != NULL) {
		if (c->count == cap) {
			cap = cap ? cap * 2 : 1024;
			c->bodies = realloc(c->bodies, cap * sizeof(*c->bodies));
			if (c->bodies == NULL)
				die("out of memory reading %s", path);
		}
		c->bodies[c->count].text = start;
		c->bodies[c->count].len = (size_t)(sep - start);
		*sep = '\0';
		c->count++;
		start = sep + 2;
	}
	if (c->count == 0)
		die("no record separator lines in %s", path);
}

static void
load_key(struct corpus *c, const char *path)
{
	FILE *f = fopen(path, "r");
	X509 *cert;

	if (f == NULL)
		die("cannot open %s", path);
	cert = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	if (cert == NULL)
		die("%s is not a PEM certificate", path);
	c->key = X509_get_pubkey(cert);
	X509_free(cert);
	if (c->key == NULL)
		die("no public key in %s", path);
}

/* ---- the steps ---- */

static int
stage_parse(struct corpus *c, size_t i)
{
	struct sns_message msg;
	struct err e;
	int rc;

	rc = sns_message_parse(c->bodies[i].text, c->bodies[i].len, &msg, &e);
	sns_message_free(&msg);
	return rc;
}

static int
stage_verify(struct corpus *c, size_t i)
{
	struct err e;

	return sns_verify_signature(&c->messages[i], c->key, &e);
}

static int
stage_rsa(struct corpus *c, size_t i)
{
	unsigned char out[1024];
	size_t out_len = sizeof(out);
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(c->key, NULL);
	int rc = -1;

	if (ctx != NULL && EVP_PKEY_verify_recover_init(ctx) == 1 &&
	    EVP_PKEY_verify_recover(ctx, out, &out_len, c->signatures[i],
				    c->signature_lens[i]) == 1)
		rc = 0;
	EVP_PKEY_CTX_free(ctx);
	return rc;
}

static int
stage_alert(struct corpus *c, size_t i)
{
	struct alert_options opts = { .timezone = "UTC" };
	json_object *alert;

	alert = alert_from_notification(&c->messages[i], &opts, time(NULL));
	json_object_put(alert);
	return alert != NULL ? 0 : -1;
}

static int
stage_serialize(struct corpus *c, size_t i)
{
	const char *text = json_object_to_json_string_ext(c->alerts[i],
							  JSON_FLAGS);

	return text != NULL ? 0 : -1;
}

static int
stage_discord(struct corpus *c, size_t i)
{
	json_object *doc = json_tokener_parse(c->documents[i]);
	char *payload;
	size_t used = 0;

	payload = doc != NULL ? discord_render_payload(&doc, 1, &used) : NULL;
	json_object_put(doc);
	free(payload);
	return payload != NULL ? 0 : -1;
}

/* ---- set-up of the later steps ---- */

static json_object *
build_alert(struct corpus *c, size_t i)
{
	struct alert_options opts = { .timezone = "UTC" };
	json_object *alert;

	alert = alert_from_notification(&c->messages[i], &opts, time(NULL));
	if (alert == NULL)
		die("out of memory building an alert");
	return alert;
}

/* json-c keeps an object's JSON text once it was made, so every round
 * of serialize needs alerts that were never serialized. */
static void
build_alerts(struct corpus *c)
{
	size_t i;

	for (i = 0; i < c->count; i++)
		c->alerts[i] = build_alert(c, i);
}

static void
free_alerts(struct corpus *c)
{
	size_t i;

	for (i = 0; i < c->count; i++) {
		json_object_put(c->alerts[i]);
		c->alerts[i] = NULL;
	}
}

static void
decode_signature(struct corpus *c, size_t i)
{
	const struct sns_field *sig = &c->messages[i].signature;
	unsigned char *out = malloc(sig->len);
	int n;

	if (out == NULL)
		die("out of memory decoding a signature");
	n = EVP_DecodeBlock(out, (const unsigned char *)sig->str,
			    (int)sig->len);
	if (n < 0)
		die("body with an invalid Signature: %.40s", sig->str);
	/* EVP_DecodeBlock counts a zero byte for each "=" of padding. */
	if (sig->len >= 1 && sig->str[sig->len - 1] == '=')
		n--;
	if (sig->len >= 2 && sig->str[sig->len - 2] == '=')
		n--;
	c->signatures[i] = out;
	c->signature_lens[i] = (size_t)n;
}

/* Parses and checks every body once, so the later steps can start from
 * parsed messages, and fails when a body is not a valid notification. */
static void
prepare(struct corpus *c)
{
	json_object *alert;
	struct err e;
	size_t i;

	c->messages = calloc(c->count, sizeof(*c->messages));
	c->signatures = calloc(c->count, sizeof(*c->signatures));
	c->signature_lens = calloc(c->count, sizeof(*c->signature_lens));
	c->documents = calloc(c->count, sizeof(*c->documents));
	c->alerts = calloc(c->count, sizeof(*c->alerts));
	if (c->messages == NULL || c->signatures == NULL ||
	    c->signature_lens == NULL || c->documents == NULL ||
	    c->alerts == NULL)
		die("out of memory for the corpus");
	for (i = 0; i < c->count; i++) {
		if (sns_message_parse(c->bodies[i].text, c->bodies[i].len,
				      &c->messages[i], &e) != RESULT_OK)
			die("a body does not parse: %s", e.msg);
		if (sns_verify_signature(&c->messages[i], c->key, &e) !=
		    RESULT_OK)
			die("a body does not verify with this "
			    "certificate: %s", e.msg);
		decode_signature(c, i);
		alert = build_alert(c, i);
		c->documents[i] = strdup(json_object_to_json_string_ext(
			alert, JSON_FLAGS));
		json_object_put(alert);
		if (c->documents[i] == NULL)
			die("out of memory for the documents");
	}
}

/* ---- timing ---- */

static void
time_stage(struct corpus *c, struct stage *s, unsigned rounds)
{
	double start, ns;
	unsigned r;
	size_t i;

	s->best_ns = -1;
	for (r = 0; r < rounds; r++) {
		if (s->before != NULL)
			s->before(c);
		start = now_ns();
		for (i = 0; i < c->count; i++) {
			if (s->run(c, i) != 0)
				die("step %s failed", s->name);
		}
		ns = (now_ns() - start) / (double)c->count;
		if (s->after != NULL)
			s->after(c);
		if (s->best_ns < 0 || ns < s->best_ns)
			s->best_ns = ns;
	}
}

static void
usage(void)
{
	fprintf(stderr, "usage: stages --bodies FILE --cert PEM "
		"[--rounds N]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "bodies", required_argument, NULL, 'b' },
		{ "cert", required_argument, NULL, 'c' },
		{ "rounds", required_argument, NULL, 'r' },
		{ NULL, 0, NULL, 0 },
	};
	struct stage stages[] = {
		{ "parse", stage_parse, NULL, NULL, 0 },
		{ "verify", stage_verify, NULL, NULL, 0 },
		{ "rsa", stage_rsa, NULL, NULL, 0 },
		{ "alert", stage_alert, NULL, NULL, 0 },
		{ "serialize", stage_serialize, build_alerts, free_alerts, 0 },
		{ "discord", stage_discord, NULL, NULL, 0 },
	};
	const char *bodies = NULL, *cert = NULL;
	struct corpus c = { 0 };
	unsigned long rounds = 5;
	char *end;
	size_t k;
	int opt;

	while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
		if (opt == 'b')
			bodies = optarg;
		else if (opt == 'c')
			cert = optarg;
		else if (opt == 'r') {
			errno = 0;
			rounds = strtoul(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || rounds == 0 ||
			    rounds > 1000)
				die("--rounds %s: expected 1 to 1000", optarg);
		} else
			usage();
	}
	if (bodies == NULL || cert == NULL || optind != argc)
		usage();
	if (text_use_timezone("UTC") != 0)
		die("cannot load the time zone UTC");

	load_bodies(&c, bodies);
	load_key(&c, cert);
	prepare(&c);

	printf("| step | µs per message |\n|---|---|\n");
	for (k = 0; k < sizeof(stages) / sizeof(stages[0]); k++) {
		time_stage(&c, &stages[k], (unsigned)rounds);
		printf("| %s | %.1f |\n", stages[k].name,
		       stages[k].best_ns / 1000.0);
	}
	printf("\n%zu bodies, fastest of %lu rounds, one thread\n", c.count,
	       rounds);
	return 0;
}
