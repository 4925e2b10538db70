/*
 * Unit tests for reading the SubscriptionArn from SNS's confirmation
 * answer.
 */
#include "config.h"

#include "snsrelay/subscription.h"
#include "tap.h"

struct arn_case {
	const char *name;
	const char *xml;
	const char *arn;	/* NULL: parsing must fail */
};

static const struct arn_case cases[] = {
	{ "real answer shape",
	  "<ConfirmSubscriptionResponse xmlns=\"http://sns.amazonaws.com/doc/"
	  "2010-03-31/\">\n  <ConfirmSubscriptionResult>\n    "
	  "<SubscriptionArn>arn:aws:sns:us-east-1:123456789012:alerts:"
	  "2bcfbf39-05c3-41de-beaa-fcfcc21c8f55</SubscriptionArn>\n  "
	  "</ConfirmSubscriptionResult>\n</ConfirmSubscriptionResponse>\n",
	  "arn:aws:sns:us-east-1:123456789012:alerts:"
	  "2bcfbf39-05c3-41de-beaa-fcfcc21c8f55" },
	{ "whitespace around value",
	  "<SubscriptionArn>\n  arn:aws:sns:eu-west-1:1:t:x \n"
	  "</SubscriptionArn>", "arn:aws:sns:eu-west-1:1:t:x" },
	{ "no element", "<ErrorResponse><Error><Code>InvalidParameter"
	  "</Code></Error></ErrorResponse>", NULL },
	{ "unclosed element", "<SubscriptionArn>arn:aws:sns", NULL },
	{ "empty element", "<SubscriptionArn>  </SubscriptionArn>", NULL },
	{ "nested markup", "<SubscriptionArn><b>x</b></SubscriptionArn>",
	  NULL },
	{ "space inside value",
	  "<SubscriptionArn>arn x</SubscriptionArn>", NULL },
	{ "control byte", "<SubscriptionArn>arn\x01x</SubscriptionArn>", NULL },
	{ "empty document", "", NULL },
};

static void
test_parse_arn(void)
{
	size_t i;
	char arn[256];

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = subscription_parse_arn(cases[i].xml, arn, sizeof(arn));

		if (cases[i].arn == NULL) {
			is_int(rc, -1, "parse_arn rejects: %s", cases[i].name);
			continue;
		}
		is_int(rc, 0, "parse_arn accepts: %s", cases[i].name);
		is_str(rc == 0 ? arn : NULL, cases[i].arn,
		       "parse_arn value: %s", cases[i].name);
	}
}

static void
test_parse_arn_small_buffer(void)
{
	char arn[8];

	is_int(subscription_parse_arn("<SubscriptionArn>arn:aws:sns:long"
				      "</SubscriptionArn>", arn, sizeof(arn)),
	       -1, "parse_arn rejects a value longer than the buffer");
	is_int(subscription_parse_arn(NULL, arn, sizeof(arn)), -1,
	       "parse_arn rejects NULL");
}

int
main(void)
{
	test_parse_arn();
	test_parse_arn_small_buffer();
	return tap_done();
}
