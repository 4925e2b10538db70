/*
 * sns_url: SigningCertURL and SubscribeURL rules, table-driven.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "snsrelay/err.h"
#include "snsrelay/sns_url.h"
#include "tap.h"

#define ARN_E1 "arn:aws:sns:us-east-1:123456789012:alerts"
#define ARN_W2 "arn:aws:sns:us-west-2:123456789012:alerts"
#define ARN_AP3 "arn:aws:sns:ap-southeast-3:123456789012:alerts"
#define ARN_CN "arn:aws-cn:sns:cn-north-1:123456789012:alerts"
#define ARN_CNW "arn:aws-cn:sns:cn-northwest-1:123456789012:alerts"
#define ARN_GOV "arn:aws-us-gov:sns:us-gov-west-1:123456789012:alerts"
#define ARN_GOVE "arn:aws-us-gov:sns:us-gov-east-1:123456789012:alerts"

#define PEM "/SimpleNotificationService-7506a1e35b36ef5a444dd1a8e7cc3ed8.pem"
#define E1 "https://sns.us-east-1.amazonaws.com"
#define W2 "https://sns.us-west-2.amazonaws.com"

#define Q_E1 "?Action=ConfirmSubscription&TopicArn=" ARN_E1 "&Token=2336abc"

enum url_kind { CERT, SUBSCRIBE };

struct url_case {
	const char *name;
	enum url_kind kind;
	const char *url;
	const char *topic_arn;
	const char *pattern;
	int want;
};

#define GOOD(name, kind, url, arn) { name, kind, url, arn, NULL, RESULT_OK }
#define BAD(name, kind, url, arn) \
	{ name, kind, url, arn, NULL, RESULT_REJECT }
#define GOOD_P(name, kind, url, pattern) \
	{ name, kind, url, ARN_E1, pattern, RESULT_OK }
#define BAD_P(name, kind, url, pattern) \
	{ name, kind, url, ARN_E1, pattern, RESULT_REJECT }

static const struct url_case cases[] = {
	/* Certificate URLs that SNS sends. */
	GOOD("cert us-east-1", CERT, E1 PEM, ARN_E1),
	GOOD("cert us-west-2", CERT, W2 PEM, ARN_W2),
	GOOD("cert ap-southeast-3", CERT,
	     "https://sns.ap-southeast-3.amazonaws.com" PEM, ARN_AP3),
	GOOD("cert cn-north-1", CERT,
	     "https://sns.cn-north-1.amazonaws.com.cn" PEM, ARN_CN),
	GOOD("cert cn-northwest-1", CERT,
	     "https://sns.cn-northwest-1.amazonaws.com.cn" PEM, ARN_CNW),
	GOOD("cert us-gov-west-1", CERT,
	     "https://sns.us-gov-west-1.amazonaws.com" PEM, ARN_GOV),
	GOOD("cert us-gov-east-1", CERT,
	     "https://sns.us-gov-east-1.amazonaws.com" PEM, ARN_GOVE),

	/* Schemes. */
	BAD("cert http", CERT, "http://sns.us-east-1.amazonaws.com" PEM,
	    ARN_E1),
	BAD("cert upper-case scheme", CERT,
	    "HTTPS://sns.us-east-1.amazonaws.com" PEM, ARN_E1),
	BAD("cert ftp", CERT, "ftp://sns.us-east-1.amazonaws.com" PEM,
	    ARN_E1),
	BAD("cert no scheme", CERT, "//sns.us-east-1.amazonaws.com" PEM,
	    ARN_E1),
	BAD("cert empty", CERT, "", ARN_E1),
	BAD("cert null", CERT, NULL, ARN_E1),

	/* Hosts. */
	BAD("cert host suffix", CERT,
	    "https://sns.us-east-1.amazonaws.com.evil.example" PEM, ARN_E1),
	BAD("cert s3 legacy host", CERT,
	    "https://sns.s3-us-west-2.amazonaws.com" PEM, ARN_W2),
	BAD("cert s3 accelerate", CERT,
	    "https://sns.s3-accelerate.amazonaws.com" PEM, ARN_E1),
	BAD("cert s3 region in arn", CERT,
	    "https://sns.s3-us-west-2.amazonaws.com" PEM,
	    "arn:aws:sns:s3-us-west-2:123456789012:alerts"),
	BAD("cert s3-accelerate in arn", CERT,
	    "https://sns.s3-accelerate.amazonaws.com" PEM,
	    "arn:aws:sns:s3-accelerate:123456789012:alerts"),
	BAD("cert region mismatch", CERT, W2 PEM, ARN_E1),
	BAD("cert global host", CERT, "https://sns.amazonaws.com" PEM,
	    ARN_E1),
	BAD("cert upper-case host", CERT,
	    "https://SNS.us-east-1.amazonaws.com" PEM, ARN_E1),
	BAD("cert trailing dot", CERT,
	    "https://sns.us-east-1.amazonaws.com." PEM, ARN_E1),
	BAD("cert no host", CERT, "https://" PEM, ARN_E1),
	BAD("cert com.cn outside china", CERT,
	    "https://sns.us-east-1.amazonaws.com.cn" PEM, ARN_E1),
	BAD("cert com for china", CERT,
	    "https://sns.cn-north-1.amazonaws.com" PEM, ARN_CN),
	BAD("cert china region aws partition", CERT,
	    "https://sns.cn-north-1.amazonaws.com.cn" PEM,
	    "arn:aws:sns:cn-north-1:123456789012:alerts"),
	BAD("cert gov region aws partition", CERT,
	    "https://sns.us-gov-west-1.amazonaws.com" PEM,
	    "arn:aws:sns:us-gov-west-1:123456789012:alerts"),
	BAD("cert iso partition", CERT,
	    "https://sns.us-iso-east-1.c2s.ic.gov" PEM,
	    "arn:aws-iso:sns:us-iso-east-1:123456789012:alerts"),
	BAD("cert no topic", CERT, E1 PEM, NULL),
	BAD("cert bad topic", CERT, E1 PEM, "alerts"),

	/* Ports, user info, queries and fragments. */
	BAD("cert port 443", CERT,
	    "https://sns.us-east-1.amazonaws.com:443" PEM, ARN_E1),
	BAD("cert user info", CERT,
	    "https://user@sns.us-east-1.amazonaws.com" PEM, ARN_E1),
	BAD("cert user and password", CERT,
	    "https://u:p@sns.us-east-1.amazonaws.com" PEM, ARN_E1),
	BAD("cert userinfo host trick", CERT,
	    "https://sns.us-east-1.amazonaws.com@evil.example" PEM, ARN_E1),
	BAD("cert query", CERT, E1 PEM "?x=1", ARN_E1),
	BAD("cert empty query", CERT, E1 PEM "?", ARN_E1),
	BAD("cert fragment", CERT, E1 PEM "#f", ARN_E1),

	/* Characters. */
	BAD("cert percent in path", CERT,
	    E1 "/SimpleNotificationService-7506a1e35b36ef5a444dd1a8e7cc3ed8"
	    "%2epem", ARN_E1),
	BAD("cert percent in host", CERT,
	    "https://sns.us-east-1.amazonaws%2ecom" PEM, ARN_E1),
	BAD("cert backslash", CERT,
	    "https://sns.us-east-1.amazonaws.com\\" PEM, ARN_E1),
	BAD("cert space", CERT, E1 " " PEM, ARN_E1),
	BAD("cert tab", CERT, E1 "\t" PEM, ARN_E1),
	BAD("cert newline", CERT, E1 PEM "\n", ARN_E1),
	BAD("cert non-ascii", CERT, "https://sns.us-east-1.amazonaws.c\xc3\xb6m"
	    PEM, ARN_E1),

	/* Paths. */
	BAD("cert upper-case hex", CERT, E1 "/SimpleNotificationService-"
	    "7506A1E35B36EF5A444DD1A8E7CC3ED8.pem", ARN_E1),
	BAD("cert 31 hex digits", CERT, E1 "/SimpleNotificationService-"
	    "7506a1e35b36ef5a444dd1a8e7cc3ed.pem", ARN_E1),
	BAD("cert 33 hex digits", CERT, E1 "/SimpleNotificationService-"
	    "7506a1e35b36ef5a444dd1a8e7cc3ed80.pem", ARN_E1),
	BAD("cert other name", CERT, E1 "/cert-"
	    "7506a1e35b36ef5a444dd1a8e7cc3ed8.pem", ARN_E1),
	BAD("cert sub directory", CERT, E1 "/a" PEM, ARN_E1),
	BAD("cert no extension", CERT, E1 "/SimpleNotificationService-"
	    "7506a1e35b36ef5a444dd1a8e7cc3ed8", ARN_E1),
	BAD("cert no path", CERT, E1, ARN_E1),
	BAD("cert dot segment", CERT, E1 "/x/.." PEM, ARN_E1),

	/* The configured host pattern replaces the AWS host rule. */
	GOOD_P("cert pattern with port", CERT, "https://127.0.0.1:8443" PEM,
	       "127.0.0.1:*"),
	GOOD_P("cert pattern host only", CERT, "https://localhost" PEM,
	       "localhost"),
	GOOD_P("cert pattern ipv6", CERT, "https://[::1]:9443" PEM,
	       "\\[::1\\]:*"),
	GOOD_P("cert pattern wildcard", CERT, "https://sns.test.example" PEM,
	       "*.test.example"),
	BAD_P("cert pattern mismatch", CERT, "https://127.0.0.2:8443" PEM,
	      "127.0.0.1:*"),
	BAD_P("cert pattern port needed", CERT, "https://127.0.0.1" PEM,
	      "127.0.0.1:*"),
	BAD_P("cert pattern port zero", CERT, "https://127.0.0.1:0" PEM,
	      "127.0.0.1:*"),
	BAD_P("cert pattern port too big", CERT, "https://127.0.0.1:99999"
	      PEM, "127.0.0.1:*"),
	BAD_P("cert pattern empty port", CERT, "https://127.0.0.1:" PEM,
	      "127.0.0.1:*"),
	BAD_P("cert pattern http", CERT, "http://127.0.0.1:8443" PEM,
	      "127.0.0.1:*"),
	BAD_P("cert pattern path", CERT, "https://127.0.0.1:8443/x.pem",
	      "127.0.0.1:*"),
	BAD_P("cert pattern user info", CERT, "https://a@127.0.0.1:8443" PEM,
	      "*"),
	BAD_P("cert pattern bad ipv6", CERT, "https://[::1]x:9443" PEM, "*"),

	/* SubscribeURLs. */
	GOOD("sub real form", SUBSCRIBE, E1 "/" Q_E1, ARN_E1),
	GOOD("sub encoded arn", SUBSCRIBE, E1 "/?Action=ConfirmSubscription"
	     "&TopicArn=arn%3Aaws%3Asns%3Aus-east-1%3A123456789012%3Aalerts"
	     "&Token=abc", ARN_E1),
	GOOD("sub reordered", SUBSCRIBE, E1 "/?Token=abc&TopicArn=" ARN_E1
	     "&Action=ConfirmSubscription", ARN_E1),
	GOOD("sub extra parameter", SUBSCRIBE, E1 "/" Q_E1 "&Version=1",
	     ARN_E1),
	GOOD("sub china", SUBSCRIBE, "https://sns.cn-north-1.amazonaws.com.cn"
	     "/?Action=ConfirmSubscription&TopicArn=" ARN_CN "&Token=t",
	     ARN_CN),
	GOOD_P("sub pattern", SUBSCRIBE, "https://127.0.0.1:8443/" Q_E1,
	       "127.0.0.1:*"),
	BAD("sub metadata http", SUBSCRIBE,
	    "http://169.254.169.254/latest/meta-data/", ARN_E1),
	BAD("sub metadata https", SUBSCRIBE, "https://169.254.169.254/"
	    Q_E1, ARN_E1),
	BAD("sub other action", SUBSCRIBE, E1 "/?Action=Unsubscribe"
	    "&TopicArn=" ARN_E1 "&Token=abc", ARN_E1),
	BAD("sub no action", SUBSCRIBE, E1 "/?TopicArn=" ARN_E1 "&Token=abc",
	    ARN_E1),
	BAD("sub other topic", SUBSCRIBE, E1 "/?Action=ConfirmSubscription"
	    "&TopicArn=arn:aws:sns:us-east-1:123456789012:other&Token=a",
	    ARN_E1),
	BAD("sub no topic", SUBSCRIBE, E1 "/?Action=ConfirmSubscription"
	    "&Token=abc", ARN_E1),
	BAD("sub double encoded arn", SUBSCRIBE,
	    E1 "/?Action=ConfirmSubscription&TopicArn=arn%253Aaws%253Asns"
	    "%253Aus-east-1%253A123456789012%253Aalerts&Token=abc", ARN_E1),
	BAD("sub empty token", SUBSCRIBE, E1 "/?Action=ConfirmSubscription"
	    "&TopicArn=" ARN_E1 "&Token=", ARN_E1),
	BAD("sub no token", SUBSCRIBE, E1 "/?Action=ConfirmSubscription"
	    "&TopicArn=" ARN_E1, ARN_E1),
	BAD("sub repeated token", SUBSCRIBE, E1 "/" Q_E1 "&Token=b", ARN_E1),
	BAD("sub repeated action", SUBSCRIBE, E1 "/" Q_E1
	    "&Action=Unsubscribe", ARN_E1),
	BAD("sub path", SUBSCRIBE, E1 "/x" Q_E1, ARN_E1),
	BAD("sub no path", SUBSCRIBE, E1 Q_E1, ARN_E1),
	BAD("sub no query", SUBSCRIBE, E1 "/", ARN_E1),
	BAD("sub empty query", SUBSCRIBE, E1 "/?", ARN_E1),
	BAD("sub fragment", SUBSCRIBE, E1 "/" Q_E1 "#x", ARN_E1),
	BAD("sub bad escape", SUBSCRIBE, E1 "/" Q_E1 "%zz", ARN_E1),
	BAD("sub short escape", SUBSCRIBE, E1 "/" Q_E1 "%4", ARN_E1),
	BAD("sub encoded nul", SUBSCRIBE, E1 "/?Action=ConfirmSubscription"
	    "&TopicArn=" ARN_E1 "&Token=a%00b", ARN_E1),
	BAD("sub plus sign", SUBSCRIBE, E1 "/" Q_E1 "+1", ARN_E1),
	BAD("sub slash in query", SUBSCRIBE, E1 "/" Q_E1 "/x", ARN_E1),
	BAD("sub angle bracket", SUBSCRIBE, E1 "/" Q_E1 "<", ARN_E1),
	BAD("sub parameter without value", SUBSCRIBE, E1 "/" Q_E1 "&x",
	    ARN_E1),
	BAD("sub trailing ampersand", SUBSCRIBE, E1 "/" Q_E1 "&", ARN_E1),
	BAD("sub user info", SUBSCRIBE,
	    "https://u@sns.us-east-1.amazonaws.com/" Q_E1, ARN_E1),
	BAD("sub port", SUBSCRIBE, "https://sns.us-east-1.amazonaws.com:443/"
	    Q_E1, ARN_E1),
	BAD("sub region mismatch", SUBSCRIBE, W2 "/" Q_E1, ARN_E1),
	BAD("sub s3 host", SUBSCRIBE, "https://sns.s3-us-west-2.amazonaws.com"
	    "/?Action=ConfirmSubscription&TopicArn=" ARN_W2 "&Token=a",
	    ARN_W2),
	BAD_P("sub pattern mismatch", SUBSCRIBE, "https://10.0.0.1:8443/"
	      Q_E1, "127.0.0.1:*"),
	BAD_P("sub pattern http", SUBSCRIBE, "http://127.0.0.1:8443/" Q_E1,
	      "127.0.0.1:*"),
};

