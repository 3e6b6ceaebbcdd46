//! `appliance gen`: a deterministic generator of realistic TLS session traffic.
//!
//! It writes classic pcap files (or builds frames in memory) of N TCP sessions from clients
//! in 198.18.0.0/16 to servers in 198.19.0.0/16 (or 2001:2::/48 with `--ipv6`): full
//! three-way handshakes, SYN-ACKs with or without MSS, a realistic ClientHello of a chosen
//! size split into segments of the chosen MSS, server ACKs, a fake server flight, client
//! data, and a FIN or RST close; optionally reordered or retransmitted ClientHello
//! segments, VLAN tags and background UDP. The same arguments and seed give the same bytes.
//!
//! Layout: [`pcap`] (file reader / writer), [`frame`] (Ethernet / IP / TCP / UDP builders
//! with checksums), [`hello`] (ClientHello and the other TLS records), [`session`] (one
//! session's frames, addresses, the interleaving scheduler), [`rng`] (splitmix64).
//!
//! The frame and checksum code here is deliberately independent of the appliance's own
//! `packet` module so that each can check the other.

pub mod frame;
pub mod hello;
pub mod paired;
pub mod pcap;
pub mod rng;
pub mod session;

#[cfg(test)]
mod tests;

use std::fmt;
use std::io::{self, BufWriter};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;

pub use session::Generator;

/// Most sessions one run may generate: the per-session summary is kept in memory, and a
/// million sessions already make a pcap of several gigabytes.
pub const MAX_SESSIONS: u32 = 1_000_000;
/// Largest `--mss`: jumbo frames.
pub const MAX_MSS: u16 = 9_000;
/// Smallest `--mss`: below this a ClientHello would need thousands of segments.
pub const MIN_MSS: u16 = 32;
/// Default SNI pattern; `{n}` is replaced by the session number.
pub const DEFAULT_SNI_PATTERN: &str = "host{n}.example.test";
/// Default ALPN list.
pub const DEFAULT_ALPN: &str = "h2,http/1.1";

/// Whether ClientHellos carry the post-quantum X25519MLKEM768 key share.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum PqMode {
    /// Always (a target size below the minimum is an error).
    On,
    /// Never.
    Off,
    /// When the target size leaves room for it (small hellos are classic x25519 ones).
    Auto,
}

/// A ClientHello size distribution: `600,2000,7000,9000` cycles through the sizes in
/// session order; `600:1,7000:3` (any entry with a `:weight`) picks at random with those
/// weights (entries without a weight count 1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HelloSizes {
    /// `(size in bytes on the wire, weight)`.
    pub entries: Vec<(usize, u32)>,
    /// Pick at random by weight instead of cycling.
    pub weighted: bool,
}

impl HelloSizes {
    /// Parses the `--hello-sizes` syntax.
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut entries = Vec::new();
        let mut weighted = false;
        for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let (size, weight) = match item.split_once(':') {
                Some((size, weight)) => {
                    weighted = true;
                    let w: u32 = weight
                        .trim()
                        .parse()
                        .map_err(|_| format!("bad weight in {item:?}"))?;
                    if w == 0 {
                        return Err(format!("weight 0 in {item:?}"));
                    }
                    (size.trim(), w)
                }
                None => (item, 1),
            };
            let size: usize = size.parse().map_err(|_| format!("bad size in {item:?}"))?;
            entries.push((size, weight));
        }
        if entries.is_empty() {
            return Err("empty size list".to_string());
        }
        Ok(HelloSizes { entries, weighted })
    }

    /// The size for session `index`.
    pub fn pick(&self, index: u64, rng: &mut rng::Rng) -> usize {
        if !self.weighted {
            let i = (index % self.entries.len() as u64) as usize;
            return self.entries.get(i).map_or(0, |e| e.0);
        }
        let total: u64 = self.entries.iter().map(|e| u64::from(e.1)).sum();
        let mut r = rng.below(total);
        for &(size, w) in &self.entries {
            if r < u64::from(w) {
                return size;
            }
            r -= u64::from(w);
        }
        self.entries.last().map_or(0, |e| e.0)
    }
}

impl FromStr for HelloSizes {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        HelloSizes::parse(s)
    }
}

impl fmt::Display for HelloSizes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (size, w)) in self.entries.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            if self.weighted {
                write!(f, "{size}:{w}")?;
            } else {
                write!(f, "{size}")?;
            }
        }
        Ok(())
    }
}

/// Parses a ratio in `[0, 1]`.
pub fn parse_ratio(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a number"))?;
    if !(0.0..=1.0).contains(&v) {
        return Err(format!("{v} is not in [0, 1]"));
    }
    Ok(v)
}

