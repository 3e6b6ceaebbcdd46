//! Zero-copy packet header views and checksums, in the smoltcp style.
//!
//! One file per protocol. Each view (`ethernet::Frame`, `vlan::Tag`, `ipv4::Packet`,
//! `ipv6::Packet`, `tcp::Packet`, ...) wraps a `T: AsRef<[u8]>`: getters on `AsRef`, setters on
//! `AsRef + AsMut`. Untrusted bytes only go through `new_checked`, which validates every length
//! the getters rely on; `new_unchecked` is for buffers the caller built itself (emitting a
//! header into a buffer it sized), where a getter on too short a buffer panics.
//!
//! The hot path does not use the views one by one: [`parse()`] walks Ethernet, VLAN/QinQ,
//! IPv4/IPv6 and TCP once and returns a small `Copy` [`Headers`] summary that the worker, the
//! flow tracker, the MSS fixup and the accumulator read without parsing again. It never
//! allocates and never panics; malformed input is a [`ParseError`] that doubles as a counter
//! index.
//!
//! Nothing here knows about DPDK: everything takes byte slices and is tested without EAL.

pub mod checksum;
mod error;
pub mod ethernet;
pub mod fast;
pub mod ipv4;
pub mod ipv6;
pub mod parse;
pub mod tcp;
mod verify;
pub mod vlan;

#[cfg(test)]
pub(crate) mod fixtures;

pub use error::ParseError;
pub use ethernet::{EtherType, Frame as EthernetFrame};
pub use ipv4::Packet as Ipv4Packet;
pub use ipv6::Packet as Ipv6Packet;
pub use parse::{parse, parse_into, Headers, MssOption, TcpInfo, Timestamps, L3, L4};
pub use tcp::{Packet as TcpPacket, TcpFlags, TcpOption, TcpOptions};
pub use verify::{pseudo_header, tcp_checksum, verify_ip_header, verify_tcp_checksum};
pub use vlan::Tag as VlanTag;

/// IP protocol / IPv6 next-header numbers the parser knows about.
pub mod ip_proto {
    /// IPv6 hop-by-hop options.
    pub const HOP_BY_HOP: u8 = 0;
    /// ICMP for IPv4.
    pub const ICMP: u8 = 1;
    /// TCP.
    pub const TCP: u8 = 6;
    /// UDP.
    pub const UDP: u8 = 17;
    /// IPv6 routing header.
    pub const ROUTING: u8 = 43;
    /// IPv6 fragment header.
    pub const FRAGMENT: u8 = 44;
    /// IPsec Encapsulating Security Payload.
    pub const ESP: u8 = 50;
    /// IPsec Authentication Header.
    pub const AH: u8 = 51;
    /// ICMP for IPv6.
    pub const ICMPV6: u8 = 58;
    /// IPv6 "no next header".
    pub const NO_NEXT_HEADER: u8 = 59;
    /// IPv6 destination options.
    pub const DEST_OPTS: u8 = 60;
}

/// A byte range inside a header, as used by the private `field` modules.
pub(crate) type Field = core::ops::Range<usize>;

/// Big-endian `u16` at `data[range]`; the caller guarantees `range.len() == 2` and bounds.
#[inline(always)]
pub(crate) fn read_u16(data: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([data[at], data[at + 1]])
}

/// Big-endian `u32` at `data[at..at + 4]`; the caller guarantees bounds.
#[inline(always)]
pub(crate) fn read_u32(data: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([data[at], data[at + 1], data[at + 2], data[at + 3]])
}

/// Writes a big-endian `u16` at `data[at..at + 2]`; the caller guarantees bounds.
#[inline(always)]
pub(crate) fn write_u16(data: &mut [u8], at: usize, value: u16) {
    data[at..at + 2].copy_from_slice(&value.to_be_bytes());
}

/// Writes a big-endian `u32` at `data[at..at + 4]`; the caller guarantees bounds.
#[inline(always)]
pub(crate) fn write_u32(data: &mut [u8], at: usize, value: u32) {
    data[at..at + 4].copy_from_slice(&value.to_be_bytes());
}

/// Raise the IPv4 TTL or IPv6 hop limit of the frame `h` describes to at least `min`, the
/// IPv4 header checksum updated incrementally (RFC 1624; the TTL is not in the TCP
/// pseudo-header). Returns whether the frame changed.
pub fn raise_ttl(frame: &mut [u8], h: &Headers, min: u8) -> bool {
    let l3 = usize::from(h.l3_offset);
    match h.l3 {
        L3::Ipv4 => {
            let (Some(&ttl), Some(&proto)) = (frame.get(l3 + 8), frame.get(l3 + 9)) else {
                return false;
            };
            if ttl >= min || frame.len() < l3 + 12 {
                return false;
            }
            let hc = read_u16(frame, l3 + 10);
            let (old, new) = (
                u16::from_be_bytes([ttl, proto]),
                u16::from_be_bytes([min, proto]),
            );
            frame[l3 + 8] = min;
            write_u16(frame, l3 + 10, checksum::update16(hc, old, new));
            true
        }
        L3::Ipv6 => match frame.get_mut(l3 + 7) {
            Some(hop) if *hop < min => {
                *hop = min;
                true
            }
            _ => false,
        },
        L3::NotIp => false,
    }
}

#[cfg(test)]
mod ttl_tests {
    use super::*;

    #[test]
    fn raise_ttl_keeps_the_checksums_valid() {
        for frame in [
            &fixtures::V4_SYN[..],
            &fixtures::V6_VLAN_SYN,
            &fixtures::QINQ_V4_SYN,
        ] {
            let mut f = frame.to_vec();
            let h = parse(&f).unwrap();
            assert!(raise_ttl(&mut f, &h, 255), "raised");
            assert!(!raise_ttl(&mut f, &h, 64), "already above");
            let h2 = parse(&f).unwrap();
            assert!(verify_ip_header(&f, &h2) && verify_tcp_checksum(&f, &h2));
            let at = usize::from(h.l3_offset) + if h.l3 == L3::Ipv4 { 8 } else { 7 };
            assert_eq!(f[at], 255);
        }
    }
}
