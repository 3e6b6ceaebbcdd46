//! Sessions: the address plan, one TCP session's frames, background UDP, and the scheduler
//! that interleaves sessions into one timeline.
//!
//! Each session's content depends only on the seed and its number (it draws from its own
//! random stream), so changing `--interleave` or `--udp-ratio` changes the order and the
//! timestamps of frames, never a session's bytes.

use super::frame::{self, Ethernet, Ip, Tcp, TcpOption, Udp, ACK, FIN, PSH, RST, SYN};
use super::hello::{self, HelloSpec};
use super::rng::Rng;
use super::{
    Close, Direction, Frame, GenArgs, GenSummary, HelloSizes, PqMode, SessionSummary, MAX_MSS,
    MAX_SESSIONS, MIN_MSS,
};
use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Start of the capture: 2023-11-14T22:13:20Z (a fixed time keeps files reproducible).
pub const BASE_TS_US: u64 = 1_700_000_000_000_000;
/// Segments a client sends before it waits for an ACK (Linux initial congestion window).
pub const INITIAL_WINDOW: usize = 10;
/// Bytes the timestamps option takes in every segment (NOP, NOP, kind 8).
pub const TS_OPTION_LEN: usize = 12;
/// Client ports used: 1024..=65535.
pub const CLIENT_PORTS: u32 = 64_512;
/// Hosts usable in a /16 (`.0.0` and `.255.255` excluded).
pub const HOSTS_PER_NET: u32 = 65_534;
/// Multiplier that permutes client ports (coprime with 64512 = 2^10 * 3^2 * 7).
const PORT_STRIDE: u64 = 40_507;
/// UDP payload of a QUIC Initial (clients pad to at least 1200 bytes, RFC 9000 §14.1).
const QUIC_INITIAL_LEN: usize = 1_200;
/// Largest gap between two frames, in microseconds.
const MAX_GAP_US: u64 = 50;

/// Validated generation parameters.
#[derive(Clone, Debug)]
pub(crate) struct Plan {
    pub(crate) sessions: u32,
    sizes: Sizes,
    mss: u16,
    client_syn_mss: u16,
    server_mss: bool,
    timestamps: bool,
    pub(crate) ipv6: bool,
    pub(crate) vlan: Option<u16>,
    pub(crate) seed: u64,
    reorder_ratio: f64,
    retransmit_ratio: f64,
    rst_ratio: f64,
    pub(crate) udp_ratio: f64,
    sni_pattern: String,
    alpn: Vec<String>,
    ticket_len: usize,
    psk_identity_len: Option<usize>,
    ech_len: Option<usize>,
    pq: PqMode,
    pub(crate) dst_port: u16,
    pub(crate) interleave: u32,
    clients: u32,
    servers: u32,
    client_hosts: u32,
    port_offset: u64,
}

#[derive(Clone, Debug)]
enum Sizes {
    Natural,
    Fixed(usize),
    Dist(HelloSizes),
}

fn ratio(name: &str, v: f64) -> Result<f64, String> {
    if v.is_finite() && (0.0..=1.0).contains(&v) {
        Ok(v)
    } else {
        Err(format!("--{name} {v} is not in [0, 1]"))
    }
}

