//! The Internet checksum (RFC 1071) over bytes: one's-complement sums, pseudo-headers, full
//! TCP and IPv4 header checksums, and the RFC 1624 incremental update used when a field
//! changes in place. It knows nothing of parsed frames (that is [`super::verify`]), so the
//! header views can use it without an import loop.
//!
//! Sums are returned *folded but not complemented* (`u16`); a checksum field holds the
//! complement of the sum over everything it covers. Verification sums the covered bytes
//! including the stored checksum and expects `0xffff`.

/// Folds the carries of a wide one's-complement accumulator into 16 bits (not complemented).
///
/// The result is `0` only when the accumulator is `0`.
#[inline]
pub fn fold(mut sum: u64) -> u16 {
    sum = (sum & 0xffff_ffff) + (sum >> 32);
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    sum as u16
}

/// Unfolded one's-complement sum of `data` read as big-endian 16-bit words, an odd last byte
/// padded with a zero byte. Sums 32-bit words at a time: since 2^16 ≡ 1 (mod 2^16 − 1), the
/// fold of a sum of 32-bit words equals the fold of the sum of their 16-bit halves.
#[inline]
pub(super) fn accumulate(data: &[u8]) -> u64 {
    let mut sum: u64 = 0;
    let mut chunks = data.chunks_exact(4);
    for c in &mut chunks {
        sum += u64::from(u32::from_be_bytes([c[0], c[1], c[2], c[3]]));
    }
    match *chunks.remainder() {
        [a] => sum += u64::from(a) << 8,
        [a, b] => sum += u64::from(u16::from_be_bytes([a, b])),
        [a, b, c] => sum += u64::from(u16::from_be_bytes([a, b])) + (u64::from(c) << 8),
        _ => {}
    }
    sum
}

/// Folded one's-complement sum of `data` (16-bit big-endian words; an odd trailing byte is
/// padded with zero). `data` must start at an even offset of whatever the checksum covers.
#[inline]
pub fn data(data: &[u8]) -> u16 {
    fold(accumulate(data))
}

/// One's-complement sum of already folded partial sums.
#[inline]
pub fn combine(sums: &[u16]) -> u16 {
    fold(sums.iter().map(|&s| u64::from(s)).sum())
}

/// Folded sum of the IPv4 pseudo-header (RFC 793): addresses, zero, protocol, TCP/UDP length.
#[inline]
pub fn pseudo_header_v4(src: &[u8; 4], dst: &[u8; 4], protocol: u8, length: u16) -> u16 {
    let sum = u64::from(u32::from_be_bytes(*src))
        + u64::from(u32::from_be_bytes(*dst))
        + u64::from(protocol)
        + u64::from(length);
    fold(sum)
}

/// Folded sum of the IPv6 pseudo-header (RFC 8200 8.1): addresses, upper-layer length (32
/// bits), zero, next header.
#[inline]
pub fn pseudo_header_v6(src: &[u8; 16], dst: &[u8; 16], next_header: u8, length: u32) -> u16 {
    let sum = accumulate(src)
        + accumulate(dst)
        + u64::from(length >> 16)
        + u64::from(length & 0xffff)
        + u64::from(next_header);
    fold(sum)
}

/// The checksum an IPv4 header should carry: `header` is the whole header (IHL × 4 bytes,
/// options included); its current checksum field (bytes 10..12) is ignored.
#[inline]
pub fn ipv4_header_checksum(header: &[u8]) -> u16 {
    match (header.get(..10), header.get(12..)) {
        (Some(a), Some(b)) => !fold(accumulate(a) + accumulate(b)),
        _ => !data(header),
    }
}

/// Whether an IPv4 header (the whole header, options included) carries a correct checksum.
#[inline]
pub fn verify_ipv4_header(header: &[u8]) -> bool {
    data(header) == 0xffff
}

/// RFC 1624 eqn. 3: the new checksum `HC' = ~(~HC + ~m + m')` after a 16-bit word covered by
/// checksum `hc` changes from `old` to `new`. The word must sit at an even offset of the
/// covered data (see [`update16_at`] otherwise).
#[inline]
pub fn update16(hc: u16, old: u16, new: u16) -> u16 {
    !fold(u64::from(!hc) + u64::from(!old) + u64::from(new))
}

/// [`update16`] for a 32-bit field (two adjacent 16-bit words, even offset).
#[inline]
pub fn update32(hc: u16, old: u32, new: u32) -> u16 {
    let sum = u64::from(!hc)
        + u64::from(!(old >> 16) & 0xffff)
        + u64::from(!old & 0xffff)
        + u64::from(new >> 16)
        + u64::from(new & 0xffff);
    !fold(sum)
}

