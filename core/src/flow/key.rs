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
        let (sp, dp) = ports(h)?;
        let (s, d) = (u128::from_be_bytes(h.src), u128::from_be_bytes(h.dst));
        let (src_is_a, a, pa, b, pb) = order(s, d, sp, dp);
        Some((key_of(a, pa, b, pb, h.vlan_outer, h.l4_proto), src_is_a))
    }

    /// The key's 64-bit hash under the secret `k`. Symmetric because the key is canonical.
    #[inline]
    pub fn hash(&self, k: &HashKey) -> u64 {
        mix(
            k,
            u128::from_be_bytes(self.a),
            u128::from_be_bytes(self.b),
            tail(self.port_a, self.port_b, self.vlan, self.proto),
        )
    }

    /// `from_headers` and the key's `hash` under `k`.
    #[inline]
    pub fn from_headers_hashed(h: &Headers, k: &HashKey) -> Option<(FlowKey, bool, u64)> {
        let (sp, dp) = ports(h)?;
        let (s, d) = (u128::from_be_bytes(h.src), u128::from_be_bytes(h.dst));
        Some(Self::from_parts_hashed(
            k,
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
        k: &HashKey,
        src: u128,
        dst: u128,
        src_port: u16,
        dst_port: u16,
        vlan: u16,
        proto: u8,
    ) -> (FlowKey, bool, u64) {
        let (src_is_a, a, pa, b, pb) = order(src, dst, src_port, dst_port);
        let hash = mix(k, a, b, tail(pa, pb, vlan, proto));
        (key_of(a, pa, b, pb, vlan, proto), src_is_a, hash)
    }

    /// Whether the key is IPv4 (addresses are IPv4-mapped).
    pub fn is_v4(&self) -> bool {
        self.a[..12] == [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff]
    }
}

/// The ports of an IP packet's flow (0 for ICMP and other protocols); None for non-IP,
/// fragments and unparsed layer 4.
#[inline(always)]
fn ports(h: &Headers) -> Option<(u16, u16)> {
    let p = match h.l4 {
        L4::Tcp(t) => (t.src_port, t.dst_port),
        L4::Udp { src_port, dst_port } => (src_port, dst_port),
        L4::Icmp { .. } | L4::Other => (0, 0),
        L4::Fragment | L4::None => return None,
    };
    h.is_ip().then_some(p)
}

/// Whether the source is the canonical `a` side, and (a, port a, b, port b): the (address,
/// port) pairs in order, compared as integers (a byte-wise array comparison costs a loop).
#[inline(always)]
fn order(src: u128, dst: u128, sp: u16, dp: u16) -> (bool, u128, u16, u128, u16) {
    let src_is_a = src < dst || (src == dst && sp <= dp);
    if src_is_a {
        (true, src, sp, dst, dp)
    } else {
        (false, dst, dp, src, sp)
    }
}

#[inline(always)]
fn key_of(a: u128, pa: u16, b: u128, pb: u16, vlan: u16, proto: u8) -> FlowKey {
    FlowKey {
        a: a.to_be_bytes(),
        b: b.to_be_bytes(),
        port_a: pa,
        port_b: pb,
        vlan,
        proto,
        _pad: 0,
    }
}

#[inline(always)]
fn tail(port_a: u16, port_b: u16, vlan: u16, proto: u8) -> u64 {
    (port_a as u64) | (port_b as u64) << 16 | (vlan as u64) << 32 | (proto as u64) << 48
}

/// The flow hash's secret. The appliance is open source: with a fixed hash, anyone could work
/// out offline which 5-tuples share a bucket and send a stream of them, so that every lookup
/// walks one long chain (hash flooding). Each process draws its own (`random`); which keys
/// collide then depends on 64 bits the sender cannot see. Tests, fuzzing and benchmarks use
/// `from_seed` to be repeatable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HashKey([u64; 6]);

impl HashKey {
    /// The key expanded from `seed` (splitmix64: distinct seeds give unrelated words).
    pub fn from_seed(seed: u64) -> HashKey {
        let mut x = seed;
        HashKey([(); 6].map(|_| {
            x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        }))
    }

    /// A key from the operating system's randomness (the keys std seeds its `HashMap`s with,
    /// drawn from getrandom once per thread and varied per call).
    pub fn random() -> HashKey {
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(0x666c_6f77); // "flow"
        HashKey::from_seed(h.finish())
    }
}

/// The high and low halves of a 64 × 64-bit product, folded together. With one factor
/// unknown, which inputs give equal outputs cannot be predicted.
#[inline(always)]
fn fold_mul(x: u64, y: u64) -> u64 {
    let r = u128::from(x) * u128::from(y);
    (r as u64) ^ ((r >> 64) as u64)
}

/// The key's words (each address as the two 64-bit halves of its value, then the ports, VLAN
/// and protocol), each offset by a secret word, multiplied pairwise and folded (the wyhash
/// construction): three multiplications.
#[inline(always)]
fn mix(k: &HashKey, a: u128, b: u128, tail: u64) -> u64 {
    let k = &k.0;
    let x = fold_mul((a >> 64) as u64 ^ k[0], a as u64 ^ k[1]);
    let y = fold_mul((b >> 64) as u64 ^ k[2], b as u64 ^ k[3]);
    fold_mul(x ^ tail ^ k[4], y ^ k[5])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::{fixtures as fx, parse};

    const HK: HashKey = HashKey([
        0x243f_6a88_85a3_08d3,
        0x1319_8a2e_0370_7344,
        0xa409_3822_299f_31d0,
        0x082e_fa98_ec4e_6c89,
        0x4528_21e6_38d0_1377,
        0xbe54_66cf_34e9_0c6c,
    ]);

    #[test]
    fn hashed_key_matches_key_and_hash_both_ways() {
        for (fwd, rev) in [
            (&fx::V4_SYN[..], &fx::V4_SYNACK_NO_MSS[..]),
            (&fx::V6_VLAN_SYN[..], &fx::V6_VLAN_SYNACK_NO_MSS[..]),
        ] {
            let fwd = parse(fwd).unwrap();
            let rev = parse(rev).unwrap();
            let (k1, a1, h1) = FlowKey::from_headers_hashed(&fwd, &HK).unwrap();
            let (k2, a2, h2) = FlowKey::from_headers_hashed(&rev, &HK).unwrap();
            assert_eq!(FlowKey::from_headers(&fwd), Some((k1, a1)));
            assert_eq!(FlowKey::from_headers(&rev), Some((k2, a2)));
            assert_eq!((k1, h1), (k2, h2));
            assert_ne!(a1, a2);
            assert_eq!(h1, k1.hash(&HK));
        }
        let v4 = FlowKey::from_headers_hashed(&parse(&fx::V4_SYN).unwrap(), &HK).unwrap();
        let qinq = FlowKey::from_headers_hashed(&parse(&fx::QINQ_V4_SYN).unwrap(), &HK).unwrap();
        assert_ne!(v4.0, qinq.0, "the outer VLAN is part of the key");
        assert_ne!(v4.2, qinq.2);
        assert_eq!(qinq.2, qinq.0.hash(&HK));
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
            let (k, src_is_a, _) = FlowKey::from_headers_hashed(&h, &HK).unwrap();
            assert_eq!(src_is_a, (h.src, sp) <= (h.dst, dp));
            assert!((k.a, k.port_a) <= (k.b, k.port_b));
        }
    }

    /// Bucket of a hash in a table of `buckets`, as `FlowTable` scales it.
    fn bucket(hash: u64, buckets: u64) -> usize {
        (((hash >> 32) * buckets) >> 32) as usize
    }

    fn v4(a: [u8; 4]) -> u128 {
        0xffff_0000_0000 | u128::from(u32::from_be_bytes(a))
    }

    #[test]
    fn which_keys_share_a_bucket_depends_on_the_secret() {
        // A flood from one client address over every source port to one server: under the
        // secret `a`, the ports whose keys fall in the fullest of 1024 buckets are what a
        // sender who knew the hash would send, every one a step further down one chain.
        let (client, server) = (v4([198, 18, 0, 1]), v4([198, 19, 0, 1]));
        let hash = |k: &HashKey, port: u16| {
            FlowKey::from_parts_hashed(k, client, server, port, 443, 0, 6).2
        };
        let (a, b) = (HashKey::from_seed(1), HashKey::from_seed(2));
        let mut by_bucket = vec![Vec::new(); 1024];
        for port in 0..=u16::MAX {
            by_bucket[bucket(hash(&a, port), 1024)].push(port);
        }
        let flood = by_bucket.iter().max_by_key(|v| v.len()).unwrap();
        assert!(flood.len() >= 64, "{}", flood.len());
        // Under any other secret the same keys spread over the buckets like any others.
        for other in [b, HashKey::random()] {
            let mut count = vec![0u32; 1024];
            for &port in flood {
                count[bucket(hash(&other, port), 1024)] += 1;
            }
            let worst = count.iter().max().unwrap();
            assert!(*worst <= 6, "{} keys, {worst} in one bucket", flood.len());
        }
    }

    #[test]
    fn secrets_differ_and_keys_spread_evenly() {
        assert_ne!(HashKey::from_seed(1), HashKey::from_seed(2));
        assert_ne!(HashKey::random(), HashKey::random());
        // 96k sessions from consecutive client addresses and ports to four servers (the
        // regular patterns of real and generated traffic) in 65,536 buckets: occupancy as a
        // random function gives it (Poisson, mean 1.46: 23.1% of buckets empty, rarely more
        // than 9 keys in one).
        let k = HashKey::from_seed(9);
        let mut count = vec![0u32; 1 << 16];
        let mut n = 0u32;
        for host in 0..3000u32 {
            for port in 0..8u16 {
                for server in 0..4u8 {
                    let [_, _, x, y] = host.to_be_bytes();
                    let (_, _, h) = FlowKey::from_parts_hashed(
                        &k,
                        v4([198, 18, x, y]),
                        v4([198, 19, 0, server]),
                        40000 + port,
                        443,
                        0,
                        6,
                    );
                    count[bucket(h, 1 << 16)] += 1;
                    n += 1;
                }
            }
        }
        assert_eq!(n, 96_000);
        let empty = count.iter().filter(|&&c| c == 0).count() as f64 / 65536.0;
        assert!((empty - 0.231).abs() < 0.01, "{empty}");
        assert!(*count.iter().max().unwrap() <= 11);
    }
}
