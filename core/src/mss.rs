//! MSS fixup on SYN and SYN-ACK, in place (DESIGN.md "MSS fixup").
//!
//! - **Clamp**: every MSS option above the limit for the packet's IP version is lowered; the
//!   TCP checksum is updated incrementally (RFC 1624), also for an option at an odd offset.
//! - **Insert**: a SYN / SYN-ACK without an MSS option, without payload and with room in the
//!   TCP header (options ≤ 36 bytes) gets one, right after the fixed 20-byte header, existing
//!   options shifted by 4 and kept in order. Data offset, IPv4 total length and header
//!   checksum or IPv6 payload length, and the TCP checksum (pseudo-header length included)
//!   are updated incrementally. The frame grows by 4 bytes from the end of the IP packet, so
//!   Ethernet padding is dropped rather than pulled into the header.
//!
//! A packet that cannot be fixed is left untouched and the [`MssOutcome`] says why; the
//! worker counts outcomes per direction. No allocation, no panic.

use crate::packet::checksum;
use crate::packet::parse::{Headers, MssOption, L3, L4};
use crate::packet::tcp::{self, TcpOption, TcpOptions};
use crate::packet::{ipv4, ipv6, read_u16, write_u16};

/// Length of an MSS option (kind 2, length 4, 16-bit value).
pub const MSS_OPTION_LEN: usize = 4;

/// Largest TCP header that still has room for an inserted MSS option (options ≤ 36 bytes).
pub const MAX_HEADER_LEN_FOR_INSERT: usize = tcp::MAX_HEADER_LEN - MSS_OPTION_LEN;

/// What to do with the MSS of SYNs and SYN-ACKs in one direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MssPolicy {
    /// Lower any IPv4 MSS option above this value (config "auto": egress MTU − 40).
    pub clamp_v4: Option<u16>,
    /// Lower any IPv6 MSS option above this value (config "auto": egress MTU − 60).
    pub clamp_v6: Option<u16>,
    /// Insert an MSS option with this value where it is missing (lowered to the clamp of the
    /// packet's IP version if that is smaller).
    pub insert_missing: Option<u16>,
}

impl MssPolicy {
    /// The IPv4 clamp for an egress MTU: MTU − 40 (20 IPv4 + 20 TCP).
    #[inline]
    pub const fn auto_clamp_v4(mtu: u16) -> u16 {
        mtu.saturating_sub(40)
    }

    /// The IPv6 clamp for an egress MTU: MTU − 60 (40 IPv6 + 20 TCP).
    #[inline]
    pub const fn auto_clamp_v6(mtu: u16) -> u16 {
        mtu.saturating_sub(60)
    }

    /// The clamp that applies to a packet of this network layer.
    #[inline]
    pub const fn clamp_for(&self, l3: L3) -> Option<u16> {
        match l3 {
            L3::Ipv4 => self.clamp_v4,
            L3::Ipv6 => self.clamp_v6,
            L3::NotIp => None,
        }
    }

    /// Whether this policy can change anything at all.
    #[inline]
    pub const fn is_active(&self) -> bool {
        self.clamp_v4.is_some() || self.clamp_v6.is_some() || self.insert_missing.is_some()
    }
}

/// What [`fixup`] did. Dense indices for per-direction counter arrays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MssOutcome {
    /// Not a TCP SYN / SYN-ACK (or a fragment, or not IP): nothing looked at.
    NotApplicable,
    /// An MSS option was seen and left as is (at or below the clamp, or no clamp).
    Unchanged {
        /// The (first) MSS value.
        value: u16,
    },
    /// MSS option(s) above the clamp were lowered.
    Clamped {
        /// The first value that was lowered.
        from: u16,
        /// The clamp it was lowered to.
        to: u16,
    },
    /// No MSS option and the policy inserts none.
    Absent,
    /// A missing MSS option was inserted; the frame grew by 4 bytes.
    Inserted {
        /// The inserted value.
        value: u16,
    },
    /// No MSS option and no room for one (options already > 36 bytes). Untouched.
    NoRoom,
    /// No MSS option but the SYN carries payload (e.g. TCP Fast Open); not inserted.
    PayloadOnSyn,
    /// No MSS option and the buffer has no 4 bytes of tailroom past the IP packet. Untouched.
    NoTailroom,
    /// Options or lengths do not match `Headers` / the buffer. Untouched.
    Malformed,
}

impl MssOutcome {
    /// Number of outcome kinds: the size of a counter array.
    pub const COUNT: usize = 9;

    /// Dense index in `0..COUNT`.
    #[inline]
    pub const fn index(self) -> usize {
        match self {
            Self::NotApplicable => 0,
            Self::Unchanged { .. } => 1,
            Self::Clamped { .. } => 2,
            Self::Absent => 3,
            Self::Inserted { .. } => 4,
            Self::NoRoom => 5,
            Self::PayloadOnSyn => 6,
            Self::NoTailroom => 7,
            Self::Malformed => 8,
        }
    }

