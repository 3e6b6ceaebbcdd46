//! Segments the appliance sends itself: ACKs to the client on the server's behalf, and RSTs
//! when it ends a session. Built from the Ethernet/VLAN and IP headers of a packet of the same
//! session (so VLAN tags, MACs and the IP version match), without payload, with a NOP NOP
//! timestamps option when the session uses timestamps.
//!
//! Owns the bytes of a crafted segment and its emission (a buffer from the port's pool, sent
//! on one side). It decides nothing about when or why a segment is sent (`hold` sends the
//! ACKs, `release` the RSTs).

use crate::counters::WorkerCounters;
use crate::io::{Frame, PacketIo, Side};
use crate::packet::{checksum, Headers, L3};

/// A bare TCP segment to craft.
#[derive(Clone, Copy, Debug)]
pub struct Segment {
    /// Send it the opposite way of the template packet (swap MACs, addresses, ports).
    pub reverse: bool,
    pub seq: u32,
    pub ack: u32,
    /// TCP flag bits (ACK 0x10, RST 0x04).
    pub flags: u8,
    pub window: u16,
    /// (TSval, TSecr) for a timestamps option.
    pub timestamps: Option<(u32, u32)>,
}

pub const ACK: u8 = 0x10;
pub const RST: u8 = 0x04;

/// Write the segment into `out`, using `tpl`/`h` (a parsed frame of the session) as template.
/// Returns the frame length, or None when `out` is too small or the template is not TCP/IP.
pub fn build(out: &mut [u8], tpl: &[u8], h: &Headers, s: &Segment) -> Option<usize> {
    let t = h.tcp()?;
    let l3 = h.l3_offset as usize;
    let ip_len = match h.l3 {
        L3::Ipv4 => 20,
        L3::Ipv6 => 40,
        L3::NotIp => return None,
    };
    let opt_len = if s.timestamps.is_some() { 12 } else { 0 };
    let tcp_len = 20 + opt_len;
    let total = l3 + ip_len + tcp_len;
    let out = out.get_mut(..total)?;
    out[..l3].copy_from_slice(tpl.get(..l3)?);
    if s.reverse {
        let (dst, src) = (tpl.get(0..6)?, tpl.get(6..12)?);
        out[0..6].copy_from_slice(src);
        out[6..12].copy_from_slice(dst);
    }
    let (src, dst) = if s.reverse {
        (&h.dst, &h.src)
    } else {
        (&h.src, &h.dst)
    };
    let (sport, dport) = if s.reverse {
        (t.dst_port, t.src_port)
    } else {
        (t.src_port, t.dst_port)
    };
    let ip = &mut out[l3..l3 + ip_len];
    match h.l3 {
        L3::Ipv4 => {
            ip[0] = 0x45;
            ip[1] = tpl.get(l3 + 1).copied().unwrap_or(0);
            ip[2..4].copy_from_slice(&((ip_len + tcp_len) as u16).to_be_bytes());
            ip[4..6].copy_from_slice(&[0, 0]);
            ip[6..8].copy_from_slice(&[0x40, 0]); // DF
            ip[8] = 64;
            ip[9] = 6;
            ip[10..12].copy_from_slice(&[0, 0]);
            ip[12..16].copy_from_slice(&src[12..16]);
            ip[16..20].copy_from_slice(&dst[12..16]);
            let c = checksum::ipv4_header_checksum(ip);
            ip[10..12].copy_from_slice(&c.to_be_bytes());
        }
        _ => {
            ip[..4].copy_from_slice(tpl.get(l3..l3 + 4)?);
            ip[4..6].copy_from_slice(&(tcp_len as u16).to_be_bytes());
            ip[6] = 6;
            ip[7] = 64;
            ip[8..24].copy_from_slice(src);
            ip[24..40].copy_from_slice(dst);
        }
    }
    let tcp = &mut out[l3 + ip_len..];
    tcp[0..2].copy_from_slice(&sport.to_be_bytes());
    tcp[2..4].copy_from_slice(&dport.to_be_bytes());
    tcp[4..8].copy_from_slice(&s.seq.to_be_bytes());
    tcp[8..12].copy_from_slice(&s.ack.to_be_bytes());
    tcp[12] = ((tcp_len / 4) as u8) << 4;
    tcp[13] = s.flags;
    tcp[14..16].copy_from_slice(&s.window.to_be_bytes());
    tcp[16..20].copy_from_slice(&[0, 0, 0, 0]);
    if let Some((val, ecr)) = s.timestamps {
        tcp[20..24].copy_from_slice(&[1, 1, 8, 10]);
        tcp[24..28].copy_from_slice(&val.to_be_bytes());
        tcp[28..32].copy_from_slice(&ecr.to_be_bytes());
    }
    // Checksum over the pseudo-header and the segment just written (its checksum field is 0).
    let pseudo = match h.l3 {
        L3::Ipv4 => checksum::pseudo_header_v4(
            &[src[12], src[13], src[14], src[15]],
            &[dst[12], dst[13], dst[14], dst[15]],
            6,
            tcp_len as u16,
        ),
        _ => checksum::pseudo_header_v6(src, dst, 6, tcp_len as u32),
    };
    let c = !checksum::combine(&[pseudo, checksum::data(&out[l3 + ip_len..total])]);
    let off = l3 + ip_len + 16;
    out[off..off + 2].copy_from_slice(&c.to_be_bytes());
    Some(total)
}

