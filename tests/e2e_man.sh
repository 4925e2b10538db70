#!/bin/sh
# The man pages.  The committed pages must be what tools/gen-man.sh makes
# from their templates and the built snsrelay.  snsrelay.conf(5) lists
# every option of --help-config, snsrelay(8) names every flag and command
# of the help texts, and groff formats both pages without a warning.
. "$top_srcdir/tests/lib.sh"

program=$top_builddir/snsrelay
pages="snsrelay.8 snsrelay.conf.5"
generated=$TEST_TMP/man
mkdir "$generated" || tap_bail "cannot create $generated"

# roff_flag FLAG: prints FLAG as the man pages spell it, "\-" for "-".
roff_flag() {
	printf '%s\n' "$1" | sed 's/-/\\-/g'
}

# Runs snsrelay as a user would, without configuration from the test's
# environment.
run_snsrelay() {
	env -u SNSRELAY_CONFIG "$program" "$@"
}

# ------------------------------------------------ generated pages

if sh "$top_srcdir/tools/gen-man.sh" "$program" "$generated" \
	2>"$TEST_TMP/gen-man.log"; then
	gen_status=0
else
	gen_status=$?
fi
tap_is "$gen_status" 0 "gen-man.sh succeeds"
[ "$gen_status" -eq 0 ] || tap_diag "$(cat "$TEST_TMP/gen-man.log")"

for page in $pages; do
	if diff -u "$top_srcdir/man/$page" "$generated/$page" \
		>"$TEST_TMP/$page.diff" 2>&1; then
		lib_result 0 "committed man/$page is current"
	else
		lib_result 1 "committed man/$page is current"
		tap_diag "man/$page differs from what tools/gen-man.sh makes;" \
			"run \"make update-man\" in the build folder" \
			"$(head -n 60 "$TEST_TMP/$page.diff")"
	fi
done

# Every option heading of --help-config, checked in the generated page
# so that a converter bug cannot hide behind a stale committed page.
run_snsrelay --help-config >"$TEST_TMP/help-config"
options=$(sed -n 's/^\([a-z][a-z0-9_]*\) (.*)$/\1/p' \
	"$TEST_TMP/help-config")
variables=$(sed -n 's/^    environment: \(SNSRELAY_[A-Z0-9_]*\)$/\1/p' \
	"$TEST_TMP/help-config")
tap_ok '[ "$(echo "$options" | wc -l)" -ge 40 ]' \
	"help-config lists the options"
tap_is "$(echo "$variables" | wc -l)" "$(echo "$options" | wc -l)" \
	"every option has an environment variable"
missing=
for option in $options; do
	grep -qF "\\fB$option\\fR (" "$generated/snsrelay.conf.5" ||
		missing="$missing $option"
done
tap_is "$missing" "" "snsrelay.conf.5 has an entry per option"
missing=
for variable in $variables; do
	grep -qF "\\fB$variable\\fR" "$generated/snsrelay.conf.5" ||
		missing="$missing $variable"
done
tap_is "$missing" "" "snsrelay.conf.5 names every variable"
for note in Durations: Sizes: SNSRELAY_TOPIC; do
	tap_ok "grep -q '$note' '$generated/snsrelay.conf.5'" \
		"snsrelay.conf.5 has the note on $note"
done
tap_unlike "$(cat "$generated/snsrelay.conf.5")" '@[A-Z]+@' \
	"no placeholder is left"
tap_contains "$(sed -n '/^\.TH/p' "$generated/snsrelay.8")" \
	"\"$(run_snsrelay --version | head -n 1)\"" \
	"snsrelay.8 shows the version"

# ------------------------------------------ flags and commands in (8)

page8=$top_srcdir/man/snsrelay.8
run_snsrelay --help >"$TEST_TMP/help"
long_flags=$(grep -oE -- '--[a-z][a-z-]*' "$TEST_TMP/help" | sort -u)
tap_ok '[ -n "$long_flags" ]' "--help has long flags"
missing=
for flag in $long_flags; do
	grep -qF -- "$(roff_flag "$flag")" "$page8" || missing="$missing $flag"
