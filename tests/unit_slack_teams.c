#include "config.h"

#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "snsrelay/alert.h"
#include "snsrelay/buf.h"
#include "snsrelay/discord.h"
#include "snsrelay/slack.h"
#include "snsrelay/teams.h"
#include "snsrelay/text.h"

#include "tap.h"

#define MESSAGE_ID	"2f8c3b4e-5a6d-4e7f-8a9b-0c1d2e3f4a5b"
#define TOPIC_ARN	"arn:aws:sns:us-east-1:111122223333:sg-alerts"
#define SNS_TIMESTAMP	"2024-05-01T10:00:05.123Z"
#define RECEIVED_AT	1714557610	/* 2024-05-01T10:00:10Z */
#define ZWSP		"\xE2\x80\x8B"
#define FFFD		"\xEF\xBF\xBD"
#define MAX_FIXTURES	64
#define GOLDEN_FLAGS	(JSON_C_TO_STRING_PRETTY | \
			 JSON_C_TO_STRING_NOSLASHESCAPE)

/* Golden files live in tests/golden next to this file, which Automake
 * compiles by a path relative to the build directory (where tests run)
 * or by an absolute path. */
static char golden_dir[1024];

static void
golden_dir_init(void)
{
#ifdef GOLDEN_DIR
	snprintf(golden_dir, sizeof(golden_dir), "%s", GOLDEN_DIR);
#else
	const char *slash = strrchr(__FILE__, '/');

	snprintf(golden_dir, sizeof(golden_dir), "%.*sgolden",
		 slash != NULL ? (int)(slash - __FILE__ + 1) : 0, __FILE__);
#endif
}

/* ---- helpers ---- */

static void
field_set(struct sns_field *f, const char *s, size_t len)
{
	f->str = NULL;
	f->len = 0;
	if (s == NULL)
		return;
	f->str = malloc(len + 1);
	memcpy(f->str, s, len);
	f->str[len] = '\0';
	f->len = len;
}

static void
msg_init(struct sns_message *m, const char *message, const char *type)
{
	memset(m, 0, sizeof(*m));
	m->type = strcmp(type, "Notification") == 0 ?
		SNS_TYPE_NOTIFICATION : SNS_TYPE_UNSUBSCRIBE_CONFIRMATION;
	field_set(&m->type_name, type, strlen(type));
	field_set(&m->message, message, strlen(message));
	field_set(&m->message_id, MESSAGE_ID, strlen(MESSAGE_ID));
	field_set(&m->timestamp, SNS_TIMESTAMP, strlen(SNS_TIMESTAMP));
	field_set(&m->topic_arn, TOPIC_ARN, strlen(TOPIC_ARN));
}

static void
msg_free(struct sns_message *m)
{
	free(m->type_name.str);
	free(m->message.str);
	free(m->message_id.str);
	free(m->subject.str);
	free(m->timestamp.str);
	free(m->topic_arn.str);
}

static json_object *
alert_of_message(const char *message)
{
	struct sns_message m;
	json_object *alert;

	msg_init(&m, message, "Notification");
	alert = alert_from_notification(&m, NULL, RECEIVED_AT);
	msg_free(&m);
	return alert;
}

/* The alert of message with the words in Korean. */
static json_object *
alert_of_message_ko(const char *message)
{
	struct alert_options opts = { NULL, NULL, LABEL_LANG_KO };
	struct sns_message m;
	json_object *alert;

	msg_init(&m, message, "Notification");
	alert = alert_from_notification(&m, &opts, RECEIVED_AT);
	msg_free(&m);
	return alert;
}

static json_object *
alert_of_unsubscribe_lang(enum label_language lang)
{
	struct alert_options opts = { NULL, NULL, lang };
	struct sns_message m;
	json_object *alert;

	msg_init(&m, "You have chosen to deactivate subscription",
		 "UnsubscribeConfirmation");
	alert = alert_from_unsubscribe(&m, &opts, RECEIVED_AT);
	msg_free(&m);
	return alert;
}

