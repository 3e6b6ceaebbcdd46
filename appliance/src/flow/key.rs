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
        let (sp, dp) = match h.l4 {
            L4::Tcp(t) => (t.src_port, t.dst_port),
            L4::Udp { src_port, dst_port } => (src_port, dst_port),
            L4::Icmp { .. } | L4::Other => (0, 0),
            L4::Fragment | L4::None => return None,
        };
        if !h.is_ip() {
            return None;
        }
        let src_is_a = (h.src, sp) <= (h.dst, dp);
        let (a, pa, b, pb) = if src_is_a {
            (h.src, sp, h.dst, dp)
        } else {
            (h.dst, dp, h.src, sp)
        };
        Some((
            FlowKey {
                a,
                b,
                port_a: pa,
                port_b: pb,
                vlan: h.vlan_outer,
                proto: h.l4_proto,
                _pad: 0,
            },
            src_is_a,
        ))
    }

    /// A fast 64-bit hash of the key (multiply-rotate over its words). Symmetric because the
    /// key is canonical.
    #[inline]
    pub fn hash(&self) -> u64 {
        const K: u64 = 0x9e37_79b9_7f4a_7c15;
        let w = |b: &[u8; 16], i: usize| {
            u64::from_le_bytes([
                b[i],
                b[i + 1],
                b[i + 2],
                b[i + 3],
                b[i + 4],
                b[i + 5],
                b[i + 6],
                b[i + 7],
            ])
        };
        let tail = (self.port_a as u64)
            | (self.port_b as u64) << 16
            | (self.vlan as u64) << 32
            | (self.proto as u64) << 48;
        let mut h = 0u64;
        for x in [
            w(&self.a, 0),
            w(&self.a, 8),
            w(&self.b, 0),
            w(&self.b, 8),
            tail,
        ] {
            h = (h ^ x).wrapping_mul(K).rotate_left(29);
        }
        h ^ (h >> 32)
    }

    /// Whether the key is IPv4 (addresses are IPv4-mapped).
    pub fn is_v4(&self) -> bool {
        self.a[..12] == [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff]
    }
}
