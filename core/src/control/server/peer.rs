//! Who may use the control socket: the peer's credentials (`SO_PEERCRED`,
//! `SO_PEERGROUPS`) checked against [`ServerConfig`].

use std::io;
use std::os::unix::io::RawFd;

use super::ServerConfig;

/// Credentials of a connected peer, from `SO_PEERCRED` (and `SO_PEERGROUPS`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerCred {
    /// Process id at connect time.
    pub pid: i32,
    /// Effective uid.
    pub uid: u32,
    /// Effective primary gid.
    pub gid: u32,
}

/// Root, our own euid, an allowed uid, or an allowed (or the socket's) group.
pub(super) fn is_allowed(config: &ServerConfig, own_euid: u32, fd: RawFd, cred: &PeerCred) -> bool {
    if cred.uid == 0 || cred.uid == own_euid || config.allowed_uids.contains(&cred.uid) {
        return true;
    }
    let gid_ok = |g: u32| config.allowed_gids.contains(&g) || config.group == Some(g);
    if config.allowed_gids.is_empty() && config.group.is_none() {
        return false;
    }
    gid_ok(cred.gid) || peer_groups(fd).into_iter().any(gid_ok)
}

/// `SO_PEERCRED` of a connected Unix socket.
pub fn peer_cred(fd: RawFd) -> io::Result<PeerCred> {
    let mut cred = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: `cred` is a valid, writable ucred and `len` holds its exact size, as
    // SO_PEERCRED requires; the kernel writes at most `len` bytes.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast::<libc::c_void>(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    if len as usize != std::mem::size_of::<libc::ucred>() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "short SO_PEERCRED answer",
        ));
    }
    Ok(PeerCred {
        pid: cred.pid,
        uid: cred.uid,
        gid: cred.gid,
    })
}

/// Supplementary groups of the peer (`SO_PEERGROUPS`, Linux 4.13+); empty if unavailable.
fn peer_groups(fd: RawFd) -> Vec<u32> {
    /// NGROUPS_MAX on Linux.
    const MAX_GROUPS: usize = 65536;
    let mut groups: Vec<libc::gid_t> = vec![0; 64];
    for _ in 0..2 {
        let mut len = (groups.len() * std::mem::size_of::<libc::gid_t>()) as libc::socklen_t;
        // SAFETY: `groups` is a valid, writable buffer of exactly `len` bytes; the kernel
        // writes at most `len` bytes and reports the size used (or needed, on ERANGE).
        let rc = unsafe {
            libc::getsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_PEERGROUPS,
                groups.as_mut_ptr().cast::<libc::c_void>(),
                &mut len,
            )
        };
        let n = len as usize / std::mem::size_of::<libc::gid_t>();
        if rc == 0 {
            groups.truncate(n);
            return groups;
        }
        if io::Error::last_os_error().raw_os_error() != Some(libc::ERANGE) || n > MAX_GROUPS {
            break;
        }
        groups = vec![0; n.max(1)];
    }
    Vec::new()
}
