//! Classic libpcap files (not pcapng).
//!
//! The writer produces what every replay tool reads: little endian, microsecond timestamps,
//! version 2.4, `LINKTYPE_ETHERNET`, snap length 65535 (Pktgen-DPDK `-s P:file`, tcpreplay,
//! DPDK `net_pcap`, tshark). The reader accepts both byte orders and both the microsecond
//! and the nanosecond magic, and reports malformed input as [`PcapError`], never a panic.

use std::fmt;
use std::io::{self, Write};
use std::path::Path;

/// Magic of a microsecond-resolution file, as written in the file's own byte order.
pub const MAGIC_MICROS: u32 = 0xa1b2_c3d4;
/// Magic of a nanosecond-resolution file, as written in the file's own byte order.
pub const MAGIC_NANOS: u32 = 0xa1b2_3c4d;
/// `LINKTYPE_ETHERNET` / `DLT_EN10MB`.
pub const LINKTYPE_ETHERNET: u32 = 1;
/// Snap length the writer declares; every frame the generator makes is shorter (MSS is
/// capped at 9000), and 65535 is the value the oldest readers still accept.
pub const SNAPLEN: u32 = 65_535;
/// Size of the global file header.
pub const FILE_HEADER_LEN: usize = 24;
/// Size of each record header.
pub const RECORD_HEADER_LEN: usize = 16;

/// What went wrong reading a pcap file. Offsets are byte offsets into the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PcapError {
    /// Fewer than 24 bytes: no complete file header.
    TruncatedHeader {
        /// Bytes available.
        len: usize,
    },
    /// The first four bytes are not a classic pcap magic (pcapng is not supported).
    BadMagic(u32),
    /// A record header starts at `offset` but the file ends inside it.
    TruncatedRecordHeader {
        /// Offset of the record header.
        offset: usize,
    },
    /// A record's captured length runs past the end of the file.
    TruncatedRecord {
        /// Offset of the record header.
        offset: usize,
        /// Captured length the header declares.
        incl_len: u32,
        /// Bytes left after the header.
        available: usize,
    },
}

impl fmt::Display for PcapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            PcapError::TruncatedHeader { len } => {
                write!(f, "pcap: file header truncated ({len} of 24 bytes)")
            }
            PcapError::BadMagic(m) => write!(f, "pcap: bad magic {m:#010x} (not a classic pcap)"),
            PcapError::TruncatedRecordHeader { offset } => {
                write!(f, "pcap: record header at offset {offset} truncated")
            }
            PcapError::TruncatedRecord {
                offset,
                incl_len,
                available,
            } => write!(
                f,
                "pcap: record at offset {offset} declares {incl_len} bytes, {available} left"
            ),
        }
    }
}

impl std::error::Error for PcapError {}

/// One captured frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PcapRecord {
    /// Seconds since the Unix epoch.
    pub ts_sec: u32,
    /// Sub-second part, in the file's resolution (µs or ns).
    pub ts_frac: u32,
    /// The timestamp in nanoseconds since the epoch, whatever the file's resolution.
    pub ts_ns: u64,
    /// The frame's original length on the wire (may exceed `data.len()` if truncated).
    pub orig_len: u32,
    /// The captured bytes.
    pub data: Vec<u8>,
}

impl PcapRecord {
    /// The timestamp in microseconds since the epoch (truncated).
    pub fn ts_us(&self) -> u64 {
        self.ts_ns / 1_000
    }
}

/// A parsed pcap file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PcapFile {
    /// True when the file was written big endian.
    pub big_endian: bool,
    /// True for nanosecond timestamps, false for microseconds.
    pub nanos: bool,
    /// Major and minor version (normally 2.4).
    pub version: (u16, u16),
    /// Declared snap length.
    pub snaplen: u32,
    /// Link type (1 for Ethernet).
    pub linktype: u32,
    /// The records, in file order.
    pub records: Vec<PcapRecord>,
}

