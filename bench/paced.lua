-- Paces each connection so that all of them together send about `rate` requests a second.
local rate = tonumber(os.getenv("WRK_RATE") or "500")
local connections = tonumber(os.getenv("WRK_CONNECTIONS") or "10")
function delay()
  return 1000 * connections / rate
end