    /// Stable snake_case name of the outcome kind, for counters.
    pub const fn name(self) -> &'static str {
        Self::NAMES[self.index()]
    }

    /// Names by index.
    pub const NAMES: [&'static str; Self::COUNT] = [
        "not_applicable",
        "unchanged",
        "clamped",
        "absent",
        "inserted",
        "no_room",
        "payload_on_syn",
        "no_tailroom",
        "malformed",
    ];

    /// Whether the packet was a SYN / SYN-ACK that fixup looked at (the "seen" counter).
    #[inline]
    pub const fn seen(self) -> bool {
        !matches!(self, Self::NotApplicable)
    }

    /// Whether the packet bytes were changed.
    #[inline]
    pub const fn changed(self) -> bool {
        matches!(self, Self::Clamped { .. } | Self::Inserted { .. })
    }
}

/// Result of [`fixup`]: what happened and the frame length to transmit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MssFixup {
    /// What happened.
    pub outcome: MssOutcome,
    /// The new frame length (`frame_len + 0` unless an option was inserted; after insertion
    /// the end of the IP packet + 4, Ethernet padding dropped).
    pub frame_len: usize,
}

/// Clamps or inserts the MSS option of a SYN / SYN-ACK in place.
///
/// `buf` is the packet's data area including tailroom (`frame_len <= buf.len()`); `hdr` is
/// what [`crate::packet::parse()`] returned for `buf[..frame_len]`. On insertion `hdr` is
/// updated to describe the new frame (`ip_end`, TCP header length, payload offset, MSS and
/// timestamps offsets); on clamping its MSS value. Returns the outcome and the new frame
/// length. Never allocates or panics; on any inconsistency the packet is left untouched.
#[inline]
pub fn fixup(buf: &mut [u8], frame_len: usize, hdr: &mut Headers, policy: &MssPolicy) -> MssFixup {
    let outcome = match hdr.l4 {
        L4::Tcp(t) if t.flags.syn() && !hdr.is_fragment && hdr.is_ip() => match t.mss {
            Some(first) => clamp(buf, frame_len, hdr, first, policy.clamp_for(hdr.l3)),
            None => match policy.insert_missing {
                None => MssOutcome::Absent,
                Some(v) => {
                    let value = policy.clamp_for(hdr.l3).map_or(v, |c| v.min(c));
                    insert(buf, frame_len, hdr, value)
                }
            },
        },
        _ => MssOutcome::NotApplicable,
    };
    let frame_len = match outcome {
        MssOutcome::Inserted { .. } => usize::from(hdr.ip_end),
        _ => frame_len,
    };
    MssFixup { outcome, frame_len }
}

/// The TCP header bytes `hdr` describes, if `hdr` is consistent with `buf[..frame_len]`.
#[inline]
fn tcp_header_range(buf: &[u8], frame_len: usize, hdr: &Headers) -> Option<(usize, usize)> {
    let t = hdr.tcp()?;
    let l4 = usize::from(hdr.l4_offset);
    let hl = usize::from(t.header_len);
    let ip_end = usize::from(hdr.ip_end);
    let frame = buf.get(..frame_len)?;
    let header = frame.get(l4..l4.checked_add(hl)?)?;
    let consistent = hl >= tcp::MIN_HEADER_LEN
        && l4 + hl <= ip_end
        && ip_end <= frame_len
        && usize::from(t.payload_offset) == l4 + hl
        && usize::from(header[tcp::FLAGS_OFFSET] >> 4) * 4 == hl;
    consistent.then_some((l4, hl))
}

/// Most MSS options a TCP options area (≤ 40 bytes, 4 bytes each) can hold.
const MAX_MSS_OPTIONS: usize = (tcp::MAX_HEADER_LEN - tcp::MIN_HEADER_LEN) / MSS_OPTION_LEN;

fn clamp(
    buf: &mut [u8],
    frame_len: usize,
    hdr: &mut Headers,
    first: MssOption,
    limit: Option<u16>,
) -> MssOutcome {
    let Some(limit) = limit else {
        return MssOutcome::Unchanged { value: first.value };
    };
    let Some((l4, hl)) = tcp_header_range(buf, frame_len, hdr) else {
        return MssOutcome::Malformed;
    };
    let Some(options) = buf.get(l4 + tcp::MIN_HEADER_LEN..l4 + hl) else {
        return MssOutcome::Malformed;
    };
    // Pass 1: validate every option and note each MSS above the limit (a SYN may carry the
    // option twice; receivers differ on which one wins, so all are clamped) before touching
    // anything. `at` is relative to the options area.
    let mut to_clamp = [(0usize, 0u16); MAX_MSS_OPTIONS];
    let mut n = 0;
    for item in TcpOptions::new(options) {
        match item {
            Ok((at, TcpOption::MaxSegmentSize(v))) if v > limit => {
                if let Some(slot) = to_clamp.get_mut(n) {
                    *slot = (at, v);
                    n += 1;
                }
            }
            Ok(_) => {}
            Err(_) => return MssOutcome::Malformed,
        }
    }
    let Some(&(_, from)) = to_clamp.get(..n).and_then(|c| c.first()) else {
        return MssOutcome::Unchanged { value: first.value };
    };
    // Pass 2: write the limit and update the checksum per field. The value sits at TCP header
    // offset 20 + at + 2, which may be odd.
    let csum_at = l4 + tcp::CHECKSUM_OFFSET;
    let mut csum = read_u16(buf, csum_at);
    for &(at, old) in to_clamp.get(..n).unwrap_or_default() {
        let in_header = tcp::MIN_HEADER_LEN + at + 2;
        write_u16(buf, l4 + in_header, limit);
        csum = checksum::update16_at(csum, in_header, old, limit);
    }
    write_u16(buf, csum_at, csum);
    if let L4::Tcp(ref mut t) = hdr.l4 {
        if let Some(ref mut m) = t.mss {
            m.value = m.value.min(limit);
        }
    }
    MssOutcome::Clamped { from, to: limit }
}