/// Reads a 32-bit field in the file's byte order. The caller has checked the bounds.
fn field_u32(b: &[u8], big_endian: bool) -> u32 {
    let a = [b[0], b[1], b[2], b[3]];
    if big_endian {
        u32::from_be_bytes(a)
    } else {
        u32::from_le_bytes(a)
    }
}

fn field_u16(b: &[u8], big_endian: bool) -> u16 {
    let a = [b[0], b[1]];
    if big_endian {
        u16::from_be_bytes(a)
    } else {
        u16::from_le_bytes(a)
    }
}

/// Parses a whole classic pcap file held in memory.
pub fn parse(input: &[u8]) -> Result<PcapFile, PcapError> {
    let header = input
        .get(..FILE_HEADER_LEN)
        .ok_or(PcapError::TruncatedHeader { len: input.len() })?;
    let magic_le = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
    let (big_endian, nanos) = if magic_le == MAGIC_MICROS {
        (false, false)
    } else if magic_le == MAGIC_NANOS {
        (false, true)
    } else if magic_le.swap_bytes() == MAGIC_MICROS {
        (true, false)
    } else if magic_le.swap_bytes() == MAGIC_NANOS {
        (true, true)
    } else {
        return Err(PcapError::BadMagic(magic_le));
    };
    let version = (
        field_u16(&header[4..6], big_endian),
        field_u16(&header[6..8], big_endian),
    );
    let snaplen = field_u32(&header[16..20], big_endian);
    let linktype = field_u32(&header[20..24], big_endian);

    let mut records = Vec::new();
    let mut offset = FILE_HEADER_LEN;
    while offset < input.len() {
        let rh = input
            .get(offset..offset + RECORD_HEADER_LEN)
            .ok_or(PcapError::TruncatedRecordHeader { offset })?;
        let ts_sec = field_u32(&rh[0..4], big_endian);
        let ts_frac = field_u32(&rh[4..8], big_endian);
        let incl_len = field_u32(&rh[8..12], big_endian);
        let orig_len = field_u32(&rh[12..16], big_endian);
        let start = offset + RECORD_HEADER_LEN;
        let available = input.len() - start;
        let data = usize::try_from(incl_len)
            .ok()
            .and_then(|n| input.get(start..start.checked_add(n)?))
            .ok_or(PcapError::TruncatedRecord {
                offset,
                incl_len,
                available,
            })?;
        let frac_ns = if nanos {
            u64::from(ts_frac)
        } else {
            u64::from(ts_frac) * 1_000
        };
        records.push(PcapRecord {
            ts_sec,
            ts_frac,
            ts_ns: u64::from(ts_sec) * 1_000_000_000 + frac_ns,
            orig_len,
            data: data.to_vec(),
        });
        offset = start + data.len();
    }
    Ok(PcapFile {
        big_endian,
        nanos,
        version,
        snaplen,
        linktype,
        records,
    })
}

/// Reads and parses a pcap file from disk. I/O and format errors become one message.
pub fn read_file(path: &Path) -> Result<PcapFile, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    parse(&bytes).map_err(|e| format!("{}: {e}", path.display()))
}

/// Writes a classic little-endian microsecond pcap stream.
#[derive(Debug)]
pub struct PcapWriter<W: Write> {
    inner: W,
    records: u64,
}

impl<W: Write> PcapWriter<W> {
    /// Writes the file header and returns the writer.
    pub fn new(mut inner: W) -> io::Result<Self> {
        let mut h = [0u8; FILE_HEADER_LEN];
        h[0..4].copy_from_slice(&MAGIC_MICROS.to_le_bytes());
        h[4..6].copy_from_slice(&2u16.to_le_bytes());
        h[6..8].copy_from_slice(&4u16.to_le_bytes());
        // thiszone (8..12) and sigfigs (12..16) stay 0.
        h[16..20].copy_from_slice(&SNAPLEN.to_le_bytes());
        h[20..24].copy_from_slice(&LINKTYPE_ETHERNET.to_le_bytes());
        inner.write_all(&h)?;
        Ok(PcapWriter { inner, records: 0 })
    }

