-- wrk script: POST /v1/alerts with a distinct dedup key per request (~300-byte body).
-- Usage: wrk -t2 -c64 -d20s --latency -s bench/scripts/trigger.lua http://127.0.0.1:8470
local counter = 0
local thread_id = 0
local threads = {}

function setup(thread)
  thread:set("tid", thread_id)
  thread_id = thread_id + 1
  table.insert(threads, thread)
end

function init(args)
  wrk.method = "POST"
  wrk.path = "/v1/alerts"
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  counter = counter + 1
  local body = string.format(
    '{"service":"checkout-api","dedup_key":"k-%d-%d","summary":"p99 latency above SLO on checkout for 5 minutes","severity":"critical","details":{"host":"web-%d","region":"eu-west-1","runbook":"https://runbooks.example/checkout-latency"}}',
    tid, counter, counter % 50)
  return wrk.format(nil, nil, nil, body)
end
