-- wrk script: POST /api/v1/dispatch with a fresh task_id per request.
-- The work type routes to an agent type nobody serves, so only dispatch is measured.
math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
local hex = "0123456789abcdef"

local function uuid4()
  local t = {}
  for i = 1, 32 do
    local r = math.random(1, 16)
    if i == 13 then r = 5 elseif i == 17 then r = 9 + (r % 4) end
    t[#t + 1] = hex:sub(r, r)
  end
  local s = table.concat(t)
  return s:sub(1, 8) .. "-" .. s:sub(9, 12) .. "-" .. s:sub(13, 16) .. "-" .. s:sub(17, 20) .. "-" .. s:sub(21, 32)
end

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local work_type = os.getenv("BENCH_WORK_TYPE") or "bench"

request = function()
  local body = '{"task_id":"' .. uuid4() .. '","work_type":"' .. work_type ..
    '","parameters":{"n":1},"priority":' .. math.random(1, 5) .. '}'
  return wrk.format(nil, "/api/v1/dispatch", nil, body)
end

-- BENCH_REQUESTS_PER_THREAD: stop each thread after that many answers (a fixed amount of
-- work per run, whatever the machine's speed), within wrk's duration.
local cap = tonumber(os.getenv("BENCH_REQUESTS_PER_THREAD") or "")
local answered = 0
local errors = 0
response = function(status, headers, body)
  answered = answered + 1
  if cap and answered >= cap then wrk.thread:stop() end
  if status ~= 200 then
    errors = errors + 1
    if errors <= 3 then io.stderr:write("non-200: " .. status .. " " .. body .. "\n") end
  end
end