    /// Appends one frame captured at `ts_us` microseconds since the epoch. Frames longer
    /// than [`SNAPLEN`] are truncated in the file with their original length recorded;
    /// a timestamp past the year 2106 (beyond 32-bit seconds) is an error.
    pub fn write_record(&mut self, ts_us: u64, data: &[u8]) -> io::Result<()> {
        let sec = u32::try_from(ts_us / 1_000_000).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "pcap timestamp does not fit 32-bit seconds",
            )
        })?;
        let usec = (ts_us % 1_000_000) as u32;
        let orig_len = u32::try_from(data.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "frame longer than 4 GiB"))?;
        let incl_len = orig_len.min(SNAPLEN);
        let mut h = [0u8; RECORD_HEADER_LEN];
        h[0..4].copy_from_slice(&sec.to_le_bytes());
        h[4..8].copy_from_slice(&usec.to_le_bytes());
        h[8..12].copy_from_slice(&incl_len.to_le_bytes());
        h[12..16].copy_from_slice(&orig_len.to_le_bytes());
        self.inner.write_all(&h)?;
        self.inner.write_all(&data[..incl_len as usize])?;
        self.records += 1;
        Ok(())
    }

    /// Records written so far.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// Flushes and returns the underlying writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.inner.flush()?;
        Ok(self.inner)
    }
}