/// Arguments of `appliance gen`.
#[derive(clap::Args, Clone, Debug, PartialEq)]
pub struct GenArgs {
    /// Output pcap file (classic pcap, Ethernet, microsecond timestamps).
    #[arg(short, long, value_name = "FILE")]
    pub out: PathBuf,

    /// Number of TCP sessions.
    #[arg(short = 'n', long, default_value_t = 100, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_SESSIONS)))]
    pub sessions: u32,

    /// ClientHello size in bytes on the wire (all TLS records, headers included); hit
    /// exactly with the padding extension. Default: the natural size (about 1.5 KB with
    /// the post-quantum share).
    #[arg(long, value_name = "BYTES", conflicts_with = "hello_sizes")]
    pub hello_size: Option<usize>,

    /// ClientHello size distribution: `600,2000,7000,9000` cycles in session order;
    /// `600:1,7000:3` picks at random with weights.
    #[arg(long, value_name = "LIST", value_parser = HelloSizes::parse)]
    pub hello_sizes: Option<HelloSizes>,

    /// Segment size the client uses for its data. Default: 536 (IPv6: 1220) with
    /// --no-server-mss, the RFC 9293 fallback; else 1460 (IPv6: 1440). With --timestamps
    /// the payload per segment is 12 bytes less, as on Linux.
    #[arg(long, value_name = "M",
          value_parser = clap::value_parser!(u16).range(i64::from(MIN_MSS)..=i64::from(MAX_MSS)))]
    pub mss: Option<u16>,

    /// The server's SYN-ACK carries no MSS option (the client falls back to 536, or 1220
    /// over IPv6).
    #[arg(long)]
    pub no_server_mss: bool,

    /// Negotiate TCP timestamps (Linux-style options; every segment carries them).
    /// Default: Windows-style options without timestamps.
    #[arg(long)]
    pub timestamps: bool,

    /// IPv6 (2001:2::/48) instead of IPv4.
    #[arg(long)]
    pub ipv6: bool,

    /// Tag every frame with this 802.1Q VLAN ID.
    #[arg(long, value_name = "ID",
          value_parser = clap::value_parser!(u16).range(0..=i64::from(frame::VLAN_ID_MAX)))]
    pub vlan: Option<u16>,

    /// Random seed; the same arguments and seed give identical files.
    #[arg(long, default_value_t = 1, value_name = "S")]
    pub seed: u64,

    /// Fraction of sessions in which two adjacent ClientHello segments are swapped.
    #[arg(long, default_value_t = 0.0, value_name = "R", value_parser = parse_ratio)]
    pub reorder_ratio: f64,

    /// Fraction of sessions in which one ClientHello segment is sent twice.
    #[arg(long, default_value_t = 0.0, value_name = "R", value_parser = parse_ratio)]
    pub retransmit_ratio: f64,

    /// Fraction of sessions closed by a RST (from client or server, half each) instead of
    /// FINs.
    #[arg(long, default_value_t = 0.0, value_name = "R", value_parser = parse_ratio)]
    pub rst_ratio: f64,

    /// Fraction of all frames that are background UDP (DNS, QUIC-like); below 1.
    #[arg(long, default_value_t = 0.0, value_name = "R", value_parser = parse_ratio)]
    pub udp_ratio: f64,

    // The placeholder is not spelled out in the help text: clap renders it as a newline.
    /// SNI of each session: the `n` placeholder in braces (see the default) becomes the
    /// session number, 0-based.
    #[arg(long, default_value = DEFAULT_SNI_PATTERN, value_name = "PATTERN")]
    pub sni_pattern: String,

    /// ALPN protocols, comma-separated; empty for none.
    #[arg(long, default_value = DEFAULT_ALPN, value_name = "LIST")]
    pub alpn: String,

    /// Bytes of session ticket in the session_ticket extension (0: empty extension).
    #[arg(long, default_value_t = 0, value_name = "BYTES")]
    pub ticket_len: usize,

    /// Add a pre_shared_key extension with an identity of this many bytes.
    #[arg(long, value_name = "BYTES")]
    pub psk_identity_len: Option<usize>,

    /// Add an outer encrypted_client_hello extension with a payload of this many bytes.
    #[arg(long, value_name = "BYTES")]
    pub ech_len: Option<usize>,

    /// Post-quantum key share (X25519MLKEM768): on, off, or auto (when the size allows).
    #[arg(long, value_enum, default_value_t = PqMode::Auto)]
    pub pq: PqMode,

    /// Server TCP port.
    #[arg(long, default_value_t = 443, value_name = "PORT",
          value_parser = clap::value_parser!(u16).range(1..))]
    pub dst_port: u16,

    /// Sessions in flight at once; their packets interleave at random.
    #[arg(long, default_value_t = 1, value_name = "K",
          value_parser = clap::value_parser!(u32).range(1..=65_536))]
    pub interleave: u32,

    /// Number of distinct client addresses sessions are spread over.
    #[arg(long, default_value_t = 16, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=4_096))]
    pub clients: u32,

    /// Number of distinct server addresses.
    #[arg(long, default_value_t = 4, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=65_534))]
    pub servers: u32,

    /// Write the server->client frames to this file and only the client->server frames to
    /// --out: one file per appliance port, for replay on two ports (Pktgen-DPDK
    /// `-s 0:client.pcap -s 1:server.pcap`, two DPDK net_pcap devices, two tcpreplay runs).
    #[arg(long, value_name = "FILE")]
    pub server_out: Option<PathBuf>,

    /// With --server-out: lay both files out in rounds of FRAMES frames, padded with non-IP
    /// filler frames (EtherType 0x88b5) to the same length, every answer to the other side
    /// at least one round after what it answers. Replayed at the same frame rate on both
    /// ports and started together, sessions reach the appliance in causal order (tolerance:
    /// one round of skew). For a DPDK poll loop reading one burst per port in turn, use a
    /// multiple of its burst size (32). Sessions in flight: at least 4 x FRAMES.
    #[arg(long, value_name = "FRAMES", requires = "server_out",
          value_parser = clap::value_parser!(u32).range(1..=65_536))]
    pub lockstep: Option<u32>,

    /// Instead of whole sessions: one data segment from the client per flow (no handshake,
    /// no close), for N distinct established flows: the load of forwarding and flow-table
    /// benchmarks. With --server-out, each flow's answer from the server goes to that file.
    #[arg(long, conflicts_with_all = ["lockstep", "hello_size", "hello_sizes", "udp_ratio"])]
    pub established: bool,
}

