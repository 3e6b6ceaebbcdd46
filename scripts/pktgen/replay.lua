-- replay.lua: replay an `appliance gen` profile through the appliance with Pktgen-DPDK and
-- sample the appliance's accumulation capacity while it runs.
--
--   ACP_CLIENT_PCAP=client.pcap ACP_SERVER_PCAP=server.pcap ACP_PPS=1000000 \
--   pktgen -l 0-4 -n 4 -a 0000:3b:00.0 -a 0000:3b:00.1 -- -P -m "[1:2].0,[3:4].1" \
--       -s 0:client.pcap -s 1:server.pcap -f scripts/pktgen/replay.lua
--
-- Pktgen passes no arguments to a script, so it reads environment variables:
--
--   ACP_CLIENT_PCAP / ACP_SERVER_PCAP  the files given to -s (to size the rates), default
--                                      client.pcap / server.pcap
--   ACP_CLIENT_PORT / ACP_SERVER_PORT  pktgen ports cabled to the appliance's client-side /
--                                      server-side port, default 0 / 1
--   ACP_PPS          frames per second sent on EACH port (default 100000); both ports must
--                    send the same frame rate for a lockstep profile to stay in step
--   ACP_RATE         instead of ACP_PPS: the same pktgen rate (percent) on both ports
--   ACP_LINK_MBPS    link speed used to turn ACP_PPS into pktgen's percent (default 10000)
--   ACP_DURATION     seconds to send (default 60)
--   ACP_INTERVAL     seconds between samples (default 5)
--   ACP_LOCKSTEP     the profile's --lockstep round in frames (default 1024; 0: not a
--                    lockstep profile, no step keeping)
--   ACP_CTL          command printing `show accumulation` as JSON; default
--                    "appliancectl --json show accumulation"; on a separate pktgen box e.g.
--                    "ssh root@appliance appliancectl --json show accumulation"
--   ACP_CSV          also append the samples to this CSV file
--   ACP_QUIT         1: quit pktgen at the end (default: stay at the prompt)

package.path = package.path .. ";?.lua;test/?.lua;app/?.lua;"
pcall(require, "Pktgen") -- pktgen's helpers, when run from its source tree; not needed

local function env(name, default)
    local v = os.getenv(name)
    if v == nil or v == "" then
        return default
    end
    return v
end

local client_pcap = env("ACP_CLIENT_PCAP", "client.pcap")
local server_pcap = env("ACP_SERVER_PCAP", "server.pcap")
local cport = env("ACP_CLIENT_PORT", "0")
local sport = env("ACP_SERVER_PORT", "1")
local pps = tonumber(env("ACP_PPS", "100000"))
local fixed_rate = tonumber(env("ACP_RATE", ""))
local link_mbps = tonumber(env("ACP_LINK_MBPS", "10000"))
local duration = tonumber(env("ACP_DURATION", "60"))
local interval = tonumber(env("ACP_INTERVAL", "5"))
local lockstep = tonumber(env("ACP_LOCKSTEP", "1024"))
local ctl = env("ACP_CTL", "appliancectl --json show accumulation")
local csv_path = env("ACP_CSV", nil)
local quit_at_end = env("ACP_QUIT", "0") == "1"
local ports = cport .. "," .. sport

-- Frames and average frame length (without FCS) of a classic pcap file.
local function pcap_stats(path)
    local f, err = io.open(path, "rb")
    if not f then
        return nil, err
    end
    local hdr = f:read(24)
    if not hdr or #hdr < 24 then
        f:close()
        return nil, path .. ": not a pcap file"
    end
    local magic = string.unpack("<I4", hdr)
    local endian
    if magic == 0xa1b2c3d4 or magic == 0xa1b23c4d then
        endian = "<"
    elseif magic == 0xd4c3b2a1 or magic == 0x4d3cb2a1 then
        endian = ">"
    else
        f:close()
        return nil, path .. ": not a classic pcap file (pcapng is not supported by pktgen)"
    end
    local frames, bytes = 0, 0
    while true do
        local rec = f:read(16)
        if not rec or #rec < 16 then
            break
        end
        local _, _, incl = string.unpack(endian .. "I4I4I4", rec)
        f:seek("cur", incl)
        frames = frames + 1
        -- Pktgen pads short frames to 60 bytes and cuts long ones at 1514.
        bytes = bytes + math.max(60, math.min(incl, 1514))
    end
    f:close()
    if frames == 0 then
        return nil, path .. ": no frames"
    end
    return {frames = frames, avg = bytes / frames}
