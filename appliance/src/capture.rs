//! Failed-session captures, the control thread's half: each [`CaptureJob`] the workers hand
//! over (see `appliance_core::capture`) is written to a pcap file named by session id, and
//! the directory is kept within a count and a byte budget, oldest removed first. Files are
//! written with the `pcap-file` crate (classic pcap, Ethernet link type, microseconds).

use appliance_core::capture::{file_name, CaptureJob};
use appliance_core::io::Frame;
use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
use pcap_file::DataLink;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Writes capture jobs and keeps the directory within bounds.
pub struct CaptureWriter {
    pub dir: PathBuf,
    pub max_files: usize,
    pub max_bytes: u64,
    pub written: u64,
    pub removed: u64,
    pub errors: u64,
}

impl CaptureWriter {
    pub fn new(dir: &Path, max_files: usize, max_bytes: u64) -> Result<CaptureWriter, String> {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("diag.captures: creating {}: {e}", dir.display()))?;
        Ok(CaptureWriter {
            dir: dir.to_path_buf(),
            max_files,
            max_bytes,
            written: 0,
            removed: 0,
            errors: 0,
        })
    }

    /// Write one job (the mbuf references are released when it is dropped).
    pub fn write<B: Frame>(&mut self, job: CaptureJob<B>) {
        let path = file_name(&self.dir, job.session_id);
        let tmp = path.with_extension("pcap.tmp");
        let res = (|| -> std::io::Result<()> {
            let f = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
            let header = PcapHeader {
                datalink: DataLink::ETHERNET,
                snaplen: 65_535,
                ..PcapHeader::default()
            };
            let mut w = PcapWriter::with_header(f, header).map_err(std::io::Error::other)?;
            for (i, p) in job.packets.iter().flatten().enumerate() {
                // One microsecond apart from the session's end, in sequence order.
                let ts = Duration::from_micros(job.unix_ms * 1000 + i as u64);
                let data = p.data();
                w.write_packet(&PcapPacket::new(ts, data.len() as u32, data))
                    .map_err(std::io::Error::other)?;
            }
            let mut f = w.into_writer();
            std::io::Write::flush(&mut f)?;
            std::fs::rename(&tmp, &path)
        })();
        match res {
            Ok(()) => self.written += 1,
            Err(e) => {
                self.errors += 1;
                let _ = std::fs::remove_file(&tmp);
                if self.errors == 1 {
                    tracing::error!("diag: cannot write capture {}: {e}", path.display());
                }
            }
        }
        self.enforce();
    }

    /// Remove the oldest captures while over the count or byte budget.
    pub fn enforce(&mut self) {
        let Ok(rd) = std::fs::read_dir(&self.dir) else {
            return;
        };
        let mut files: Vec<(std::time::SystemTime, u64, PathBuf)> = rd
            .filter_map(|e| e.ok())
            .filter(|e| {
                e.file_name().to_string_lossy().starts_with("session-")
                    && e.path().extension().is_some_and(|x| x == "pcap")
            })
            .filter_map(|e| {
                let m = e.metadata().ok()?;
                Some((m.modified().ok()?, m.len(), e.path()))
            })
            .collect();
        files.sort();
        let mut total: u64 = files.iter().map(|f| f.1).sum();
        let mut count = files.len();
        for (_, len, p) in files {
            if count <= self.max_files && total <= self.max_bytes {
                break;
            }
            if std::fs::remove_file(&p).is_ok() {
                self.removed += 1;
                count -= 1;
                total -= len;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use appliance_core::testing::VecIo;

    #[test]
    fn writes_pcaps_and_keeps_within_bounds() {
        let dir = std::env::temp_dir().join(format!("acp-capture-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut io = VecIo::default();
        let mut w = CaptureWriter::new(&dir, 3, 1 << 20).unwrap();
        for id in 1..=5u64 {
            let mut job = CaptureJob::new(id, "accumulation-limit", 1_700_000_000_000 + id);
            assert!(job.push(io.frame(&[id as u8; 100])));
            assert!(job.push(io.frame(&[0xee; 60])));
            w.write(job);
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert_eq!(io.live(), 0, "references released after writing");
        let mut names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(
            names,
            vec!["session-3.pcap", "session-4.pcap", "session-5.pcap"],
            "oldest removed"
        );
        // Read back with the generator's own reader: an independent implementation.
        let p = trafficgen::pcap::read_file(&file_name(&dir, 5)).unwrap();
        assert_eq!(p.records.len(), 2);
        assert_eq!(p.records[0].data, vec![5u8; 100]);
        assert_eq!(p.records[1].data, vec![0xee; 60]);
        // A byte budget smaller than one file keeps none... of the older ones.
        w.max_bytes = 200;
        w.enforce();
        assert!(std::fs::read_dir(&dir).unwrap().count() <= 1);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
