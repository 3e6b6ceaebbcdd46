//! Frame builders: Ethernet (optionally 802.1Q tagged), IPv4 / IPv6, TCP with options, UDP,
//! all with correct checksums.
//!
//! Written independently of the appliance's own `packet` module on purpose: the generator's
//! frames are the reference the datapath is checked against, so sharing its code would
//! share its bugs.

use appliance_core::packet::checksum;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// EtherType of IPv4.
pub const ETHERTYPE_IPV4: u16 = 0x0800;
/// EtherType of IPv6.
pub const ETHERTYPE_IPV6: u16 = 0x86dd;
/// EtherType (TPID) of an 802.1Q tag.
pub const ETHERTYPE_VLAN: u16 = 0x8100;
/// IP protocol number of TCP.
pub const PROTO_TCP: u8 = 6;
/// IP protocol number of UDP.
pub const PROTO_UDP: u8 = 17;
/// Minimum Ethernet frame length without the FCS; shorter frames are zero-padded on the
/// wire, so the appliance sees the padding after the IP packet.
pub const ETH_MIN_LEN: usize = 60;
/// Largest VLAN ID (4095 is reserved).
pub const VLAN_ID_MAX: u16 = 4094;
/// TCP options occupy at most 40 bytes (data offset is 4 bits of 32-bit words).
pub const TCP_OPTIONS_MAX: usize = 40;

/// TCP flag FIN.
pub const FIN: u8 = 0x01;
/// TCP flag SYN.
pub const SYN: u8 = 0x02;
/// TCP flag RST.
pub const RST: u8 = 0x04;
/// TCP flag PSH.
pub const PSH: u8 = 0x08;
/// TCP flag ACK.
pub const ACK: u8 = 0x10;
/// TCP flag URG.
pub const URG: u8 = 0x20;

/// A 48-bit MAC address.
pub type Mac = [u8; 6];

/// Why a frame could not be built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameError {
    /// VLAN ID above [`VLAN_ID_MAX`].
    VlanId(u16),
    /// IPv6 flow label wider than 20 bits.
    FlowLabel(u32),
    /// The encoded TCP options exceed 40 bytes.
    OptionsTooLong(usize),
    /// A SACK option with no blocks or more than four.
    SackBlocks(usize),
    /// The IP packet would exceed the 16-bit length field.
    TooLong(usize),
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            FrameError::VlanId(id) => write!(f, "VLAN ID {id} out of range 0..={VLAN_ID_MAX}"),
            FrameError::FlowLabel(l) => write!(f, "IPv6 flow label {l:#x} wider than 20 bits"),
            FrameError::OptionsTooLong(n) => {
                write!(f, "TCP options take {n} bytes, at most {TCP_OPTIONS_MAX}")
            }
            FrameError::SackBlocks(n) => write!(f, "SACK option with {n} blocks (1..=4)"),
            FrameError::TooLong(n) => write!(f, "IP packet of {n} bytes exceeds 65535"),
        }
    }
}

impl std::error::Error for FrameError {}

/// The Ethernet header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ethernet {
    /// Destination MAC.
    pub dst: Mac,
    /// Source MAC.
    pub src: Mac,
    /// 802.1Q VLAN ID (priority 0), or untagged.
    pub vlan: Option<u16>,
    /// Zero-pad the frame to [`ETH_MIN_LEN`] as it appears on the wire.
    pub pad: bool,
}

/// IPv4 header fields (no options; DSCP/ECN 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv4 {
    /// Source address.
    pub src: Ipv4Addr,
    /// Destination address.
    pub dst: Ipv4Addr,
    /// Identification.
    pub id: u16,
    /// Time to live.
    pub ttl: u8,
    /// Set the don't-fragment flag.
    pub dont_fragment: bool,
}

/// IPv6 header fields (no extension headers; traffic class 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv6 {
    /// Source address.
    pub src: Ipv6Addr,
    /// Destination address.
    pub dst: Ipv6Addr,
    /// Hop limit.
    pub hop_limit: u8,
    /// 20-bit flow label.
    pub flow_label: u32,
}

/// The network layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ip {
    /// IPv4.
    V4(Ipv4),
    /// IPv6.
    V6(Ipv6),
}

