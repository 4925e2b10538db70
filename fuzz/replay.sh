#!/bin/sh
# Replays every seed input (fuzz/corpus/TARGET/) and every saved crash
# (fuzz/regressions/TARGET/) through each fuzz target once, and prints
# TAP: one result per target and folder.  Run by make check in every
# build: the targets are libFuzzer programs with --enable-fuzzing and
# plain replayers (fuzz/replay.c) otherwise, and both run the files
# named on their command line once each.
#
# Environment: top_srcdir and top_builddir, as make check sets them.
: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${top_builddir:=.}"

targets="fuzz_cert_pem fuzz_config fuzz_event_format fuzz_sns_message"
count=0
failed=0
out=$(mktemp "${TMPDIR:-/tmp}/snsrelay-replay.XXXXXX") || {
	echo "Bail out! cannot create a temporary file"
	exit 1
}
trap 'rm -f "$out"' EXIT

# replay TARGET KIND FOLDER: one TAP result for the files of FOLDER.
replay() {
	count=$((count + 1))
	files=$(find "$3" -type f ! -name '.*' ! -name README.md 2>/dev/null |
		LC_ALL=C sort)
	if [ -z "$files" ]; then
		if [ "$2" = regression ]; then
			echo "ok $count - $1: no regression inputs # SKIP" \
				"$3 is empty"
		else
			echo "not ok $count - $1: no seed inputs in $3"
			failed=$((failed + 1))
		fi
		return
	fi
	n=$(printf '%s\n' "$files" | wc -l | tr -d ' ')
	# shellcheck disable=SC2086 # file names from the source tree have
	# no spaces; see fuzz/README.md
	if "$top_builddir/fuzz/$1" $files >"$out" 2>&1; then
		echo "ok $count - $1: $n $2 inputs replayed"
	else
		echo "not ok $count - $1: $2 input failed (last Running: line)"
		tail -n 40 "$out" | sed 's/^/# /'
		failed=$((failed + 1))
	fi
}

for target in $targets; do
	if [ ! -x "$top_builddir/fuzz/$target" ]; then
		echo "Bail out! $top_builddir/fuzz/$target is missing; run" \
			"make check"
		exit 1
	fi
	replay "$target" seed "$top_srcdir/fuzz/corpus/$target"
	replay "$target" regression "$top_srcdir/fuzz/regressions/$target"
done
echo "1..$count"
[ "$failed" -eq 0 ]
