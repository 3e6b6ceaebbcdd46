//! Failed-session captures: when the appliance ends a session itself (`accumulation-limit`,
//! `policy-deny`, `release-timeout`), the packets it held for it are written to a pcap file
//! named by session id, for the operator to look at. The worker hands over mbuf references
//! (no copy, no allocation) through a bounded lock-free queue; the control thread writes the
//! files and keeps the directory within a count and a byte budget, oldest removed first.

use crate::gen::pcap::PcapWriter;
use crate::io::Frame;
use std::path::{Path, PathBuf};

/// Most packets kept per capture (the largest packet limit plus the over-budget segment).
pub const MAX_PACKETS: usize = crate::config::PACKETLIMIT_MAX as usize + 1;

/// One session's packets, in sequence order.
pub struct CaptureJob<B> {
    pub session_id: u64,
    pub reason: &'static str,
    pub unix_ms: u64,
    pub packets: [Option<B>; MAX_PACKETS],
}

impl<B> CaptureJob<B> {
    pub fn new(session_id: u64, reason: &'static str, unix_ms: u64) -> Self {
        CaptureJob {
            session_id,
            reason,
            unix_ms,
            packets: std::array::from_fn(|_| None),
        }
    }

    /// Add a packet; false when full (it is dropped).
    pub fn push(&mut self, b: B) -> bool {
        match self.packets.iter_mut().find(|p| p.is_none()) {
            Some(slot) => {
                *slot = Some(b);
                true
            }
            None => false,
        }
    }
}

/// The file a session's capture is written to.
pub fn file_name(dir: &Path, session_id: u64) -> PathBuf {
    dir.join(format!("session-{session_id}.pcap"))
}

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
            let mut w = PcapWriter::new(f)?;
            for (i, p) in job.packets.iter().flatten().enumerate() {
                w.write_record(job.unix_ms * 1000 + i as u64, p.data())?;
            }
            let mut f = w.finish()?;
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
    use crate::fuzzing::VecIo;

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
        let p = crate::gen::pcap::read_file(&file_name(&dir, 5)).unwrap();
        assert_eq!(p.records.len(), 2);
        assert_eq!(p.records[0].data, vec![5u8; 100]);
        // A byte budget smaller than one file keeps none... of the older ones.
        w.max_bytes = 200;
        w.enforce();
        assert!(std::fs::read_dir(&dir).unwrap().count() <= 1);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
