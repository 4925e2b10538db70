#include "config.h"

#include <string.h>

#include "snsrelay/labels.h"

struct label_row {
	const char *en;
	const char *ko;
};

/* One row per enum label_key, in its order. */
static const struct label_row label_rows[LABEL_KEY_COUNT] = {
	[LABEL_EVENT] = { "Event", "이벤트" },
	[LABEL_SECURITY_GROUP] = { "Security group", "보안 그룹" },
	[LABEL_SECURITY_GROUPS] = { "Security groups", "보안 그룹" },
	[LABEL_WHO] = { "Who", "사용자" },
	[LABEL_HOW] = { "How", "변경 방법" },
	[LABEL_SOURCE_IP] = { "Source IP", "소스 IP" },
	[LABEL_REGION] = { "Region", "리전" },
	[LABEL_ACCOUNT] = { "Account", "계정" },
	[LABEL_WHEN] = { "When", "시각" },
	[LABEL_USER_AGENT] = { "User agent", "사용자 에이전트" },
	[LABEL_CLOUDTRAIL_EVENT_ID] = { "CloudTrail event id",
					"CloudTrail 이벤트 ID" },
	[LABEL_CLOUDTRAIL_EVENT] = { "CloudTrail event",
				     "CloudTrail 이벤트" },
	[LABEL_SNS_MESSAGE] = { "SNS message", "SNS 메시지" },
	[LABEL_ERROR] = { "Error", "오류" },
	[LABEL_TOPIC] = { "Topic", "주제" },
	[LABEL_SEVERITY] = { "Severity", "심각도" },
	[LABEL_RULES_CHANGED] = { "Rules changed", "변경된 규칙" },
	[LABEL_RULES] = { "Rules", "규칙" },
	[LABEL_FAILED] = { "failed", "실패" },
	[LABEL_ALERT] = { "Alert", "알림" },
	[LABEL_SEV_CRITICAL] = { "CRITICAL", "심각" },
	[LABEL_SEV_HIGH] = { "HIGH", "높음" },
	[LABEL_SEV_MEDIUM] = { "MEDIUM", "보통" },
	[LABEL_SEV_LOW] = { "LOW", "낮음" },
	[LABEL_SEV_WARNING] = { "WARNING", "경고" },
	[LABEL_SEV_INFO] = { "INFO", "정보" },
	[LABEL_ACCESS_TERRAFORM] = { "Terraform", "Terraform" },
	[LABEL_ACCESS_CLOUDFORMATION] = { "CloudFormation",
					  "CloudFormation" },
	[LABEL_ACCESS_CONSOLE] = { "AWS console", "AWS 콘솔" },
	[LABEL_ACCESS_CLI] = { "AWS CLI", "AWS CLI" },
	[LABEL_ACCESS_SDK] = { "AWS SDK", "AWS SDK" },
	[LABEL_ACCESS_AWS_SERVICE] = { "AWS service", "AWS 서비스" },
	[LABEL_ACCESS_UNKNOWN] = { "unknown", "알 수 없음" },
	[LABEL_TITLE_OPEN_INGRESS] = {
		"Security group ingress opened to the internet: ",
		"보안 그룹 인바운드가 인터넷에 열림: " },
	[LABEL_TITLE_OPEN_RULE] = {
		"Security group rule opened to the internet: ",
		"보안 그룹 규칙이 인터넷에 열림: " },
	[LABEL_TITLE_OPEN_EGRESS] = {
		"Security group egress opened to the internet: ",
		"보안 그룹 아웃바운드가 인터넷에 열림: " },
	[LABEL_TITLE_DENIED] = { "Denied attempt", "거부된 시도" },
	[LABEL_TITLE_FAILED] = { "Failed attempt", "실패한 시도" },
	[LABEL_TITLE_ROOT] = { " by the root user", " (루트 사용자)" },
	[LABEL_A_SECURITY_GROUP] = { "a security group", "보안 그룹" },
	[LABEL_NOTIFICATION_ON] = { "Notification on ", "SNS 알림: " },
	[LABEL_SUBSCRIPTION_ENDED] = { "SNS subscription ended: ",
				       "SNS 구독 종료: " },
	[LABEL_ROOT_OWNER] = { "root (account owner)", "루트 (계정 소유자)" },
	[LABEL_VIA] = { "via ", "호출 서비스: " },
};

struct label_call_row {
	const char *name;
	const char *ko;
};

struct label_code {
	const char *code;
	enum label_key key;
};

static const struct label_code label_severities[] = {
	{ "critical", LABEL_SEV_CRITICAL }, { "high", LABEL_SEV_HIGH },
	{ "medium", LABEL_SEV_MEDIUM }, { "low", LABEL_SEV_LOW },
	{ "warning", LABEL_SEV_WARNING }, { "info", LABEL_SEV_INFO },
};