impl Ip {
    /// The header from `src` to `dst`: IPv4 with `id`, `ttl` and DF, or IPv6 with `ttl` as
    /// the hop limit and `flow_label`. Errs when the two addresses' families differ.
    pub fn between(
        src: IpAddr,
        dst: IpAddr,
        id: u16,
        ttl: u8,
        dont_fragment: bool,
        flow_label: u32,
    ) -> Result<Ip, String> {
        match (src, dst) {
            (IpAddr::V4(src), IpAddr::V4(dst)) => Ok(Ip::V4(Ipv4 {
                src,
                dst,
                id,
                ttl,
                dont_fragment,
            })),
            (IpAddr::V6(src), IpAddr::V6(dst)) => Ok(Ip::V6(Ipv6 {
                src,
                dst,
                hop_limit: ttl,
                flow_label,
            })),
            _ => Err("internal: mixed address families".to_string()),
        }
    }
}

/// One TCP option.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TcpOption {
    /// End of option list (kind 0).
    Eol,
    /// No-operation (kind 1).
    Nop,
    /// Maximum segment size (kind 2).
    Mss(u16),
    /// Window scale shift (kind 3).
    WindowScale(u8),
    /// SACK permitted (kind 4).
    SackPermitted,
    /// SACK blocks (kind 5): `(left, right)` edges; only the first `count` are used.
    Sack {
        /// Block storage.
        blocks: [(u32, u32); 4],
        /// Blocks in use, 1..=4.
        count: u8,
    },
    /// Timestamps (kind 8).
    Timestamps {
        /// TSval.
        val: u32,
        /// TSecr.
        ecr: u32,
    },
}

/// A TCP segment to build.
#[derive(Clone, Copy, Debug)]
pub struct Tcp<'a> {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgment number (sent as is; meaningful when `flags` has ACK).
    pub ack: u32,
    /// Flag bits ([`SYN`], [`ACK`], …).
    pub flags: u8,
    /// Window (unscaled field value).
    pub window: u16,
    /// Options, encoded in order and padded with EOL to a multiple of 4 bytes.
    pub options: &'a [TcpOption],
    /// Payload.
    pub payload: &'a [u8],
}

/// A UDP datagram to build.
#[derive(Clone, Copy, Debug)]
pub struct Udp<'a> {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Payload.
    pub payload: &'a [u8],
}

/// The folded pseudo-header sum for an upper-layer packet of `len` bytes and protocol `proto`
/// (`len` was checked against the IP length field's range by the caller).
fn pseudo_header(ip: &Ip, proto: u8, len: usize) -> u16 {
    match ip {
        Ip::V4(h) => {
            checksum::pseudo_header_v4(&h.src.octets(), &h.dst.octets(), proto, len as u16)
        }
        Ip::V6(h) => {
            checksum::pseudo_header_v6(&h.src.octets(), &h.dst.octets(), proto, len as u32)
        }
    }
}

/// The value for an upper-layer checksum field: the complement of the pseudo-header's sum
/// plus the sum of the segment (whose checksum field is zero).
fn l4_checksum(ip: &Ip, proto: u8, segment: &[u8]) -> u16 {
    !checksum::combine(&[
        pseudo_header(ip, proto, segment.len()),
        checksum::data(segment),
    ])
}

/// Encodes TCP options, padded with EOL bytes to a multiple of four.
pub fn encode_tcp_options(options: &[TcpOption]) -> Result<Vec<u8>, FrameError> {
    let mut out = Vec::with_capacity(TCP_OPTIONS_MAX);
    for opt in options {
        match *opt {
            TcpOption::Eol => out.push(0),
            TcpOption::Nop => out.push(1),
            TcpOption::Mss(mss) => {
                out.extend_from_slice(&[2, 4]);
                out.extend_from_slice(&mss.to_be_bytes());
            }
            TcpOption::WindowScale(shift) => out.extend_from_slice(&[3, 3, shift]),
            TcpOption::SackPermitted => out.extend_from_slice(&[4, 2]),
            TcpOption::Sack { blocks, count } => {
                let n = usize::from(count);
                if !(1..=4).contains(&n) {
                    return Err(FrameError::SackBlocks(n));
                }
                out.extend_from_slice(&[5, 2 + 8 * count]);
                for (left, right) in &blocks[..n] {
                    out.extend_from_slice(&left.to_be_bytes());
                    out.extend_from_slice(&right.to_be_bytes());
                }
            }
            TcpOption::Timestamps { val, ecr } => {
                out.extend_from_slice(&[8, 10]);
                out.extend_from_slice(&val.to_be_bytes());
                out.extend_from_slice(&ecr.to_be_bytes());
            }
        }
    }
    while out.len() % 4 != 0 {
        out.push(0);
    }
    if out.len() > TCP_OPTIONS_MAX {
        return Err(FrameError::OptionsTooLong(out.len()));
    }
    Ok(out)
}

