-- mock_pktgen.lua: a stand-in for Pktgen-DPDK's `pktgen` Lua table, so replay.lua can be
-- dry-run with a plain Lua 5.3 interpreter (scripts/pktgen/selftest). Time is simulated:
-- pktgen.delay(ms) advances a clock and every started port "sends" frames at the rate its
-- percentage gives for the average frame size of its pcap (ACP_CLIENT_PCAP for port 0,
-- ACP_SERVER_PCAP for port 1), the client port MOCK_DRIFT (default 0.01) percent fast to
-- exercise step keeping.
-- Every call is logged to stderr.

local M = {}
local link_bps = tonumber(os.getenv("ACP_LINK_MBPS") or "10000") * 1e6
local drift = tonumber(os.getenv("MOCK_DRIFT") or "0.01") / 100
local state = {}

-- Average frame length of a pcap (as pktgen sees it: 60..1514 bytes).
local function pcap_avg(path)
    local f = path and io.open(path, "rb")
    if not f then
        return 300
    end
    f:read(24)
    local frames, bytes = 0, 0
    while true do
        local rec = f:read(16)
        if not rec or #rec < 16 then
            break
        end
        local _, _, incl = string.unpack("<I4I4I4", rec)
        f:seek("cur", incl)
        frames, bytes = frames + 1, bytes + math.max(60, math.min(incl, 1514))
    end
    f:close()
    return frames > 0 and bytes / frames or 300
end

local files = {[0] = os.getenv("ACP_CLIENT_PCAP"), [1] = os.getenv("ACP_SERVER_PCAP")}

local function port(pid)
    pid = tonumber(pid)
    if not state[pid] then
        state[pid] = {rate = 100, sending = false, opackets = 0, ipackets = 0, pcap = false,
                      avg = pcap_avg(files[pid])}
    end
    return state[pid]
end

local function each(list, f)
    if list == "all" then
        list = "0,1"
    end
    for p in tostring(list):gmatch("%d+") do
        f(tonumber(p), port(p))
    end
end

local function log(...)
    io.stderr:write("[mock pktgen] " .. string.format(...) .. "\n")
end

function M.stop(list) log("stop %s", list); each(list, function(_, p) p.sending = false end) end
function M.start(list) log("start %s", list); each(list, function(_, p) p.sending = true end) end
function M.clr() log("clr"); for _, p in pairs(state) do p.opackets, p.ipackets = 0, 0 end end
function M.pcap(list, what) log("pcap %s %s", list, what); each(list, function(_, p) p.pcap = what == "on" end) end
function M.quit() log("quit") end

function M.set(list, what, value)
    log("set %s %s %s", list, what, tostring(value))
    if what == "rate" then
        each(list, function(_, p) p.rate = tonumber(value) end)
    end
end

function M.delay(ms)
    local secs = ms / 1000
    local sent = {}
    for pid, p in pairs(state) do
        if p.sending then
            local pps = p.rate / 100 * link_bps / ((p.avg + 24) * 8)
            if pid == 0 then
                pps = pps * (1 + drift)
            end
            sent[pid] = math.floor(pps * secs)
            p.opackets = p.opackets + sent[pid]
        end
    end
    -- The appliance forwards each port's frames out of the other one.
    for pid, n in pairs(sent) do
        local other = port(pid == 0 and 1 or 0)
        other.ipackets = other.ipackets + n
    end
end

function M.portStats(list, _kind)
    local t = {n = 0}
    each(list, function(pid, p)
        t[pid] = {opackets = p.opackets, ipackets = p.ipackets, obytes = 0, ibytes = 0,
                  ierrors = 0, oerrors = 0, rx_nombuf = 0, imissed = 0}
        t.n = t.n + 1
    end)
    return t
end

return M
