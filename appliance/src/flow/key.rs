//! The bidirectional flow key: both directions of a flow map to the same key.

use crate::packet::{Headers, L4};

/// Canonical key: the (address, port) pair that sorts lower is `a`. 40 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[repr(C)]
pub struct FlowKey {
    pub a: [u8; 16],
    pub b: [u8; 16],
    pub port_a: u16,
    pub port_b: u16,
    /// Outer VLAN id (the same 5-tuple in two VLANs is two flows).
    pub vlan: u16,
    pub proto: u8,
    _pad: u8,
}

impl FlowKey {
    /// The key of an IP packet and whether its source is `a`. None for non-IP and fragments.
    #[inline]
    pub fn from_headers(h: &Headers) -> Option<(FlowKey, bool)> {
        Self::from_headers_hashed(h).map(|(k, src_is_a, _)| (k, src_is_a))
    }

    /// A fast 64-bit hash of the key (multiply-rotate over its words). Symmetric because the
    /// key is canonical.
    #[inline]
    pub fn hash(&self) -> u64 {
        mix(
            u128::from_be_bytes(self.a),
            u128::from_be_bytes(self.b),
            tail(self.port_a, self.port_b, self.vlan, self.proto),
        )
    }

    /// `from_headers` and the key's `hash`.
    #[inline]
    pub fn from_headers_hashed(h: &Headers) -> Option<(FlowKey, bool, u64)> {
        let (sp, dp) = match h.l4 {
            L4::Tcp(t) => (t.src_port, t.dst_port),
            L4::Udp { src_port, dst_port } => (src_port, dst_port),
            L4::Icmp { .. } | L4::Other => (0, 0),
            L4::Fragment | L4::None => return None,
        };
        if !h.is_ip() {
            return None;
        }
        let (s, d) = (u128::from_be_bytes(h.src), u128::from_be_bytes(h.dst));
        Some(Self::from_parts_hashed(
            s,
            d,
            sp,
            dp,
            h.vlan_outer,
            h.l4_proto,
        ))
    }

    /// The key, whether the source is `a`, and the hash, from the packet's addresses as
    /// integers (IPv4-mapped for IPv4), ports, outer VLAN and protocol. The datapath calls
    /// this with values still in registers: hashing a key just stored would load it back in
    /// wider words than were stored, which stalls the CPU on every packet.
    #[inline]
    pub fn from_parts_hashed(
        src: u128,
        dst: u128,
        src_port: u16,
        dst_port: u16,
        vlan: u16,
        proto: u8,
    ) -> (FlowKey, bool, u64) {
        // (address, port) order, as integers: a byte-wise array comparison costs a loop.
        let src_is_a = src < dst || (src == dst && src_port <= dst_port);
        let (a, pa, b, pb) = if src_is_a {
            (src, src_port, dst, dst_port)
        } else {
            (dst, dst_port, src, src_port)
        };
        let hash = mix(a, b, tail(pa, pb, vlan, proto));
        let key = FlowKey {
            a: a.to_be_bytes(),
            b: b.to_be_bytes(),
            port_a: pa,
            port_b: pb,
            vlan,
            proto,
            _pad: 0,
        };
        (key, src_is_a, hash)
    }

    /// Whether the key is IPv4 (addresses are IPv4-mapped).
    pub fn is_v4(&self) -> bool {
        self.a[..12] == [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff]
    }
}

#[inline(always)]
fn tail(port_a: u16, port_b: u16, vlan: u16, proto: u8) -> u64 {
    (port_a as u64) | (port_b as u64) << 16 | (vlan as u64) << 32 | (proto as u64) << 48
}

/// Multiply-rotate over the key's words: each address as the two 64-bit halves of its value,
/// then the ports, VLAN and protocol.
#[inline(always)]
fn mix(a: u128, b: u128, tail: u64) -> u64 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut h = 0u64;
    for x in [(a >> 64) as u64, a as u64, (b >> 64) as u64, b as u64, tail] {
        h = (h ^ x).wrapping_mul(K).rotate_left(29);
    }
    h ^ (h >> 32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::{fixtures as fx, parse};

    #[test]
    fn hashed_key_matches_key_and_hash_both_ways() {
        for (fwd, rev) in [
            (&fx::V4_SYN[..], &fx::V4_SYNACK_NO_MSS[..]),
            (&fx::V6_VLAN_SYN[..], &fx::V6_VLAN_SYNACK_NO_MSS[..]),
        ] {
            let fwd = parse(fwd).unwrap();
            let rev = parse(rev).unwrap();
            let (k1, a1, h1) = FlowKey::from_headers_hashed(&fwd).unwrap();
            let (k2, a2, h2) = FlowKey::from_headers_hashed(&rev).unwrap();
            assert_eq!(FlowKey::from_headers(&fwd), Some((k1, a1)));
            assert_eq!(FlowKey::from_headers(&rev), Some((k2, a2)));
            assert_eq!((k1, h1), (k2, h2));
            assert_ne!(a1, a2);
            assert_eq!(h1, k1.hash());
        }
        let v4 = FlowKey::from_headers_hashed(&parse(&fx::V4_SYN).unwrap()).unwrap();
        let qinq = FlowKey::from_headers_hashed(&parse(&fx::QINQ_V4_SYN).unwrap()).unwrap();
        assert_ne!(v4.0, qinq.0, "the outer VLAN is part of the key");
        assert_ne!(v4.2, qinq.2);
        assert_eq!(qinq.2, qinq.0.hash());
    }

    #[test]
    fn canonical_side_is_the_lower_address_then_port() {
        let base = parse(&fx::V4_SYN).unwrap();
        let mut x = 7u64;
        for _ in 0..2000 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let mut h = base;
            // Addresses that differ in one random byte (or not at all), random ports.
            h.dst = h.src;
            h.dst[(x >> 8) as usize % 16] ^= (x >> 16) as u8 & 0x3;
            let L4::Tcp(t) = &mut h.l4 else { panic!() };
            t.src_port = (x >> 24) as u16 & 7;
            t.dst_port = (x >> 40) as u16 & 7;
            let (sp, dp) = (t.src_port, t.dst_port);
            let (k, src_is_a, _) = FlowKey::from_headers_hashed(&h).unwrap();
            assert_eq!(src_is_a, (h.src, sp) <= (h.dst, dp));
            assert!((k.a, k.port_a) <= (k.b, k.port_b));
        }
    }
}