/// Writes the Ethernet header (and VLAN tag) for a payload of type `ethertype`.
fn ethernet_header(out: &mut Vec<u8>, eth: &Ethernet, ethertype: u16) -> Result<(), FrameError> {
    out.extend_from_slice(&eth.dst);
    out.extend_from_slice(&eth.src);
    if let Some(id) = eth.vlan {
        if id > VLAN_ID_MAX {
            return Err(FrameError::VlanId(id));
        }
        out.extend_from_slice(&ETHERTYPE_VLAN.to_be_bytes());
        out.extend_from_slice(&id.to_be_bytes());
    }
    out.extend_from_slice(&ethertype.to_be_bytes());
    Ok(())
}

/// Writes the IP header for an upper-layer packet of `l4_len` bytes.
fn ip_header(out: &mut Vec<u8>, ip: &Ip, proto: u8, l4_len: usize) -> Result<(), FrameError> {
    match ip {
        Ip::V4(h) => {
            let total = 20 + l4_len;
            let total16 = u16::try_from(total).map_err(|_| FrameError::TooLong(total))?;
            let start = out.len();
            out.extend_from_slice(&[0x45, 0]);
            out.extend_from_slice(&total16.to_be_bytes());
            out.extend_from_slice(&h.id.to_be_bytes());
            let frag: u16 = if h.dont_fragment { 0x4000 } else { 0 };
            out.extend_from_slice(&frag.to_be_bytes());
            out.extend_from_slice(&[h.ttl, proto, 0, 0]);
            out.extend_from_slice(&h.src.octets());
            out.extend_from_slice(&h.dst.octets());
            let c = checksum::ipv4_header_checksum(&out[start..]);
            out[start + 10..start + 12].copy_from_slice(&c.to_be_bytes());
        }
        Ip::V6(h) => {
            if h.flow_label > 0xf_ffff {
                return Err(FrameError::FlowLabel(h.flow_label));
            }
            let plen = u16::try_from(l4_len).map_err(|_| FrameError::TooLong(l4_len + 40))?;
            out.extend_from_slice(&(0x6000_0000 | h.flow_label).to_be_bytes());
            out.extend_from_slice(&plen.to_be_bytes());
            out.extend_from_slice(&[proto, h.hop_limit]);
            out.extend_from_slice(&h.src.octets());
            out.extend_from_slice(&h.dst.octets());
        }
    }
    Ok(())
}

fn ethertype_of(ip: &Ip) -> u16 {
    match ip {
        Ip::V4(_) => ETHERTYPE_IPV4,
        Ip::V6(_) => ETHERTYPE_IPV6,
    }
}

fn pad(out: &mut Vec<u8>, eth: &Ethernet) {
    if eth.pad && out.len() < ETH_MIN_LEN {
        out.resize(ETH_MIN_LEN, 0);
    }
}

/// Builds an Ethernet / IP / TCP frame with IP and TCP checksums filled in.
pub fn tcp_frame(eth: &Ethernet, ip: &Ip, tcp: &Tcp<'_>) -> Result<Vec<u8>, FrameError> {
    let opts = encode_tcp_options(tcp.options)?;
    let tcp_len = 20 + opts.len() + tcp.payload.len();
    let mut out = Vec::with_capacity(18 + 40 + tcp_len);
    ethernet_header(&mut out, eth, ethertype_of(ip))?;
    ip_header(&mut out, ip, PROTO_TCP, tcp_len)?;
    let start = out.len();
    out.extend_from_slice(&tcp.src_port.to_be_bytes());
    out.extend_from_slice(&tcp.dst_port.to_be_bytes());
    out.extend_from_slice(&tcp.seq.to_be_bytes());
    out.extend_from_slice(&tcp.ack.to_be_bytes());
    let data_offset = ((20 + opts.len()) / 4) as u8;
    out.extend_from_slice(&[data_offset << 4, tcp.flags]);
    out.extend_from_slice(&tcp.window.to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]); // checksum, urgent pointer
    out.extend_from_slice(&opts);
    out.extend_from_slice(tcp.payload);
    let c = l4_checksum(ip, PROTO_TCP, &out[start..]);
    out[start + 16..start + 18].copy_from_slice(&c.to_be_bytes());
    pad(&mut out, eth);
    Ok(out)
}

