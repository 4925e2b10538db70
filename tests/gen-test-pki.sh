#!/bin/sh
# Creates the throw-away keys and certificates of the end-to-end tests in
# DIR, with $OPENSSL (default: openssl on PATH).  Every key is RSA 2048.
#
#   ca.pem, ca.key          test CA
#   server.pem, server.key  TLS server certificate for 127.0.0.1 and
#                           localhost, signed by the test CA
#   signing.key             key of the SNS signing certificates below
#   certs/SimpleNotificationService-<hex>.pem
#                           self-signed signing certificates: a good one
#                           (CN and SAN sns.amazonaws.com, valid from
#                           yesterday for 30 days), one for example.com,
#                           and one that expired 30 days ago
#   seed/                   the good signing certificate alone, for the
#                           relay's cert_dir
#   pki.env                 shell assignments naming those files
#
# Usage: gen-test-pki.sh DIR
set -eu

# Fixed certificate names: the 32 hex digits carry no meaning.
good_hex=7e57ce4700000000000000000000a001
wrong_name_hex=7e57ce4700000000000000000000b002
expired_hex=7e57ce4700000000000000000000c003

: "${OPENSSL:=openssl}"

if [ $# -ne 1 ]; then
	echo "usage: $0 DIR" >&2
	exit 2
fi
dir=$1
log=$dir/openssl.log

fail() {
	echo "gen-test-pki.sh: $*" >&2
	if [ -s "$log" ]; then
		sed 's/^/gen-test-pki.sh: openssl: /' "$log" >&2
	fi
	exit 1
}

# Prints the UTC time DAYS days from now (negative: in the past) in the
# YYYYMMDDHHMMSSZ form of "openssl ca -startdate".  GNU date first, then
# BSD date.
date_in_days() {
	date -u -d "$1 days" +%Y%m%d%H%M%SZ 2>/dev/null ||
	date -u -v"$1"d +%Y%m%d%H%M%SZ 2>/dev/null ||
	fail "date cannot compute a time $1 days from now"
}

write_ca_config() {
	cat >"$dir/ca.cnf" <<EOF
[ ca ]
default_ca = test_ca

[ test_ca ]
database = $dir/ca-db/index.txt
new_certs_dir = $dir/ca-db
serial = $dir/ca-db/serial
default_md = sha256
policy = test_policy
unique_subject = no
email_in_dn = no
copy_extensions = none

[ test_policy ]
commonName = supplied

[ req ]
distinguished_name = req_dn
prompt = no

[ req_dn ]
CN = unused

[ ext_ca ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash

[ ext_server ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid

[ ext_sns ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:sns.amazonaws.com

[ ext_wrong_name ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:example.com
EOF
	mkdir -p "$dir/ca-db"
	: >"$dir/ca-db/index.txt"
	echo 1000 >"$dir/ca-db/serial"
}

new_key() {
	"$OPENSSL" genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 \
		-out "$1" 2>>"$log" || fail "cannot create the key $1"
}

# issue OUT CN EXTENSIONS START END KEY [SIGNER_CERT SIGNER_KEY]
# Issues a certificate for KEY, self-signed without a signer.  Returns
# non-zero when openssl fails.
issue() {
	out=$1 cn=$2 ext=$3 start=$4 end=$5 key=$6
	csr=$dir/ca-db/request.csr
	"$OPENSSL" req -new -config "$dir/ca.cnf" -key "$key" \
		-subj "/CN=$cn" -out "$csr" 2>>"$log" || return 1
	if [ $# -ge 8 ]; then
		set -- -cert "$7" -keyfile "$8"
	else
		set -- -selfsign -keyfile "$key"
	fi
	"$OPENSSL" ca -batch -notext -config "$dir/ca.cnf" "$@" \
		-extensions "$ext" -startdate "$start" -enddate "$end" \
		-in "$csr" -out "$out" >>"$log" 2>&1
}

main() {
	mkdir -p "$dir/certs" "$dir/seed" || fail "cannot create $dir"
	: >"$log"
	write_ca_config
	yesterday=$(date_in_days -1)
	in_30_days=$(date_in_days 30)

	new_key "$dir/ca.key"
	issue "$dir/ca.pem" "snsrelay test CA" ext_ca \
		"$yesterday" "$(date_in_days 365)" "$dir/ca.key" ||
		fail "cannot issue the test CA"

	new_key "$dir/server.key"
	issue "$dir/server.pem" localhost ext_server \
		"$yesterday" "$in_30_days" "$dir/server.key" \
		"$dir/ca.pem" "$dir/ca.key" ||
		fail "cannot issue the server certificate"

	new_key "$dir/signing.key"
	good=SimpleNotificationService-$good_hex.pem
	issue "$dir/certs/$good" sns.amazonaws.com ext_sns \
		"$yesterday" "$in_30_days" "$dir/signing.key" ||
		fail "cannot issue the signing certificate"
	cp "$dir/certs/$good" "$dir/seed/$good"

	wrong_name=SimpleNotificationService-$wrong_name_hex.pem
	issue "$dir/certs/$wrong_name" example.com ext_wrong_name \
		"$yesterday" "$in_30_days" "$dir/signing.key" ||
		fail "cannot issue the wrong-name signing certificate"

	# An openssl that rejects an end date in the past leaves the expired
	# certificate out, and PKI_EXPIRED_CERT empty.
	expired=SimpleNotificationService-$expired_hex.pem
	month_ago=$(date_in_days -30)
	issue "$dir/certs/$expired" sns.amazonaws.com ext_sns \
		"$(date_in_days -60)" "$month_ago" "$dir/signing.key" ||
		expired=

	cat >"$dir/pki.env" <<EOF
PKI_GOOD_CERT=$good
PKI_WRONG_NAME_CERT=$wrong_name
PKI_EXPIRED_CERT=$expired
EOF
}

main
