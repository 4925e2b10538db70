#!/bin/sh
# End-to-end: floods of forged messages and slow or idle clients.
#
#   - A flood of forged messages, each naming a new certificate URL on
#     the loopback certificate host: every one is rejected, the host gets
#     no more downloads than cert_fetch_per_minute allows, a failed URL
#     gets its failure from the cache of failures and is logged once, and
#     the relay's memory stays bounded.
#   - Slow clients that send their request one byte at a time from
#     127.0.0.2 are disconnected once request_timeout has passed since
#     the accept, and while idle connections from 127.0.0.2 hold every
#     slot that one address may take, /healthz still answers 127.0.0.1.
#
# The clients are a python3 script, because a shell cannot bind a socket
# to 127.0.0.2 (Linux routes all of 127.0.0.0/8 to the loopback).
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"

command -v python3 >/dev/null 2>&1 || tap_skip_all "python3 not found"

topic=arn:aws:sns:us-east-1:123456789012:sg-alerts
per_minute=10
# CERT_FETCH_BURST in src/cert_cache.c.
burst=5
flood_size=300
client=$TEST_TMP/clients.py

# ---------------------------------------------------- the python client

cat >"$client" <<'EOF'
"""Clients for e2e_floods.sh; each command prints its results."""
import base64
import http.client
import json
import os
import select
import socket
import sys
import time


def flood(port, template, count, cert_base):
    """POSTs count forged copies of template, each with a new random
    certificate URL and a random signature; prints "status code URL"."""
    with open(template) as f:
        base = json.load(f)
    conn = http.client.HTTPConnection("127.0.0.1", int(port), timeout=30)
    for i in range(int(count)):
        msg = dict(base)
        url = "%s/SimpleNotificationService-%s.pem" % (
            cert_base, os.urandom(16).hex())
        msg["SigningCertURL"] = url
        msg["MessageId"] = "flood-%d" % i
        msg["Signature"] = base64.b64encode(os.urandom(256)).decode()
        body = json.dumps(msg)
        headers = {"Content-Type": "text/plain; charset=UTF-8",
                   "x-amz-sns-message-type": "Notification"}
        try:
            conn.request("POST", "/sns", body, headers)
            resp = conn.getresponse()
        except (http.client.HTTPException, OSError):
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", int(port),
                                              timeout=30)
            conn.request("POST", "/sns", body, headers)
            resp = conn.getresponse()
        answer = json.loads(resp.read() or b"{}")
        print(resp.status, answer.get("code", "-"), url)


def connect_from(source, port):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((source, 0))
    sock.connect(("127.0.0.1", int(port)))
    return sock


def is_closed(sock):
    """True when the server closed or reset sock."""
    readable, _, _ = select.select([sock], [], [], 0)
    if not readable:
        return False
    try:
        return sock.recv(4096, socket.MSG_PEEK) == b""
    except OSError:
        return True


def trickle(port, source, count, interval, limit):
    """Sends a request one byte at a time on count connections and prints
    "closed SECONDS" (since the connect) or "open" for each."""
    request = (b"POST /sns HTTP/1.1\r\nHost: relay\r\n"
               b"Content-Type: text/plain\r\nContent-Length: 100\r\n\r\n"
               + b"x" * 100)
    socks = [connect_from(source, port) for _ in range(int(count))]
    started = time.monotonic()
    closed = [None] * len(socks)
    sent = 0
    while time.monotonic() - started < float(limit):
        for i, sock in enumerate(socks):
            if closed[i] is not None:
                continue
            if is_closed(sock):
                closed[i] = time.monotonic() - started
                continue
            try:
                sock.send(request[sent:sent + 1])
            except OSError:
                closed[i] = time.monotonic() - started
        if all(c is not None for c in closed):
            break
        sent = min(sent + 1, len(request) - 1)
        time.sleep(float(interval))
    for c in closed:
        print("open" if c is None else "closed %.1f" % c)


def healthz(port):
    sock = socket.create_connection(("127.0.0.1", int(port)), timeout=10)
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: relay\r\n"
                 b"Connection: close\r\n\r\n")
    answer = b""
    try:
        while True:
            chunk = sock.recv(4096)
            if not chunk:
                break
            answer += chunk
    except OSError:
        pass
    sock.close()
    fields = answer.split(b" ", 2)
    return fields[1].decode() if len(fields) > 1 else "none"


