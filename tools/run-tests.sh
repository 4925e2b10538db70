#!/bin/bash
# Builds snsrelay and runs every test twice: once with warnings treated as
# errors (build-check/) and once under AddressSanitizer and
# UndefinedBehaviorSanitizer (build-asan/).  Ends with one line
# "N passed, N failed" over both runs and exits non-zero on any failure.
#
#   tools/run-tests.sh              both runs
#   tools/run-tests.sh --no-asan    the plain run only
#   tools/run-tests.sh --distcheck  both runs, then make distcheck
set -uo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 1

asan=yes
distcheck=no
for arg in "$@"; do
	case $arg in
	--no-asan) asan=no ;;
	--distcheck) distcheck=yes ;;
	*) echo "run-tests: unknown option $arg" >&2; exit 2 ;;
	esac
done

: "${SNSRELAY_FIXTURES:=$(cd "$top/.." && pwd)/shared/fixtures}"
export SNSRELAY_FIXTURES
if [ ! -d "$SNSRELAY_FIXTURES" ]; then
	echo "run-tests: $SNSRELAY_FIXTURES not found; fixture tests skip" >&2
fi

if [ ! -x configure ]; then
	autoreconf -fi >/dev/null 2>&1 || { echo "run-tests: autoreconf failed" >&2; exit 1; }
fi

passed=0
failed=0
status=0

# Adds the "# PASS:" and "# FAIL:" (with ERROR and XPASS) counts of one
# make check output to the totals.
count_results() {
	local out=$1 n
	n=$(awk '/^# PASS: /{s+=$3} END{print s+0}' "$out")
	passed=$((passed + n))
	n=$(awk '/^# (FAIL|ERROR|XPASS): /{s+=$3} END{print s+0}' "$out")
	failed=$((failed + n))
}

show_failures() {
	local dir=$1 log
	for log in $(grep -l -E '^:test-result: (FAIL|ERROR|XPASS)' \
		"$dir"/tests/*.trs 2>/dev/null); do
		echo "----- ${log%.trs}.log -----"
		tail -n 60 "${log%.trs}.log"
	done
}

# run_suite DIR CONFIGURE-ARGS...: configure, build and make check in DIR.
run_suite() {
	local dir=$1 out
	shift
	out="$top/$dir/check-output.txt"
	mkdir -p "$dir"
	echo "== $dir: configure $*"
	if ! (cd "$dir" && { [ -f Makefile ] || ../configure --quiet "$@"; } &&
		make -j2 --no-print-directory >build-output.txt 2>&1); then
		tail -n 40 "$dir/build-output.txt"
		echo "run-tests: build in $dir failed" >&2
		failed=$((failed + 1))
		status=1
		return
	fi
	echo "== $dir: make check"
	(cd "$dir" && make -j2 --no-print-directory check) >"$out" 2>&1
	local rc=$?
	grep -E '^(PASS|FAIL|SKIP|ERROR|XPASS|XFAIL|# [A-Z]+:)' "$out" |
		grep -v '^PASS' || true
	count_results "$out"
	if [ $rc -ne 0 ]; then
		status=1
		show_failures "$dir"
	fi
}

run_suite build-check --enable-werror
if [ $asan = yes ]; then
	# verify_asan_link_order=0 lets libfaketime be preloaded in the
	# fixture replay tests.
	ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:verify_asan_link_order=0} \
	UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
		run_suite build-asan --enable-asan --enable-werror
fi
if [ $distcheck = yes ]; then
	echo "== build-check: make distcheck"
	if ! (cd build-check && make --no-print-directory distcheck \
		>distcheck-output.txt 2>&1); then
		tail -n 60 build-check/distcheck-output.txt
		echo "run-tests: make distcheck failed" >&2
		failed=$((failed + 1))
		status=1
	fi
fi

echo "$passed passed, $failed failed"
exit $status