static char *
read_file(const char *path)
{
	FILE *fp = fopen(path, "rb");
	struct buf b;
	char chunk[4096];
	size_t n;

	if (fp == NULL)
		return NULL;
	buf_init(&b, 1 << 22);
	buf_append(&b, "", 0);
	while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0)
		buf_append(&b, chunk, n);
	fclose(fp);
	return buf_steal(&b);
}

static int
write_file(const char *path, const char *text)
{
	FILE *fp = fopen(path, "wb");
	int rc = 0;

	if (fp == NULL)
		return -1;
	if (fputs(text, fp) == EOF)
		rc = -1;
	if (fclose(fp) != 0)
		rc = -1;
	return rc;
}

static size_t
length_of(json_object *obj, const char *key)
{
	json_object *val = NULL;

	if (!json_object_object_get_ex(obj, key, &val) ||
	    !json_object_is_type(val, json_type_string))
		return 0;
	return text_length(json_object_get_string(val));
}

static json_object *
member(json_object *obj, const char *key)
{
	json_object *val = NULL;

	json_object_object_get_ex(obj, key, &val);
	return val;
}

static size_t
array_length(json_object *array)
{
	if (!json_object_is_type(array, json_type_array))
		return 0;
	return json_object_array_length(array);
}

/* True when text parses back as JSON with valid UTF-8. */
static bool
parses_back(const char *text)
{
	struct json_tokener *tok = json_tokener_new();
	json_object *back;
	bool valid;

	json_tokener_set_flags(tok, JSON_TOKENER_VALIDATE_UTF8 |
			       JSON_TOKENER_STRICT);
	back = json_tokener_parse_ex(tok, text, (int)strlen(text));
	valid = back != NULL &&
		json_tokener_get_error(tok) == json_tokener_success;
	json_object_put(back);
	json_tokener_free(tok);
	return valid;
}

/* ---- golden files ---- */

static bool
update_golden(void)
{
	const char *v = getenv("SNSRELAY_UPDATE_GOLDEN");

	return v != NULL && strcmp(v, "1") == 0;
}

static size_t
first_difference(const char *a, const char *b)
{
	size_t i = 0;

	while (a[i] != '\0' && a[i] == b[i])
		i++;
	return i;
}

/* Compares payload with tests/golden/<prefix>-<name>.json, or rewrites
 * that file when SNSRELAY_UPDATE_GOLDEN=1. */
static void
check_golden(json_object *payload, const char *prefix, const char *name)
{
	char path[2048];
	struct buf text;
	char *want;
	size_t at;

	snprintf(path, sizeof(path), "%s/%s-%s.json", golden_dir, prefix,
		 name);
	buf_init(&text, 1 << 22);
	buf_printf(&text, "%s\n", json_object_to_json_string_ext(payload,
		   GOLDEN_FLAGS));
	if (update_golden()) {
		ok(write_file(path, text.data) == 0, "%s %s: golden written",
		   prefix, name);
		buf_free(&text);
		return;
	}
	want = read_file(path);
	ok(want != NULL, "%s %s: golden file readable", prefix, name);
	ok(want != NULL && strcmp(want, text.data) == 0,
	   "%s %s: matches golden", prefix, name);
	if (want != NULL && strcmp(want, text.data) != 0) {
		at = first_difference(want, text.data);
		diag("first difference at byte %zu of %s", at, path);
		diag("got: %.80s", text.data + at);
	}
	free(want);
	buf_free(&text);
}

/* ---- limit checks ---- */

static void
check_slack_text(json_object *text, size_t max, const char *what,
		 const char *name)
{
	size_t len = length_of(text, "text");

	ok(len >= 1 && len <= max, "%s: %s length %zu within 1-%zu", name,
	   what, len, max);
}