def read_status(sock):
    """Reads one response with a Content-Length; returns its status."""
    answer = b""
    while b"\r\n\r\n" not in answer:
        chunk = sock.recv(4096)
        if not chunk:
            return "closed"
        answer += chunk
    head, body = answer.split(b"\r\n\r\n", 1)
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        chunk = sock.recv(4096)
        if not chunk:
            return "closed"
        body += chunk
    return head.split(b" ", 2)[1].decode()


# libmicrohttpd 0.9.75 keeps a connection open after the response to a
# POST with a body, not after a response the relay queues on the first
# call (such as /healthz), so the kept-alive connections post to /sns.
# "{}" is not an SNS message, so the relay responds 400.
POST = (b"POST /sns HTTP/1.1\r\nHost: relay\r\n"
        b"Content-Type: text/plain\r\nContent-Length: 2\r\n\r\n{}")


def keepalive(port, idle_s, span_s):
    """On one kept-alive connection: a request, idle_s of silence, then a
    second request sent in five pieces over span_s.  Prints both
    statuses."""
    sock = socket.create_connection(("127.0.0.1", int(port)), timeout=10)
    sock.sendall(POST)
    print("first", read_status(sock))
    time.sleep(float(idle_s))
    step = (len(POST) + 4) // 5
    try:
        for i in range(0, len(POST), step):
            sock.sendall(POST[i:i + step])
            time.sleep(float(span_s) / 5)
        print("second", read_status(sock))
    except OSError:
        print("second closed")


def later(port, source, interval, limit):
    """A complete request, then a second one sent one byte at a time.
    Prints "later_closed SECONDS" (since its first byte) or
    "later_open"."""
    sock = connect_from(source, port)
    sock.sendall(POST)
    print("first", read_status(sock))
    started = time.monotonic()
    sent = 0
    while time.monotonic() - started < float(limit):
        if is_closed(sock):
            print("later_closed %.1f" % (time.monotonic() - started))
            return
        try:
            sock.send(POST[sent:sent + 1])
        except OSError:
            print("later_closed %.1f" % (time.monotonic() - started))
            return
        sent = min(sent + 1, len(POST) - 2)
        time.sleep(float(interval))
    print("later_open")


def idle(port, source, count, limit):
    """Opens count idle connections from source and prints whether one
    more from source is refused, the status of GET /healthz from
    127.0.0.1 while they are open, how many were still open then, and
    when the last of them was closed."""
    started = time.monotonic()
    socks = [connect_from(source, port) for _ in range(int(count))]
    time.sleep(0.3)
    extra = connect_from(source, port)
    deadline = time.monotonic() + 1
    while not is_closed(extra) and time.monotonic() < deadline:
        time.sleep(0.05)
    print("extra", "refused" if is_closed(extra) else "open")
    extra.close()
    print("healthz", healthz(port))
    print("held", sum(not is_closed(s) for s in socks))
    while (not all(is_closed(s) for s in socks) and
           time.monotonic() - started < float(limit)):
        time.sleep(0.1)
    if all(is_closed(s) for s in socks):
        print("idle_closed %.1f" % (time.monotonic() - started))
    else:
        print("idle_open")


if __name__ == "__main__":
    {"flood": flood, "trickle": trickle, "idle": idle,
     "keepalive": keepalive, "later": later}[sys.argv[1]](*sys.argv[2:])
EOF

# write_config NAME [extra lines]
write_config() {
	lib_conf=$TEST_TMP/$1.conf
	shift
	{
		config_base "$(basename "$lib_conf" .conf)"
		cat <<EOF
topic = $topic
cert_dir = $PKI_DIR/seed
ca_file = $PKI_DIR/ca.pem
sns_host_pattern = 127.0.0.1:*
EOF
		for lib_line in "$@"; do
			echo "$lib_line"
		done
	} >"$lib_conf"
}

# rss_kib PID: prints the resident set size of PID in KiB.
rss_kib() {
	awk '$1 == "VmRSS:" { print $2 }' "/proc/$1/status"
}

# count_lines FILE REGEX: prints how many lines of FILE match REGEX.
count_lines() {
	grep -Ec -- "$2" "$1" || true
}