impl Plan {
    /// Checks every argument (they may come from code, not only from clap).
    pub(crate) fn new(a: &GenArgs) -> Result<Self, String> {
        if !(1..=MAX_SESSIONS).contains(&a.sessions) {
            return Err(format!("--sessions must be 1..={MAX_SESSIONS}"));
        }
        let sizes = match (&a.hello_size, &a.hello_sizes) {
            (Some(_), Some(_)) => {
                return Err("--hello-size and --hello-sizes are exclusive".to_string())
            }
            (Some(s), None) => Sizes::Fixed(*s),
            (None, Some(d)) => {
                if d.entries.is_empty() || d.entries.iter().any(|e| e.1 == 0) {
                    return Err("--hello-sizes needs entries with weights above 0".to_string());
                }
                Sizes::Dist(d.clone())
            }
            (None, None) => Sizes::Natural,
        };
        let mss = match a.mss {
            Some(m) if !(MIN_MSS..=MAX_MSS).contains(&m) => {
                return Err(format!("--mss must be {MIN_MSS}..={MAX_MSS}"))
            }
            Some(m) => m,
            None => match (a.no_server_mss, a.ipv6) {
                (true, false) => 536,
                (true, true) => 1220,
                (false, false) => 1460,
                (false, true) => 1440,
            },
        };
        let own_mss = if a.ipv6 { 1440 } else { 1460 };
        if let Some(v) = a.vlan {
            if v > frame::VLAN_ID_MAX {
                return Err(format!("--vlan must be 0..={}", frame::VLAN_ID_MAX));
            }
        }
        let udp_ratio = ratio("udp-ratio", a.udp_ratio)?;
        if udp_ratio >= 1.0 {
            return Err("--udp-ratio must be below 1".to_string());
        }
        if a.sni_pattern.is_empty() {
            return Err("--sni-pattern is empty".to_string());
        }
        if a.dst_port == 0 {
            return Err("--dst-port must not be 0".to_string());
        }
        if !(1..=65_536).contains(&a.interleave) {
            return Err("--interleave must be 1..=65536".to_string());
        }
        if !(1..=4_096).contains(&a.clients) {
            return Err("--clients must be 1..=4096".to_string());
        }
        if !(1..=HOSTS_PER_NET).contains(&a.servers) {
            return Err(format!("--servers must be 1..={HOSTS_PER_NET}"));
        }
        // Each block of 64512 sessions uses `clients` fresh addresses.
        let rounds = (a.sessions - 1) / CLIENT_PORTS + 1;
        let client_hosts = rounds * a.clients;
        if client_hosts > HOSTS_PER_NET {
            return Err(format!(
                "{} sessions over {} clients need {client_hosts} client addresses, more than \
                 a /16 holds; lower --clients",
                a.sessions, a.clients
            ));
        }
        let alpn = a
            .alpn
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(str::to_string)
            .collect();
        let mut rng = Rng::derive(a.seed, u64::MAX);
        Ok(Plan {
            sessions: a.sessions,
            sizes,
            mss,
            client_syn_mss: mss.max(own_mss),
            server_mss: !a.no_server_mss,
            timestamps: a.timestamps,
            ipv6: a.ipv6,
            vlan: a.vlan,
            seed: a.seed,
            reorder_ratio: ratio("reorder-ratio", a.reorder_ratio)?,
            retransmit_ratio: ratio("retransmit-ratio", a.retransmit_ratio)?,
            rst_ratio: ratio("rst-ratio", a.rst_ratio)?,
            udp_ratio,
            sni_pattern: a.sni_pattern.clone(),
            alpn,
            ticket_len: a.ticket_len,
            psk_identity_len: a.psk_identity_len,
            ech_len: a.ech_len,
            pq: a.pq,
            dst_port: a.dst_port,
            interleave: a.interleave,
            clients: a.clients,
            servers: a.servers,
            client_hosts,
            port_offset: rng.below(u64::from(CLIENT_PORTS)),
        })
    }

    /// Client payload bytes per segment.
    fn client_segment(&self) -> usize {
        usize::from(self.mss) - if self.timestamps { TS_OPTION_LEN } else { 0 }
    }

    /// Server payload bytes per segment (it honours the client's advertised MSS).
    fn server_segment(&self) -> usize {
        usize::from(self.client_syn_mss) - if self.timestamps { TS_OPTION_LEN } else { 0 }
    }

    /// Client host number (1-based) of session `i`.
    pub(crate) fn client_host(&self, i: u32) -> u32 {
        (i / CLIENT_PORTS) * self.clients + i % self.clients + 1
    }

    /// Client port of session `i`: distinct within each block of 64512 sessions.
    pub(crate) fn client_port(&self, i: u32) -> u16 {
        let slot = (u64::from(i) * PORT_STRIDE + self.port_offset) % u64::from(CLIENT_PORTS);
        1024 + slot as u16
    }