done
tap_is "$missing" "" "snsrelay.8 has every long flag of --help"

short_flags=$(grep -oE -- '(^|[ [])-[A-Za-z]([ ,]|$)' "$TEST_TMP/help" |
	tr -d ' ,[' | sort -u)
tap_ok '[ -n "$short_flags" ]' "--help has short flags"
missing=
for flag in $short_flags; do
	grep -qE -- "\\\\$flag([^A-Za-z]|\$)" "$page8" ||
		missing="$missing $flag"
done
tap_is "$missing" "" "snsrelay.8 has every short flag of --help"

# The commands are the words of "(see snsrelay COMMAND --help)".
commands=$(sed -n 's/.*(see snsrelay \([a-z-]*\) --help).*/\1/p' \
	"$TEST_TMP/help")
tap_contains "$commands" spool "--help names the spool command"
for command in $commands; do
	tap_ok "grep -qF -- '$(roff_flag "$command")' '$page8'" \
		"snsrelay.8 has the $command command"
	if ! run_snsrelay "$command" --help >"$TEST_TMP/$command.help" \
		2>&1; then
		lib_result 1 "snsrelay $command --help succeeds"
		tap_diag "$(cat "$TEST_TMP/$command.help")"
		continue
	fi
	missing=
	for flag in $(grep -oE -- '--[a-z][a-z-]*' "$TEST_TMP/$command.help" |
		grep -vx -- '--help' | sort -u); do
		grep -qF -- "$(roff_flag "$flag")" "$page8" ||
			missing="$missing $flag"
	done
	tap_is "$missing" "" "snsrelay.8 has every flag of $command"
	# Subcommands: the word after the command on its usage lines.
	missing=
	usage_pattern="s/.*snsrelay \\[-c FILE\\] $command \\([a-z][a-z-]*\\).*/\\1/p"
	for subcommand in $(sed -n "$usage_pattern" "$TEST_TMP/$command.help" |
		sort -u); do
		grep -qF -- "$(roff_flag "$command $subcommand")" "$page8" ||
			missing="$missing $subcommand"
	done
	tap_is "$missing" "" "snsrelay.8 has every subcommand of $command"
	# Choices such as [pending|dead|delivered|all].
	missing=
	for word in $(grep -oE '\[[a-z]+(\|[a-z]+)+\]' \
		"$TEST_TMP/$command.help" | tr '[]|' '   '); do
		grep -qF "\\fB$word\\fR" "$page8" || missing="$missing $word"
	done
	tap_is "$missing" "" "snsrelay.8 has every choice of $command"
done

for section in SYNOPSIS DESCRIPTION OPTIONS COMMANDS "HTTP INTERFACE" \
	SIGNALS ENVIRONMENT FILES "EXIT STATUS" EXAMPLES "SEE ALSO"; do
	tap_ok "grep -qx '.SH \"*$section\"*' '$page8'" \
		"snsrelay.8 has the $section section"
done

# ------------------------------------------------------- formatting

if command -v groff >/dev/null 2>&1; then
	for page in $pages; do
		if groff -man -ww -z "$top_srcdir/man/$page" \
			>"$TEST_TMP/$page.groff" 2>&1; then
			groff_status=0
		else
			groff_status=$?
		fi
		tap_is "$groff_status:$(cat "$TEST_TMP/$page.groff")" "0:" \
			"groff formats $page without a warning"
	done
	# A broken macro call would lose text silently, so the rendered
	# page must still contain the synopsis.
	rendered=$(groff -man -Tascii -P-cbou "$top_srcdir/man/snsrelay.8" \
		2>/dev/null)
	tap_contains "$rendered" "spool purge --older-than duration" \
		"snsrelay.8 renders the purge synopsis"
else
	tap_skip "groff not found; run tools/install-deps.sh" 3
fi

tap_done