static void
test_cases(void)
{
	const struct url_case *c;
	const char *want_code;
	struct err e;
	size_t i;
	int rc;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		c = &cases[i];
		err_clear(&e);
		if (c->kind == CERT) {
			rc = sns_url_check_cert(c->url, c->topic_arn,
						c->pattern, &e);
			want_code = "cert_url_invalid";
		} else {
			rc = sns_url_check_subscribe(c->url, c->topic_arn,
						     c->pattern, &e);
			want_code = "subscribe_url_invalid";
		}
		is_int(rc, c->want, "url %s: result", c->name);
		if (rc != c->want)
			diag("%s", e.msg);
		is_str(e.code, c->want == RESULT_OK ? "none" : want_code,
		       "url %s: code", c->name);
	}
	ok(sizeof(cases) / sizeof(cases[0]) >= 40, "url: at least 40 cases");
}

static void
test_fixture_subscribe_url(void)
{
	const char *url = "https://sns.us-west-2.amazonaws.com/?Action="
		"ConfirmSubscription&TopicArn=arn:aws:sns:us-west-2:"
		"131990247566:dongie-standard-topic&Token=2336412f37fb687f5d51"
		"e6e2425929f52e8e353134fe72d55ef8b330217d82da14007cbccefffd35b6"
		"95feb8f0294d01fd9644f41e1ddfad261519a2c0bac743ff375eeb6453014"
		"7d2da57f3acc54739da14c8dbd48a9d58ce996eff0d498ea6b4b9f58720d8"
		"959b52b99b8de148081720d7da17434e376614a00c992e7823e4";
	struct err e;

	is_int(sns_url_check_subscribe(url, "arn:aws:sns:us-west-2:"
				       "131990247566:dongie-standard-topic",
				       NULL, &e), RESULT_OK,
	       "url fixture subscribe: accepted");
}

