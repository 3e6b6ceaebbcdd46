//! Output for replay on two ports, and established-flow load.
//!
//! - `--server-out FILE`: the server→client frames go to their own file, so each file feeds
//!   one port of the appliance (Pktgen-DPDK `-s 0:client.pcap -s 1:server.pcap`, two DPDK
//!   `net_pcap` devices, two tcpreplay runs).
//! - `--lockstep FRAMES`: both files are laid out in rounds of `FRAMES` frames. A frame that
//!   answers the other side (the SYN-ACK answers the SYN, the server's ACK answers the hello
//!   segments, ...) goes at least one round after what it answers; a session's frames in
//!   one direction keep their order. Slots no session can use are filled with a non-IP filler
//!   frame, so both files have the same number of frames. Replayed at the same frame rate on
//!   both ports and started together, every session then reaches the appliance in causal
//!   order, with a tolerance of one round of skew between the two replays. A DPDK poll loop
//!   that reads one burst from each port in turn (`net_pcap` with `infinite_rx=1` returns
//!   full bursts) keeps that order exactly when `FRAMES` is a multiple of its burst size.
//! - `--established`: one data segment per flow for N distinct flows, without handshakes:
//!   the load of a forwarding and flow-lookup benchmark.

use super::frame::{self, Ethernet, Ip, Tcp, ACK, PSH};
use super::pcap::PcapWriter;
use super::rng::Rng;
use super::session::{build_session, mac, Pending, Plan, BASE_TS_US};
use super::{Direction, GenArgs, GenSummary, Generator};
use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, BufWriter};
use std::path::{Path, PathBuf};

/// EtherType of lockstep filler frames: IEEE 802 "local experimental 1".
pub const FILLER_ETHERTYPE: u16 = 0x88b5;
/// Text in every filler frame (after the EtherType).
pub const FILLER_TEXT: &[u8] = b"appliance gen lockstep filler";
/// Microseconds between two frames of a lockstep file (frame i of both files has the same
/// timestamp).
pub const LOCKSTEP_GAP_US: u64 = 1;
/// With `--lockstep`, sessions in flight are at least this many times the round size.
pub const LOCKSTEP_INFLIGHT_PER_SLOT: usize = 4;
/// Payload of an established-flow segment: the start of a TLS application-data record.
/// Six bytes keep an untagged IPv4 frame at the 60-byte minimum (64 on the wire).
pub const ESTABLISHED_PAYLOAD: [u8; 6] = [0x17, 0x03, 0x03, 0x00, 0x20, 0x00];

/// Which output file a direction goes to.
fn side(d: Direction) -> usize {
    match d {
        Direction::ClientToServer => 0,
        Direction::ServerToClient => 1,
    }
}

/// A filler frame for the port that carries direction `d`: 60 bytes (64 with a VLAN tag),
/// locally administered MACs 02:00:00:ff:00:01 (client side) / 02:00:00:ff:00:02 (server
/// side), EtherType [`FILLER_ETHERTYPE`].
pub fn filler_frame(d: Direction, vlan: Option<u16>) -> Vec<u8> {
    let (src, dst) = match d {
        Direction::ClientToServer => (1, 2),
        Direction::ServerToClient => (2, 1),
    };
    let mut f = Vec::with_capacity(64);
    f.extend_from_slice(&[0x02, 0, 0, 0xff, 0, dst]);
    f.extend_from_slice(&[0x02, 0, 0, 0xff, 0, src]);
    if let Some(id) = vlan {
        f.extend_from_slice(&frame::ETHERTYPE_VLAN.to_be_bytes());
        f.extend_from_slice(&(id & 0x0fff).to_be_bytes());
    }
    f.extend_from_slice(&FILLER_ETHERTYPE.to_be_bytes());
    f.extend_from_slice(FILLER_TEXT);
    let min = frame::ETH_MIN_LEN + if vlan.is_some() { 4 } else { 0 };
    if f.len() < min {
        f.resize(min, 0);
    }
    f
}

/// One slot of a lockstep round: the session (None: filler) and the frame.
pub type Slot = (Option<u32>, Vec<u8>);

/// A session in flight in the lockstep scheduler.
struct InFlight {
    index: u32,
    frames: VecDeque<Pending>,
    /// Direction and round of the frame placed last.
    last: Option<(Direction, u64)>,
}