/// Build a segment from a template and send it on `side`; counts allocation failures.
/// Returns whether it was sent.
pub fn emit_segment<P: PacketIo>(
    io: &mut P,
    side: Side,
    tpl: &[u8],
    h: &Headers,
    seg: &Segment,
    counters: &WorkerCounters,
) -> bool {
    let Some(mut b) = io.alloc() else {
        counters.acc.alloc_failed.inc();
        return false;
    };
    match build(b.with_tailroom(), tpl, h, seg) {
        Some(n) if b.set_len(n) => {
            io.tx(side, b);
            true
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet;
    use crate::worker::tests::seg;

    #[test]
    fn ack_and_rst_from_a_template_are_valid_both_ways() {
        for v6 in [false, true] {
            let tpl = seg(true, v6, 0x18, 1000, 5000, &[], b"hello");
            let h = packet::parse(&tpl).unwrap();
            let mut out = [0xa5u8; 256];
            let n = build(
                &mut out,
                &tpl,
                &h,
                &Segment {
                    reverse: true,
                    seq: 5000,
                    ack: 1005,
                    flags: ACK,
                    window: 501,
                    timestamps: Some((7, 9)),
                },
            )
            .unwrap();
            let a = packet::parse(&out[..n]).unwrap();
            let t = a.tcp().unwrap();
            assert_eq!((a.src, a.dst), (h.dst, h.src));
            assert_eq!((t.src_port, t.dst_port), (443, 40000));
            assert_eq!((t.seq, t.ack, t.window), (5000, 1005, 501));
            assert_eq!(t.timestamps.map(|x| (x.val, x.ecr)), Some((7, 9)));
            assert_eq!(&out[0..6], &tpl[6..12], "dst MAC is the client's");
            assert!(packet::verify_tcp_checksum(&out[..n], &a));
            assert!(packet::verify_ip_header(&out[..n], &a));

            let n = build(
                &mut out,
                &tpl,
                &h,
                &Segment {
                    reverse: false,
                    seq: 1000,
                    ack: 0,
                    flags: RST,
                    window: 0,
                    timestamps: None,
                },
            )
            .unwrap();
            let r = packet::parse(&out[..n]).unwrap();
            assert!(r.tcp().unwrap().flags.rst());
            assert_eq!((r.src, r.dst), (h.src, h.dst));
            assert!(packet::verify_tcp_checksum(&out[..n], &r));
        }
    }

    #[test]
    fn too_small_a_buffer_is_refused() {
        let tpl = seg(true, false, 0x18, 1, 1, &[], b"x");
        let h = packet::parse(&tpl).unwrap();
        let mut out = [0u8; 40];
        let s = Segment {
            reverse: true,
            seq: 0,
            ack: 0,
            flags: ACK,
            window: 0,
            timestamps: None,
        };
        assert!(build(&mut out, &tpl, &h, &s).is_none());
    }
}