end

-- Pktgen's rate is a percentage of the link's bit rate, frames counted with preamble,
-- inter-frame gap and FCS (24 bytes on top of the frame).
local function percent_for(pps_wanted, avg_len)
    return pps_wanted * (avg_len + 24) * 8 / (link_mbps * 1e6) * 100
end

-- One number from the JSON of `show accumulation`; the nested "counters" and "workers"
-- are cut out first so only top-level fields match.
local function json_field(text, key)
    local v = text:match('"' .. key .. '"%s*:%s*(-?[%d%.]+)')
    return v and tonumber(v) or nil
end

local acc_fields = {"packetlimit", "capacity_sessions", "active_sessions", "peak_sessions",
                    "slots_in_use", "memory_bytes"}

local function sample_accumulation()
    local p = io.popen(ctl .. " 2>/dev/null")
    if not p then
        return nil
    end
    local out = p:read("*a") or ""
    p:close()
    out = out:gsub('"counters"%s*:%s*%b{}', ""):gsub('"workers"%s*:%s*%b[]', "")
    local r = {}
    for _, k in ipairs(acc_fields) do
        r[k] = json_field(out, k)
    end
    if r.capacity_sessions == nil then
        return nil
    end
    return r
end

local function fmt(v)
    if v == nil then
        return "-"
    end
    return string.format("%d", v)
end

-- Rates.
local cs, err1 = pcap_stats(client_pcap)
local ss, err2 = pcap_stats(server_pcap)
local rate_c, rate_s
if fixed_rate then
    rate_c, rate_s = fixed_rate, fixed_rate
elseif cs and ss then
    rate_c, rate_s = percent_for(pps, cs.avg), percent_for(pps, ss.avg)
else
    print("replay.lua: " .. tostring(err1 or err2) .. "; set ACP_CLIENT_PCAP / ACP_SERVER_PCAP or ACP_RATE")
    return
end
if rate_c > 100 or rate_s > 100 then
    print(string.format("replay.lua: %d frames/s per port needs %.1f%% / %.1f%% of a %d Mb/s link: lower ACP_PPS",
        pps, rate_c, rate_s, link_mbps))
    return
end
if cs and ss and cs.frames ~= ss.frames and lockstep > 0 then
    print(string.format("replay.lua: warning: %s has %d frames and %s %d: not a lockstep pair, "
        .. "sessions will drift out of order", client_pcap, cs.frames, server_pcap, ss.frames))
end

local csv
if csv_path then
    csv = io.open(csv_path, "a")
    if csv and csv:seek("end") == 0 then
        csv:write("time,elapsed_s,client_tx_pps,server_tx_pps,client_rx_pps,server_rx_pps,step_skew,"
            .. table.concat(acc_fields, ",") .. "\n")
    end
end

print(string.format("replay.lua: client port %s rate %.3f%%, server port %s rate %.3f%% (%s frames/s each, %d Mb/s link), %d s, samples every %d s",
    cport, rate_c, sport, rate_s, fixed_rate and "?" or tostring(pps), link_mbps, duration, interval))

pktgen.stop("all")
pktgen.clr()
pktgen.set(ports, "count", 0) -- forever
pktgen.set(cport, "rate", rate_c)
pktgen.set(sport, "rate", rate_s)
pktgen.pcap(ports, "on")