/// [`update16`] for a 16-bit field at byte `offset` of the covered data, which may be odd: a
/// field straddling two words contributes its byte-swapped value to the sum (RFC 1071 2(B)).
#[inline]
pub fn update16_at(hc: u16, offset: usize, old: u16, new: u16) -> u16 {
    if offset & 1 == 0 {
        update16(hc, old, new)
    } else {
        update16(hc, old.swap_bytes(), new.swap_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Independent, deliberately naive RFC 1071 checksum: byte by byte, u32, fold at the end.
    fn naive_sum(chunks: &[&[u8]]) -> u16 {
        let mut sum: u32 = 0;
        let mut i = 0usize;
        for chunk in chunks {
            for &b in chunk.iter() {
                if i % 2 == 0 {
                    sum += u32::from(b) << 8;
                } else {
                    sum += u32::from(b);
                }
                i += 1;
            }
        }
        while sum > 0xffff {
            sum = (sum >> 16) + (sum & 0xffff);
        }
        sum as u16
    }

    /// Tiny deterministic generator (xorshift) for "random-ish" fixtures without deps.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    #[test]
    fn rfc1071_example() {
        // RFC 1071 section 3: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2.
        let bytes = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(data(&bytes), 0xddf2);
        for n in 0..=bytes.len() {
            assert_eq!(data(&bytes[..n]), naive_sum(&[&bytes[..n]]), "prefix {n}");
        }
    }

    #[test]
    fn sum_matches_naive_on_random_lengths() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut buf = [0u8; 1600];
        for b in buf.iter_mut() {
            *b = rng.next() as u8;
        }
        for len in 0..200 {
            assert_eq!(data(&buf[..len]), naive_sum(&[&buf[..len]]));
        }
        assert_eq!(data(&buf), naive_sum(&[&buf]));
        // All ones never overflow the accumulator.
        let ones = [0xffu8; 65536];
        assert_eq!(data(&ones), 0xffff);
        assert_eq!(data(&[]), 0);
    }

    /// A random covered region: change a 16-bit field at every offset (odd ones included) and
    /// compare the incremental update with a full recompute.
    #[test]
    fn incremental_16_equals_full_at_any_offset() {
        let mut rng = Rng(0x1234_5678_9abc_def1);
        for round in 0..400 {
            let len = 8 + (rng.next() % 120) as usize;
            let mut buf = vec![0u8; len];
            for b in buf.iter_mut() {
                *b = rng.next() as u8;
            }
            // Some rounds with special words, to hit 0x0000 / 0xffff corner cases.
            if round % 7 == 0 {
                buf.iter_mut().for_each(|b| *b = 0);
            }
            let hc = !naive_sum(&[&buf]);
            let off = (rng.next() as usize) % (len - 1);
            let old = u16::from_be_bytes([buf[off], buf[off + 1]]);
            let new = match round % 5 {
                0 => 0,
                1 => 0xffff,
                _ => rng.next() as u16,
            };
            buf[off..off + 2].copy_from_slice(&new.to_be_bytes());
            let full = !naive_sum(&[&buf]);
            let inc = update16_at(hc, off, old, new);
            // All-zero data sums to +0: then 0x0000 and 0xffff are both "zero" in one's
            // complement and the two methods may pick different ones; real segments always
            // include a non-zero pseudo-header.
            if buf.iter().all(|&b| b == 0) {
                continue;
            }
            // The updated checksum verifies against the new data and equals a full recompute.
            let sum = naive_sum(&[&buf]);
            assert_eq!(fold(u64::from(sum) + u64::from(inc)), 0xffff);
            assert_eq!(
                inc, full,
                "round {round} off {off} old {old:04x} new {new:04x}"
            );
        }
    }

    #[test]
    fn incremental_32_equals_full() {
        let mut rng = Rng(0xdead_beef_cafe_f00d);
        for _ in 0..400 {
            let len = 4 * (2 + (rng.next() % 30) as usize);
            let mut buf = vec![0u8; len];
            for b in buf.iter_mut() {
                *b = rng.next() as u8;
            }
            let hc = !naive_sum(&[&buf]);
            let off = 2 * ((rng.next() as usize) % (len / 2 - 1));
            let old = u32::from_be_bytes([buf[off], buf[off + 1], buf[off + 2], buf[off + 3]]);
            let new = rng.next() as u32;
            buf[off..off + 4].copy_from_slice(&new.to_be_bytes());
            assert_eq!(update32(hc, old, new), !naive_sum(&[&buf]));
            // Two 16-bit updates give the same as one 32-bit update.
            let two = update16(
                update16(hc, (old >> 16) as u16, (new >> 16) as u16),
                old as u16,
                new as u16,
            );
            assert_eq!(two, update32(hc, old, new));
        }
    }

    #[test]
    fn pseudo_headers_match_naive() {
        let s4 = [198, 18, 0, 1];
        let d4 = [198, 19, 0, 1];
        assert_eq!(
            pseudo_header_v4(&s4, &d4, 6, 40),
            naive_sum(&[&s4, &d4, &[0, 6], &40u16.to_be_bytes()])
        );
        let s6 = [0x20, 1, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff];
        let d6 = [0xfe; 16];
        assert_eq!(
            pseudo_header_v6(&s6, &d6, 6, 0x0001_0004),
            naive_sum(&[&s6, &d6, &0x0001_0004u32.to_be_bytes(), &[0, 0, 0, 6]])
        );
    }

    #[test]
    fn fold_corner_cases() {
        assert_eq!(fold(0), 0);
        assert_eq!(fold(0xffff), 0xffff);
        assert_eq!(fold(0x1_0000), 1);
        assert_eq!(fold(u64::MAX), 0xffff);
        assert_eq!(combine(&[0xffff, 0x0001]), 0x0001);
    }
}