gen_pki
start_mock certs --docroot "$PKI_DIR/certs" \
	--tls-cert "$PKI_DIR/server.pem" --tls-key "$PKI_DIR/server.key" ||
	tap_bail "mock_server did not start"
certs_rec=$MOCK_REC
mock_base=https://127.0.0.1:$MOCK_PORT

# ------------------------------------------- a flood of forged messages

write_config flood "cert_fetch_per_minute = $per_minute" \
	"cert_failure_ttl = 10m"
start_relay "$TEST_TMP/flood.conf" flood || tap_bail "the relay did not start"
flood_log=$RELAY_LOG
template=$TEST_TMP/template.json
good=$TEST_TMP/good.json
sign --cert-url "https://127.0.0.1:1/$PKI_GOOD_CERT" --topic-arn "$topic" \
	--message "flood control" --message-id flood-control >"$good" ||
	tap_bail "snsrelay-sign failed"
cp "$good" "$template"

tap_is "$(post_sns "$good")" 200 "control before the flood: accepted"
rss_before=$(rss_kib "$RELAY_PID")
started=$(date +%s)
python3 "$client" flood "$RELAY_PORT" "$template" "$flood_size" \
	"$mock_base" >"$TEST_TMP/flood.out" 2>"$TEST_TMP/flood.err" ||
	tap_diag "flood client failed: $(tail -n 3 "$TEST_TMP/flood.err")"
elapsed=$(($(date +%s) - started))
rss_after=$(rss_kib "$RELAY_PID")

answers=$(wc -l <"$TEST_TMP/flood.out" | tr -d ' ')
invalid=$(count_lines "$TEST_TMP/flood.out" '^403 cert_invalid ')
limited=$(count_lines "$TEST_TMP/flood.out" '^503 cert_fetch_rate_limited ')
downloads=$(mock_count "$certs_rec" '.method == "GET"')
max_downloads=$((burst + (elapsed + 1) * per_minute / 60 + 1))
tap_is "$answers" "$flood_size" "flood: every message answered"
tap_is "$((invalid + limited))" "$flood_size" \
	"flood: every message rejected as 403 cert_invalid or 503 rate limited"
tap_ok '[ "$limited" -gt 0 ]' "flood: the download budget ran out"
tap_is "$downloads" "$invalid" "flood: one download per 403"
tap_ok '[ "$downloads" -le "$max_downloads" ]' \
	"flood: at most $max_downloads downloads in $elapsed s"
tap_diag "flood: $invalid downloads, $limited refused, $elapsed s," \
	"RSS $rss_before KiB before and $rss_after KiB after"
# The forged messages add no state beyond the bounded caches, so the
# margin only absorbs allocator and sanitizer noise.
tap_ok '[ "$((rss_after - rss_before))" -lt 65536 ]' \
	"flood: resident memory grew by less than 64 MiB"

# A URL that failed gets its failure from the cache of failures.
failed_url=$(awk '$1 == 403 { print $3; exit }' "$TEST_TMP/flood.out")
jq --arg url "$failed_url" '.SigningCertURL = $url' "$template" \
	>"$TEST_TMP/again.json"
tap_is "$(post_sns "$TEST_TMP/again.json")" 403 \
	"failed URL again: rejected"
tap_is "$(response_field .code)" cert_invalid "failed URL again: code"
tap_contains "$(response_field .error)" "cached" \
	"failed URL again: error says the failure is cached"
tap_is "$(mock_count "$certs_rec" '.method == "GET"')" "$downloads" \
	"failed URL again: no download"
tap_is "$(log_events "$flood_log" cert_load_failed |
	grep -cF "url=$failed_url")" 1 "failed URL again: logged once"
tap_ok '[ "$(log_events "$flood_log" cert_fetch_rate_limited |
	wc -l)" -le $((elapsed / 60 + 1)) ]' \
	"flood: rate limiting logged at most once a minute"

# Genuine messages whose certificate needs no download still pass.
tap_is "$(post_sns "$good")" 200 "control after the flood: accepted"
stop_relay

# --------------------------------------------- slow and idle clients

# max_connections_per_ip equal to max_connections is lowered so that
# one address leaves a slot for others.
write_config slow "request_timeout = 2s" "max_connections = 8" \
	"max_connections_per_ip = 8"