impl InFlight {
    /// Moves this session's next frames of direction `d` into `out` (up to `per_round`
    /// frames in all), as far as the ordering rules allow in round `round`.
    fn take(&mut self, d: Direction, round: u64, out: &mut Vec<Slot>, per_round: usize) {
        while out.len() < per_round {
            let Some(next) = self.frames.front() else {
                return;
            };
            if next.direction != d {
                return;
            }
            // An answer to the other side waits for a later round.
            if let Some((ld, lr)) = self.last {
                if ld != d && lr >= round {
                    return;
                }
            }
            if let Some(p) = self.frames.pop_front() {
                out.push((Some(self.index), p.bytes));
                self.last = Some((d, round));
            }
        }
    }
}

/// The lockstep scheduler: yields rounds of `per_round` client-side and `per_round`
/// server-side frames.
pub struct Lockstep {
    plan: Plan,
    per_round: usize,
    max_in_flight: usize,
    next_session: u32,
    active: VecDeque<InFlight>,
    round: u64,
    filler: [Vec<u8>; 2],
    summary: GenSummary,
}

impl Lockstep {
    /// Validates `args`; `per_round` is the `--lockstep` value.
    pub fn new(args: &GenArgs, per_round: u32) -> Result<Self, String> {
        if per_round == 0 {
            return Err("--lockstep must be at least 1".to_string());
        }
        if args.udp_ratio > 0.0 {
            return Err("--udp-ratio is not supported with --lockstep".to_string());
        }
        let plan = Plan::new(args)?;
        let per_round = per_round as usize;
        let max_in_flight = (plan.interleave as usize).max(per_round * LOCKSTEP_INFLIGHT_PER_SLOT);
        let filler = [
            filler_frame(Direction::ClientToServer, plan.vlan),
            filler_frame(Direction::ServerToClient, plan.vlan),
        ];
        Ok(Lockstep {
            plan,
            per_round,
            max_in_flight,
            next_session: 0,
            active: VecDeque::new(),
            round: 0,
            filler,
            summary: GenSummary::default(),
        })
    }

    /// The next round: `[client side, server side]`, each exactly `per_round` slots; None
    /// when every session is out.
    pub fn next_round(&mut self) -> Result<Option<[Vec<Slot>; 2]>, String> {
        if self.active.is_empty() && self.next_session >= self.plan.sessions {
            return Ok(None);
        }
        let r = self.round;
        let n = self.per_round;
        let mut out = [Vec::with_capacity(n), Vec::with_capacity(n)];
        let c2s = Direction::ClientToServer;
        for s in self.active.iter_mut() {
            s.take(c2s, r, &mut out[0], n);
        }
        // New sessions open (with a SYN) in the client-side slots still free.
        while out[0].len() < n
            && self.active.len() < self.max_in_flight
            && self.next_session < self.plan.sessions
        {
            let i = self.next_session;
            self.next_session += 1;
            let (frames, summary) = build_session(&self.plan, i)?;
            self.summary.sessions += 1;
            self.summary.per_session.push(summary);
            let mut s = InFlight {
                index: i,
                frames,
                last: None,
            };
            s.take(c2s, r, &mut out[0], n);
            self.active.push_back(s);
        }
        for s in self.active.iter_mut() {
            s.take(Direction::ServerToClient, r, &mut out[1], n);
        }
        self.active.retain(|s| !s.frames.is_empty());
        for (k, o) in out.iter_mut().enumerate() {
            let real = o.len();
            self.summary.filler_frames += (n - real) as u64;
            o.resize(n, (None, self.filler[k].clone()));
        }
        self.round += 1;
        Ok(Some(out))
    }

    /// Timestamp of slot `k` of round `round` (the same in both files).
    pub fn ts_us(round: u64, k: usize, per_round: usize) -> u64 {
        BASE_TS_US + (round * per_round as u64 + k as u64) * LOCKSTEP_GAP_US
    }

    /// Consumes the scheduler, returning the summary of the sessions (frame counts are
    /// added by whoever writes the rounds).
    pub fn into_summary(self) -> GenSummary {
        self.summary
    }

    /// Frames per round and side.
    pub fn per_round(&self) -> usize {
        self.per_round
    }
}