    pub(crate) fn server_host(&self, i: u32) -> u32 {
        i % self.servers + 1
    }

    pub(crate) fn client_addr(&self, host: u32) -> IpAddr {
        address(self.ipv6, true, host)
    }

    pub(crate) fn server_addr(&self, host: u32) -> IpAddr {
        address(self.ipv6, false, host)
    }
}

/// Client hosts live in 198.18.0.0/16 or 2001:2:0:1::/64, servers in 198.19.0.0/16 or
/// 2001:2:0:2::/64 (benchmarking ranges, RFC 2544 / RFC 5180).
pub fn address(ipv6: bool, client: bool, host: u32) -> IpAddr {
    if ipv6 {
        let subnet = if client { 1 } else { 2 };
        IpAddr::V6(Ipv6Addr::new(
            0x2001,
            2,
            0,
            subnet,
            0,
            0,
            (host >> 16) as u16,
            host as u16,
        ))
    } else {
        let net = if client { 18 } else { 19 };
        IpAddr::V4(Ipv4Addr::new(198, net, (host >> 8) as u8, host as u8))
    }
}

/// A locally administered unicast MAC for a host: 02:00:00:01:hh:hh for clients,
/// 02:00:00:02:hh:hh for servers.
pub fn mac(client: bool, host: u32) -> frame::Mac {
    [
        0x02,
        0,
        (host >> 16) as u8,
        if client { 1 } else { 2 },
        (host >> 8) as u8,
        host as u8,
    ]
}

/// A frame before scheduling.
#[derive(Clone, Debug)]
pub(crate) struct Pending {
    pub(crate) direction: Direction,
    pub(crate) bytes: Vec<u8>,
}

/// One end of a TCP connection.
struct Side {
    mac: frame::Mac,
    addr: IpAddr,
    port: u16,
    ip_id: u16,
    ttl: u8,
    flow_label: u32,
    ts_val: u32,
    peer_ts: u32,
    syn_window: u16,
    window: u16,
    wscale: u8,
}

/// What kind of options a segment carries.
#[derive(Clone, Copy)]
enum Opts {
    /// SYN or SYN-ACK, with or without MSS.
    Syn(Option<u16>),
    /// Any later segment.
    Data,
}

struct SessionFrames<'a> {
    plan: &'a Plan,
    client: Side,
    server: Side,
    out: VecDeque<Pending>,
}

impl SessionFrames<'_> {
    fn send(
        &mut self,
        direction: Direction,
        seq: u32,
        ack: u32,
        flags: u8,
        opts: Opts,
        payload: &[u8],
    ) -> Result<(), String> {
        let timestamps = self.plan.timestamps;
        let vlan = self.plan.vlan;
        let (from, to) = match direction {
            Direction::ClientToServer => (&mut self.client, &mut self.server),
            Direction::ServerToClient => (&mut self.server, &mut self.client),
        };
        let ts = TcpOption::Timestamps {
            val: from.ts_val,
            ecr: if flags & ACK != 0 { from.peer_ts } else { 0 },
        };
        let mut options = Vec::with_capacity(6);
        let window = match opts {
            Opts::Syn(mss) => {
                options.extend(mss.map(TcpOption::Mss));
                if timestamps {
                    options.extend([
                        TcpOption::SackPermitted,
                        ts,
                        TcpOption::Nop,
                        TcpOption::WindowScale(from.wscale),
                    ]);
                } else {
                    options.extend([
                        TcpOption::Nop,
                        TcpOption::WindowScale(from.wscale),
                        TcpOption::Nop,
                        TcpOption::Nop,
                        TcpOption::SackPermitted,
                    ]);
                }
                from.syn_window
            }
            Opts::Data => {
                if timestamps {
                    options.extend([TcpOption::Nop, TcpOption::Nop, ts]);
                }
                from.window
            }
        };
        to.peer_ts = from.ts_val;
        from.ts_val = from.ts_val.wrapping_add(1);
        let ip = Ip::between(
            from.addr,
            to.addr,
            from.ip_id,
            from.ttl,
            true,
            from.flow_label,
        )?;
        from.ip_id = from.ip_id.wrapping_add(1);
        let eth = Ethernet {
            dst: to.mac,
            src: from.mac,
            vlan,
            pad: true,
        };
        let tcp = Tcp {
            src_port: from.port,
            dst_port: to.port,
            seq,
            ack: if flags & ACK != 0 { ack } else { 0 },
            flags,
            window,
            options: &options,
            payload,
        };
        let bytes = frame::tcp_frame(&eth, &ip, &tcp).map_err(|e| e.to_string())?;
        self.out.push_back(Pending { direction, bytes });
        Ok(())
    }

    /// Sends `data` from one side in segments of `seg` bytes starting at `seq`, PSH on the
    /// last; returns the sequence number after it.
    fn send_data(
        &mut self,
        direction: Direction,
        seq: u32,
        ack: u32,
        data: &[u8],
        seg: usize,
    ) -> Result<u32, String> {
        let n = data.len().div_ceil(seg);
        let mut at = seq;
        for (k, chunk) in data.chunks(seg).enumerate() {
            let flags = if k + 1 == n { ACK | PSH } else { ACK };
            self.send(direction, at, ack, flags, Opts::Data, chunk)?;
            at = at.wrapping_add(chunk.len() as u32);
        }
        Ok(at)
    }
}