start_relay "$TEST_TMP/slow.conf" slow || tap_bail "the relay did not start"
slow_log=$RELAY_LOG
tap_is "$(log_events "$slow_log" per_ip_limit_lowered |
	sed -n 's/.* used=\([0-9]*\).*/\1/p')" 7 \
	"limits: per-address limit lowered to 7 of 8"

python3 "$client" trickle "$RELAY_PORT" 127.0.0.2 3 0.3 15 \
	>"$TEST_TMP/trickle.out" 2>"$TEST_TMP/trickle.err" ||
	tap_diag "trickle client failed: $(tail -n 3 "$TEST_TMP/trickle.err")"
tap_is "$(count_lines "$TEST_TMP/trickle.out" '^closed ')" 3 \
	"slow clients: every connection closed"
tap_is "$(awk '$1 == "closed" && $2 > 7 { n++ } END { print n + 0 }' \
	"$TEST_TMP/trickle.out")" 0 \
	"slow clients: closed within request_timeout + 5 s"
wait_for_log_event "$slow_log" request_timed_out 'remote=127\.0\.0\.2' 5
tap_ok '[ "$(log_events "$slow_log" request_timed_out |
	grep -c "remote=127\.0\.0\.2")" -ge 3 ]' \
	"slow clients: each closing logged with the address"

python3 "$client" idle "$RELAY_PORT" 127.0.0.2 7 15 \
	>"$TEST_TMP/idle.out" 2>"$TEST_TMP/idle.err" ||
	tap_diag "idle client failed: $(tail -n 3 "$TEST_TMP/idle.err")"
tap_is "$(awk '$1 == "extra" { print $2 }' "$TEST_TMP/idle.out")" refused \
	"idle clients: eighth connection from one address refused"
tap_is "$(awk '$1 == "healthz" { print $2 }' "$TEST_TMP/idle.out")" 200 \
	"idle clients: /healthz answers another address"
tap_is "$(awk '$1 == "held" { print $2 }' "$TEST_TMP/idle.out")" 7 \
	"idle clients: all seven were open during /healthz"
tap_ok 'awk '"'"'$1 == "idle_closed" && $2 <= 7 { ok = 1 }
	END { exit !ok }'"'"' "$TEST_TMP/idle.out"' \
	"idle clients: closed within request_timeout + 5 s"
tap_is "$(http_get "http://127.0.0.1:$RELAY_PORT/healthz")" 200 \
	"limits: /healthz answers after the clients left"

# A later request on a kept-alive connection has its own deadline, from
# its first byte.
python3 "$client" later "$RELAY_PORT" 127.0.0.2 0.3 15 \
	>"$TEST_TMP/later.out" 2>"$TEST_TMP/later.err" ||
	tap_diag "later client failed: $(tail -n 3 "$TEST_TMP/later.err")"
tap_is "$(awk '$1 == "first" { print $2 }' "$TEST_TMP/later.out")" 400 \
	"slow later request: first request answered"
tap_ok 'awk '"'"'$1 == "later_closed" && $2 <= 7 { ok = 1 }
	END { exit !ok }'"'"' "$TEST_TMP/later.out"' \
	"slow later request: closed within request_timeout + 5 s"
wait_for_log_event "$slow_log" request_timed_out 'request=later' 5
tap_ok 'log_events "$slow_log" request_timed_out |
	grep -q "request=later"' "slow later request: logged as later"
stop_relay

# The time a kept-alive connection spends idle between two requests is
# not part of the second request's deadline: 2.5 s idle plus 2.5 s of
# sending is more than request_timeout, but each part is less.
write_config keepalive "request_timeout = 4s"
start_relay "$TEST_TMP/keepalive.conf" keepalive ||
	tap_bail "the relay did not start"
python3 "$client" keepalive "$RELAY_PORT" 2.5 2.5 \
	>"$TEST_TMP/keepalive.out" 2>"$TEST_TMP/keepalive.err" ||
	tap_diag "keepalive client failed:" \
		"$(tail -n 3 "$TEST_TMP/keepalive.err")"
tap_is "$(awk '$1 == "first" { print $2 }' "$TEST_TMP/keepalive.out")" \
	400 "kept alive: first request answered"
tap_is "$(awk '$1 == "second" { print $2 }' "$TEST_TMP/keepalive.out")" \
	400 "kept alive: second request answered after idle time"
stop_relay
tap_done
