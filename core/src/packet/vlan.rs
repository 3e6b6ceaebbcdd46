//! IEEE 802.1Q / 802.1ad VLAN tag view: the 4 bytes after a VLAN TPID (TCI, then the next
//! EtherType). The TPID itself belongs to the preceding header.

use super::{read_u16, write_u16, EtherType, ParseError};

mod field {
    use crate::packet::Field;

    pub const TCI: Field = 0..2;
    pub const ETHERTYPE: Field = 2..4;
    pub const PAYLOAD: usize = 4;
}

/// Length of a VLAN tag after its TPID.
pub const HEADER_LEN: usize = field::PAYLOAD;

/// A read/write view of a VLAN tag (TCI + inner EtherType).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tag<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Tag<T> {
    /// Wraps a buffer without checking its length; getters panic on fewer than 4 bytes.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        Tag { buffer }
    }

    /// Wraps a buffer after [`Tag::check_len`]. No setter can invalidate the check.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, ParseError> {
        let tag = Self::new_unchecked(buffer);
        tag.check_len()?;
        Ok(tag)
    }

    /// `Err(VlanTruncated)` if the buffer is shorter than 4 bytes.
    #[inline]
    pub fn check_len(&self) -> Result<(), ParseError> {
        if self.buffer.as_ref().len() < HEADER_LEN {
            Err(ParseError::VlanTruncated)
        } else {
            Ok(())
        }
    }

    /// Returns the underlying buffer.
    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The whole tag control information (PCP, DEI, VID).
    #[inline]
    pub fn tci(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::TCI.start)
    }

    /// VLAN identifier (low 12 bits of the TCI).
    #[inline]
    pub fn vid(&self) -> u16 {
        self.tci() & 0x0fff
    }

    /// Priority code point (top 3 bits of the TCI).
    #[inline]
    pub fn pcp(&self) -> u8 {
        (self.tci() >> 13) as u8
    }

    /// The EtherType (or next TPID) following the tag.
    #[inline]
    pub fn ethertype(&self) -> EtherType {
        EtherType(read_u16(self.buffer.as_ref(), field::ETHERTYPE.start))
    }

    /// Everything after the tag.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[field::PAYLOAD..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Tag<T> {
    /// Sets the tag control information.
    #[inline]
    pub fn set_tci(&mut self, tci: u16) {
        write_u16(self.buffer.as_mut(), field::TCI.start, tci);
    }

    /// Sets the following EtherType.
    #[inline]
    pub fn set_ethertype(&mut self, ethertype: EtherType) {
        write_u16(self.buffer.as_mut(), field::ETHERTYPE.start, ethertype.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::fixtures;

    #[test]
    fn deconstruct() {
        let tag = Tag::new_checked(&fixtures::V6_VLAN_SYN[14..]).unwrap();
        assert_eq!(tag.vid(), 100);
        assert_eq!(tag.pcp(), 3);
        assert_eq!(tag.ethertype(), EtherType::IPV6);
        let outer = Tag::new_checked(&fixtures::QINQ_V4_SYN[14..]).unwrap();
        assert_eq!(outer.vid(), 10);
        assert_eq!(outer.ethertype(), EtherType::VLAN);
        let inner = Tag::new_checked(outer.payload()).unwrap();
        assert_eq!(inner.vid(), 20);
        assert_eq!(inner.ethertype(), EtherType::IPV4);
    }

    #[test]
    fn construct() {
        let mut buf = [0xa5u8; 4];
        let mut tag = Tag::new_unchecked(&mut buf);
        tag.set_tci((3 << 13) | 100);
        tag.set_ethertype(EtherType::IPV6);
        assert_eq!(buf, fixtures::V6_VLAN_SYN[14..18]);
    }

    #[test]
    fn truncated() {
        for n in 0..4 {
            assert_eq!(
                Tag::new_checked(&fixtures::V6_VLAN_SYN[14..14 + n]).unwrap_err(),
                ParseError::VlanTruncated
            );
        }
    }
}