/// Frames of `--established` in memory: per flow, the client's segment and the server's.
pub fn established_frames(args: &GenArgs) -> Result<Vec<[Vec<u8>; 2]>, String> {
    let plan = Plan::new(args)?;
    (0..plan.sessions)
        .map(|i| established_pair(&plan, &mut Rng::derive(plan.seed, u64::from(i)), i))
        .collect()
}

fn established_pair(plan: &Plan, rng: &mut Rng, i: u32) -> Result<[Vec<u8>; 2], String> {
    let c_host = plan.client_host(i);
    let s_host = plan.server_host(i);
    let c_addr = plan.client_addr(c_host);
    let s_addr = plan.server_addr(s_host);
    let c_port = plan.client_port(i);
    let s_port = plan.dst_port;
    let c_seq = rng.next_u32();
    let s_seq = rng.next_u32();
    let mut out = [Vec::new(), Vec::new()];
    for (k, (src, dst, sp, dp, seq, ack, smac, dmac)) in [
        (
            c_addr,
            s_addr,
            c_port,
            s_port,
            c_seq,
            s_seq,
            mac(true, c_host),
            mac(false, s_host),
        ),
        (
            s_addr,
            c_addr,
            s_port,
            c_port,
            s_seq,
            c_seq.wrapping_add(ESTABLISHED_PAYLOAD.len() as u32),
            mac(false, s_host),
            mac(true, c_host),
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let ip = Ip::between(
            src,
            dst,
            rng.next_u16(),
            64,
            true,
            rng.next_u32() & 0xf_ffff,
        )?;
        let eth = Ethernet {
            dst: dmac,
            src: smac,
            vlan: plan.vlan,
            pad: true,
        };
        let tcp = Tcp {
            src_port: sp,
            dst_port: dp,
            seq,
            ack,
            flags: ACK | PSH,
            window: 1026,
            options: &[],
            payload: &ESTABLISHED_PAYLOAD,
        };
        out[k] = frame::tcp_frame(&eth, &ip, &tcp).map_err(|e| e.to_string())?;
    }
    Ok(out)
}

/// One pcap writer per output file; removes the files again if the run fails.
struct Outputs {
    paths: Vec<PathBuf>,
    writers: Vec<PcapWriter<BufWriter<File>>>,
}

impl Outputs {
    fn create(paths: &[&Path]) -> Result<Self, String> {
        let mut o = Outputs {
            paths: Vec::new(),
            writers: Vec::new(),
        };
        for p in paths {
            let err = |e: io::Error| format!("{}: {e}", p.display());
            let file = File::create(p).map_err(err)?;
            o.paths.push(p.to_path_buf());
            o.writers
                .push(PcapWriter::new(BufWriter::new(file)).map_err(err)?);
        }
        Ok(o)
    }

    fn write(&mut self, k: usize, ts_us: u64, data: &[u8]) -> Result<(), String> {
        let (Some(w), Some(p)) = (self.writers.get_mut(k), self.paths.get(k)) else {
            return Err("internal: output index".to_string());
        };
        w.write_record(ts_us, data)
            .map_err(|e| format!("{}: {e}", p.display()))
    }

    fn finish(self) -> Result<(), String> {
        for (w, p) in self.writers.into_iter().zip(&self.paths) {
            w.finish().map_err(|e| format!("{}: {e}", p.display()))?;
        }
        Ok(())
    }

    fn remove(paths: &[&Path]) {
        for p in paths {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Runs `f` with the outputs; on error removes the partial files.
fn with_outputs(
    paths: &[&Path],
    f: impl FnOnce(&mut Outputs) -> Result<(), String>,
) -> Result<(), String> {
    let result = (|| {
        let mut o = Outputs::create(paths)?;
        f(&mut o)?;
        o.finish()
    })();
    if result.is_err() {
        Outputs::remove(paths);
    }
    result
}

fn count(summary: &mut GenSummary, k: usize, ts_us: u64, len: usize) {
    if summary.frames == 0 || ts_us < summary.first_ts_us {
        summary.first_ts_us = ts_us;
    }
    summary.last_ts_us = summary.last_ts_us.max(ts_us);
    summary.frames += 1;
    summary.bytes += len as u64;
    if k == 0 {
        summary.client_frames += 1;
    } else {
        summary.server_frames += 1;
    }
}

/// `--server-out` without `--lockstep`: the generator's timeline split by direction.
pub fn run_split(args: &GenArgs, server_out: &Path) -> Result<GenSummary, String> {
    let mut g = Generator::new(args)?;
    let mut frames = [0u64; 2];
    with_outputs(&[&args.out, server_out], |o| {
        while let Some(f) = g.next_frame()? {
            let k = side(f.direction);
            frames[k] += 1;
            o.write(k, f.ts_us, &f.bytes)?;
        }
        Ok(())
    })?;
    let mut s = g.into_summary();
    s.client_frames = frames[0];
    s.server_frames = frames[1];
    s.split = true;
    Ok(s)
}

/// `--server-out` with `--lockstep`.
pub fn run_lockstep(
    args: &GenArgs,
    server_out: &Path,
    per_round: u32,
) -> Result<GenSummary, String> {
    let mut l = Lockstep::new(args, per_round)?;
    let mut summary = GenSummary::default();
    with_outputs(&[&args.out, server_out], |o| {
        while let Some(round) = l.next_round()? {
            let r = l.round - 1;
            for (k, slots) in round.iter().enumerate() {
                for (j, (_, bytes)) in slots.iter().enumerate() {
                    let ts = Lockstep::ts_us(r, j, l.per_round);
                    o.write(k, ts, bytes)?;
                    count(&mut summary, k, ts, bytes.len());
                }
            }
        }
        Ok(())
    })?;
    let rounds = l.round;
    let per_round = l.per_round as u64;
    let mut s = l.into_summary();
    s.frames = summary.frames;
    s.bytes = summary.bytes;
    s.first_ts_us = summary.first_ts_us;
    s.last_ts_us = summary.last_ts_us;
    s.client_frames = summary.client_frames;
    s.server_frames = summary.server_frames;
    s.lockstep_rounds = rounds;
    s.lockstep_frames = per_round;
    s.split = true;
    Ok(s)
}

/// `--established`: one segment per flow from the client (and with `server_out`, one from
/// the server, to that file).
pub fn run_established(args: &GenArgs, server_out: Option<&Path>) -> Result<GenSummary, String> {
    let plan = Plan::new(args)?;
    let mut summary = GenSummary {
        established: true,
        split: server_out.is_some(),
        ..GenSummary::default()
    };
    let mut paths: Vec<&Path> = vec![&args.out];
    paths.extend(server_out);
    let both = server_out.is_some();
    with_outputs(&paths, |o| {
        for i in 0..plan.sessions {
            let mut rng = Rng::derive(plan.seed, u64::from(i));
            let pair = established_pair(&plan, &mut rng, i)?;
            let ts = BASE_TS_US + u64::from(i) * LOCKSTEP_GAP_US;
            for (k, bytes) in pair.iter().enumerate().take(if both { 2 } else { 1 }) {
                o.write(k, ts, bytes)?;
                count(&mut summary, k, ts, bytes.len());
            }
        }
        Ok(())
    })?;
    summary.sessions = plan.sessions as usize;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{build, pcap, Frame};
    use std::collections::HashMap;

    fn args(sessions: u32) -> GenArgs {
        GenArgs {
            sessions,
            ..GenArgs::default()
        }
    }

    /// Runs the scheduler to the end: per side, the slots in order.
    fn rounds(a: &GenArgs, per_round: u32) -> ([Vec<Slot>; 2], GenSummary, u64) {
        let mut l = Lockstep::new(a, per_round).unwrap();
        let mut out = [Vec::new(), Vec::new()];
        let mut n = 0;
        while let Some(r) = l.next_round().unwrap() {
            for (k, slots) in r.into_iter().enumerate() {
                assert_eq!(slots.len(), per_round as usize);
                out[k].extend(slots);
            }
            n += 1;
        }
        (out, l.into_summary(), n)
    }

    /// Every session's frames keep their order per direction, and each answer to the other
    /// side lies in a later round than what it answers.
    fn check_lockstep(a: &GenArgs, per_round: u32) -> GenSummary {
        let (sides, summary, n_rounds) = rounds(a, per_round);
        let b = per_round as usize;
        assert_eq!(sides[0].len(), sides[1].len());
        assert_eq!(sides[0].len() as u64, n_rounds * per_round as u64);
        // Per session and side: (round, bytes) in file order.
        type Placed<'a> = HashMap<(u32, usize), Vec<(usize, &'a Vec<u8>)>>;
        let mut placed: Placed = HashMap::new();
        let mut fillers = 0;
        for (k, slots) in sides.iter().enumerate() {
            for (pos, (session, bytes)) in slots.iter().enumerate() {
                match session {
                    Some(i) => placed.entry((*i, k)).or_default().push((pos / b, bytes)),
                    None => {
                        fillers += 1;
                        assert_eq!(
                            bytes,
                            &filler_frame(
                                if k == 0 {
                                    Direction::ClientToServer
                                } else {
                                    Direction::ServerToClient
                                },
                                a.vlan
                            )
                        );
                    }
                }
            }
        }
        assert_eq!(fillers, summary.filler_frames);
        // The reference: the same sessions from the plain generator.
        let (frames, plain) = build(a).unwrap();
        assert_eq!(plain.per_session, summary.per_session);
        let mut by_session: HashMap<u32, Vec<&Frame>> = HashMap::new();
        for f in &frames {
            by_session.entry(f.session.unwrap()).or_default().push(f);
        }
        assert_eq!(by_session.len(), a.sessions as usize);
        for (i, seq) in by_session {
            let mut cursor = [0usize; 2];
            let mut last: Option<(usize, usize)> = None; // (side, round)
            for f in seq {
                let k = side(f.direction);
                let list = &placed[&(i, k)];
                let (round, bytes) = list[cursor[k]];
                cursor[k] += 1;
                assert_eq!(bytes, &f.bytes, "session {i}: frame order");
                if let Some((lk, lr)) = last {
                    if lk == k {
                        assert!(round >= lr);
                    } else {
                        assert!(round > lr, "session {i}: answer in the same round");
                    }
                }
                last = Some((k, round));
            }
            for (k, c) in cursor.iter().enumerate() {
                assert_eq!(*c, placed.get(&(i, k)).map_or(0, |l| l.len()));
            }
        }
        summary
    }

    #[test]
    fn lockstep_keeps_causal_order_in_rounds() {
        check_lockstep(&args(300), 32);
        check_lockstep(&args(7), 1);
        let mut a = args(200);
        a.no_server_mss = true;
        a.hello_size = Some(6900);
        a.reorder_ratio = 0.3;
        a.retransmit_ratio = 0.3;
        a.rst_ratio = 0.3;
        a.vlan = Some(7);
        let s = check_lockstep(&a, 64);
        assert!(s.per_session.iter().all(|p| p.segments == 13));
        let mut a = args(100);
        a.ipv6 = true;
        a.interleave = 1000;
        check_lockstep(&a, 32);
    }

    #[test]
    fn lockstep_fills_rounds_with_enough_sessions() {
        // Balanced sessions (2-segment hellos) need few fillers once the pipeline is full.
        let (_, s, _) = rounds(&args(2000), 32);
        let total = s.per_session.iter().map(|p| p.frames as u64).sum::<u64>();
        assert!(
            s.filler_frames * 5 < total,
            "{} fillers for {total}",
            s.filler_frames
        );
    }

    #[test]
    fn filler_is_minimal_non_ip() {
        let f = filler_frame(Direction::ClientToServer, None);
        assert_eq!(f.len(), 60);
        assert_eq!(&f[12..14], &FILLER_ETHERTYPE.to_be_bytes());
        let p = appliance_core::packet::parse(&f).unwrap();
        assert_eq!(p.l3, appliance_core::packet::L3::NotIp);
        let v = filler_frame(Direction::ServerToClient, Some(300));
        assert_eq!(v.len(), 64);
        let p = appliance_core::packet::parse(&v).unwrap();
        assert_eq!(
            (p.vlan_count, p.vlan_outer, p.ethertype),
            (1, 300, FILLER_ETHERTYPE)
        );
    }

    #[test]
    fn established_flows_are_distinct_tcp_segments() {
        for (ipv6, vlan, len) in [(false, None, 60), (true, Some(5), 84)] {
            let mut a = args(70_000);
            a.ipv6 = ipv6;
            a.vlan = vlan;
            let pairs = established_frames(&a).unwrap();
            let mut keys = std::collections::HashSet::new();
            for pair in &pairs {
                let mut k = [None, None];
                for (j, f) in pair.iter().enumerate() {
                    assert_eq!(f.len(), len);
                    let h = appliance_core::packet::parse(f).unwrap();
                    let t = h.tcp().unwrap();
                    assert_eq!(usize::from(t.payload_len), ESTABLISHED_PAYLOAD.len());
                    assert!(!t.flags.syn());
                    k[j] = appliance_core::flow::FlowKey::from_headers(&h);
                }
                let (ka, a_is_src) = k[0].unwrap();
                let (kb, b_is_src) = k[1].unwrap();
                assert_eq!(ka, kb, "both directions are one flow");
                assert_ne!(a_is_src, b_is_src);
                assert!(
                    keys.insert((ka.a, ka.b, ka.port_a, ka.port_b)),
                    "flow repeated"
                );
            }
            assert_eq!(keys.len(), 70_000);
        }
    }

    #[test]
    fn files_on_disk() {
        let dir = std::env::temp_dir().join(format!("gen-paired-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let c = dir.join("c.pcap");
        let s = dir.join("s.pcap");
        // Lockstep.
        let mut a = args(50);
        a.out = c.clone();
        a.server_out = Some(s.clone());
        a.lockstep = Some(32);
        let sum = crate::run(&a).unwrap();
        let (fc, fs) = (pcap::read_file(&c).unwrap(), pcap::read_file(&s).unwrap());
        assert_eq!(fc.records.len(), fs.records.len());
        assert_eq!(fc.records.len() as u64, sum.client_frames);
        assert_eq!(sum.frames, sum.client_frames + sum.server_frames);
        assert_eq!(sum.lockstep_rounds * 32, sum.client_frames);
        for (x, y) in fc.records.iter().zip(&fs.records) {
            assert_eq!(x.ts_us(), y.ts_us());
        }
        assert!(sum.to_string().contains("lockstep:"));
        // Split only: the plain timeline, by direction.
        a.lockstep = None;
        let sum = crate::run(&a).unwrap();
        let (frames, _) = build(&a).unwrap();
        let fc = pcap::read_file(&c).unwrap();
        let want: Vec<_> = frames
            .iter()
            .filter(|f| f.direction == Direction::ClientToServer)
            .collect();
        assert_eq!(fc.records.len(), want.len());
        assert!(fc.records.iter().zip(want).all(|(r, f)| r.data == f.bytes));
        assert_eq!(sum.client_frames + sum.server_frames, frames.len() as u64);
        // Established, one file and two.
        a.established = true;
        a.server_out = None;
        let sum = crate::run(&a).unwrap();
        assert_eq!((sum.frames, sum.client_frames), (50, 50));
        assert!(sum.to_string().contains("50 established flows"));
        a.server_out = Some(s.clone());
        let sum = crate::run(&a).unwrap();
        assert_eq!((sum.client_frames, sum.server_frames), (50, 50));
        assert_eq!(pcap::read_file(&s).unwrap().records.len(), 50);
        // Bad combinations from code, and failures leave no files.
        a.lockstep = Some(32);
        assert!(crate::run(&a).is_err());
        a.established = false;
        a.server_out = None;
        assert!(crate::run(&a).is_err());
        let _ = std::fs::remove_file(&c);
        a.server_out = Some(s.clone());
        a.hello_size = Some(10);
        assert!(crate::run(&a).is_err());
        assert!(!c.exists() && !s.exists());
        a.hello_size = None;
        a.udp_ratio = 0.1;
        assert!(crate::run(&a).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn command_line() {
        use clap::Parser;
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            gen: GenArgs,
        }
        let p = |f: &[&str]| Cli::try_parse_from(f.iter().copied()).map(|c| c.gen);
        let a = p(&[
            "x",
            "-o",
            "c.pcap",
            "--server-out",
            "s.pcap",
            "--lockstep",
            "64",
        ])
        .unwrap();
        assert_eq!(a.lockstep, Some(64));
        assert_eq!(a.server_out, Some(PathBuf::from("s.pcap")));
        assert!(p(&["x", "-o", "c.pcap", "--lockstep", "64"]).is_err());
        assert!(p(&["x", "-o", "c.pcap", "--established", "--hello-size", "900"]).is_err());
        assert!(p(&["x", "-o", "c", "--server-out", "s", "--lockstep", "0"]).is_err());
        assert!(
            p(&["x", "-o", "c.pcap", "--established", "-n", "1000000"])
                .unwrap()
                .established
        );
    }
}
