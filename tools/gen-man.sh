#!/bin/sh
# Generates the man pages snsrelay.8 and snsrelay.conf.5 from their
# templates man/*.in and from a built snsrelay:
#
#   @VERSION@   the first line of "snsrelay --version", e.g. "snsrelay 0.1.0"
#   @OPTIONS@   every option of "snsrelay --help-config", as a .TP list
#   @NOTES@     the paragraphs that follow the options in that output
#
# Usage: tools/gen-man.sh SNSRELAY [OUTDIR]
#
# OUTDIR defaults to man/ in the source tree, where the generated pages
# are committed.  Run it, or "make update-man" in a build folder, after
# changing an option's help text or a template: tests/e2e_man.sh fails
# while a committed page is stale.
set -eu

fail() {
	echo "gen-man.sh: $*" >&2
	exit 1
}

case "${1:-}" in
-h|--help)
	sed -n '2,14s/^# \{0,1\}//p' "$0"
	exit 0
	;;
"")
	fail "missing SNSRELAY argument, the built program; see --help"
	;;
esac

top=$(cd "$(dirname "$0")/.." && pwd)
program=$1
outdir=${2:-$top/man}
[ -x "$program" ] || fail "$program is not an executable program"
[ -d "$outdir" ] || fail "output folder $outdir not found"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/gen-man.XXXXXX") ||
	fail "cannot create a temporary folder"
trap 'rm -rf "$tmp"' EXIT

"$program" --version >"$tmp/version" ||
	fail "$program --version failed"
version=$(head -n 1 "$tmp/version")
case $version in
snsrelay\ [0-9]*) ;;
*) fail "unexpected first line of --version: '$version'" ;;
esac
"$program" --help-config >"$tmp/help-config" ||
	fail "$program --help-config failed"

# Converts the --help-config output into two roff fragments: the option
# list (options.roff) and the closing paragraphs (notes.roff).  Any line
# of an unexpected shape stops the conversion, so that a change of the
# help format cannot drop an option from the page unnoticed.
awk -v options="$tmp/options.roff" -v notes="$tmp/notes.roff" '
# Escapes a line of text for roff: backslashes, and a leading "." or
# "\047" that would make the line a request.
function roff_escape(s) {
	gsub(/\\/, "\\e", s)
	if (s ~ /^[.\047]/)
		s = "\\&" s
	return s
}

# Lets groff break a long list after its commas.
function breakable(s) {
	gsub(/,/, ",\\:", s)
	return s
}

# Writes a description, one sentence per line, as roff expects.
function sentences(text, file,    n, i, part) {
	n = split(text, part, /\.  +/)
	for (i = 1; i <= n; i++)
		print roff_escape(part[i] (i < n ? "." : "")) >file
}

function finish_option() {
	if (name == "")
		return
	if (default_value == "" || variable == "" || description == "") {
		printf "gen-man.sh: option %s lacks a default, an environment " \
			"variable or a description\n", name >"/dev/stderr"
		exit 1
	}
	print ".TP" >options
	print "\\fB" roff_escape(name) "\\fR (\\fI" roff_escape(type) \
		"\\fR)" >options
	sentences(description, options)
	print ".br" >options
	if (default_value == "unset" || default_value == "none")
		print "Default: " default_value "." >options
	else
		print "Default: \\fB" breakable(roff_escape(default_value)) \
			"\\fR." >options
	if (range != "") {
		print ".br" >options
		print "Range: " roff_escape(range) "." >options
	}
	print ".br" >options
	print "Environment: \\fB" roff_escape(variable) "\\fR." >options
	count++
	name = ""
}

function bad_line() {
	printf "gen-man.sh: line %d of --help-config has an unexpected " \
		"shape: %s\n", NR, $0 >"/dev/stderr"
	exit 1
}

NR == 1 {
	if ($0 !~ /^Options of the snsrelay configuration file/)
		bad_line()
	next
}

/^$/ {
	finish_option()
	next
}

# An option heading: "name (type)".
!in_notes && /^[a-z][a-z0-9_]* \(.*\)$/ {
	finish_option()
	name = $1
	type = $0
	sub(/^[^ ]* \(/, "", type)
	sub(/\)$/, "", type)
	default_value = range = variable = description = ""
	next
}

!in_notes && /^    / {
	if (name == "")
		bad_line()
	line = substr($0, 5)
	if (line ~ /^default: /)
		default_value = substr(line, 10)
	else if (line ~ /^range: /)
		range = substr(line, 8)
	else if (line ~ /^environment: /)
		variable = substr(line, 14)
	else
		description = description (description == "" ? "" : " ") line
	next
}

# The paragraphs after the last option.  A line ending in "." closes a
# paragraph.
count > 0 {
	finish_option()
	in_notes = 1
	paragraph = paragraph (paragraph == "" ? "" : " ") $0
	if ($0 ~ /\.$/) {
		if (notes_count++ > 0)
			print ".PP" >notes
		sentences(paragraph, notes)
		paragraph = ""
	}
	next
}

{ bad_line() }

END {
	finish_option()
	if (count == 0) {
		print "gen-man.sh: no option found in --help-config" \
			>"/dev/stderr"
		exit 1
	}
	if (paragraph != "") {
		if (notes_count++ > 0)
			print ".PP" >notes
		sentences(paragraph, notes)
	}
	if (notes_count == 0)
		printf "" >notes
}
' "$tmp/help-config" || fail "cannot convert the --help-config output"

# Replaces each placeholder line of a template by its text or fragment.
fill_template() {
	awk -v version="$version" -v options="$tmp/options.roff" \
		-v notes="$tmp/notes.roff" '
	function insert(file,    line) {
		while ((getline line <file) > 0)
			print line
		close(file)
	}
	$0 == "@OPTIONS@" { insert(options); next }
	$0 == "@NOTES@" { insert(notes); next }
	{ gsub(/@VERSION@/, version); print }
	' "$1"
}

for page in snsrelay.8 snsrelay.conf.5; do
	template=$top/man/$page.in
	[ -f "$template" ] || fail "template $template not found"
	fill_template "$template" >"$tmp/$page" ||
		fail "cannot fill in $template"
	if grep -n '@[A-Z]*@' "$tmp/$page" >&2; then
		fail "$template has a placeholder this script does not know"
	fi
	mv "$tmp/$page" "$outdir/$page" || fail "cannot write $outdir/$page"
done
