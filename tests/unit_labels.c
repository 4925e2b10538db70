#include "config.h"

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "snsrelay/buf.h"
#include "snsrelay/labels.h"

#include "tap.h"

/* Length of the UTF-8 sequence starting with byte c, 0 when c cannot
 * start one. */
static size_t
utf8_sequence_length(unsigned char c)
{
	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF)
		return 2;
	if (c >= 0xE0 && c <= 0xEF)
		return 3;
	if (c >= 0xF0 && c <= 0xF4)
		return 4;
	return 0;
}

/* True when s is well-formed UTF-8 without overlong forms and
 * surrogates. */
static bool
utf8_is_valid(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n, i;

	while (*p != '\0') {
		n = utf8_sequence_length(*p);
		if (n == 0)
			return false;
		for (i = 1; i < n; i++)
			if ((p[i] & 0xC0) != 0x80)
				return false;
		if ((n == 3 && p[0] == 0xE0 && p[1] < 0xA0) ||
		    (n == 3 && p[0] == 0xED && p[1] >= 0xA0) ||
		    (n == 4 && p[0] == 0xF0 && p[1] < 0x90) ||
		    (n == 4 && p[0] == 0xF4 && p[1] >= 0x90))
			return false;
		p += n;
	}
	return true;
}

static void
test_every_key(void)
{
	const char *en, *ko;
	int k;

	for (k = 0; k < LABEL_KEY_COUNT; k++) {
		en = label(LABEL_LANG_EN, (enum label_key)k);
		ko = label(LABEL_LANG_KO, (enum label_key)k);
		ok(en != NULL && en[0] != '\0', "key %d: en label", k);
		ok(ko != NULL && ko[0] != '\0', "key %d: ko label", k);
		ok(ko != NULL && utf8_is_valid(ko), "key %d: ko UTF-8", k);
	}
}

struct parse_case {
	const char *in;
	int rc;
	enum label_language want;
};

static const struct parse_case parse_cases[] = {
	{ "en", 0, LABEL_LANG_EN },
	{ "ko", 0, LABEL_LANG_KO },
	{ "KO", -1, LABEL_LANG_EN },
	{ "", -1, LABEL_LANG_EN },
	{ "kor", -1, LABEL_LANG_EN },
	{ NULL, -1, LABEL_LANG_EN },
};

static void
test_parse(void)
{
	enum label_language lang;
	size_t i;
	int rc;

	for (i = 0; i < sizeof(parse_cases) / sizeof(parse_cases[0]); i++) {
		lang = LABEL_LANG_EN;
		rc = label_language_parse(parse_cases[i].in, &lang);
		is_int(rc, parse_cases[i].rc, "parse %zu: result", i);
		is_int(lang, parse_cases[i].want, "parse %zu: language", i);
	}
	is_str(label_language_name(LABEL_LANG_KO), "ko", "name ko");
	is_str(label_language_name(LABEL_LANG_EN), "en", "name en");
}

static void
test_words(void)
{
	struct buf b;

	is_str(label_severity(LABEL_LANG_KO, "critical"), "심각",
	       "severity critical ko");
	is_str(label_severity(LABEL_LANG_EN, "warning"), "WARNING",
	       "severity warning en");
	ok(label_severity(LABEL_LANG_KO, "urgent") == NULL,
	   "severity unknown");
	is_str(label_access(LABEL_LANG_KO, "console"), "AWS 콘솔",
	       "access console ko");
	is_str(label_access(LABEL_LANG_EN, "aws_service"), "AWS service",
	       "access service en");
	is_str(label_call(LABEL_LANG_KO, "RevokeSecurityGroupIngress"),
	       "보안 그룹 인바운드 규칙 삭제", "call revoke ko");
	is_str(label_call(LABEL_LANG_EN, "RevokeSecurityGroupIngress"),
	       "RevokeSecurityGroupIngress", "call revoke en");
	buf_init(&b, 256);
	label_append_more(&b, LABEL_LANG_EN, 1, 1);
	is_str(b.data, "and 1 more rule", "more en one rule");
	buf_reset(&b);
	label_append_more(&b, LABEL_LANG_KO, 3, 1);
	is_str(b.data, "외 규칙 3개", "more ko rules");
	buf_reset(&b);
	label_append_rule_action(&b, LABEL_LANG_KO, "added", "ingress");
	is_str(b.data, "인바운드 추가", "rule action ko");
	buf_reset(&b);
	label_append_rule_action(&b, LABEL_LANG_EN, "removed", NULL);
	is_str(b.data, "removed", "rule action en");
	buf_free(&b);
}

int
main(void)
{
	test_every_key();
	test_parse();
	test_words();
	return tap_done();
}