static const struct label_code label_accesses[] = {
	{ "terraform", LABEL_ACCESS_TERRAFORM },
	{ "cloudformation", LABEL_ACCESS_CLOUDFORMATION },
	{ "console", LABEL_ACCESS_CONSOLE }, { "cli", LABEL_ACCESS_CLI },
	{ "sdk", LABEL_ACCESS_SDK },
	{ "aws_service", LABEL_ACCESS_AWS_SERVICE },
	{ "unknown", LABEL_ACCESS_UNKNOWN },
};

/* Korean words of rule changes and directions; English uses the codes. */
static const struct label_call_row label_changes[] = {
	{ "added", "추가" }, { "removed", "삭제" }, { "modified", "수정" },
	{ "described", "설명 변경" }, { "changed", "변경" },
	{ "ingress", "인바운드" }, { "egress", "아웃바운드" },
};

static const struct label_call_row label_calls[] = {
	{ "AuthorizeSecurityGroupIngress", "보안 그룹 인바운드 규칙 추가" },
	{ "AuthorizeSecurityGroupEgress", "보안 그룹 아웃바운드 규칙 추가" },
	{ "RevokeSecurityGroupIngress", "보안 그룹 인바운드 규칙 삭제" },
	{ "RevokeSecurityGroupEgress", "보안 그룹 아웃바운드 규칙 삭제" },
	{ "ModifySecurityGroupRules", "보안 그룹 규칙 수정" },
	{ "UpdateSecurityGroupRuleDescriptionsIngress",
	  "보안 그룹 인바운드 규칙 설명 변경" },
	{ "UpdateSecurityGroupRuleDescriptionsEgress",
	  "보안 그룹 아웃바운드 규칙 설명 변경" },
	{ "CreateSecurityGroup", "보안 그룹 생성" },
	{ "DeleteSecurityGroup", "보안 그룹 삭제" },
};

#define LABEL_COUNT(a) (sizeof(a) / sizeof((a)[0]))

const char *
label(enum label_language lang, enum label_key key)
{
	const struct label_row *row;

	if ((unsigned)key >= LABEL_KEY_COUNT)
		return "?";
	row = &label_rows[key];
	return lang == LABEL_LANG_KO ? row->ko : row->en;
}

int
label_language_parse(const char *s, enum label_language *lang)
{
	if (s == NULL)
		return -1;
	if (strcmp(s, "en") == 0)
		*lang = LABEL_LANG_EN;
	else if (strcmp(s, "ko") == 0)
		*lang = LABEL_LANG_KO;
	else
		return -1;
	return 0;
}

const char *
label_language_name(enum label_language lang)
{
	return lang == LABEL_LANG_KO ? "ko" : "en";
}

static const char *
label_of_code(enum label_language lang, const struct label_code *codes,
	      size_t n, const char *code)
{
	size_t i;

	for (i = 0; code != NULL && i < n; i++)
		if (strcmp(codes[i].code, code) == 0)
			return label(lang, codes[i].key);
	return NULL;
}

const char *
label_severity(enum label_language lang, const char *name)
{
	return label_of_code(lang, label_severities,
			     LABEL_COUNT(label_severities), name);
}

const char *
label_access(enum label_language lang, const char *code)
{
	return label_of_code(lang, label_accesses,
			     LABEL_COUNT(label_accesses), code);
}

int
label_append_more(struct buf *b, enum label_language lang, size_t n,
		  int rules)
{
	if (lang == LABEL_LANG_KO)
		return buf_printf(b, "외 %s%zu개", rules ? "규칙 " : "", n);
	if (!rules)
		return buf_printf(b, "and %zu more", n);
	return buf_printf(b, "and %zu more rule%s", n, n == 1 ? "" : "s");
}

const char *
label_call(enum label_language lang, const char *name)
{
	size_t i;

	if (lang != LABEL_LANG_KO)
		return name;
	for (i = 0; name != NULL && i < LABEL_COUNT(label_calls); i++)
		if (strcmp(label_calls[i].name, name) == 0)
			return label_calls[i].ko;
	return name;
}

static const char *
label_ko_word(const struct label_call_row *rows, size_t n, const char *name)
{
	size_t i;

	for (i = 0; name != NULL && i < n; i++)
		if (strcmp(rows[i].name, name) == 0)
			return rows[i].ko;
	return name;
}

int
label_append_rule_action(struct buf *b, enum label_language lang,
			 const char *change, const char *direction)
{
	if (change == NULL)
		change = "changed";
	if (lang != LABEL_LANG_KO)
		return buf_printf(b, "%s%s%s", change,
				  direction != NULL ? " " : "",
				  direction != NULL ? direction : "");
	return buf_printf(b, "%s%s%s",
			  direction != NULL ? label_ko_word(label_changes,
			  LABEL_COUNT(label_changes), direction) : "",
			  direction != NULL ? " " : "",
			  label_ko_word(label_changes,
					LABEL_COUNT(label_changes), change));
}
