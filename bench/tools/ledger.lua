-- wrk script for `bench/run faults`: counts the requests one run sent and the responses it got
-- back by status class, and prints them with wrk's errors by kind as one line from done():
--   ledger sent=N 1xx=N 2xx=N 3xx=N 4xx=N 5xx=N connect=N read=N write=N timeout=N p99_us=N
-- wrk itself reports only "Non-2xx or 3xx responses". Each wrk thread runs its own Lua state:
-- setup() keeps the threads so that done() can sum their counters. Defining request() and
-- response() costs wrk some speed; this is for fault runs, not for CPU-per-request figures.

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  sent, s1, s2, s3, s4, s5 = 0, 0, 0, 0, 0, 0
  raw = wrk.format()
end

function request()
  sent = sent + 1
  return raw
end

function response(status, headers, body)
  if status < 200 then
    s1 = s1 + 1
  elseif status < 300 then
    s2 = s2 + 1
  elseif status < 400 then
    s3 = s3 + 1
  elseif status < 500 then
    s4 = s4 + 1
  else
    s5 = s5 + 1
  end
end

function done(summary, latency, requests)
  local n = { sent = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0 }
  for _, t in ipairs(threads) do
    for k in pairs(n) do
      n[k] = n[k] + t:get(k)
    end
  end
  local e = summary.errors
  io.write(string.format(
    "ledger sent=%d 1xx=%d 2xx=%d 3xx=%d 4xx=%d 5xx=%d connect=%d read=%d write=%d timeout=%d p99_us=%d\n",
    n.sent, n.s1, n.s2, n.s3, n.s4, n.s5, e.connect, e.read, e.write, e.timeout,
    latency:percentile(99)))
end
