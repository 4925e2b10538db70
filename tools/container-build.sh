#!/bin/sh
# Builds snsrelay with the system layout (prefix /usr, sysconfdir /etc,
# localstatedir /var) and installs it, stripped, into DESTDIR: the
# programs, the man pages, the sample configuration /etc/snsrelay.conf,
# the systemd unit and an empty spool folder /var/lib/snsrelay.  The
# build stage of docker/Dockerfile runs this script, and
# tests/e2e_container.sh runs it without root into a temporary DESTDIR.
#
# Usage: tools/container-build.sh [--build-dir DIR] DESTDIR
#
#   --build-dir DIR  build in DIR (default: build-container in the
#                    source tree); DESTDIR and DIR are made absolute.
#
# The source tree is the folder above this script.  When it has no
# configure script (a git clone), autoreconf -fi generates one there.
# MAKE_JOBS sets the parallel make jobs (default: the number of CPUs).
set -eu

fail() {
	echo "container-build.sh: $*" >&2
	exit 1
}

usage() {
	sed -n '2,17s/^# \{0,1\}//p' "$0"
}

top=$(cd "$(dirname "$0")/.." && pwd)
build_dir=$top/build-container
destdir=

while [ $# -gt 0 ]; do
	case $1 in
	--build-dir)
		[ $# -ge 2 ] || fail "--build-dir needs a folder; see --help"
		build_dir=$2
		shift 2
		;;
	-h|--help)
		usage
		exit 0
		;;
	-*)
		fail "unknown option '$1'; see --help"
		;;
	*)
		[ -z "$destdir" ] || fail "unexpected argument '$1'; see --help"
		destdir=$1
		shift
		;;
	esac
done
[ -n "$destdir" ] || fail "missing DESTDIR argument; see --help"

# make install needs an absolute DESTDIR, because it runs in build_dir.
mkdir -p "$destdir" "$build_dir" ||
	fail "cannot create $destdir or $build_dir"
destdir=$(cd "$destdir" && pwd)
build_dir=$(cd "$build_dir" && pwd)
[ "$build_dir" != "$top" ] ||
	fail "--build-dir must not be the source tree $top"

if [ ! -x "$top/configure" ]; then
	echo "container-build.sh: generating configure in $top"
	(cd "$top" && autoreconf -fi) ||
		fail "autoreconf failed in $top; run tools/install-deps.sh"
fi

jobs=${MAKE_JOBS:-$(nproc 2>/dev/null || echo 2)}
cd "$build_dir"
if [ ! -f Makefile ]; then
	"$top/configure" --prefix=/usr --sysconfdir=/etc \
		--localstatedir=/var ||
		fail "configure failed; config.log in $build_dir says why"
fi
make -j"$jobs" || fail "make failed in $build_dir"
make install-strip DESTDIR="$destdir" ||
	fail "make install-strip failed into $destdir"

# The spool folder.  The image and the systemd unit give it to the
# snsrelay user, which needs root, so this script leaves owners alone.
mkdir -p "$destdir/var/lib/snsrelay" ||
	fail "cannot create $destdir/var/lib/snsrelay"
echo "container-build.sh: installed into $destdir"