static void
check_slack_section(json_object *block, const char *name)
{
	json_object *fields = member(block, "fields");
	size_t i, n = array_length(fields);

	if (member(block, "text") != NULL)
		check_slack_text(member(block, "text"),
				 SLACK_SECTION_TEXT_MAX, "section text", name);
	ok(n <= SLACK_FIELDS_MAX, "%s: %zu fields within %d", name, n,
	   SLACK_FIELDS_MAX);
	for (i = 0; i < n; i++)
		check_slack_text(json_object_array_get_idx(fields, i),
				 SLACK_FIELD_TEXT_MAX, "field", name);
}

static void
check_slack_block(json_object *block, const char *name)
{
	const char *type = json_object_get_string(member(block, "type"));
	json_object *elements = member(block, "elements");
	size_t i;

	if (strcmp(type, "header") == 0)
		check_slack_text(member(block, "text"), SLACK_HEADER_MAX,
				 "header", name);
	else if (strcmp(type, "section") == 0)
		check_slack_section(block, name);
	ok(array_length(elements) <= SLACK_CONTEXT_ELEMENTS_MAX,
	   "%s: context elements within limit", name);
	for (i = 0; i < array_length(elements); i++)
		check_slack_text(json_object_array_get_idx(elements, i),
				 SLACK_SECTION_TEXT_MAX, "context", name);
}

/* Every Block Kit limit, and valid JSON. */
static void
check_slack_limits(json_object *payload, const char *name)
{
	json_object *blocks = member(payload, "blocks");
	size_t i, n = array_length(blocks);

	ok(payload != NULL, "%s: slack payload built", name);
	if (payload == NULL)
		return;
	ok(parses_back(json_object_to_json_string_ext(payload,
		JSON_C_TO_STRING_PLAIN)), "%s: slack JSON parses back", name);
	check_slack_text(payload, SLACK_TEXT_MAX, "fallback text", name);
	ok(n >= 1 && n <= SLACK_BLOCKS_MAX, "%s: %zu blocks within %d", name,
	   n, SLACK_BLOCKS_MAX);
	is_str(json_object_get_string(member(json_object_array_get_idx(blocks,
	       0), "type")), "header", "%s: first block is header", name);
	for (i = 0; i < n; i++)
		check_slack_block(json_object_array_get_idx(blocks, i), name);
}

static void
check_teams_limits(json_object *payload, const char *name)
{
	const char *text;

	ok(payload != NULL, "%s: teams payload built", name);
	if (payload == NULL)
		return;
	text = json_object_to_json_string_ext(payload, JSON_C_TO_STRING_PLAIN |
					      JSON_C_TO_STRING_NOSLASHESCAPE);
	ok(strlen(text) <= TEAMS_PAYLOAD_MAX, "%s: teams size %zu within %d",
	   name, strlen(text), TEAMS_PAYLOAD_MAX);
	ok(parses_back(text), "%s: teams JSON parses back", name);
	ok(strstr(text, "\"type\":\"AdaptiveCard\"") != NULL,
	   "%s: teams card present", name);
}

/* ---- fixtures ---- */

static int
compare_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted names of the .json event fixtures, without the extension. */
static size_t
list_fixtures(const char *dir, char **names)
{
	struct dirent *ent;
	DIR *d = opendir(dir);
	size_t n = 0, len;

	if (d == NULL)
		return 0;
	while ((ent = readdir(d)) != NULL && n < MAX_FIXTURES) {
		len = strlen(ent->d_name);
		if (len < 6 || strcmp(ent->d_name + len - 5, ".json") != 0)
			continue;
		names[n] = strdup(ent->d_name);
		names[n++][len - 5] = '\0';
	}
	closedir(d);
	qsort(names, n, sizeof(char *), compare_names);
	return n;
}

/* The Discord payload and the generic one (the alert document itself)
 * of the same alert, compared with their golden files. */
static void
check_discord_generic(json_object *alert, const char *name)
{
	json_object *discord = NULL;
	size_t used = 0;

	if (alert == NULL)
		return;
	discord = discord_build_payload(&alert, 1, &used);
	ok(discord != NULL && used == 1, "%s: discord payload built", name);
	if (discord != NULL)
		check_golden(discord, "discord", name);
	check_golden(alert, "generic", name);
	json_object_put(discord);
}

