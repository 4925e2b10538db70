#!/usr/bin/env bash
# Builds snsrelay and runs every test twice: once with warnings treated as
# errors (build-check/) and once under AddressSanitizer and
# UndefinedBehaviorSanitizer (build-asan/).  Closes with one line
# "N passed, N failed, N skipped" over every run; a configure, build or
# distcheck failure counts as one failure.  Exits non-zero on any failure.
# Then tools/fuzz.sh builds the fuzz targets with clang and libFuzzer
# (build-fuzz/) and runs each for $FUZZ_SECONDS seconds (default 30);
# each target counts as one test, skipped when clang is missing.
#
#   tools/run-tests.sh              both runs and the fuzzing run
#   tools/run-tests.sh --no-asan    the -Werror run only, and fuzzing
#   tools/run-tests.sh --no-fuzz    without the fuzzing run
#   tools/run-tests.sh --distcheck  all runs, then make distcheck
#
# Tests that replay genuine AWS-signed messages read ../shared/fixtures
# (or $SNSRELAY_FIXTURES) and skip when it is missing.
set -uo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 1

asan=yes
distcheck=no
fuzz=yes
for arg in "$@"; do
	case $arg in
	--no-asan) asan=no ;;
	--no-fuzz) fuzz=no ;;
	--distcheck) distcheck=yes ;;
	-h|--help) sed -n '2,17s/^# \{0,1\}//p' "$0"; exit 0 ;;
	*) echo "run-tests.sh: unknown option $arg; see --help" >&2; exit 2 ;;
	esac
done

if [ -z "${SNSRELAY_FIXTURES:-}" ] && [ -d "$top/../shared/fixtures" ]; then
	SNSRELAY_FIXTURES=$(cd "$top/../shared/fixtures" && pwd)
fi
if [ -n "${SNSRELAY_FIXTURES:-}" ] && [ -d "$SNSRELAY_FIXTURES" ]; then
	export SNSRELAY_FIXTURES
else
	echo "run-tests.sh: no fixtures folder; tests that need it skip"
fi
export AM_COLOR_TESTS=no
jobs=2

passed=0
failed=0
skipped=0

step() {
	echo
	echo "==== run-tests: $*"
}

# count_results LOG: adds the "# PASS:" ... summary of one make check run
# to the totals.  A run without a summary counts as one failure.
count_results() {
	local log=$1 pass fail xpass error skip

	pass=$(sed -n 's/^# PASS: *\([0-9][0-9]*\).*/\1/p' "$log" | tail -n 1)
	fail=$(sed -n 's/^# FAIL: *\([0-9][0-9]*\).*/\1/p' "$log" | tail -n 1)
	xpass=$(sed -n 's/^# XPASS: *\([0-9][0-9]*\).*/\1/p' "$log" |
		tail -n 1)
	error=$(sed -n 's/^# ERROR: *\([0-9][0-9]*\).*/\1/p' "$log" |
		tail -n 1)
	skip=$(sed -n 's/^# SKIP: *\([0-9][0-9]*\).*/\1/p' "$log" | tail -n 1)
	if [ -z "$pass" ] || [ -z "$fail" ]; then
		echo "run-tests: no test summary in $log"
		failed=$((failed + 1))
		return
	fi
	passed=$((passed + pass))
	failed=$((failed + fail + ${xpass:-0} + ${error:-0}))
	skipped=$((skipped + ${skip:-0}))
}

# print_failed_logs DIR: prints the log of every test in DIR whose result
# is FAIL, XPASS or ERROR.
print_failed_logs() {
	local trs

	while IFS= read -r trs; do
		echo "---- ${trs%.trs}.log"
		tail -n 80 "${trs%.trs}.log"
	done < <(find "$1" -name '*.trs' -exec grep -l -E \
		'^:test-result: (FAIL|XPASS|ERROR)' {} + 2>/dev/null)
}

# check_build DIR [configure options]: configures and builds in DIR, runs
# make check and counts its results.
check_build() {
	local dir=$1 log status

	shift
	log=$top/$dir/check.log
	step "configure and build $dir: $*"
	mkdir -p "$top/$dir" || return 1
	if ! (cd "$top/$dir" && { [ -f Makefile ] || ../configure -q "$@"; } &&
	    make -j"$jobs" >build.log 2>&1); then
		tail -n 40 "$top/$dir/build.log"
		echo "run-tests: configure or make failed in $dir"
		failed=$((failed + 1))
		return 1
	fi
	step "make check in $dir (every result in $dir/check.log)"
	(cd "$top/$dir" && make -j"$jobs" check) >"$log" 2>&1
	status=$?
	# Two tests writing at once can interleave partial lines, so only
	# whole result and summary lines are shown.
	grep -E '^(FAIL|ERROR|XPASS|SKIP): |^# [A-Z]+: +[0-9]+$' "$log"
	count_results "$log"
	if [ "$status" -ne 0 ]; then
		print_failed_logs "$top/$dir"
		return 1
	fi
}

if [ ! -x configure ]; then
	step "autoreconf"
	if ! autoreconf -fi; then
		echo "run-tests: autoreconf failed; is tools/install-deps.sh done?"
		echo "0 passed, 1 failed"
		exit 1
	fi
fi

check_build build-check --enable-werror
if [ $asan = yes ]; then
	# verify_asan_link_order=0 lets the fixture replay preload
	# libfaketime into the sanitized daemon.
	export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:verify_asan_link_order=0}
	export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
	check_build build-asan --enable-asan --enable-werror
	unset ASAN_OPTIONS UBSAN_OPTIONS
fi

# run_fuzz: runs tools/fuzz.sh and counts each target's PASS, FAIL or
# SKIP line; a build failure without such lines counts as one failure.
run_fuzz() {
	local log=$top/build-fuzz/fuzz.out status pass fail

	step "fuzz every target for ${FUZZ_SECONDS:-30} s in build-fuzz"
	mkdir -p "$top/build-fuzz" || return 1
	"$top/tools/fuzz.sh" --seconds "${FUZZ_SECONDS:-30}" \
		--build-dir "$top/build-fuzz" 2>&1 | tee "$log"
	status=${PIPESTATUS[0]}
	pass=$(grep -c '^fuzz.sh: PASS: ' "$log")
	fail=$(grep -c '^fuzz.sh: FAIL: ' "$log")
	skipped=$((skipped + $(grep -c '^fuzz.sh: SKIP: ' "$log")))
	[ "$status" -eq 77 ] && return 0
	if [ "$status" -ne 0 ] && [ "$fail" -eq 0 ]; then
		fail=1
	fi
	passed=$((passed + pass))
	failed=$((failed + fail))
}

if [ $fuzz = yes ]; then
	run_fuzz
fi

if [ $distcheck = yes ]; then
	if [ "$failed" -gt 0 ]; then
		step "make distcheck skipped: the checks above failed"
	elif ! step "make distcheck in build-check" ||
	    ! (cd build-check && make -j"$jobs" distcheck \
	    DISTCHECK_CONFIGURE_FLAGS=--enable-werror) \
	    >build-check/distcheck.log 2>&1; then
		tail -n 100 build-check/distcheck.log
		for dir in build-check/snsrelay-*/; do
			[ -d "$dir" ] && print_failed_logs "$dir"
		done
		echo "run-tests: make distcheck failed"
		failed=$((failed + 1))
	else
		grep -E '^# (TOTAL|PASS|SKIP|FAIL|XPASS|ERROR):' \
			build-check/distcheck.log
		echo "run-tests: make distcheck passed"
	fi
fi

echo
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