fn insert(buf: &mut [u8], frame_len: usize, hdr: &mut Headers, value: u16) -> MssOutcome {
    let Some((l4, hl)) = tcp_header_range(buf, frame_len, hdr) else {
        return MssOutcome::Malformed;
    };
    let ip_end = usize::from(hdr.ip_end);
    if l4 + hl != ip_end {
        return MssOutcome::PayloadOnSyn;
    }
    if hl > MAX_HEADER_LEN_FOR_INSERT {
        return MssOutcome::NoRoom;
    }
    let new_end = ip_end + MSS_OPTION_LEN;
    let Ok(new_end_u16) = u16::try_from(new_end) else {
        return MssOutcome::NoTailroom;
    };
    if buf.len() < new_end {
        return MssOutcome::NoTailroom;
    }
    // The IP header must lie before the TCP header and its length field must say where the
    // IP packet ends, or `hdr` does not describe this buffer.
    let l3 = usize::from(hdr.l3_offset);
    let (len_at, fixed_len, covered_from) = match hdr.l3 {
        L3::Ipv4 => (l3 + ipv4::TOTAL_LEN_OFFSET, ipv4::MIN_HEADER_LEN, l3),
        L3::Ipv6 => (
            l3 + ipv6::PAYLOAD_LEN_OFFSET,
            ipv6::HEADER_LEN,
            l3 + ipv6::HEADER_LEN,
        ),
        L3::NotIp => return MssOutcome::Malformed,
    };
    if l3 + fixed_len > l4 {
        return MssOutcome::Malformed;
    }
    let old_len = read_u16(buf, len_at);
    if usize::from(old_len) + covered_from != ip_end {
        return MssOutcome::Malformed;
    }
    let new_len = old_len + MSS_OPTION_LEN as u16; // < ip_end + 4 <= u16::MAX
                                                   // TCP: shift the options by 4 (an even shift leaves their checksum contribution alone),
                                                   // write the option, bump the data offset.
    let old_word = read_u16(buf, l4 + tcp::FLAGS_OFFSET);
    let new_word = old_word + 0x1000;
    buf.copy_within(
        l4 + tcp::MIN_HEADER_LEN..l4 + hl,
        l4 + tcp::MIN_HEADER_LEN + MSS_OPTION_LEN,
    );
    let opt_at = l4 + tcp::MIN_HEADER_LEN;
    buf[opt_at] = tcp::kind::MSS;
    buf[opt_at + 1] = MSS_OPTION_LEN as u8;
    write_u16(buf, opt_at + 2, value);
    write_u16(buf, l4 + tcp::FLAGS_OFFSET, new_word);
    let tcp_len = hl as u16; // no payload: the segment is the header, <= 56
    let mut csum = read_u16(buf, l4 + tcp::CHECKSUM_OFFSET);
    csum = checksum::update16(csum, old_word, new_word);
    csum = checksum::update16(
        csum,
        0,
        u16::from_be_bytes([tcp::kind::MSS, MSS_OPTION_LEN as u8]),
    );
    csum = checksum::update16(csum, 0, value);
    // Pseudo-header: the TCP length grows by 4 (IPv6 carries it in 32 bits, high half 0).
    csum = checksum::update16(csum, tcp_len, tcp_len + MSS_OPTION_LEN as u16);
    write_u16(buf, l4 + tcp::CHECKSUM_OFFSET, csum);
    // IP length (and the IPv4 header checksum).
    write_u16(buf, len_at, new_len);
    if hdr.l3 == L3::Ipv4 {
        let at = l3 + ipv4::CHECKSUM_OFFSET;
        let c = checksum::update16(read_u16(buf, at), old_len, new_len);
        write_u16(buf, at, c);
    }
    // Keep `hdr` describing the frame.
    hdr.ip_end = new_end_u16;
    if let L4::Tcp(ref mut t) = hdr.l4 {
        t.header_len += MSS_OPTION_LEN as u8;
        t.payload_offset += MSS_OPTION_LEN as u16;
        t.mss = Some(MssOption {
            value,
            offset: opt_at as u16,
        });
        if let Some(ref mut ts) = t.timestamps {
            ts.offset += MSS_OPTION_LEN as u16;
        }
    }
    MssOutcome::Inserted { value }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::fixtures::*;
    use crate::packet::{parse, TcpFlags};
    use proptest::prelude::*;

    /// Independent checksum for the tests: byte by byte, position-aware, folded at the end.
    fn naive_sum(parts: &[&[u8]]) -> u16 {
        let mut sum: u64 = 0;
        let mut i = 0usize;
        for part in parts {
            for &b in part.iter() {
                sum += if i % 2 == 0 {
                    u64::from(b) << 8
                } else {
                    u64::from(b)
                };
                i += 1;
            }
        }
        while sum > 0xffff {
            sum = (sum >> 16) + (sum & 0xffff);
        }
        sum as u16
    }

    /// Whether IPv4 header and TCP checksums of a frame are right, computed independently
    /// of `packet::checksum` and of `Headers` (offsets found by hand from the bytes).
    fn naive_checksums_ok(frame: &[u8]) -> bool {
        let mut off = 12;
        while matches!(
            u16::from_be_bytes([frame[off], frame[off + 1]]),
            0x8100 | 0x88a8 | 0x9100
        ) {
            off += 4;
        }
        let ethertype = u16::from_be_bytes([frame[off], frame[off + 1]]);
        let l3 = off + 2;
        match ethertype {
            0x0800 => {
                let ihl = usize::from(frame[l3] & 15) * 4;
                let total = usize::from(u16::from_be_bytes([frame[l3 + 2], frame[l3 + 3]]));
                let seg = &frame[l3 + ihl..l3 + total];
                let len = (seg.len() as u16).to_be_bytes();
                naive_sum(&[&frame[l3..l3 + ihl]]) == 0xffff
                    && naive_sum(&[&frame[l3 + 12..l3 + 20], &[0, 6], &len, seg]) == 0xffff
            }
            0x86dd => {
                let plen = usize::from(u16::from_be_bytes([frame[l3 + 4], frame[l3 + 5]]));
                // Step over hop-by-hop, routing, destination options and fragment headers.
                let (mut nh, mut l4) = (frame[l3 + 6], l3 + 40);
                while nh != 6 {
                    let len = match nh {
                        0 | 43 | 60 => (usize::from(frame[l4 + 1]) + 1) * 8,
                        44 => 8,
                        _ => return false,
                    };
                    nh = frame[l4];
                    l4 += len;
                }
                let seg = &frame[l4..l3 + 40 + plen];
                let len = (seg.len() as u32).to_be_bytes();
                naive_sum(&[&frame[l3 + 8..l3 + 40], &len, &[0, 0, 0, 6], seg]) == 0xffff
            }
            _ => false,
        }
    }

    /// Runs fixup on `frame` copied into a buffer with `tailroom` bytes of 0x5a after it.
    fn run(frame: &[u8], tailroom: usize, policy: &MssPolicy) -> (MssFixup, Vec<u8>, Headers) {
        let mut buf = frame.to_vec();
        buf.resize(frame.len() + tailroom, 0x5a);
        let mut hdr = parse(frame).unwrap();
        let out = fixup(&mut buf, frame.len(), &mut hdr, policy);
        buf.truncate(out.frame_len);
        (out, buf, hdr)
    }

    /// After any fixup: checksums verify (independently and with the module), the full
    /// recompute equals the stored (incrementally updated) checksum, and `hdr` matches a
    /// fresh parse of the new frame.
    fn assert_consistent(frame: &[u8], hdr: &Headers) {
        assert!(naive_checksums_ok(frame), "checksums of {frame:02x?}");
        let fresh = parse(frame).unwrap();
        assert_eq!(&fresh, hdr);
        assert!(crate::packet::verify_tcp_checksum(frame, &fresh));
        assert!(crate::packet::verify_ip_header(frame, &fresh));
        let stored = read_u16(frame, usize::from(fresh.l4_offset) + tcp::CHECKSUM_OFFSET);
        assert_eq!(crate::packet::tcp_checksum(frame, &fresh), Some(stored));
    }

    const CLAMP_1400: MssPolicy = MssPolicy {
        clamp_v4: Some(1400),
        clamp_v6: Some(1220),
        insert_missing: None,
    };

    #[test]
    fn clamp_ipv4_matches_scapy() {
        let (out, frame, hdr) = run(&V4_SYN, 0, &CLAMP_1400);
        assert_eq!(
            out,
            MssFixup {
                outcome: MssOutcome::Clamped {
                    from: 1460,
                    to: 1400
                },
                frame_len: 74
            }
        );
        assert_eq!(frame, V4_SYN_MSS1400);
        assert_consistent(&frame, &hdr);
    }

    #[test]
    fn clamp_odd_offset_with_ip_options_matches_scapy() {
        let policy = MssPolicy {
            clamp_v4: Some(1460),
            ..MssPolicy::default()
        };
        let (out, frame, hdr) = run(&V4_IPOPT_ODD_MSS_SYN, 16, &policy);
        assert_eq!(
            out.outcome,
            MssOutcome::Clamped {
                from: 9000,
                to: 1460
            }
        );
        assert_eq!(frame, V4_IPOPT_ODD_MSS_SYN_1460);
        assert_consistent(&frame, &hdr);
    }

    #[test]
    fn clamp_ipv6_vlan_qinq_ext_headers_match_scapy() {
        for (input, expected) in [
            (&V6_VLAN_SYN[..], &V6_VLAN_SYN_MSS1220[..]),
            (&QINQ_V4_SYN, &QINQ_V4_SYN_MSS1400),
            (&V6_EXT_SYN, &V6_EXT_SYN_MSS1220),
        ] {
            let (out, frame, hdr) = run(input, 0, &CLAMP_1400);
            assert!(matches!(out.outcome, MssOutcome::Clamped { .. }));
            assert_eq!(frame, expected);
            assert_consistent(&frame, &hdr);
        }
    }

    #[test]
    fn clamp_leaves_small_values_and_reports_them() {
        let policy = MssPolicy {
            clamp_v4: Some(1460),
            ..MssPolicy::default()
        };
        let (out, frame, _) = run(&V4_SYN, 0, &policy);
        assert_eq!(out.outcome, MssOutcome::Unchanged { value: 1460 });
        assert_eq!(frame, V4_SYN);
        // No clamp for this IP version.
        let policy = MssPolicy {
            clamp_v4: Some(1000),
            ..MssPolicy::default()
        };
        let (out, frame, _) = run(&V6_VLAN_SYN, 0, &policy);
        assert_eq!(out.outcome, MssOutcome::Unchanged { value: 1440 });
        assert_eq!(frame, V6_VLAN_SYN);
    }

    #[test]
    fn clamp_every_duplicate_mss() {
        // NOP, MSS 9000, MSS 1000, MSS 8000 (offsets 21, 25, 29: odd ones too), NOP x3.
        let options = [
            1, 2, 4, 0x23, 0x28, 2, 4, 0x03, 0xe8, 2, 4, 0x1f, 0x40, 1, 1, 1,
        ];
        let frame = build(&Spec {
            options: options.to_vec(),
            ..Spec::default()
        });
        let policy = MssPolicy {
            clamp_v4: Some(1200),
            ..MssPolicy::default()
        };
        let (out, got, hdr) = run(&frame, 0, &policy);
        assert_eq!(
            out.outcome,
            MssOutcome::Clamped {
                from: 9000,
                to: 1200
            }
        );
        let values: Vec<u16> = opts_of(&got)
            .iter()
            .filter_map(|o| match o {
                TcpOption::MaxSegmentSize(v) => Some(*v),
                _ => None,
            })
            .collect();
        assert_eq!(values, [1200, 1000, 1200]);
        assert_consistent(&got, &hdr);
    }

    #[test]
    fn insert_ipv4_matches_scapy() {
        let policy = MssPolicy {
            insert_missing: Some(1460),
            ..MssPolicy::default()
        };
        let (out, frame, hdr) = run(&V4_SYNACK_NO_MSS, 4, &policy);
        assert_eq!(
            out,
            MssFixup {
                outcome: MssOutcome::Inserted { value: 1460 },
                frame_len: 74
            }
        );
        assert_eq!(frame, V4_SYNACK_NO_MSS_INSERTED_1460);
        assert_consistent(&frame, &hdr);
        assert_eq!(hdr.tcp().unwrap().timestamps.unwrap().offset, 60);
    }

    #[test]
    fn insert_ipv6_vlan_matches_scapy() {
        let policy = MssPolicy {
            clamp_v6: Some(1440),
            insert_missing: Some(1460),
            ..MssPolicy::default()
        };
        let (out, frame, hdr) = run(&V6_VLAN_SYNACK_NO_MSS, 100, &policy);
        // The IPv6 clamp is lower than the value to insert: the lower one goes in.
        assert_eq!(out.outcome, MssOutcome::Inserted { value: 1440 });
        assert_eq!(frame, V6_VLAN_SYNACK_INSERTED_1440);
        assert_consistent(&frame, &hdr);
    }

    #[test]
    fn insert_drops_padding_instead_of_using_it() {
        // 54-byte SYN padded to 60 with 0xee; no tailroom needed: the frame shrinks to 58.
        let policy = MssPolicy {
            clamp_v4: Some(1360),
            clamp_v6: None,
            insert_missing: Some(1460),
        };
        let (out, frame, hdr) = run(&V4_SYN_BARE_PADDED, 0, &policy);
        assert_eq!(
            out,
            MssFixup {
                outcome: MssOutcome::Inserted { value: 1360 },
                frame_len: 58
            }
        );
        assert_eq!(frame, V4_SYN_BARE_INSERTED_1360);
        assert!(!frame.contains(&0xee));
        assert_consistent(&frame, &hdr);
    }

    #[test]
    fn insert_without_tailroom_leaves_packet_alone() {
        let policy = MssPolicy {
            insert_missing: Some(1460),
            ..MssPolicy::default()
        };
        for tailroom in 0..4 {
            let (out, frame, hdr) = run(&V4_SYNACK_NO_MSS, tailroom, &policy);
            assert_eq!(
                out,
                MssFixup {
                    outcome: MssOutcome::NoTailroom,
                    frame_len: 70
                }
            );
            assert_eq!(frame, V4_SYNACK_NO_MSS);
            assert_eq!(hdr, parse(&V4_SYNACK_NO_MSS).unwrap());
        }
    }

    #[test]
    fn insert_fills_a_56_byte_header_but_not_a_60_byte_one() {
        let policy = MssPolicy {
            insert_missing: Some(1460),
            ..MssPolicy::default()
        };
        // 36 bytes of options: SACK-permitted, timestamps, window scale, NOPs, fast open.
        let mut options = vec![4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7];
        options.extend_from_slice(&[34, 10, 1, 2, 3, 4, 5, 6, 7, 8, 1, 1]);
        options.extend_from_slice(&[1; 8]);
        assert_eq!(options.len(), 36);
        let frame = build(&Spec {
            options: options.clone(),
            ..Spec::default()
        });
        let (out, got, hdr) = run(&frame, 4, &policy);
        assert_eq!(out.outcome, MssOutcome::Inserted { value: 1460 });
        assert_eq!(hdr.tcp().unwrap().header_len, 60);
        assert_eq!(&got[54..58], &[2, 4, 0x05, 0xb4]);
        assert_eq!(&got[58..94], &options[..]);
        assert_consistent(&got, &hdr);

        options.extend_from_slice(&[1; 4]);
        let frame = build(&Spec {
            options,
            ..Spec::default()
        });
        let (out, got, _) = run(&frame, 4, &policy);
        assert_eq!(
            out,
            MssFixup {
                outcome: MssOutcome::NoRoom,
                frame_len: frame.len()
            }
        );
        assert_eq!(got, frame);
    }

    #[test]
    fn payload_on_syn() {
        let policy = MssPolicy {
            clamp_v4: Some(1000),
            insert_missing: Some(1460),
            clamp_v6: None,
        };
        let frame = build(&Spec {
            payload: b"tfo".to_vec(),
            ..Spec::default()
        });
        let (out, got, _) = run(&frame, 8, &policy);
        assert_eq!(out.outcome, MssOutcome::PayloadOnSyn);
        assert_eq!(got, frame);
        // With an MSS option, clamping still applies to a SYN with payload.
        let frame = build(&Spec {
            options: vec![2, 4, 0x05, 0xb4],
            payload: b"tfo".to_vec(),
            ..Spec::default()
        });
        let (out, got, hdr) = run(&frame, 8, &policy);
        assert_eq!(
            out.outcome,
            MssOutcome::Clamped {
                from: 1460,
                to: 1000
            }
        );
        assert_consistent(&got, &hdr);
    }

    #[test]
    fn not_applicable_and_absent() {
        let all = MssPolicy {
            clamp_v4: Some(1000),
            clamp_v6: Some(1000),
            insert_missing: Some(1000),
        };
        for frame in [
            &V4_DATA_PADDED[..],
            &Q9100_V4_ACK,
            &V4_UDP,
            &V6_ICMP,
            &ARP,
            &V4_FRAG_FIRST,
            &V6_FRAG_FIRST,
        ] {
            let (out, got, _) = run(frame, 8, &all);
            assert_eq!(
                out,
                MssFixup {
                    outcome: MssOutcome::NotApplicable,
                    frame_len: frame.len()
                }
            );
            assert_eq!(got, frame);
        }
        let (out, got, _) = run(&V4_SYNACK_NO_MSS, 8, &CLAMP_1400);
        assert_eq!(out.outcome, MssOutcome::Absent);
        assert_eq!(got, V4_SYNACK_NO_MSS);
    }

    #[test]
    fn inconsistent_headers_are_malformed_and_untouched() {
        let policy = MssPolicy {
            clamp_v4: Some(1000),
            clamp_v6: Some(1000),
            insert_missing: Some(1000),
        };
        // Headers of one frame applied to another.
        let mut buf = V4_SYN_BARE_PADDED.to_vec();
        let mut hdr = parse(&V4_SYN).unwrap();
        let out = fixup(&mut buf, 60, &mut hdr, &policy);
        assert_eq!(out.outcome, MssOutcome::Malformed);
        assert_eq!(buf, V4_SYN_BARE_PADDED);
        // frame_len beyond the buffer.
        let mut buf = V4_SYN.to_vec();
        let mut hdr = parse(&V4_SYN).unwrap();
        assert_eq!(
            fixup(&mut buf, 75, &mut hdr, &policy).outcome,
            MssOutcome::Malformed
        );
        // A bad option the parser did not see (bytes changed after parsing).
        let mut buf = V4_SYN.to_vec();
        buf[71] = 30;
        buf[72] = 1;
        assert_eq!(
            fixup(&mut buf, 74, &mut hdr, &policy).outcome,
            MssOutcome::Malformed
        );
        // Insertion with a stale IP length.
        let mut buf = V4_SYNACK_NO_MSS.to_vec();
        buf.resize(100, 0);
        let mut hdr = parse(&V4_SYNACK_NO_MSS).unwrap();
        buf[17] += 4;
        let before = buf.clone();
        assert_eq!(
            fixup(&mut buf, 74, &mut hdr, &policy).outcome,
            MssOutcome::Malformed
        );
        assert_eq!(buf, before);
    }

    #[test]
    fn outcome_indices() {
        let all = [
            MssOutcome::NotApplicable,
            MssOutcome::Unchanged { value: 1 },
            MssOutcome::Clamped { from: 2, to: 1 },
            MssOutcome::Absent,
            MssOutcome::Inserted { value: 1 },
            MssOutcome::NoRoom,
            MssOutcome::PayloadOnSyn,
            MssOutcome::NoTailroom,
            MssOutcome::Malformed,
        ];
        for (i, o) in all.iter().enumerate() {
            assert_eq!(o.index(), i);
            assert_eq!(o.name(), MssOutcome::NAMES[i]);
        }
        assert!(!MssOutcome::NotApplicable.seen() && MssOutcome::Absent.seen());
        assert!(all[2].changed() && all[4].changed() && !all[5].changed());
        assert_eq!(MssPolicy::auto_clamp_v4(1500), 1460);
        assert_eq!(MssPolicy::auto_clamp_v6(1500), 1440);
        assert!(!MssPolicy::default().is_active());
    }

    // ---- A small independent frame builder for generated SYNs. ----

    #[derive(Debug, Clone, Default)]
    struct Spec {
        v6: bool,
        vlans: u8,
        synack: bool,
        options: Vec<u8>,
        payload: Vec<u8>,
        padding: usize,
    }

    /// Builds an Ethernet frame byte by byte with checksums from `naive_sum`.
    fn build(spec: &Spec) -> Vec<u8> {
        assert!(spec.options.len() % 4 == 0 && spec.options.len() <= 40);
        let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1];
        let tpids: &[[u8; 2]] = match spec.vlans {
            0 => &[],
            1 => &[[0x81, 0x00]],
            _ => &[[0x88, 0xa8], [0x81, 0x00]],
        };
        for (i, tpid) in tpids.iter().enumerate() {
            f.extend_from_slice(tpid);
            f.extend_from_slice(&[0, 10 + i as u8]);
        }
        f.extend_from_slice(if spec.v6 {
            &[0x86, 0xdd]
        } else {
            &[0x08, 0x00]
        });
        let l3 = f.len();
        let tcp_len = 20 + spec.options.len() + spec.payload.len();
        let (src, dst): (Vec<u8>, Vec<u8>) = if spec.v6 {
            f.extend_from_slice(&[0x60, 0, 0, 0]);
            f.extend_from_slice(&(tcp_len as u16).to_be_bytes());
            f.extend_from_slice(&[6, 64]);
            let s = [0x20, 1, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
            let d = [0x20, 1, 0, 2, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1];
            f.extend_from_slice(&s);
            f.extend_from_slice(&d);
            (s.to_vec(), d.to_vec())
        } else {
            f.extend_from_slice(&[0x45, 0]);
            f.extend_from_slice(&((20 + tcp_len) as u16).to_be_bytes());
            f.extend_from_slice(&[
                0xab, 0xcd, 0x40, 0, 64, 6, 0, 0, 198, 18, 0, 1, 198, 19, 0, 1,
            ]);
            let c = !naive_sum(&[&f[l3..]]);
            f[l3 + 10..l3 + 12].copy_from_slice(&c.to_be_bytes());
            (vec![198, 18, 0, 1], vec![198, 19, 0, 1])
        };
        let l4 = f.len();
        let flags: u8 = if spec.synack { 0x12 } else { 0x02 };
        f.extend_from_slice(&[
            0x9c,
            0x41,
            0x01,
            0xbb,
            1,
            2,
            3,
            4,
            0,
            0,
            0,
            if spec.synack { 9 } else { 0 },
        ]);
        f.extend_from_slice(&[
            (((20 + spec.options.len()) / 4) << 4) as u8,
            flags,
            0xfa,
            0xf0,
            0,
            0,
            0,
            0,
        ]);
        f.extend_from_slice(&spec.options);
        f.extend_from_slice(&spec.payload);
        let c = if spec.v6 {
            !naive_sum(&[
                &src,
                &dst,
                &(tcp_len as u32).to_be_bytes(),
                &[0, 0, 0, 6],
                &f[l4..],
            ])
        } else {
            !naive_sum(&[
                &src,
                &dst,
                &[0, 6],
                &(tcp_len as u16).to_be_bytes(),
                &f[l4..],
            ])
        };
        f[l4 + 16..l4 + 18].copy_from_slice(&c.to_be_bytes());
        f.extend(std::iter::repeat(0xee).take(spec.padding));
        f
    }

    /// The options of a frame's TCP header, parsed (test helper).
    fn opts_of(frame: &[u8]) -> Vec<TcpOption<'_>> {
        let h = parse(frame).unwrap();
        let t = h.tcp().unwrap();
        let area = &frame[usize::from(h.l4_offset) + 20..usize::from(t.payload_offset)];
        TcpOptions::new(area).map(|o| o.unwrap().1).collect()
    }

    /// Random well-formed option lists (≤ 40 bytes, padded to a multiple of 4 with NOPs).
    fn options_strategy() -> impl Strategy<Value = Vec<u8>> {
        let one = prop_oneof![
            Just(vec![1u8]),
            any::<u16>().prop_map(|v| {
                let b = v.to_be_bytes();
                vec![2, 4, b[0], b[1]]
            }),
            (0u8..15).prop_map(|s| vec![3, 3, s]),
            Just(vec![4, 2]),
            (any::<u32>(), any::<u32>()).prop_map(|(a, b)| {
                let mut v = vec![8, 10];
                v.extend_from_slice(&a.to_be_bytes());
                v.extend_from_slice(&b.to_be_bytes());
                v
            }),
            (30u8..=254, proptest::collection::vec(any::<u8>(), 0..6)).prop_map(|(k, d)| {
                let mut v = vec![k, 2 + d.len() as u8];
                v.extend(d);
                v
            }),
        ];
        (proptest::collection::vec(one, 0..8), any::<bool>()).prop_map(|(list, eol)| {
            let mut out = Vec::new();
            for o in list {
                if out.len() + o.len() <= 40 {
                    out.extend(o);
                }
            }
            let pad = if eol && out.len() < 40 { 0 } else { 1 };
            while out.len() % 4 != 0 {
                out.push(pad);
            }
            out
        })
    }

    fn spec_strategy() -> impl Strategy<Value = Spec> {
        (
            any::<bool>(),
            0u8..=2,
            any::<bool>(),
            options_strategy(),
            prop_oneof![4 => Just(Vec::new()), 1 => proptest::collection::vec(any::<u8>(), 1..5)],
            0usize..8,
        )
            .prop_map(|(v6, vlans, synack, options, payload, padding)| Spec {
                v6,
                vlans,
                synack,
                options,
                payload,
                padding,
            })
    }

    fn policy_strategy() -> impl Strategy<Value = MssPolicy> {
        let v = prop_oneof![
            Just(None),
            (0u16..=u16::MAX).prop_map(Some),
            (500u16..1600).prop_map(Some)
        ];
        (v.clone(), v.clone(), v).prop_map(|(clamp_v4, clamp_v6, insert_missing)| MssPolicy {
            clamp_v4,
            clamp_v6,
            insert_missing,
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn fixup_keeps_checksums_valid_and_mss_under_clamp(
            spec in spec_strategy(),
            policy in policy_strategy(),
            tailroom in 0usize..8,
        ) {
            let frame = build(&spec);
            prop_assert!(naive_checksums_ok(&frame));
            let before = opts_of(&frame).into_iter().map(|o| {
                // Compare options without the MSS values, which a clamp may change.
                match o { TcpOption::MaxSegmentSize(_) => TcpOption::MaxSegmentSize(0), o => o }
            }).collect::<Vec<_>>();
            let had_mss = before.contains(&TcpOption::MaxSegmentSize(0));
            let (out, got, hdr) = run(&frame, tailroom, &policy);
            let got_opts = opts_of(&got);
            let clamp = if spec.v6 { policy.clamp_v6 } else { policy.clamp_v4 };
            prop_assert!(naive_checksums_ok(&got));
            let fresh = parse(&got).unwrap();
            prop_assert_eq!(fresh, hdr);
            let stored = read_u16(&got, usize::from(fresh.l4_offset) + tcp::CHECKSUM_OFFSET);
            prop_assert_eq!(crate::packet::tcp_checksum(&got, &fresh), Some(stored));
            if let Some(c) = clamp {
                for o in &got_opts {
                    if let TcpOption::MaxSegmentSize(v) = o {
                        prop_assert!(*v <= c);
                    }
                }
            }
            match out.outcome {
                MssOutcome::Inserted { value } => {
                    prop_assert!(!had_mss && spec.payload.is_empty());
                    prop_assert_eq!(Some(value), policy.insert_missing.map(|v| clamp.map_or(v, |c| v.min(c))));
                    prop_assert_eq!(got_opts[0], TcpOption::MaxSegmentSize(value));
                    prop_assert_eq!(&got_opts[1..], &before[..]);
                    prop_assert_eq!(out.frame_len, frame.len() - spec.padding + 4);
                }
                MssOutcome::Clamped { .. } | MssOutcome::Unchanged { .. } => {
                    prop_assert!(had_mss);
                    prop_assert_eq!(got.len(), frame.len());
                    let masked: Vec<_> = got_opts.iter().map(|o| match o { TcpOption::MaxSegmentSize(_) => TcpOption::MaxSegmentSize(0), o => *o }).collect();
                    prop_assert_eq!(masked, before);
                    if matches!(out.outcome, MssOutcome::Unchanged { .. }) {
                        prop_assert_eq!(&got, &frame);
                    }
                }
                other => {
                    prop_assert!(!had_mss);
                    prop_assert_eq!(&got, &frame);
                    match other {
                        MssOutcome::Absent => prop_assert!(policy.insert_missing.is_none()),
                        MssOutcome::PayloadOnSyn => prop_assert!(!spec.payload.is_empty()),
                        MssOutcome::NoRoom => prop_assert!(spec.options.len() > 36),
                        MssOutcome::NoTailroom => prop_assert!(tailroom + spec.padding < 4),
                        o => prop_assert!(false, "unexpected {:?}", o),
                    }
                }
            }
            prop_assert!(hdr.tcp().unwrap().flags.contains(TcpFlags::SYN));
        }

        #[test]
        fn fixup_never_panics_on_mismatched_headers(
            spec in spec_strategy(),
            other in spec_strategy(),
            policy in policy_strategy(),
            cut in 0usize..80,
        ) {
            // Headers parsed from one frame, applied to another (and a shortened buffer).
            let a = build(&spec);
            let b = build(&other);
            let mut hdr = parse(&a).unwrap();
            let mut buf = b.clone();
            buf.truncate(b.len().saturating_sub(cut));
            let len = buf.len();
            let out = fixup(&mut buf, len, &mut hdr, &policy);
            prop_assert!(out.frame_len <= buf.len());
        }
    }
}
