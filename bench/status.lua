-- wrk script: GET /api/v1/status/<id>, the id picked at random from BENCH_IDS_FILE (one a line).
math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
local ids = {}
local path = os.getenv("BENCH_IDS_FILE") or error("set BENCH_IDS_FILE")
for line in io.lines(path) do
  if #line > 0 then ids[#ids + 1] = line end
end
if #ids == 0 then error("no ids in " .. path) end

request = function()
  return wrk.format("GET", "/api/v1/status/" .. ids[math.random(1, #ids)])
end

local errors = 0
response = function(status, headers, body)
  if status ~= 200 then
    errors = errors + 1
    if errors <= 3 then io.stderr:write("non-200: " .. status .. " " .. body .. "\n") end
  end
end