/// Builds an Ethernet / IP / UDP frame with IP and UDP checksums filled in (a computed
/// UDP checksum of 0 is sent as 0xffff, as RFC 768 and RFC 8200 require).
pub fn udp_frame(eth: &Ethernet, ip: &Ip, udp: &Udp<'_>) -> Result<Vec<u8>, FrameError> {
    let udp_len = 8 + udp.payload.len();
    let udp_len16 = u16::try_from(udp_len).map_err(|_| FrameError::TooLong(udp_len))?;
    let mut out = Vec::with_capacity(18 + 40 + udp_len);
    ethernet_header(&mut out, eth, ethertype_of(ip))?;
    ip_header(&mut out, ip, PROTO_UDP, udp_len)?;
    let start = out.len();
    out.extend_from_slice(&udp.src_port.to_be_bytes());
    out.extend_from_slice(&udp.dst_port.to_be_bytes());
    out.extend_from_slice(&udp_len16.to_be_bytes());
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(udp.payload);
    let mut c = l4_checksum(ip, PROTO_UDP, &out[start..]);
    if c == 0 {
        c = 0xffff;
    }
    out[start + 6..start + 8].copy_from_slice(&c.to_be_bytes());
    pad(&mut out, eth);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ETH: Ethernet = Ethernet {
        dst: [0x02, 0, 0, 0, 0, 2],
        src: [0x02, 0, 0, 0, 0, 1],
        vlan: None,
        pad: true,
    };

    fn v4() -> Ip {
        Ip::V4(Ipv4 {
            src: Ipv4Addr::new(198, 18, 0, 1),
            dst: Ipv4Addr::new(198, 19, 0, 1),
            id: 0x1234,
            ttl: 64,
            dont_fragment: true,
        })
    }

    /// Naive reference: byte-pair sums with the end-around carry applied at every step.
    fn naive_sum(parts: &[&[u8]]) -> u16 {
        let mut bytes = Vec::new();
        for p in parts {
            bytes.extend_from_slice(p);
        }
        if bytes.len() % 2 == 1 {
            bytes.push(0);
        }
        let mut s: u32 = 0;
        for i in (0..bytes.len()).step_by(2) {
            s += (u32::from(bytes[i]) << 8) | u32::from(bytes[i + 1]);
            if s > 0xffff {
                s -= 0xffff;
            }
        }
        s as u16
    }

    #[test]
    fn rfc1071_example() {
        // RFC 1071 section 3 example: sum of these words is 0xddf2, checksum its complement.
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(!checksum::data(&data), !0xddf2);
        assert_eq!(naive_sum(&[&data]), 0xddf2);
    }

    #[test]
    fn known_ipv4_header_checksum() {
        // The classic example header from Wikipedia's "IPv4 header checksum" article.
        let mut h = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        assert_eq!(checksum::ipv4_header_checksum(&h), 0xb861);
        h[10..12].copy_from_slice(&0xb861u16.to_be_bytes());
        assert!(checksum::verify_ipv4_header(&h));
    }

    #[test]
    fn tcp_syn_layout_and_checksums() {
        let opts = [
            TcpOption::Mss(1460),
            TcpOption::Nop,
            TcpOption::WindowScale(8),
            TcpOption::Nop,
            TcpOption::Nop,
            TcpOption::SackPermitted,
        ];
        let f = tcp_frame(
            &ETH,
            &v4(),
            &Tcp {
                src_port: 50000,
                dst_port: 443,
                seq: 1,
                ack: 0,
                flags: SYN,
                window: 64240,
                options: &opts,
                payload: &[],
            },
        )
        .unwrap();
        assert_eq!(f.len(), 14 + 20 + 32);
        assert_eq!(&f[12..14], &[0x08, 0x00]);
        assert_eq!(&f[16..18], &52u16.to_be_bytes());
        assert_eq!(f[14 + 20 + 12], 8 << 4);
        assert_eq!(&f[54..66], &[2, 4, 0x05, 0xb4, 1, 3, 3, 8, 1, 1, 4, 2]);
        assert_eq!(naive_sum(&[&f[14..34]]), 0xffff);
        let pseudo = [&f[26..34], &[0, 6, 0, 32][..]].concat();
        assert_eq!(naive_sum(&[&pseudo, &f[34..66]]), 0xffff);
    }

    #[test]
    fn small_frames_are_padded_but_lengths_say_the_truth() {
        let f = tcp_frame(
            &ETH,
            &v4(),
            &Tcp {
                src_port: 1,
                dst_port: 2,
                seq: 3,
                ack: 4,
                flags: ACK,
                window: 5,
                options: &[],
                payload: &[],
            },
        )
        .unwrap();
        assert_eq!(f.len(), ETH_MIN_LEN);
        assert_eq!(&f[16..18], &40u16.to_be_bytes());
        assert!(f[54..].iter().all(|&b| b == 0));
    }

    #[test]
    fn options_are_padded_and_bounded() {
        assert_eq!(
            encode_tcp_options(&[TcpOption::WindowScale(7)]).unwrap(),
            vec![3, 3, 7, 0]
        );
        let ts = TcpOption::Timestamps { val: 1, ecr: 2 };
        assert_eq!(encode_tcp_options(&[ts; 4]).unwrap().len(), 40);
        assert_eq!(
            encode_tcp_options(&[ts; 5]),
            Err(FrameError::OptionsTooLong(52))
        );
        let sack = TcpOption::Sack {
            blocks: [(1, 2); 4],
            count: 0,
        };
        assert_eq!(encode_tcp_options(&[sack]), Err(FrameError::SackBlocks(0)));
        let sack = TcpOption::Sack {
            blocks: [(1, 2), (3, 4), (0, 0), (0, 0)],
            count: 2,
        };
        let b = encode_tcp_options(&[TcpOption::Nop, TcpOption::Nop, sack]).unwrap();
        assert_eq!(b.len(), 20);
        assert_eq!(&b[..4], &[1, 1, 5, 18]);
    }

    #[test]
    fn vlan_udp_v6() {
        let eth = Ethernet {
            vlan: Some(100),
            ..ETH
        };
        let ip = Ip::V6(Ipv6 {
            src: "2001:2::1".parse().unwrap(),
            dst: "2001:2::2".parse().unwrap(),
            hop_limit: 64,
            flow_label: 0xabcde,
        });
        let f = udp_frame(
            &eth,
            &ip,
            &Udp {
                src_port: 5353,
                dst_port: 53,
                payload: b"hello",
            },
        )
        .unwrap();
        assert_eq!(&f[12..16], &[0x81, 0x00, 0x00, 100]);
        assert_eq!(&f[16..18], &[0x86, 0xdd]);
        assert_eq!(&f[18..22], &[0x60, 0x0a, 0xbc, 0xde]);
        assert_eq!(f.len(), 18 + 40 + 8 + 5);
        let mut pseudo = f[26..58].to_vec();
        pseudo.extend_from_slice(&[0, 0, 0, 13, 0, 0, 0, 17]);
        assert_eq!(naive_sum(&[&pseudo, &f[58..]]), 0xffff);
        assert_eq!(
            udp_frame(
                &Ethernet {
                    vlan: Some(4095),
                    ..ETH
                },
                &ip,
                &Udp {
                    src_port: 1,
                    dst_port: 2,
                    payload: &[]
                }
            ),
            Err(FrameError::VlanId(4095))
        );
    }

    #[test]
    fn oversize_is_an_error() {
        let big = vec![0u8; 65_536];
        let r = udp_frame(
            &ETH,
            &v4(),
            &Udp {
                src_port: 1,
                dst_port: 2,
                payload: &big,
            },
        );
        assert!(matches!(r, Err(FrameError::TooLong(_))));
    }
}