static void
check_alert(json_object *alert, const char *name)
{
	json_object *slack = slack_build_payload(alert);
	json_object *teams = teams_build_payload(alert);

	ok(alert != NULL, "%s: alert built", name);
	check_slack_limits(slack, name);
	check_teams_limits(teams, name);
	if (slack != NULL)
		check_golden(slack, "slack", name);
	if (teams != NULL)
		check_golden(teams, "teams", name);
	json_object_put(slack);
	json_object_put(teams);
}

static void
test_fixtures(const char *dir)
{
	char *names[MAX_FIXTURES];
	char path[2048];
	size_t i, n = list_fixtures(dir, names);
	json_object *alert;
	char *message;

	ok(n >= 10, "fixtures: %zu event files found", n);
	for (i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/%s.json", dir, names[i]);
		message = read_file(path);
		alert = message != NULL ? alert_of_message(message) : NULL;
		check_alert(alert, names[i]);
		check_discord_generic(alert, names[i]);
		json_object_put(alert);
		free(message);
		free(names[i]);
	}
}

/* Fixtures whose Korean payloads are compared with golden files. */
static const char *const ko_fixtures[] = {
	"AuthorizeSecurityGroupIngress-1",
	"RevokeSecurityGroupIngress-1",
	"CreateSecurityGroup-1",
};

/* The Discord, Slack and Teams payloads of alert in Korean, checked
 * against the limits and tests/golden/<format>-ko-<name>.json. */
static void
check_korean(json_object *alert, const char *name)
{
	json_object *discord = NULL, *slack = NULL, *teams = NULL;
	size_t used = 0;

	ok(alert != NULL, "ko %s: alert built", name);
	if (alert == NULL)
		return;
	is_str(json_object_get_string(member(alert, "language")), "ko",
	       "ko %s: language member", name);
	discord = discord_build_payload(&alert, 1, &used);
	slack = slack_build_payload(alert);
	teams = teams_build_payload(alert);
	ok(discord != NULL && used == 1, "ko %s: discord built", name);
	check_slack_limits(slack, name);
	check_teams_limits(teams, name);
	if (discord != NULL)
		check_golden(discord, "discord-ko", name);
	if (slack != NULL)
		check_golden(slack, "slack-ko", name);
	if (teams != NULL)
		check_golden(teams, "teams-ko", name);
	json_object_put(discord);
	json_object_put(slack);
	json_object_put(teams);
}

