//! Why a frame could not be parsed. Small, `Copy`, and usable as a counter index.

use core::fmt;

/// Why [`crate::packet::parse()`] (or a view's `new_checked`) rejected a frame.
///
/// The discriminants are dense (`0..COUNT`) so a worker can keep one counter per reason in a
/// plain array; [`ParseError::name`] gives the stable snake_case name the counters are reported
/// under. Append new variants at the end (and to [`ParseError::ALL`]) so indices stay stable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ParseError {
    /// Shorter than the 14-byte Ethernet II header.
    EthTruncated = 0,
    /// A VLAN tag (802.1Q / 802.1ad / 0x9100) is cut short.
    VlanTruncated,
    /// More than two stacked VLAN tags.
    VlanTooManyTags,
    /// EtherType says IPv4 but the version nibble is not 4.
    Ipv4BadVersion,
    /// Shorter than the 20-byte IPv4 header, or than the header length IHL announces.
    Ipv4Truncated,
    /// IHL below 5 (the header would be shorter than 20 bytes).
    Ipv4BadIhl,
    /// Total length smaller than the IPv4 header.
    Ipv4BadTotalLength,
    /// EtherType says IPv6 but the version nibble is not 6.
    Ipv6BadVersion,
    /// Shorter than the 40-byte IPv6 header, or than 40 + payload length.
    Ipv6Truncated,
    /// An IPv6 extension header runs past the end of the IPv6 payload.
    Ipv6ExtHeaderTruncated,
    /// A hop-by-hop options header anywhere but directly after the IPv6 header (RFC 8200 4.1).
    Ipv6BadExtHeader,
    /// More extension headers than the parser walks (see `ipv6::MAX_EXT_HEADERS`).
    Ipv6TooManyExtHeaders,
    /// Fewer than 20 bytes of TCP segment inside the IP packet.
    TcpTruncated,
    /// TCP data offset below 5 or past the end of the segment.
    TcpBadDataOffset,
    /// A TCP option with length 0 or 1, running past the header, or with the wrong length for
    /// its kind.
    TcpBadOption,
    /// Fewer than 8 bytes of UDP header inside the IP packet.
    UdpTruncated,
    /// Fewer than 4 bytes of ICMP / ICMPv6 header inside the IP packet.
    IcmpTruncated,
    /// The IP packet ends past offset 65535 of the frame (offsets in `Headers` are `u16`).
    FrameTooLong,
}

impl ParseError {
    /// Number of variants: the size of a per-reason counter array.
    pub const COUNT: usize = 18;

    /// Every variant, in index order.
    pub const ALL: [ParseError; Self::COUNT] = [
        Self::EthTruncated,
        Self::VlanTruncated,
        Self::VlanTooManyTags,
        Self::Ipv4BadVersion,
        Self::Ipv4Truncated,
        Self::Ipv4BadIhl,
        Self::Ipv4BadTotalLength,
        Self::Ipv6BadVersion,
        Self::Ipv6Truncated,
        Self::Ipv6ExtHeaderTruncated,
        Self::Ipv6BadExtHeader,
        Self::Ipv6TooManyExtHeaders,
        Self::TcpTruncated,
        Self::TcpBadDataOffset,
        Self::TcpBadOption,
        Self::UdpTruncated,
        Self::IcmpTruncated,
        Self::FrameTooLong,
    ];

    /// Dense index in `0..COUNT`, for counter arrays.
    #[inline]
    pub const fn index(self) -> usize {
        self as usize
    }

    /// Stable snake_case name, as reported in counters and logs.
    pub const fn name(self) -> &'static str {
        match self {
            Self::EthTruncated => "eth_truncated",
            Self::VlanTruncated => "vlan_truncated",
            Self::VlanTooManyTags => "vlan_too_many_tags",
            Self::Ipv4BadVersion => "ipv4_bad_version",
            Self::Ipv4Truncated => "ipv4_truncated",
            Self::Ipv4BadIhl => "ipv4_bad_ihl",
            Self::Ipv4BadTotalLength => "ipv4_bad_total_length",
            Self::Ipv6BadVersion => "ipv6_bad_version",
            Self::Ipv6Truncated => "ipv6_truncated",
            Self::Ipv6ExtHeaderTruncated => "ipv6_ext_header_truncated",
            Self::Ipv6BadExtHeader => "ipv6_bad_ext_header",
            Self::Ipv6TooManyExtHeaders => "ipv6_too_many_ext_headers",
            Self::TcpTruncated => "tcp_truncated",
            Self::TcpBadDataOffset => "tcp_bad_data_offset",
            Self::TcpBadOption => "tcp_bad_option",
            Self::UdpTruncated => "udp_truncated",
            Self::IcmpTruncated => "icmp_truncated",
            Self::FrameTooLong => "frame_too_long",
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::error::Error for ParseError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indices_are_dense_and_names_unique() {
        for (i, e) in ParseError::ALL.iter().enumerate() {
            assert_eq!(e.index(), i);
            assert!(e
                .name()
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'));
        }
        let mut names: Vec<&str> = ParseError::ALL.iter().map(|e| e.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ParseError::COUNT);
        assert_eq!(ParseError::TcpBadOption.to_string(), "tcp_bad_option");
    }
}
