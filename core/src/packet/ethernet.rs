//! Ethernet II frame header view.

use super::{read_u16, write_u16, ParseError};

/// An EtherType (or TPID) value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EtherType(pub u16);

impl EtherType {
    /// IPv4.
    pub const IPV4: Self = Self(0x0800);
    /// ARP.
    pub const ARP: Self = Self(0x0806);
    /// IEEE 802.1Q customer VLAN tag.
    pub const VLAN: Self = Self(0x8100);
    /// IPv6.
    pub const IPV6: Self = Self(0x86dd);
    /// IEEE 802.1ad service VLAN tag (QinQ outer tag).
    pub const QINQ: Self = Self(0x88a8);
    /// Pre-standard QinQ outer tag used by some switches.
    pub const QINQ_LEGACY: Self = Self(0x9100);

    /// Whether this TPID announces a VLAN tag (0x8100, 0x88a8 or 0x9100).
    #[inline]
    pub const fn is_vlan_tag(self) -> bool {
        matches!(self.0, 0x8100 | 0x88a8 | 0x9100)
    }
}

mod field {
    use crate::packet::Field;

    pub const DESTINATION: Field = 0..6;
    pub const SOURCE: Field = 6..12;
    pub const ETHERTYPE: Field = 12..14;
    pub const PAYLOAD: usize = 14;
}

/// Length of the Ethernet II header (no VLAN tags, no FCS).
pub const HEADER_LEN: usize = field::PAYLOAD;

/// A read/write view of an Ethernet II frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Frame<T> {
    /// Wraps a buffer without checking its length; getters panic on a buffer shorter than
    /// [`HEADER_LEN`]. Use [`Frame::new_checked`] for untrusted bytes.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        Frame { buffer }
    }

    /// Wraps a buffer after [`Frame::check_len`]. No setter can invalidate the check.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, ParseError> {
        let frame = Self::new_unchecked(buffer);
        frame.check_len()?;
        Ok(frame)
    }

    /// `Err(EthTruncated)` if the buffer is shorter than the 14-byte header.
    #[inline]
    pub fn check_len(&self) -> Result<(), ParseError> {
        if self.buffer.as_ref().len() < HEADER_LEN {
            Err(ParseError::EthTruncated)
        } else {
            Ok(())
        }
    }

    /// Returns the underlying buffer.
    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Destination MAC address.
    #[inline]
    pub fn dst_addr(&self) -> [u8; 6] {
        let mut a = [0; 6];
        a.copy_from_slice(&self.buffer.as_ref()[field::DESTINATION]);
        a
    }

    /// Source MAC address.
    #[inline]
    pub fn src_addr(&self) -> [u8; 6] {
        let mut a = [0; 6];
        a.copy_from_slice(&self.buffer.as_ref()[field::SOURCE]);
        a
    }

    /// EtherType (or the TPID of the first VLAN tag).
    #[inline]
    pub fn ethertype(&self) -> EtherType {
        EtherType(read_u16(self.buffer.as_ref(), field::ETHERTYPE.start))
    }

    /// Everything after the 14-byte header (VLAN tags, L3, padding).
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[field::PAYLOAD..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Frame<T> {
    /// Sets the destination MAC address.
    #[inline]
    pub fn set_dst_addr(&mut self, addr: [u8; 6]) {
        self.buffer.as_mut()[field::DESTINATION].copy_from_slice(&addr);
    }

    /// Sets the source MAC address.
    #[inline]
    pub fn set_src_addr(&mut self, addr: [u8; 6]) {
        self.buffer.as_mut()[field::SOURCE].copy_from_slice(&addr);
    }

    /// Sets the EtherType.
    #[inline]
    pub fn set_ethertype(&mut self, ethertype: EtherType) {
        write_u16(self.buffer.as_mut(), field::ETHERTYPE.start, ethertype.0);
    }

    /// Mutable payload after the 14-byte header.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::PAYLOAD..]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::fixtures;

    #[test]
    fn deconstruct() {
        let f = Frame::new_checked(&fixtures::V4_SYN[..]).unwrap();
        assert_eq!(f.dst_addr(), [2, 0, 0, 0, 0, 2]);
        assert_eq!(f.src_addr(), [2, 0, 0, 0, 0, 1]);
        assert_eq!(f.ethertype(), EtherType::IPV4);
        assert_eq!(f.payload().len(), fixtures::V4_SYN.len() - 14);
        assert!(!f.ethertype().is_vlan_tag());
        assert!(EtherType::QINQ_LEGACY.is_vlan_tag());
    }

    #[test]
    fn construct() {
        let mut buf = [0xa5u8; 14];
        let mut f = Frame::new_unchecked(&mut buf[..]);
        f.set_dst_addr([2, 0, 0, 0, 0, 2]);
        f.set_src_addr([2, 0, 0, 0, 0, 1]);
        f.set_ethertype(EtherType::IPV4);
        assert!(f.payload_mut().is_empty());
        assert_eq!(buf, fixtures::V4_SYN[..14]);
    }

    #[test]
    fn truncated() {
        for n in 0..14 {
            assert_eq!(
                Frame::new_checked(&fixtures::V4_SYN[..n]).unwrap_err(),
                ParseError::EthTruncated
            );
        }
        assert!(Frame::new_checked(&fixtures::V4_SYN[..14]).is_ok());
    }
}