static void
test_korean(const char *dir)
{
	char path[2048];
	json_object *alert;
	char *message;
	size_t i;

	for (i = 0; i < sizeof(ko_fixtures) / sizeof(ko_fixtures[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s.json", dir,
			 ko_fixtures[i]);
		message = read_file(path);
		ok(message != NULL, "ko %s: fixture read", ko_fixtures[i]);
		alert = message != NULL ? alert_of_message_ko(message) : NULL;
		check_korean(alert, ko_fixtures[i]);
		json_object_put(alert);
		free(message);
	}
	alert = alert_of_unsubscribe_lang(LABEL_LANG_KO);
	check_korean(alert, "subscription_ended");
	json_object_put(alert);
}

static void
test_other_kinds(void)
{
	json_object *alert = alert_of_unsubscribe_lang(LABEL_LANG_EN);

	check_alert(alert, "subscription_ended");
	json_object_put(alert);
	alert = alert_of_message("Nightly audit: *0* open groups_here @here "
				 "<!channel>\n- item\n1. item\n> quote");
	check_alert(alert, "plain_text");
	json_object_put(alert);
}

/* ---- escaping ---- */

struct escape_case {
	const char *name;
	const char *in;
	const char *want;
};

static const struct escape_case escape_cases[] = {
	{ "entities", "a&b<c>d", "a&amp;b&lt;c&gt;d" },
	{ "channel", "<!channel>", "&lt;!channel&gt;" },
	{ "here tag", "<!here>", "&lt;!here&gt;" },
	{ "user", "<@U123ABC>", "&lt;@U123ABC&gt;" },
	{ "link", "<http://x|y>", "&lt;http://x|y&gt;" },
	{ "at here", "hi @here", "hi @" ZWSP "here" },
	{ "at channel", "@Channel", "@" ZWSP "Channel" },
	{ "at everyone", "@everyone!", "@" ZWSP "everyone!" },
	{ "plain at", "alice@example.com", "alice@example.com" },
	{ "markdown kept", "*b* _i_", "*b* _i_" },
	{ "invalid utf8", "a\xFF" "b", "a" FFFD "b" },
	{ "control", "a\x01" "b", "a b" },
	{ "empty", "", "" },
	{ "entities between runs", "first part & second < third > end&",
	  "first part &amp; second &lt; third &gt; end&amp;" },
	{ "entities only", "&&<<>>", "&amp;&amp;&lt;&lt;&gt;&gt;" },
	{ "broadcast at end", "tell @here", "tell @" ZWSP "here" },
	{ "invalid byte in a run", "abcdefgh\xFFijklmnop&",
	  "abcdefgh" FFFD "ijklmnop&amp;" },
};

static void
test_slack_escape(void)
{
	size_t i;
	char *got;

	for (i = 0; i < sizeof(escape_cases) / sizeof(escape_cases[0]); i++) {
		got = slack_escape(escape_cases[i].in);
		is_str(got, escape_cases[i].want, "slack_escape: %s",
		       escape_cases[i].name);
		free(got);
	}
	got = slack_escape(NULL);
	is_str(got, "", "slack_escape: NULL");
	free(got);
}

/* ---- mrkdwn and Teams markdown ---- */

struct markup_case {
	const char *name;
	const char *in;
	const char *slack;	/* the summary section's mrkdwn */
	const char *teams;	/* the summary TextBlock's text */
};

#define Z ZWSP

static const struct markup_case markup_cases[] = {
	{ "plain", "plain words only", "plain words only",
	  "plain words only" },
	{ "emphasis", "a*b", "a" Z "*" Z "b", "a" Z "*" Z "b" },
	{ "intraword underscore", "snake_case_name", "snake_case_name",
	  "snake_case_name" },
	{ "leading underscore", "_lead", Z "_" Z "lead", Z "_" Z "lead" },
	{ "quote and entities", "> quote & <tag>",
	  Z "&gt; quote &amp; &lt;tag" Z "&gt;",
	  Z "> quote & <tag>" },
	{ "broadcast", "@channel now", "@" Z "channel now",
	  "@channel now" },
	{ "multibyte around markup", "\xC3\xA9*\xED\x95\x9C_x",
	  "\xC3\xA9" Z "*" Z "\xED\x95\x9C" Z "_" Z "x",
	  "\xC3\xA9" Z "*" Z "\xED\x95\x9C" Z "_" Z "x" },
	{ "list and heading", "- item\n# head", "- item\n# head",
	  Z "- item\n\n" Z "# head" },
	{ "numbered items", "1. one\n10) ten", "1. one\n10) ten",
	  Z "1. one\n\n" Z "10) ten" },
	{ "quote after newline", "x\n> q", "x\n" Z "&gt; q",
	  "x\n\n" Z "> q" },
	{ "link brackets", "[link](u)", "[link](u)",
	  Z "[" Z "link" Z "]" Z "(u)" },
	{ "star item", "* star", Z "*" Z " star", Z Z "*" Z " star" },
};

#undef Z

/* The summary of a generic alert as Slack's first section and as the
 * Teams TextBlock after the title. */
static void
test_markup_case(const struct markup_case *c)
{
	json_object *alert = json_object_new_object();
	json_object *slack, *teams, *section, *card, *block;

	json_object_object_add(alert, "summary",
			       json_object_new_string(c->in));
	slack = slack_build_payload(alert);
	teams = teams_build_payload(alert);
	section = json_object_array_get_idx(member(slack, "blocks"), 1);
	is_str(json_object_get_string(member(member(section, "text"),
					     "text")),
	       c->slack, "slack mrkdwn: %s", c->name);
	card = member(json_object_array_get_idx(member(teams, "attachments"),
						0), "content");
	block = json_object_array_get_idx(member(card, "body"), 1);
	is_str(json_object_get_string(member(block, "text")), c->teams,
	       "teams markdown: %s", c->name);
	json_object_put(slack);
	json_object_put(teams);
	json_object_put(alert);
}

static void
test_markup(void)
{
	size_t i;

	for (i = 0; i < sizeof(markup_cases) / sizeof(markup_cases[0]); i++)
		test_markup_case(&markup_cases[i]);
}

/* ---- links, access and root ---- */

static void
add_string(json_object *obj, const char *key, const char *value)
{
	json_object_object_add(obj, key, json_object_new_string(value));
}

#define SG_ID		"sg-0123456789abcdef0"
#define SG_URL \
	"https://eu-central-1.console.aws.amazon.com/ec2/home" \
	"?region=eu-central-1#SecurityGroup:groupId=" SG_ID

struct link_case {
	const char *name;
	const char *id;
	const char *url;	/* NULL: absent */
	const char *slack;	/* the Slack field text */
	const char *teams;	/* the Teams fact value */
};

static const struct link_case link_cases[] = {
	{ "link", SG_ID, SG_URL, "*Security group*\n<" SG_URL "|" SG_ID
	  "> (web)", "[" SG_ID "](" SG_URL ") (web)" },
	{ "no url", SG_ID, NULL, "*Security group*\n" SG_ID " (web)",
	  SG_ID " (web)" },
	{ "bad id", "sg-0abc", "https://x.example/sg-0abc",
	  "*Security group*\nsg-0abc (web)", "sg-0abc (web)" },
	{ "hostile url", SG_ID, "https://a.example/|<!here>)[x](y)" SG_ID,
	  "*Security group*\n" SG_ID " (web)", SG_ID " (web)" },
};

static json_object *
link_alert(const char *id, const char *url)
{
	json_object *alert = json_object_new_object();
	json_object *event = json_object_new_object();
	json_object *actor = json_object_new_object();
	json_object *groups = json_object_new_array();
	json_object *group = json_object_new_object();

	add_string(alert, "kind", "security_group_change");
	add_string(alert, "severity", "high");
	add_string(alert, "title", "t");
	add_string(event, "name", "AuthorizeSecurityGroupIngress");
	add_string(event, "access_text", "Terraform");
	add_string(actor, "name", "root");
	add_string(actor, "type", "Root");
	json_object_object_add(actor, "root", json_object_new_boolean(1));
	json_object_object_add(event, "actor", actor);
	json_object_object_add(alert, "event", event);
	add_string(group, "id", id);
	add_string(group, "name", "web");
	if (url != NULL)
		add_string(group, "console_url", url);
	json_object_array_add(groups, group);
	json_object_object_add(alert, "security_groups", groups);
	return alert;
}

/* Text of the Slack field whose text starts with "*name*". */
static const char *
slack_field(json_object *payload, const char *name)
{
	json_object *blocks = member(payload, "blocks"), *fields;
	const char *text;
	char head[64];
	size_t i, k;

	snprintf(head, sizeof(head), "*%s*\n", name);
	for (i = 0; i < array_length(blocks); i++) {
		fields = member(json_object_array_get_idx(blocks, i), "fields");
		for (k = 0; k < array_length(fields); k++) {
			text = json_object_get_string(member(
				json_object_array_get_idx(fields, k), "text"));
			if (text != NULL && strncmp(text, head,
						    strlen(head)) == 0)
				return text;
		}
	}
	return NULL;
}

/* Value of the Teams fact with this title. */
static const char *
teams_fact(json_object *payload, const char *title)
{
	json_object *card = member(json_object_array_get_idx(member(payload,
		"attachments"), 0), "content");
	json_object *body = member(card, "body"), *facts, *fact;
	size_t i, k;

	for (i = 0; i < array_length(body); i++) {
		facts = member(json_object_array_get_idx(body, i), "facts");
		for (k = 0; k < array_length(facts); k++) {
			fact = json_object_array_get_idx(facts, k);
			if (strcmp(json_object_get_string(member(fact,
				   "title")), title) == 0)
				return json_object_get_string(member(fact,
								     "value"));
		}
	}
	return NULL;
}

static void
test_link_case(const struct link_case *c)
{
	json_object *alert = link_alert(c->id, c->url);
	json_object *slack = slack_build_payload(alert);
	json_object *teams = teams_build_payload(alert);

	is_str(slack_field(slack, "Security group"), c->slack,
	       "slack link %s", c->name);
	is_str(teams_fact(teams, "Security group"), c->teams,
	       "teams link %s", c->name);
	json_object_put(slack);
	json_object_put(teams);
	json_object_put(alert);
}

static void
test_links_how_root(void)
{
	json_object *alert = link_alert(SG_ID, SG_URL);
	json_object *slack = slack_build_payload(alert);
	json_object *teams = teams_build_payload(alert);
	size_t i;

	for (i = 0; i < sizeof(link_cases) / sizeof(link_cases[0]); i++)
		test_link_case(&link_cases[i]);
	is_str(slack_field(slack, "How"), "*How*\nTerraform", "slack how");
	is_str(teams_fact(teams, "How"), "Terraform", "teams how");
	is_str(slack_field(slack, "Who"), "*Who*\n*root (account owner)*",
	       "slack root");
	is_str(teams_fact(teams, "Who"), "**root (account owner)**",
	       "teams root");
	json_object_put(slack);
	json_object_put(teams);
	json_object_put(alert);
}

/* ---- hostile alerts ---- */

static json_object *
hostile_rule(const char *text, size_t i)
{
	json_object *rule = json_object_new_object();
	char id[32];

	snprintf(id, sizeof(id), "sgr-%04zu", i);
	add_string(rule, "direction", "ingress");
	add_string(rule, "change", "added");
	add_string(rule, "rule_id", id);
	add_string(rule, "text", text);
	return rule;
}

/* A security-group alert whose values hold mentions, markup, invalid
 * UTF-8, a 10 KB description and rule_count rules. */
static json_object *
hostile_alert(size_t rule_count)
{
	json_object *alert = json_object_new_object();
	json_object *event = json_object_new_object();
	json_object *actor = json_object_new_object();
	json_object *groups = json_object_new_array();
	json_object *group = json_object_new_object();
	json_object *rules = json_object_new_array();
	json_object *sns = json_object_new_object();
	static char big[10 * 1024 + 1];
	size_t i;

	for (i = 0; i < sizeof(big) - 1; i++)
		big[i] = "<!channel>*_~`[]&@here\n\xFF"[i % 24];
	add_string(alert, "kind", "security_group_change");
	add_string(alert, "severity", "critical");
	add_string(alert, "title", big);
	add_string(alert, "summary", big);
	add_string(alert, "occurred_at", "2024-05-01T10:00:00Z");
	add_string(sns, "message_id", "<!here>");
	json_object_object_add(alert, "sns", sns);
	add_string(event, "name", "*AuthorizeSecurityGroupIngress*");
	json_object_object_add(event, "epoch", json_object_new_int64(
		1714557600));
	add_string(event, "id", "@everyone");
	add_string(event, "source_ip", big);
	add_string(event, "region", "_eu_");
	add_string(event, "account", "<@U123>");
	add_string(event, "error_code", "AccessDenied");
	add_string(event, "error_message", big);
	add_string(actor, "name", big);
	add_string(actor, "type", "IAMUser");
	add_string(actor, "arn", big);
	add_string(actor, "invoked_by", big);
	json_object_object_add(event, "actor", actor);
	json_object_object_add(alert, "event", event);
	add_string(group, "id", "sg-1");
	add_string(group, "name", big);
	add_string(group, "console_url", big);
	json_object_array_add(groups, group);
	json_object_object_add(alert, "security_groups", groups);
	for (i = 0; i < rule_count; i++)
		json_object_array_add(rules, hostile_rule(big, i));
	json_object_object_add(alert, "rules", rules);
	return alert;
}

/* No mention or link survives.  Past the plain_text header, the only
 * "<" starts the <!date> markup and no markup run is left whole. */
static void
check_no_mentions(json_object *payload, const char *name)
{
	json_object *blocks = member(payload, "blocks");
	json_object *rest = json_object_new_array();
	const char *text;
	const char *p;
	bool clean = true;
	size_t i;

	json_object_array_add(rest, json_object_get(member(payload, "text")));
	for (i = 1; i < array_length(blocks); i++)
		json_object_array_add(rest, json_object_get(
			json_object_array_get_idx(blocks, i)));
	text = json_object_to_json_string_ext(rest, JSON_C_TO_STRING_PLAIN |
					      JSON_C_TO_STRING_NOSLASHESCAPE);
	for (p = strchr(text, '<'); p != NULL; p = strchr(p + 1, '<'))
		if (strncmp(p, "<!date^", 7) != 0)
			clean = false;
	ok(clean, "%s: no raw < except <!date>", name);
	ok(strstr(text, "*_~`") == NULL, "%s: no markup run", name);
	text = json_object_to_json_string_ext(payload, JSON_C_TO_STRING_PLAIN |
					      JSON_C_TO_STRING_NOSLASHESCAPE);
	ok(strstr(text, "@here") == NULL, "%s: no @here", name);
	ok(strstr(text, "@everyone") == NULL, "%s: no @everyone", name);
	json_object_put(rest);
}

static void
test_hostile(size_t rule_count, const char *name)
{
	json_object *alert = hostile_alert(rule_count);
	json_object *slack = slack_build_payload(alert);
	json_object *teams = teams_build_payload(alert);

	check_slack_limits(slack, name);
	check_teams_limits(teams, name);
	if (slack != NULL)
		check_no_mentions(slack, name);
	ok(teams != NULL && strstr(json_object_to_json_string(teams),
	   "*_~`") == NULL, "%s: teams no markup run", name);
	json_object_put(slack);
	json_object_put(teams);
	json_object_put(alert);
}

/* The rules section says how many rules it left out. */
static void
test_many_rules(void)
{
	json_object *alert = hostile_alert(500);
	json_object *slack = slack_build_payload(alert);
	json_object *teams = teams_build_payload(alert);
	const char *s = json_object_to_json_string(slack);
	const char *t = json_object_to_json_string(teams);

	ok(s != NULL && strstr(s, " more rules") != NULL,
	   "many rules: slack says more");
	ok(t != NULL && strstr(t, " more rules") != NULL,
	   "many rules: teams says more");
	ok(s != NULL && strstr(s, "Rules changed (500)") != NULL,
	   "many rules: slack counts all");
	json_object_put(slack);
	json_object_put(teams);
	json_object_put(alert);
}

/* An alert without any member still renders. */
static void
test_empty_alert(void)
{
	json_object *alert = json_object_new_object();
	json_object *slack = slack_build_payload(alert);
	json_object *teams = teams_build_payload(alert);

	check_slack_limits(slack, "empty alert");
	check_teams_limits(teams, "empty alert");
	json_object_put(slack);
	json_object_put(teams);
	json_object_put(alert);
}

int
main(void)
{
	char dir[1024];
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/events", tap_fixtures_dir());
	d = opendir(dir);
	if (d == NULL)
		skip_all("fixture folder %s not found; set SNSRELAY_FIXTURES",
			 dir);
	closedir(d);
	golden_dir_init();
	if (text_use_timezone("UTC") != 0)
		skip_all("cannot set TZ");

	test_fixtures(dir);
	test_other_kinds();
	test_korean(dir);
	test_slack_escape();
	test_markup();
	test_links_how_root();
	test_hostile(0, "hostile no rules");
	test_hostile(1, "hostile one rule");
	test_hostile(500, "hostile 500 rules");
	test_many_rules();
	test_empty_alert();
	return tap_done();
}