impl Default for GenArgs {
    /// The command-line defaults, writing to `gen.pcap` (a test checks they agree).
    fn default() -> Self {
        GenArgs {
            out: PathBuf::from("gen.pcap"),
            sessions: 100,
            hello_size: None,
            hello_sizes: None,
            mss: None,
            no_server_mss: false,
            timestamps: false,
            ipv6: false,
            vlan: None,
            seed: 1,
            reorder_ratio: 0.0,
            retransmit_ratio: 0.0,
            rst_ratio: 0.0,
            udp_ratio: 0.0,
            sni_pattern: DEFAULT_SNI_PATTERN.to_string(),
            alpn: DEFAULT_ALPN.to_string(),
            ticket_len: 0,
            psk_identity_len: None,
            ech_len: None,
            pq: PqMode::Auto,
            dst_port: 443,
            interleave: 1,
            clients: 16,
            servers: 4,
            server_out: None,
            lockstep: None,
            established: false,
        }
    }
}

/// Which way a frame travels: which port of the appliance it must enter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// From the client side (enters the client-side port).
    ClientToServer,
    /// From the server side (enters the server-side port).
    ServerToClient,
}

/// One generated frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// Capture time in microseconds since the Unix epoch (strictly increasing).
    pub ts_us: u64,
    /// Which way it travels.
    pub direction: Direction,
    /// The TCP session it belongs to, `None` for background UDP.
    pub session: Option<u32>,
    /// The Ethernet frame (no FCS; padded to 60 bytes).
    pub bytes: Vec<u8>,
}

/// How a session ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Close {
    /// FIN both ways.
    Fin,
    /// The client resets.
    RstFromClient,
    /// The server resets.
    RstFromServer,
}

/// What one session contains.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionSummary {
    /// Session number (0-based, the `{n}` of the SNI pattern).
    pub index: u32,
    /// Client address and port.
    pub client: SocketAddr,
    /// Server address and port.
    pub server: SocketAddr,
    /// SNI sent.
    pub sni: String,
    /// Whether the hello carries the X25519MLKEM768 share.
    pub pq: bool,
    /// ClientHello bytes on the wire (all TLS records).
    pub hello_size: usize,
    /// The handshake length field (what tshark shows as `tls.handshake.length`).
    pub handshake_len: usize,
    /// TLS records the hello spans.
    pub hello_records: usize,
    /// Largest ClientHello segment payload.
    pub segment_size: usize,
    /// Distinct ClientHello segments: `ceil(hello_size / segment_size)`.
    pub segments: usize,
    /// Whether the server's SYN-ACK carried an MSS option.
    pub server_mss: bool,
    /// Two adjacent hello segments were swapped.
    pub reordered: bool,
    /// One hello segment was sent twice.
    pub retransmitted: bool,
    /// How it ends.
    pub close: Close,
    /// Frames in the session.
    pub frames: usize,
}

