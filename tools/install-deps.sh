#!/bin/sh
# Installs with apt-get what snsrelay needs on Debian 12: by default the
# build and test tools and libraries, with --runtime only the shared
# libraries the installed daemon loads, CA certificates, time zones and
# curl for the health check (for container images).  Packages
# already installed are left alone, so a second run changes nothing and
# needs no network.  --bench adds wrk, Node.js and npm for bench/run.sh.
#
# Usage: tools/install-deps.sh [--runtime | --bench]
set -eu

build_packages="build-essential autoconf automake libtool pkg-config
	libmicrohttpd-dev libcurl4-openssl-dev libjson-c-dev libssl-dev
	libsqlite3-dev openssl curl jq faketime ca-certificates tzdata
	groff-base yq clang libclang-rt-14-dev valgrind"
runtime_packages="libmicrohttpd12 libcurl4 libjson-c5 libssl3
	libsqlite3-0 ca-certificates tzdata curl"
bench_packages="wrk nodejs npm"

fail() {
	echo "install-deps.sh: $*" >&2
	exit 1
}

case "${1:-}" in
"")
	packages=$build_packages
	;;
--runtime)
	packages=$runtime_packages
	;;
--bench)
	packages="$build_packages $bench_packages"
	;;
-h|--help)
	sed -n '2,9s/^# \{0,1\}//p' "$0"
	exit 0
	;;
*)
	fail "unknown option '$1'; use --runtime, --bench or no option"
	;;
esac

# Prints the packages of the list that are not installed.
missing_packages() {
	for package in $packages; do
		# NodeSource's nodejs package contains npm and conflicts with
		# Debian's npm package, so an npm command on PATH is enough.
		if [ "$package" = npm ] && command -v npm >/dev/null 2>&1; then
			continue
		fi
		status=$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null ||
			true)
		[ "$status" = "install ok installed" ] || echo "$package"
	done
}

command -v apt-get >/dev/null 2>&1 ||
	fail "apt-get not found; install these packages by hand: $packages"
missing=$(missing_packages)
if [ -z "$missing" ]; then
	echo "install-deps.sh: all packages are installed"
	exit 0
fi

sudo=
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null 2>&1 ||
		fail "run as root (or install sudo) to install: $missing"
	sudo=sudo
fi

echo "install-deps.sh: installing" $missing
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq || fail "apt-get update failed"
# shellcheck disable=SC2086 # one word per package
$sudo apt-get install -y -qq --no-install-recommends $missing \
	>/dev/null || fail "apt-get install failed for:" $missing

missing=$(missing_packages)
[ -z "$missing" ] || fail "still missing after apt-get install:" $missing
echo "install-deps.sh: done"
