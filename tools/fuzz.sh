#!/usr/bin/env bash
# Builds the fuzz targets with clang and libFuzzer (configure CC=clang
# --enable-fuzzing, in build-fuzz/ by default) and runs each for a fixed
# time.  Prints one line per target, "fuzz.sh: PASS: TARGET ...",
# "fuzz.sh: FAIL: TARGET ..." with the path of the input that crashed, or
# "fuzz.sh: SKIP: TARGET ...", and exits 1 when a target failed, 77 when
# clang or libFuzzer is missing, 2 on a usage error.
#
#   tools/fuzz.sh [--seconds N] [--build-dir DIR] [TARGET...]
#
#   --seconds N      time per target in seconds (default 60)
#   --build-dir DIR  build folder (default build-fuzz/ in the tree)
#   TARGET           fuzz_cert_pem, fuzz_config, fuzz_event_format or
#                    fuzz_sns_message (default: all four)
#
# Inputs that find new code are kept in DIR/fuzz-corpus/TARGET and reused
# by the next run; crashes go to DIR/fuzz-crashes/TARGET.  The seeds are
# fuzz/corpus/TARGET, fuzz/regressions/TARGET and, when present, the
# shared fixtures ($SNSRELAY_FIXTURES or ../shared/fixtures), read only.
# To keep a crash as a regression test, copy it to fuzz/regressions/TARGET
# and fix the bug; fuzz/README.md has the steps.
set -uo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
seconds=60
build=$top/build-fuzz
all_targets="fuzz_cert_pem fuzz_config fuzz_event_format fuzz_sns_message"
targets=

usage() {
	sed -n '2,21s/^# \{0,1\}//p' "$0"
}

while [ $# -gt 0 ]; do
	case $1 in
	--seconds)
		[ $# -ge 2 ] && [[ $2 =~ ^[1-9][0-9]*$ ]] || {
			echo "fuzz.sh: --seconds needs a positive number of" \
				"seconds" >&2
			exit 2
		}
		seconds=$2
		shift
		;;
	--build-dir)
		[ $# -ge 2 ] || {
			echo "fuzz.sh: --build-dir needs a folder" >&2
			exit 2
		}
		build=$2
		shift
		;;
	-h|--help) usage; exit 0 ;;
	fuzz_*)
		[[ " $all_targets " == *" $1 "* ]] || {
			echo "fuzz.sh: unknown target $1; expected one of:" \
				"$all_targets" >&2
			exit 2
		}
		targets="$targets $1"
		;;
	*) echo "fuzz.sh: unknown option $1; see --help" >&2; exit 2 ;;
	esac
	shift
done
targets=${targets:-$all_targets}

# Maximum input length per target, in bytes: an SNS body with its
# signature and a few KiB of Message, an EventBridge event, a
# configuration file, or a certificate.  A configuration line may be 8192
# bytes and a certificate file 16 KiB, so longer inputs must fit to reach
# the checks that reject them.
max_len() {
	case $1 in
	fuzz_sns_message) echo 32768 ;;
	fuzz_event_format) echo 16384 ;;
	fuzz_config) echo 16384 ;;
	fuzz_cert_pem) echo 20000 ;;
	esac
}

# Read-only seed folders from the shared fixtures, when present.
fixture_seeds() {
	local fixtures=${SNSRELAY_FIXTURES:-$top/../shared/fixtures} dir

	case $1 in
	fuzz_sns_message) set -- sns/messages sns/negative sns/unverified ;;
	fuzz_event_format) set -- events ;;
	*) set -- ;;
	esac
	for dir in "$@"; do
		[ -d "$fixtures/$dir" ] && echo "$fixtures/$dir"
	done
}

# skip_all REASON: prints a SKIP line per target and exits 77.
skip_all() {
	for target in $targets; do
		echo "fuzz.sh: SKIP: $target: $*"
	done
	exit 77
}

command -v clang >/dev/null 2>&1 ||
	skip_all "clang not found; tools/install-deps.sh installs clang and" \
		"libclang-rt-14-dev"

mkdir -p "$build" || exit 1
build=$(cd "$build" && pwd)
if [ ! -x "$top/configure" ]; then
	(cd "$top" && autoreconf -fi) || {
		echo "fuzz.sh: autoreconf failed"
		exit 1
	}
fi
if [ ! -f "$build/Makefile" ]; then
	if ! (cd "$build" && "$top/configure" -q CC=clang --enable-fuzzing) \
	    >"$build/configure.out" 2>&1; then
		cat "$build/configure.out"
		if grep -q 'libFuzzer' "$build/configure.out"; then
			skip_all "clang cannot build libFuzzer programs"
		fi
		echo "fuzz.sh: configure failed in $build"
		exit 1
	fi
fi
# shellcheck disable=SC2086 # one word per target
if ! (cd "$build" && make -j2 $(printf 'fuzz/%s ' $targets)) \
    >"$build/build.log" 2>&1; then
	tail -n 40 "$build/build.log"
	echo "fuzz.sh: the build failed in $build (full log: $build/build.log)"
	exit 1
fi

failed=0
for target in $targets; do
	corpus=$build/fuzz-corpus/$target
	crashes=$build/fuzz-crashes/$target
	log=$build/fuzz-$target.log
	mkdir -p "$corpus" "$crashes"
	seeds=("$top/fuzz/corpus/$target")
	[ -d "$top/fuzz/regressions/$target" ] &&
		seeds+=("$top/fuzz/regressions/$target")
	while IFS= read -r dir; do
		seeds+=("$dir")
	done < <(fixture_seeds "$target")

	echo "fuzz.sh: running $target for $seconds s (log: $log)"
	# The outer timeout only catches a hung libFuzzer.  -timeout limits
	# each input, and -max_total_time the run.
	(cd "$build" && timeout $((seconds + 300)) "./fuzz/$target" \
		-max_total_time="$seconds" -max_len="$(max_len "$target")" \
		-timeout=20 -rss_limit_mb=2048 -error_exitcode=1 \
		-timeout_exitcode=1 -print_final_stats=1 \
		-dict="$top/fuzz/dict/$target.dict" \
		-artifact_prefix="$crashes/" "$corpus" "${seeds[@]}") \
		>"$log" 2>&1
	status=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
	if [ "$status" -eq 0 ]; then
		echo "fuzz.sh: PASS: $target: ${runs:-?} inputs in $seconds s," \
			"$(find "$corpus" -type f | wc -l) in its corpus"
		continue
	fi
	failed=$((failed + 1))
	grep -E '^(==[0-9]+==ERROR|SUMMARY|.*property broken|.*runtime error)' \
		"$log" | head -n 5
	crash=$(sed -n 's/.*Test unit written to //p' "$log" | tail -n 1)
	echo "fuzz.sh: FAIL: $target: exit status $status;" \
		"input: ${crash:-none written, see $log}"
done
[ "$failed" -eq 0 ]
