-- wrk script for bench/run.sh: POSTs pre-signed SNS notifications, each
-- request a different body, and stops each wrk thread once it has sent
-- every body of its share, so no body is sent twice in one run.
--
-- Environment:
--   BENCH_BODIES  file of signed bodies, each followed by a line containing
--                 only the ASCII record separator (octal 036)
--   BENCH_THREADS the -t value given to wrk (init() runs before the last
--                 thread exists, so it cannot count them itself)
--   BENCH_COUNTS  file that done() writes its counts to, as one line of
--                 "answered=N non200=N window_us=N exhausted=N overflow=N
--                 cpu_us=N"; BENCH_COUNTS.go must not exist when wrk starts
--
-- Thread t of T sends bodies t, t + T, t + 2T, ...  wrk 4.1 starts each
-- thread right after that thread's init(), and each init() reads the whole
-- body file, so the first thread would run alone for a while.  To start
-- together, the last init() creates BENCH_COUNTS.go and every thread waits
-- for that file before its first request.
--
-- wrk's own Requests/sec divides by the whole -d duration even when the
-- threads stopped earlier, so this script measures the time itself:
-- window_us runs from the start above to the last response of any thread
-- (CLOCK_MONOTONIC through LuaJIT's FFI), and the request rate is
-- answered / window_us.  "exhausted" counts the threads that used up their
-- share before the duration ended.  Requests still in flight when a thread
-- stops are never answered to wrk, so the server may have processed a few
-- more requests than "answered".  cpu_us is wrk's own user + system time
-- from that start to done(), without the time spent reading the bodies.

local ffi = require("ffi")

ffi.cdef [[
struct bench_timespec { long tv_sec; long tv_nsec; };
int clock_gettime(int clock_id, struct bench_timespec *tp);
int getpid(void);
int gettid(void);
int usleep(unsigned int usec);
struct bench_timeval { long tv_sec; long tv_usec; };
struct bench_rusage {
	struct bench_timeval ru_utime;
	struct bench_timeval ru_stime;
	long ru_other[14];
};
int getrusage(int who, struct bench_rusage *usage);
]]

local CLOCK_MONOTONIC = 1
local timespec = ffi.new("struct bench_timespec")

local function now_us()
	ffi.C.clock_gettime(CLOCK_MONOTONIC, timespec)
	return tonumber(timespec.tv_sec) * 1000000 +
		math.floor(tonumber(timespec.tv_nsec) / 1000)
end

local RUSAGE_SELF = 0
local rusage = ffi.new("struct bench_rusage")

-- User + system time of the whole wrk process, in microseconds.
local function process_cpu_us()
	ffi.C.getrusage(RUSAGE_SELF, rusage)
	return (tonumber(rusage.ru_utime.tv_sec) +
		tonumber(rusage.ru_stime.tv_sec)) * 1000000 +
		tonumber(rusage.ru_utime.tv_usec) +
		tonumber(rusage.ru_stime.tv_usec)
end

local threads = {}

function setup(thread)
	thread:set("tid", #threads)
	table.insert(threads, thread)
end

local bodies = {}
local next_body = 1
local go_path = nil
local started = false

-- Globals, so that done() can read them with thread:get().
answered = 0
non200 = 0
overflow = 0
exhausted = 0
first_us = -1
last_us = -1
start_cpu_us = -1

local function load_bodies(path, tid, tcount)
	local f = assert(io.open(path, "rb"))
	local data = f:read("*a")
	f:close()

	local i = 0
	for body in data:gmatch("(.-)\n\030\n") do
		if i % tcount == tid then
			bodies[#bodies + 1] = body
		end
		i = i + 1
	end
	assert(#bodies > 0, "no bodies for thread " .. tid .. " in " .. path)
end

function init(args)
	local tcount = tonumber(os.getenv("BENCH_THREADS") or "")

	assert(tcount ~= nil and tcount > 0, "BENCH_THREADS is not set")
	load_bodies(assert(os.getenv("BENCH_BODIES"), "BENCH_BODIES is not set"),
		tid, tcount)
	go_path = assert(os.getenv("BENCH_COUNTS"), "BENCH_COUNTS is not set") ..
		".go"
	if tid == tcount - 1 then
		assert(io.open(go_path, "w")):close()
	end
	wrk.method = "POST"
	wrk.headers["Content-Type"] = "text/plain; charset=UTF-8"
	wrk.headers["x-amz-sns-message-type"] = "Notification"
	wrk.headers["User-Agent"] = "Amazon Simple Notification Service Agent"
end

-- Waits until every thread has run init().
local function wait_for_start()
	while true do
		local f = io.open(go_path, "r")
		if f ~= nil then
			f:close()
			return
		end
		ffi.C.usleep(1000)
	end
end

function request()
	if ffi.C.gettid() == ffi.C.getpid() then
		-- wrk's main thread builds one request to check its syntax
		-- before the run and never sends it: no body is used up.
		return wrk.format(nil, nil, nil, bodies[1])
	end
	if not started then
		wait_for_start()
		started = true
		first_us = now_us()
		start_cpu_us = process_cpu_us()
	end
	if next_body > #bodies then
		-- Every body is sent and response() has stopped this thread's
		-- event loop, but a connection that became writable in the same
		-- loop pass still requests one.  A GET of /healthz is no
		-- duplicate notification, and its response is never read.
		overflow = overflow + 1
		return wrk.format("GET", "/healthz", nil, nil)
	end
	local body = bodies[next_body]

	next_body = next_body + 1
	return wrk.format(nil, nil, nil, body)
end

function response(status, headers, body)
	last_us = now_us()
	answered = answered + 1
	if status ~= 200 then
		non200 = non200 + 1
	end
	if next_body > #bodies and exhausted == 0 then
		exhausted = 1
		wrk.thread:stop()
	end
end

function done(summary, latency, requests)
	local total = { answered = 0, non200 = 0, overflow = 0, exhausted = 0 }
	local first, last, start_cpu = -1, -1, -1

	for _, t in ipairs(threads) do
		for name, _ in pairs(total) do
			total[name] = total[name] + t:get(name)
		end
		local f, l = t:get("first_us"), t:get("last_us")
		if f >= 0 and (first < 0 or f < first) then
			first = f
		end
		if l > last then
			last = l
		end
		local c = t:get("start_cpu_us")
		if c >= 0 and (start_cpu < 0 or c < start_cpu) then
			start_cpu = c
		end
	end
	local window = 0
	if first >= 0 and last > first then
		window = last - first
	end
	local cpu = 0
	if start_cpu >= 0 then
		cpu = process_cpu_us() - start_cpu
	end
	local path = os.getenv("BENCH_COUNTS")
	if path ~= nil then
		local f = assert(io.open(path, "w"))
		f:write(string.format(
			"answered=%d non200=%d window_us=%d exhausted=%d overflow=%d cpu_us=%d\n",
			total.answered, total.non200, window, total.exhausted,
			total.overflow, cpu))
		f:close()
	end
end
