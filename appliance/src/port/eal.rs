//! EAL initialisation and cleanup. One EAL per process.

use super::{check, DpdkError};
use std::ffi::{c_char, CString};
use std::sync::atomic::{AtomicBool, Ordering};

static STARTED: AtomicBool = AtomicBool::new(false);

/// A running EAL. Dropping it calls `rte_eal_cleanup`, after ports and pools are gone.
pub struct Eal {
    _private: (),
}

impl Eal {
    /// Start EAL with `args` as the command line (`args[0]` is the program name we add).
    pub fn init(args: &[String]) -> Result<Eal, DpdkError> {
        if STARTED.swap(true, Ordering::SeqCst) {
            return Err(DpdkError::new(
                "rte_eal_init: EAL already started in this process",
                114,
            ));
        }
        let mut owned = Vec::with_capacity(args.len() + 1);
        owned.push(CString::new("appliance").expect("no NUL"));
        for a in args {
            owned.push(CString::new(a.as_str()).map_err(|_| {
                DpdkError::new(format!("EAL argument {a:?} contains a NUL byte"), 22)
            })?);
        }
        // EAL keeps pointers into argv for the life of the process: leak the strings.
        let argv: Vec<*mut c_char> = owned.into_iter().map(|s| s.into_raw()).collect();
        let argv = Box::leak(argv.into_boxed_slice());
        // SAFETY: argv holds argc valid NUL-terminated strings that are never freed; EAL may
        // permute the array, which is ours to lose.
        let rc = unsafe { dpdk_sys::rte_eal_init(argv.len() as i32, argv.as_mut_ptr()) };
        check(rc, || format!("rte_eal_init with arguments {args:?}"))?;
        Ok(Eal { _private: () })
    }

    /// Number of ethdev ports EAL probed.
    pub fn port_count(&self) -> u16 {
        // SAFETY: EAL is initialised (we exist).
        unsafe { dpdk_sys::rte_eth_dev_count_avail() }
    }

    /// The port id of a device by its name (e.g. `net_af_packet0`, `0000:3b:00.0`).
    pub fn port_by_name(&self, name: &str) -> Result<u16, DpdkError> {
        let c = CString::new(name).map_err(|_| DpdkError::new("port name with NUL", 22))?;
        let mut id = 0u16;
        // SAFETY: c is a valid C string, id a valid out-pointer.
        let rc = unsafe { dpdk_sys::rte_eth_dev_get_port_by_name(c.as_ptr(), &mut id) };
        check(rc, || format!("no DPDK port named {name:?}"))?;
        Ok(id)
    }
}

impl Drop for Eal {
    fn drop(&mut self) {
        // SAFETY: called once, after every DPDK object we created has been released.
        unsafe {
            dpdk_sys::rte_eal_cleanup();
        }
    }
}