local first = sample_accumulation()
if first then
    print(string.format("before: packetlimit %s, capacity %s sessions, active %s, peak %s, memory %s bytes",
        fmt(first.packetlimit), fmt(first.capacity_sessions), fmt(first.active_sessions),
        fmt(first.peak_sessions), fmt(first.memory_bytes)))
else
    print("replay.lua: no answer from '" .. ctl .. "' (continuing without capacity samples)")
end

print(string.format("%8s %12s %12s %12s %12s %8s %10s %10s %10s %10s",
    "elapsed", "c_tx_pps", "s_tx_pps", "c_rx_pps", "s_rx_pps", "skew",
    "capacity", "active", "peak", "slots"))

pktgen.start(ports)

local c, s = tonumber(cport), tonumber(sport)
local prev = pktgen.portStats(ports, "port")
local elapsed = 0
local peak = 0
local rate_c_now = rate_c
while elapsed < duration do
    pktgen.delay(interval * 1000)
    elapsed = elapsed + interval
    local now = pktgen.portStats(ports, "port")
    local function rate(pid, field)
        return (now[pid][field] - prev[pid][field]) / interval
    end
    -- Frames the client port is ahead of the server port in its file.
    local skew = now[c].opackets - now[s].opackets
    local a = sample_accumulation() or {}
    if a.peak_sessions and a.peak_sessions > peak then
        peak = a.peak_sessions
    end
    print(string.format("%7ds %12.0f %12.0f %12.0f %12.0f %8d %10s %10s %10s %10s",
        elapsed, rate(c, "opackets"), rate(s, "opackets"), rate(c, "ipackets"), rate(s, "ipackets"),
        skew, fmt(a.capacity_sessions), fmt(a.active_sessions), fmt(a.peak_sessions), fmt(a.slots_in_use)))
    if csv then
        local row = {os.date("!%Y-%m-%dT%H:%M:%SZ"), elapsed, rate(c, "opackets"), rate(s, "opackets"),
                     rate(c, "ipackets"), rate(s, "ipackets"), skew}
        for _, k in ipairs(acc_fields) do
            row[#row + 1] = a[k] or ""
        end
        csv:write(table.concat(row, ",") .. "\n")
        csv:flush()
    end
    -- Keep the two replays in step: a port's frame rate is not exactly what its percentage
    -- asks for, so steer the client port's rate to close the gap (measured in frames) over
    -- the next interval, staying within 2% of its base rate.
    if lockstep > 0 and not fixed_rate then
        local c_pps, s_pps = rate(c, "opackets"), rate(s, "opackets")
        if c_pps > 0 and s_pps > 0 then
            local per_percent = c_pps / rate_c_now
            local want = (s_pps - skew / interval) / per_percent
            rate_c_now = math.max(rate_c * 0.98, math.min(rate_c * 1.02, want))
            pktgen.set(cport, "rate", rate_c_now)
        end
        if math.abs(skew) > lockstep then
            print(string.format("replay.lua: WARNING: the ports are %d frames apart, more than a "
                .. "round (%d): sessions reach the appliance out of order", skew, lockstep))
        end
    end
    prev = now
end

pktgen.stop(ports)
pktgen.delay(1000)
local last = sample_accumulation()
local total = pktgen.portStats(ports, "port")
print(string.format("sent: client port %d frames, server port %d frames; received: client port %d, server port %d",
    total[c].opackets, total[s].opackets, total[c].ipackets, total[s].ipackets))
if last then
    print(string.format("after: packetlimit %s, capacity %s sessions, active %s, peak %s (peak seen while sampling %d), memory %s bytes",
        fmt(last.packetlimit), fmt(last.capacity_sessions), fmt(last.active_sessions),
        fmt(last.peak_sessions), peak, fmt(last.memory_bytes)))
end
if csv then
    csv:close()
end
if quit_at_end then
    pktgen.quit()
end
