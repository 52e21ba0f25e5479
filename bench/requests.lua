-- wrk script: cycles through the requests of a file, one per line,
-- METHOD<TAB>PATH<TAB>TOKEN<TAB>BODY ("-" for no token or no body; the same file
-- bench/rate.rs reads), and prints one machine-readable summary line.
-- Usage: wrk -s bench/requests.lua URL -- FILE

local requests = {}
local next_index = 1
local threads = 0

-- Runs in the main state, once per thread, before init: numbers the threads.
function setup(thread)
  thread:set("thread_number", threads)
  threads = threads + 1
end

function init(args)
  local file = assert(io.open(args[1], "r"), "cannot open " .. tostring(args[1]))
  for line in file:lines() do
    local method, path, token, body = line:match("^([^\t]+)\t([^\t]+)\t([^\t]+)\t(.*)$")
    if method then
      local headers = {}
      if token ~= "-" then headers["Authorization"] = "Bearer " .. token end
      if body == "-" then
        body = nil
      else
        headers["Content-Type"] = "application/json"
      end
      requests[#requests + 1] = wrk.format(method, path, headers, body)
    end
  end
  file:close()
  assert(#requests > 0, "no requests in " .. args[1])
  -- Threads start at different places in the list.
  next_index = ((thread_number or 0) * 17) % #requests + 1
end

function request()
  local r = requests[next_index]
  next_index = next_index % #requests + 1
  return r
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests":%d,"duration_s":%.3f,"rps":%.1f,"p50_ms":%.3f,"p99_ms":%.3f,"max_ms":%.3f,"non_2xx":%d,"socket_errors":%d}\n',
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000,
    e.status, e.connect + e.read + e.write + e.timeout))
end