static void
test_messages(void)
{
	struct err e;

	err_clear(&e);
	sns_url_check_cert("https://sns.s3-us-west-2.amazonaws.com" PEM,
			   ARN_W2, NULL, &e);
	ok(strstr(e.msg, "sns.us-west-2.amazonaws.com") != NULL,
	   "url message: names the expected host");
	sns_url_check_subscribe(E1 "/?Action=ConfirmSubscription&TopicArn="
				ARN_E1 "&Token=secret-token&Token=b", ARN_E1,
				NULL, &e);
	ok(strstr(e.msg, "secret-token") == NULL,
	   "url message: token not shown");
}

struct basename_case {
	const char *url;
	size_t out_size;
	const char *want;	/* NULL: -1 expected */
};

static const struct basename_case basename_cases[] = {
	{ E1 PEM, 64, "SimpleNotificationService-"
	  "7506a1e35b36ef5a444dd1a8e7cc3ed8.pem" },
	{ "https://127.0.0.1:8443/a/b/c.pem?x=1#y", 64, "c.pem" },
	{ "https://h/a/", 64, NULL },
	{ "https://h", 64, NULL },
	{ "https://h/..", 64, NULL },
	{ "https://h/.", 64, NULL },
	{ "https://h/a%2fb", 64, NULL },
	{ "no-scheme/c.pem", 64, NULL },
	{ E1 PEM, 10, NULL },
};

static void
test_basename(void)
{
	const struct basename_case *c;
	char out[64];
	size_t i;
	int rc;

	for (i = 0; i < sizeof(basename_cases) / sizeof(basename_cases[0]);
	     i++) {
		c = &basename_cases[i];
		rc = sns_url_basename(c->url, out, c->out_size);
		is_int(rc, c->want ? 0 : -1, "basename %zu: result", i);
		if (c->want != NULL && rc == 0)
			is_str(out, c->want, "basename %zu: name", i);
	}
}

int
main(void)
{
	test_cases();
	test_fixture_subscribe_url();
	test_messages();
	test_basename();
	return tap_done();
}