/// What a run produced.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GenSummary {
    /// TCP sessions.
    pub sessions: usize,
    /// All frames.
    pub frames: u64,
    /// Background UDP frames among them.
    pub udp_frames: u64,
    /// Sum of frame lengths.
    pub bytes: u64,
    /// First timestamp (µs).
    pub first_ts_us: u64,
    /// Last timestamp (µs).
    pub last_ts_us: u64,
    /// Per session, in session order (empty for `--established`).
    pub per_session: Vec<SessionSummary>,
    /// `--established`: flows of one data segment each instead of sessions.
    pub established: bool,
    /// Written as two files, one per port (`--server-out`).
    pub split: bool,
    /// Frames in the client-side file (with `split`).
    pub client_frames: u64,
    /// Frames in the server-side file (with `split`).
    pub server_frames: u64,
    /// Filler frames among them (`--lockstep`).
    pub filler_frames: u64,
    /// Rounds written (`--lockstep`).
    pub lockstep_rounds: u64,
    /// Frames per round and file (`--lockstep`).
    pub lockstep_frames: u64,
}

impl fmt::Display for GenSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.split {
            writeln!(
                f,
                "client side: {} frames, server side: {} frames",
                self.client_frames, self.server_frames
            )?;
        }
        if self.lockstep_rounds > 0 {
            writeln!(
                f,
                "lockstep: {} rounds of {} frames per side, {} filler frames",
                self.lockstep_rounds, self.lockstep_frames, self.filler_frames
            )?;
        }
        if self.established {
            return write!(
                f,
                "{} established flows, {} frames, {} bytes",
                self.sessions, self.frames, self.bytes
            );
        }
        writeln!(
            f,
            "{} sessions, {} frames ({} UDP), {} bytes, {:.3} s of capture",
            self.sessions,
            self.frames,
            self.udp_frames,
            self.bytes,
            self.last_ts_us.saturating_sub(self.first_ts_us) as f64 / 1e6
        )?;
        let mut rows: Vec<((usize, usize, usize), usize)> = Vec::new();
        for s in &self.per_session {
            let key = (s.hello_size, s.segment_size, s.segments);
            match rows.iter_mut().find(|r| r.0 == key) {
                Some(r) => r.1 += 1,
                None => rows.push((key, 1)),
            }
        }
        rows.sort_unstable();
        writeln!(
            f,
            "{:>10} {:>8} {:>9} {:>9}",
            "hello", "seg", "segments", "sessions"
        )?;
        for ((size, seg, n), count) in rows {
            writeln!(f, "{size:>10} {seg:>8} {n:>9} {count:>9}")?;
        }
        let count = |c: Close| self.per_session.iter().filter(|s| s.close == c).count();
        write!(
            f,
            "closes: {} fin, {} rst from client, {} rst from server; {} reordered, {} retransmitted",
            count(Close::Fin),
            count(Close::RstFromClient),
            count(Close::RstFromServer),
            self.per_session.iter().filter(|s| s.reordered).count(),
            self.per_session.iter().filter(|s| s.retransmitted).count()
        )
    }
}

/// Builds every frame in memory (for tests that feed the appliance without files).
pub fn build(args: &GenArgs) -> Result<(Vec<Frame>, GenSummary), String> {
    let mut g = Generator::new(args)?;
    let mut frames = Vec::new();
    while let Some(f) = g.next_frame()? {
        frames.push(f);
    }
    Ok((frames, g.into_summary()))
}

/// Writes the pcap file `args.out` (and `args.server_out`), streaming (only the sessions in
/// flight are held in memory). On error the partial files are removed.
pub fn run(args: &GenArgs) -> Result<GenSummary, String> {
    match (args.established, &args.server_out, args.lockstep) {
        (true, _, Some(_)) => Err("--established and --lockstep are exclusive".to_string()),
        (true, out, None) => paired::run_established(args, out.as_deref()),
        (false, None, Some(_)) => Err("--lockstep needs --server-out".to_string()),
        (false, Some(out), Some(n)) => paired::run_lockstep(args, out, n),
        (false, Some(out), None) => paired::run_split(args, out),
        (false, None, None) => run_single(args),
    }
}

/// The plain case: one file, both directions.
fn run_single(args: &GenArgs) -> Result<GenSummary, String> {
    let mut g = Generator::new(args)?;
    let path = &args.out;
    let err = |e: io::Error| format!("{}: {e}", path.display());
    let file = std::fs::File::create(path).map_err(err)?;
    let result = (|| {
        let mut w = pcap::PcapWriter::new(BufWriter::new(file)).map_err(err)?;
        while let Some(f) = g.next_frame()? {
            w.write_record(f.ts_us, &f.bytes).map_err(err)?;
        }
        w.finish().map_err(err)?;
        Ok(())
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(path);
        return Err(e);
    }
    Ok(g.into_summary())
}