/// Builds session `i`: its frames in causal order and its summary.
pub(crate) fn build_session(
    plan: &Plan,
    i: u32,
) -> Result<(VecDeque<Pending>, SessionSummary), String> {
    use Direction::{ClientToServer as C2S, ServerToClient as S2C};
    let mut rng = Rng::derive(plan.seed, u64::from(i));

    let sni = plan.sni_pattern.replace("{n}", &i.to_string());
    let target = match &plan.sizes {
        Sizes::Natural => None,
        Sizes::Fixed(s) => Some(*s),
        Sizes::Dist(d) => Some(d.pick(u64::from(i), &mut rng)),
    };
    let mut spec = HelloSpec {
        sni: sni.clone(),
        alpn: plan.alpn.clone(),
        ticket_len: plan.ticket_len,
        pq: plan.pq != PqMode::Off,
        target_size: target,
        psk_identity_len: plan.psk_identity_len,
        ech_payload_len: plan.ech_len,
        seed: rng.next_u64(),
    };
    if plan.pq == PqMode::Auto {
        if let Some(t) = target {
            let min = hello::min_wire_size(&spec).map_err(|e| format!("session {i}: {e}"))?;
            spec.pq = t >= min;
        }
    }
    let ch = hello::build(&spec).map_err(|e| format!("session {i}: {e}"))?;

    let c_host = plan.client_host(i);
    let s_host = plan.server_host(i);
    let c_port = plan.client_port(i);
    let ts_c = rng.next_u32();
    let ts_s = rng.next_u32();
    let client = Side {
        mac: mac(true, c_host),
        addr: plan.client_addr(c_host),
        port: c_port,
        ip_id: rng.next_u16(),
        ttl: 128,
        flow_label: rng.next_u32() & 0xf_ffff,
        ts_val: ts_c,
        peer_ts: 0,
        syn_window: 64_240,
        window: if plan.timestamps { 502 } else { 1026 },
        wscale: if plan.timestamps { 7 } else { 8 },
    };
    let server = Side {
        mac: mac(false, s_host),
        addr: plan.server_addr(s_host),
        port: plan.dst_port,
        ip_id: rng.next_u16(),
        ttl: 64,
        flow_label: rng.next_u32() & 0xf_ffff,
        ts_val: ts_s,
        peer_ts: 0,
        syn_window: if plan.timestamps { 65_160 } else { 65_535 },
        window: 509,
        wscale: 7,
    };
    let summary_client = SocketAddr::new(client.addr, client.port);
    let summary_server = SocketAddr::new(server.addr, server.port);
    let mut s = SessionFrames {
        plan,
        client,
        server,
        out: VecDeque::with_capacity(32),
    };

    // Three-way handshake.
    let c_isn = rng.next_u32();
    let s_isn = rng.next_u32();
    s.send(
        C2S,
        c_isn,
        0,
        SYN,
        Opts::Syn(Some(plan.client_syn_mss)),
        &[],
    )?;
    let server_mss = plan.server_mss.then_some(plan.mss);
    s.send(
        S2C,
        s_isn,
        c_isn.wrapping_add(1),
        SYN | ACK,
        Opts::Syn(server_mss),
        &[],
    )?;
    let mut c_seq = c_isn.wrapping_add(1);
    let mut s_seq = s_isn.wrapping_add(1);
    s.send(C2S, c_seq, s_seq, ACK, Opts::Data, &[])?;

    // ClientHello in bursts of the initial window, each acknowledged by the server.
    let seg = plan.client_segment();
    let chunks: Vec<&[u8]> = ch.bytes.chunks(seg).collect();
    let n = chunks.len();
    let reordered = n >= 2 && rng.chance(plan.reorder_ratio);
    let swap_at = if reordered {
        let p = rng.below(n as u64 - 1) as usize;
        // Keep the swapped pair inside one burst.
        Some(if (p + 1) % INITIAL_WINDOW == 0 {
            p - 1
        } else {
            p
        })
    } else {
        None
    };
    let retransmitted = rng.chance(plan.retransmit_ratio);
    let dup_of = retransmitted.then(|| rng.below(n as u64) as usize);
    let offset = |k: usize| c_seq.wrapping_add((k * seg) as u32);
    for burst_start in (0..n).step_by(INITIAL_WINDOW) {
        let burst_end = (burst_start + INITIAL_WINDOW).min(n);
        let mut order: Vec<usize> = (burst_start..burst_end).collect();
        if let Some(p) = swap_at {
            if (burst_start..burst_end).contains(&p) {
                order.swap(p - burst_start, p + 1 - burst_start);
            }
        }
        if let Some(q) = dup_of {
            if let Some(pos) = order.iter().position(|&k| k == q) {
                let after = pos + 1 + rng.below((order.len() - pos) as u64) as usize;
                order.insert(after, q);
            }
        }
        for k in order {
            let flags = if k + 1 == n { ACK | PSH } else { ACK };
            s.send(C2S, offset(k), s_seq, flags, Opts::Data, chunks[k])?;
        }
        let acked = (burst_end * seg).min(ch.bytes.len());
        s.send(
            S2C,
            s_seq,
            c_seq.wrapping_add(acked as u32),
            ACK,
            Opts::Data,
            &[],
        )?;
    }
    c_seq = c_seq.wrapping_add(ch.bytes.len() as u32);

    // Server flight, client Finished + request, server response, client ACK.
    let encrypted_len = 300 + rng.below(1_000) as usize;
    let flight = hello::server_flight(&mut rng, spec.pq, &ch.session_id, encrypted_len);
    s_seq = s.send_data(S2C, s_seq, c_seq, &flight, plan.server_segment())?;
    let request_len = 80 + rng.below(400) as usize;
    let finish = hello::client_finish(&mut rng, request_len);
    c_seq = s.send_data(C2S, c_seq, s_seq, &finish, seg)?;
    let response_len = 100 + rng.below(1_900) as usize;
    let response = hello::records(hello::CONTENT_APPDATA, &rng.bytes(response_len));
    s_seq = s.send_data(S2C, s_seq, c_seq, &response, plan.server_segment())?;
    s.send(C2S, c_seq, s_seq, ACK, Opts::Data, &[])?;

    // Close.
    let close = if rng.chance(plan.rst_ratio) {
        if rng.below(2) == 0 {
            Close::RstFromClient
        } else {
            Close::RstFromServer
        }
    } else {
        Close::Fin
    };
    match close {
        Close::RstFromClient => s.send(C2S, c_seq, s_seq, RST | ACK, Opts::Data, &[])?,
        Close::RstFromServer => s.send(S2C, s_seq, c_seq, RST | ACK, Opts::Data, &[])?,
        Close::Fin => {
            if rng.below(2) == 0 {
                s.send(C2S, c_seq, s_seq, FIN | ACK, Opts::Data, &[])?;
                c_seq = c_seq.wrapping_add(1);
                s.send(S2C, s_seq, c_seq, FIN | ACK, Opts::Data, &[])?;
                s_seq = s_seq.wrapping_add(1);
                s.send(C2S, c_seq, s_seq, ACK, Opts::Data, &[])?;
            } else {
                s.send(S2C, s_seq, c_seq, FIN | ACK, Opts::Data, &[])?;
                s_seq = s_seq.wrapping_add(1);
                s.send(C2S, c_seq, s_seq, FIN | ACK, Opts::Data, &[])?;
                c_seq = c_seq.wrapping_add(1);
                s.send(S2C, s_seq, c_seq, ACK, Opts::Data, &[])?;
            }
        }
    }

    let summary = SessionSummary {
        index: i,
        client: summary_client,
        server: summary_server,
        sni,
        pq: spec.pq,
        hello_size: ch.wire_len(),
        handshake_len: ch.handshake_len,
        hello_records: ch.records,
        segment_size: seg,
        segments: n,
        server_mss: plan.server_mss,
        reordered,
        retransmitted,
        close,
        frames: s.out.len(),
    };
    Ok((s.out, summary))
}