/// Writes `(timestamp µs, frame)` pairs to a new pcap file at `path`.
pub fn write_file<'a, I>(path: &Path, frames: I) -> Result<u64, String>
where
    I: IntoIterator<Item = (u64, &'a [u8])>,
{
    let err = |e: io::Error| format!("{}: {e}", path.display());
    let file = std::fs::File::create(path).map_err(err)?;
    let mut w = PcapWriter::new(io::BufWriter::new(file)).map_err(err)?;
    for (ts, data) in frames {
        w.write_record(ts, data).map_err(err)?;
    }
    let n = w.records();
    w.finish().map_err(err)?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        let mut w = PcapWriter::new(Vec::new()).unwrap();
        w.write_record(1_700_000_000_123_456, &[1, 2, 3]).unwrap();
        w.write_record(1_700_000_001_000_000, &[0xaa; 60]).unwrap();
        w.write_record(1_700_000_001_000_001, &[]).unwrap();
        w.finish().unwrap()
    }

    #[test]
    fn header_bytes_are_classic_le_micro_ethernet() {
        let b = sample();
        assert_eq!(&b[..4], &[0xd4, 0xc3, 0xb2, 0xa1]);
        assert_eq!(&b[4..8], &[2, 0, 4, 0]);
        assert_eq!(&b[16..20], &65_535u32.to_le_bytes());
        assert_eq!(&b[20..24], &[1, 0, 0, 0]);
        assert_eq!(b.len(), 24 + 3 * 16 + 3 + 60);
    }

    #[test]
    fn round_trip() {
        let f = parse(&sample()).unwrap();
        assert!(!f.big_endian && !f.nanos);
        assert_eq!(f.version, (2, 4));
        assert_eq!(f.linktype, LINKTYPE_ETHERNET);
        assert_eq!(f.records.len(), 3);
        assert_eq!(f.records[0].ts_us(), 1_700_000_000_123_456);
        assert_eq!(f.records[0].ts_sec, 1_700_000_000);
        assert_eq!(f.records[0].ts_frac, 123_456);
        assert_eq!(f.records[0].data, vec![1, 2, 3]);
        assert_eq!(f.records[1].data, vec![0xaa; 60]);
        assert_eq!(f.records[1].orig_len, 60);
        assert!(f.records[2].data.is_empty());
    }

    /// Builds a big-endian nanosecond file by hand.
    #[test]
    fn reads_big_endian_nanoseconds() {
        let mut b = Vec::new();
        b.extend_from_slice(&MAGIC_NANOS.to_be_bytes());
        b.extend_from_slice(&2u16.to_be_bytes());
        b.extend_from_slice(&4u16.to_be_bytes());
        b.extend_from_slice(&[0; 8]);
        b.extend_from_slice(&262_144u32.to_be_bytes());
        b.extend_from_slice(&1u32.to_be_bytes());
        b.extend_from_slice(&10u32.to_be_bytes());
        b.extend_from_slice(&999_999_999u32.to_be_bytes());
        b.extend_from_slice(&2u32.to_be_bytes());
        b.extend_from_slice(&100u32.to_be_bytes());
        b.extend_from_slice(&[7, 8]);
        let f = parse(&b).unwrap();
        assert!(f.big_endian && f.nanos);
        assert_eq!(f.snaplen, 262_144);
        assert_eq!(f.records[0].ts_ns, 10_999_999_999);
        assert_eq!(f.records[0].orig_len, 100);
        assert_eq!(f.records[0].data, vec![7, 8]);
    }

    #[test]
    fn reads_little_endian_nanoseconds_and_big_endian_micros() {
        let mut le = sample();
        le[..4].copy_from_slice(&MAGIC_NANOS.to_le_bytes());
        let f = parse(&le).unwrap();
        assert!(f.nanos && !f.big_endian);
        assert_eq!(f.records[0].ts_ns, 1_700_000_000 * 1_000_000_000 + 123_456);

        let mut be = Vec::new();
        be.extend_from_slice(&MAGIC_MICROS.to_be_bytes());
        be.extend_from_slice(&[0, 2, 0, 4]);
        be.extend_from_slice(&[0; 8]);
        be.extend_from_slice(&65_535u32.to_be_bytes());
        be.extend_from_slice(&1u32.to_be_bytes());
        let f = parse(&be).unwrap();
        assert!(f.big_endian && !f.nanos);
        assert!(f.records.is_empty());
    }

    #[test]
    fn truncation_is_an_error_at_every_length() {
        let b = sample();
        for cut in 0..b.len() {
            let r = parse(&b[..cut]);
            // Cuts exactly at a record boundary are valid shorter files.
            let boundaries = [24, 24 + 16 + 3, 24 + 2 * 16 + 3 + 60];
            if boundaries.contains(&cut) {
                assert!(r.is_ok(), "cut {cut}");
            } else {
                assert!(r.is_err(), "cut {cut}");
            }
        }
        assert_eq!(parse(&b[..10]), Err(PcapError::TruncatedHeader { len: 10 }));
        assert_eq!(
            parse(&b[..30]),
            Err(PcapError::TruncatedRecordHeader { offset: 24 })
        );
        assert!(matches!(
            parse(&b[..24 + 16 + 2]),
            Err(PcapError::TruncatedRecord {
                offset: 24,
                incl_len: 3,
                available: 2
            })
        ));
    }

    #[test]
    fn huge_declared_length_is_an_error_not_an_allocation() {
        let mut b = sample();
        b.truncate(24 + 16);
        b[24 + 8..24 + 12].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(parse(&b), Err(PcapError::TruncatedRecord { .. })));
    }

    #[test]
    fn rejects_pcapng_and_garbage() {
        assert!(matches!(
            parse(&[0x0a, 0x0d, 0x0d, 0x0a].repeat(8)),
            Err(PcapError::BadMagic(_))
        ));
    }

    #[test]
    fn writer_rejects_far_future_timestamps_and_truncates_huge_frames() {
        let mut w = PcapWriter::new(Vec::new()).unwrap();
        assert!(w.write_record(u64::MAX, &[0]).is_err());
        w.write_record(0, &vec![1u8; 70_000]).unwrap();
        let f = parse(&w.finish().unwrap()).unwrap();
        assert_eq!(f.records[0].data.len(), 65_535);
        assert_eq!(f.records[0].orig_len, 70_000);
    }
}