/// Writes a DNS name as labels.
fn dns_name(out: &mut Vec<u8>, name: &str) {
    for label in name.split('.') {
        out.push(label.len() as u8);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
}

/// One background UDP frame: a DNS query, a DNS response or a QUIC-like Initial.
fn udp_background(plan: &Plan, rng: &mut Rng) -> Result<Pending, String> {
    let c_host = 1 + rng.below(u64::from(plan.client_hosts)) as u32;
    let s_host = 1 + rng.below(u64::from(plan.servers)) as u32;
    let eph = 1024 + rng.below(u64::from(CLIENT_PORTS)) as u16;
    let kind = rng.below(3);
    let qtype: u16 = if plan.ipv6 { 28 } else { 1 };
    let name = format!("bg{}.example.test", rng.below(1_000));
    let mut payload = Vec::with_capacity(64);
    payload.extend_from_slice(&rng.next_u16().to_be_bytes());
    let (direction, src_port, dst_port) = match kind {
        0 => {
            payload.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
            dns_name(&mut payload, &name);
            payload.extend_from_slice(&qtype.to_be_bytes());
            payload.extend_from_slice(&[0, 1]);
            (Direction::ClientToServer, eph, 53)
        }
        1 => {
            payload.extend_from_slice(&[0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0]);
            dns_name(&mut payload, &name);
            payload.extend_from_slice(&qtype.to_be_bytes());
            payload.extend_from_slice(&[0, 1, 0xc0, 0x0c]);
            payload.extend_from_slice(&qtype.to_be_bytes());
            payload.extend_from_slice(&[0, 1, 0, 0, 0x01, 0x2c]);
            let answer = plan.server_addr(1 + rng.below(u64::from(plan.servers)) as u32);
            match answer {
                IpAddr::V4(a) => {
                    payload.extend_from_slice(&[0, 4]);
                    payload.extend_from_slice(&a.octets());
                }
                IpAddr::V6(a) => {
                    payload.extend_from_slice(&[0, 16]);
                    payload.extend_from_slice(&a.octets());
                }
            }
            (Direction::ServerToClient, 53, eph)
        }
        _ => {
            // A QUIC v1 Initial's shape, 1200 bytes like real clients: long header, 8-byte
            // DCID, empty SCID and token, a 2-byte length, then "protected" bytes.
            payload.clear();
            payload.extend_from_slice(&[0xc3, 0, 0, 0, 1, 8]);
            payload.extend_from_slice(&rng.bytes(8));
            payload.extend_from_slice(&[0, 0]);
            let rest = QUIC_INITIAL_LEN - payload.len() - 2;
            payload.extend_from_slice(&(0x4000 | rest as u16).to_be_bytes());
            payload.extend_from_slice(&rng.bytes(rest));
            (Direction::ClientToServer, eph, 443)
        }
    };
    let (c, s) = (plan.client_addr(c_host), plan.server_addr(s_host));
    let (src, dst, src_mac, dst_mac) = match direction {
        Direction::ClientToServer => (c, s, mac(true, c_host), mac(false, s_host)),
        Direction::ServerToClient => (s, c, mac(false, s_host), mac(true, c_host)),
    };
    let ip = Ip::between(
        src,
        dst,
        rng.next_u16(),
        64,
        false,
        rng.next_u32() & 0xf_ffff,
    )?;
    let eth = Ethernet {
        dst: dst_mac,
        src: src_mac,
        vlan: plan.vlan,
        pad: true,
    };
    let udp = Udp {
        src_port,
        dst_port,
        payload: &payload,
    };
    let bytes = frame::udp_frame(&eth, &ip, &udp).map_err(|e| e.to_string())?;
    Ok(Pending { direction, bytes })
}

/// Produces the frames of a run one at a time, holding only the sessions in flight.
pub struct Generator {
    plan: Plan,
    next_session: u32,
    active: Vec<(u32, VecDeque<Pending>)>,
    sched: Rng,
    udp: Rng,
    clock_us: u64,
    summary: GenSummary,
}

impl Generator {
    /// Validates `args` and prepares a run.
    pub fn new(args: &GenArgs) -> Result<Self, String> {
        let plan = Plan::new(args)?;
        Ok(Generator {
            sched: Rng::derive(plan.seed, u64::MAX - 1),
            udp: Rng::derive(plan.seed, u64::MAX - 2),
            active: Vec::with_capacity(plan.interleave.min(4_096) as usize),
            plan,
            next_session: 0,
            clock_us: BASE_TS_US,
            summary: GenSummary::default(),
        })
    }

    /// The next frame, `Ok(None)` at the end, or an error (for example a session whose
    /// ClientHello cannot have the requested size).
    pub fn next_frame(&mut self) -> Result<Option<Frame>, String> {
        while self.active.len() < self.plan.interleave as usize
            && self.next_session < self.plan.sessions
        {
            let i = self.next_session;
            self.next_session += 1;
            let (frames, summary) = build_session(&self.plan, i)?;
            self.summary.sessions += 1;
            self.summary.per_session.push(summary);
            self.active.push((i, frames));
        }
        if self.active.is_empty() {
            return Ok(None);
        }
        let (pending, session) = if self.sched.chance(self.plan.udp_ratio) {
            self.summary.udp_frames += 1;
            (udp_background(&self.plan, &mut self.udp)?, None)
        } else {
            let j = self.sched.below(self.active.len() as u64) as usize;
            let Some((i, queue)) = self.active.get_mut(j) else {
                return Err("internal: scheduler index".to_string());
            };
            let i = *i;
            let Some(p) = queue.pop_front() else {
                return Err("internal: empty session".to_string());
            };
            if queue.is_empty() {
                self.active.swap_remove(j);
            }
            (p, Some(i))
        };
        self.clock_us += 1 + self.sched.below(MAX_GAP_US);
        if self.summary.frames == 0 {
            self.summary.first_ts_us = self.clock_us;
        }
        self.summary.last_ts_us = self.clock_us;
        self.summary.frames += 1;
        self.summary.bytes += pending.bytes.len() as u64;
        Ok(Some(Frame {
            ts_us: self.clock_us,
            direction: pending.direction,
            session,
            bytes: pending.bytes,
        }))
    }

    /// The summary so far (complete once `next_frame` returned `Ok(None)`).
    pub fn summary(&self) -> &GenSummary {
        &self.summary
    }

    /// Consumes the generator, returning its summary.
    pub fn into_summary(self) -> GenSummary {
        self.summary
    }
}
