//! The appliance in DPDK's own operator tools: telemetry commands for `dpdk-telemetry.py`,
//! and the packet-capture server (`rte_pdump`) for `dpdk-dumpcap`.
//!
//! # Telemetry
//!
//! [`register`] adds three commands to DPDK's telemetry socket
//! (`/var/run/dpdk/<file-prefix>/dpdk_telemetry.v2`), next to DPDK's own (`/ethdev/stats,0`):
//!
//! | command | control-socket equivalent |
//! | --- | --- |
//! | `/appliance/accumulation[,W]` | `show accumulation` |
//! | `/appliance/counters[,W]` | `show counters` |
//! | `/appliance/mss` | `show mss` |
//!
//! Each answers with the fields of the control socket's response, mapped onto what DPDK
//! 22.11 telemetry can carry (a dict of scalars, arrays of scalars, and one level of
//! containers):
//!
//! - non-negative integers are `u64`, negative ones `int`; booleans are `1` / `0`;
//!   non-integral numbers (`usage_percent`) are strings (`"12.5"`); `null` fields are left out;
//! - strings are strings (at most 127 bytes; characters that DPDK 22.11 would not escape in
//!   its JSON, `"` `\` and control characters, become `_`);
//! - a nested object (`counters`, `mbufs`, `towards_client`) is a dict container; objects
//!   nested deeper are flattened into it with `_`-joined keys (`a: {b: 1}` → `a_b`);
//! - an array of scalars (`ports`) is an array container;
//! - the per-worker array `workers` becomes the array of worker indices (`[0, 1]`), and the
//!   parameter selects one: `/appliance/counters,1` is worker 1's entry of `workers`, with the
//!   same mapping.
//!
//! A dict holds at most 256 entries and a response at most 16 KiB (DPDK's limits); entries
//! beyond are left out by DPDK.
//!
//! The callbacks run on DPDK's telemetry thread. They reach the control state through a
//! process-wide [`Backend`] installed by [`register`] and removed by [`unregister`] (before
//! the ports and pools go away); in between they take the control state's mutex like the
//! control socket does, never anything a worker holds. No panic crosses the C boundary
//! (`catch_unwind`; with `panic = "abort"` a panic aborts, as everywhere else).
//!
//! # Packet capture
//!
//! [`Pdump::init`] starts DPDK's capture server, so `dpdk-dumpcap --file-prefix=PREFIX -i
//! PORT` (a secondary process) can install RX/TX capture callbacks on the running ports.
//! That needs DPDK multi-process: shared config and hugepages (see
//! [`crate::config::multiprocess_blocker`]). Until a capture starts it adds nothing to the
//! per-packet path.

use appliance_core::control::{Backend, Request};
use serde_json::Value;
use std::ffi::{c_char, c_int, CStr, CString};
use std::sync::{Arc, OnceLock, RwLock};

/// DPDK's limits (`rte_telemetry.h`).
const MAX_STRING: usize = dpdk_sys::RTE_TEL_MAX_STRING_LEN as usize - 1;
const MAX_DICT: usize = dpdk_sys::RTE_TEL_MAX_DICT_ENTRIES as usize;
const MAX_ARRAY: usize = dpdk_sys::RTE_TEL_MAX_ARRAY_ENTRIES as usize;

/// The commands: path, the control request behind it, help text.
const COMMANDS: [(&str, &str); 3] = [
    (
        "/appliance/accumulation",
        "Packet limit, capacity and usage against capacity. Parameter: worker index",
    ),
    (
        "/appliance/counters",
        "All datapath counters, summed and per worker. Parameter: worker index",
    ),
    (
        "/appliance/mss",
        "MSS clamp/insert settings and counters. No parameters",
    ),
];

fn request_for(cmd: &str) -> Option<Request> {
    match cmd {
        "/appliance/accumulation" => Some(Request::ShowAccumulation),
        "/appliance/counters" => Some(Request::ShowCounters),
        "/appliance/mss" => Some(Request::ShowMss),
        _ => None,
    }
}

/// A scalar as telemetry carries it.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar {
    U64(u64),
    Int(i32),
    Str(String),
}

/// One entry of a telemetry dict.
#[derive(Debug, Clone, PartialEq)]
pub enum Entry {
    Scalar(Scalar),
    U64Array(Vec<u64>),
    StrArray(Vec<String>),
    /// A dict container (scalars only: DPDK 22.11 nests containers one level deep).
    Dict(Vec<(String, Scalar)>),
}

/// A telemetry response: the top-level dict.
pub type Dict = Vec<(String, Entry)>;

/// What `cmd` with `params` answers, from the control backend's response.
pub fn answer(backend: &dyn Backend, cmd: &str, params: &str) -> Result<Dict, String> {
    let req = request_for(cmd).ok_or_else(|| format!("unknown command {cmd}"))?;
    let v = backend.handle(req)?;
    let v = select(&v, params)?;
    Ok(to_dict(&v))
}

/// The part of a response a parameter selects: none, or a worker index into `workers`.
pub fn select(v: &Value, params: &str) -> Result<Value, String> {
    let p = params.trim();
    if p.is_empty() {
        return Ok(v.clone());
    }
    let i: usize = p
        .parse()
        .map_err(|_| format!("parameter {p:?} is not a worker index"))?;
    let workers = v
        .get("workers")
        .and_then(Value::as_array)
        .ok_or("this command takes no parameter")?;
    workers
        .get(i)
        .cloned()
        .ok_or_else(|| format!("no worker {i} (there are {})", workers.len()))
}

/// Map a JSON response onto telemetry's types (see the module documentation).
pub fn to_dict(v: &Value) -> Dict {
    let mut out = Dict::new();
    let Value::Object(map) = v else {
        if let Some(s) = scalar(v) {
            out.push(("value".into(), Entry::Scalar(s)));
        }
        return out;
    };
    for (k, v) in map {
        if out.len() >= MAX_DICT {
            break;
        }
        let key = clean_key(k);
        let entry = match v {
            Value::Object(_) => {
                let mut d = Vec::new();
                flatten("", v, &mut d);
                d.truncate(MAX_DICT);
                Entry::Dict(d)
            }
            Value::Array(items) if items.iter().any(|x| x.is_object() || x.is_array()) => {
                Entry::U64Array((0..items.len().min(MAX_ARRAY) as u64).collect())
            }
            Value::Array(items) => {
                let nums: Option<Vec<u64>> = items.iter().map(Value::as_u64).collect();
                match nums {
                    Some(n) => Entry::U64Array(n.into_iter().take(MAX_ARRAY).collect()),
                    None => Entry::StrArray(
                        items
                            .iter()
                            .take(MAX_ARRAY)
                            .map(|x| match scalar(x) {
                                Some(Scalar::U64(n)) => n.to_string(),
                                Some(Scalar::Int(n)) => n.to_string(),
                                Some(Scalar::Str(s)) => s,
                                None => String::new(),
                            })
                            .collect(),
                    ),
                }
            }
            other => match scalar(other) {
                Some(s) => Entry::Scalar(s),
                None => continue,
            },
        };
        out.push((key, entry));
    }
    out
}

/// Flatten a value into `prefix_key` scalars.
fn flatten(prefix: &str, v: &Value, out: &mut Vec<(String, Scalar)>) {
    let join = |k: &str| {
        if prefix.is_empty() {
            clean_key(k)
        } else {
            clean_key(&format!("{prefix}_{k}"))
        }
    };
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                flatten(&join(k), x, out);
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                flatten(&join(&i.to_string()), x, out);
            }
        }
        other => {
            if let Some(s) = scalar(other) {
                out.push((prefix.to_string(), s));
            }
        }
    }
}

fn scalar(v: &Value) -> Option<Scalar> {
    match v {
        Value::Null | Value::Array(_) | Value::Object(_) => None,
        Value::Bool(b) => Some(Scalar::U64(*b as u64)),
        Value::Number(n) => Some(if let Some(u) = n.as_u64() {
            Scalar::U64(u)
        } else if let Some(i) = n.as_i64().and_then(|i| i32::try_from(i).ok()) {
            Scalar::Int(i)
        } else {
            Scalar::Str(n.to_string())
        }),
        Value::String(s) => Some(Scalar::Str(clean_string(s))),
    }
}

/// Keys: DPDK allows alphanumerics, `_` and `/`.
fn clean_key(k: &str) -> String {
    let mut s: String = k
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '/' {
                c
            } else {
                '_'
            }
        })
        .collect();
    s.truncate(MAX_STRING);
    if s.is_empty() {
        s.push('_');
    }
    s
}

/// String values: printable ASCII other than `"` and `\` (DPDK 22.11 does not escape them).
fn clean_string(v: &str) -> String {
    let mut s: String = v
        .chars()
        .map(|c| {
            if (c.is_ascii_graphic() || c == ' ') && c != '"' && c != '\\' {
                c
            } else {
                '_'
            }
        })
        .collect();
    s.truncate(MAX_STRING);
    s
}

/// The backend the callbacks read, while the appliance runs. A callback holds the read lock
/// for its whole run, so [`unregister`] returns only when none is using the backend.
static BACKEND: RwLock<Option<Arc<dyn Backend>>> = RwLock::new(None);
static REGISTERED: OnceLock<Result<(), String>> = OnceLock::new();

/// Answer telemetry commands from `backend` (registering them with DPDK on first use).
/// Works before or after `rte_eal_init`; with EAL's `--no-telemetry` nothing serves them.
pub fn register(backend: Arc<dyn Backend>) -> Result<(), String> {
    match BACKEND.write() {
        Ok(mut b) => *b = Some(backend),
        Err(p) => *p.into_inner() = Some(backend),
    }
    REGISTERED
        .get_or_init(|| {
            for (cmd, help) in COMMANDS {
                let (c, h) = (cstr(cmd), cstr(help));
                // SAFETY: valid C strings (DPDK copies both); the callback is a plain extern
                // fn, valid for the life of the process.
                let rc = unsafe {
                    dpdk_sys::rte_telemetry_register_cmd(c.as_ptr(), Some(callback), h.as_ptr())
                };
                if rc < 0 {
                    return Err(format!("rte_telemetry_register_cmd {cmd}: error {rc}"));
                }
            }
            Ok(())
        })
        .clone()
}

/// Stop answering (the commands stay registered and return an error): call before the
/// state the backend reads goes away. Waits for callbacks in flight.
pub fn unregister() {
    match BACKEND.write() {
        Ok(mut b) => *b = None,
        Err(p) => *p.into_inner() = None,
    }
}

unsafe extern "C" fn callback(
    cmd: *const c_char,
    params: *const c_char,
    d: *mut dpdk_sys::rte_tel_data,
) -> c_int {
    let run = std::panic::AssertUnwindSafe(|| {
        if cmd.is_null() || d.is_null() {
            return -libc::EINVAL;
        }
        // SAFETY: DPDK passes NUL-terminated strings valid for the call (params may be NULL).
        let cmd = unsafe { CStr::from_ptr(cmd) }.to_string_lossy();
        let params = if params.is_null() {
            String::new()
        } else {
            // SAFETY: as above.
            unsafe { CStr::from_ptr(params) }
                .to_string_lossy()
                .into_owned()
        };
        let guard = match BACKEND.read() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        let Some(backend) = guard.as_ref() else {
            return -libc::EAGAIN;
        };
        match answer(&**backend, &cmd, &params) {
            // SAFETY: d is the telemetry data DPDK gave this callback.
            Ok(dict) => unsafe { fill(d, &dict) },
            Err(_) => -libc::EINVAL,
        }
    });
    std::panic::catch_unwind(run).unwrap_or(-libc::EIO)
}

fn cstr(s: &str) -> CString {
    // Keys and strings were cleaned: no NUL bytes; fall back to "_" regardless.
    CString::new(s).unwrap_or_else(|_| CString::new("_").expect("no NUL"))
}

/// Write `dict` into DPDK's telemetry data `d`.
///
/// # Safety
/// `d` must be a valid `rte_tel_data` that DPDK handed to a telemetry callback.
unsafe fn fill(d: *mut dpdk_sys::rte_tel_data, dict: &Dict) -> c_int {
    use dpdk_sys::*;
    // SAFETY (whole function): d is valid per the contract; every container is allocated
    // by rte_tel_data_alloc and either handed to d (keep = 0: DPDK frees it) or freed here.
    unsafe {
        let rc = rte_tel_data_start_dict(d);
        if rc < 0 {
            return rc;
        }
        for (k, e) in dict {
            let key = cstr(k);
            match e {
                Entry::Scalar(s) => {
                    add_scalar(d, &key, s);
                }
                Entry::U64Array(v) => {
                    let c = rte_tel_data_alloc();
                    if c.is_null() {
                        continue;
                    }
                    rte_tel_data_start_array(c, RTE_TEL_U64_VAL);
                    for x in v {
                        rte_tel_data_add_array_u64(c, *x);
                    }
                    if rte_tel_data_add_dict_container(d, key.as_ptr(), c, 0) < 0 {
                        rte_tel_data_free(c);
                    }
                }
                Entry::StrArray(v) => {
                    let c = rte_tel_data_alloc();
                    if c.is_null() {
                        continue;
                    }
                    rte_tel_data_start_array(c, RTE_TEL_STRING_VAL);
                    for x in v {
                        rte_tel_data_add_array_string(c, cstr(x).as_ptr());
                    }
                    if rte_tel_data_add_dict_container(d, key.as_ptr(), c, 0) < 0 {
                        rte_tel_data_free(c);
                    }
                }
                Entry::Dict(v) => {
                    let c = rte_tel_data_alloc();
                    if c.is_null() {
                        continue;
                    }
                    rte_tel_data_start_dict(c);
                    for (k2, s) in v {
                        add_scalar(c, &cstr(k2), s);
                    }
                    if rte_tel_data_add_dict_container(d, key.as_ptr(), c, 0) < 0 {
                        rte_tel_data_free(c);
                    }
                }
            }
        }
    }
    0
}

/// # Safety
/// `d` is a valid telemetry dict.
unsafe fn add_scalar(d: *mut dpdk_sys::rte_tel_data, key: &CStr, s: &Scalar) -> c_int {
    // SAFETY: d is valid per the contract; key and value are C strings DPDK copies.
    unsafe {
        match s {
            Scalar::U64(v) => dpdk_sys::rte_tel_data_add_dict_u64(d, key.as_ptr(), *v),
            Scalar::Int(v) => dpdk_sys::rte_tel_data_add_dict_int(d, key.as_ptr(), *v),
            Scalar::Str(v) => {
                dpdk_sys::rte_tel_data_add_dict_string(d, key.as_ptr(), cstr(v).as_ptr())
            }
        }
    }
}

/// DPDK's packet-capture server, running while this value lives.
pub struct Pdump {
    _private: (),
}

impl Pdump {
    /// `rte_pdump_init`: after EAL init, in the primary process.
    pub fn init() -> Result<Pdump, String> {
        // SAFETY: EAL is initialised (the caller holds the Eal); no other preconditions.
        let rc = unsafe { dpdk_sys::rte_pdump_init() };
        if rc < 0 {
            return Err(crate::port::DpdkError::from_rc("rte_pdump_init", rc).to_string());
        }
        Ok(Pdump { _private: () })
    }
}

impl Drop for Pdump {
    fn drop(&mut self) {
        // SAFETY: pairs the successful rte_pdump_init; called once, while EAL still runs.
        unsafe {
            dpdk_sys::rte_pdump_uninit();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn scalars_containers_and_workers() {
        let v = json!({
            "packetlimit": 12,
            "enabled": true,
            "on_limit": "reset",
            "usage_percent": 12.5,
            "delta": -3,
            "nothing": null,
            "ports": [443, 8443],
            "names": ["a", 1],
            "counters": {"held": 5, "deep": {"x": 1, "y": [7, 8]}},
            "workers": [{"worker": 0, "held": 2}, {"worker": 1, "held": 3}],
        });
        let d = to_dict(&v);
        let get = |k: &str| d.iter().find(|(n, _)| n == k).map(|(_, e)| e.clone());
        assert_eq!(get("packetlimit"), Some(Entry::Scalar(Scalar::U64(12))));
        assert_eq!(get("enabled"), Some(Entry::Scalar(Scalar::U64(1))));
        assert_eq!(
            get("on_limit"),
            Some(Entry::Scalar(Scalar::Str("reset".into())))
        );
        assert_eq!(
            get("usage_percent"),
            Some(Entry::Scalar(Scalar::Str("12.5".into())))
        );
        assert_eq!(get("delta"), Some(Entry::Scalar(Scalar::Int(-3))));
        assert_eq!(get("nothing"), None);
        assert_eq!(get("ports"), Some(Entry::U64Array(vec![443, 8443])));
        assert_eq!(
            get("names"),
            Some(Entry::StrArray(vec!["a".into(), "1".into()]))
        );
        assert_eq!(get("workers"), Some(Entry::U64Array(vec![0, 1])));
        let Some(Entry::Dict(c)) = get("counters") else {
            panic!("counters not a dict: {d:?}")
        };
        assert!(c.contains(&("held".into(), Scalar::U64(5))));
        assert!(c.contains(&("deep_x".into(), Scalar::U64(1))));
        assert!(c.contains(&("deep_y_1".into(), Scalar::U64(8))));

        let w = select(&v, "1").unwrap();
        assert_eq!(w, json!({"worker": 1, "held": 3}));
        assert!(select(&v, "2").unwrap_err().contains("no worker 2"));
        assert!(select(&v, "x").is_err());
        assert!(select(&json!({"a": 1}), "0").is_err());
        assert_eq!(select(&v, " ").unwrap(), v);
    }

    #[test]
    fn keys_and_strings_are_what_dpdk_accepts() {
        let d = to_dict(&json!({
            "tcp-rst from client": "say \"hi\"\\\n",
            "long": "x".repeat(300),
        }));
        assert_eq!(d[1].0, "tcp_rst_from_client");
        assert_eq!(d[1].1, Entry::Scalar(Scalar::Str("say _hi___".into())));
        let Entry::Scalar(Scalar::Str(s)) = &d[0].1 else {
            panic!()
        };
        assert_eq!(s.len(), 127);
    }

    #[test]
    fn limits_are_respected() {
        let big: serde_json::Map<String, Value> =
            (0..400).map(|i| (format!("k{i:03}"), json!(i))).collect();
        let d = to_dict(&Value::Object(big.clone()));
        assert_eq!(d.len(), MAX_DICT);
        let d = to_dict(&json!({ "c": Value::Object(big), "a": (0..600).collect::<Vec<_>>() }));
        for (_, e) in &d {
            match e {
                Entry::Dict(v) => assert_eq!(v.len(), MAX_DICT),
                Entry::U64Array(v) => assert_eq!(v.len(), MAX_ARRAY),
                _ => panic!(),
            }
        }
    }

    #[test]
    fn answer_uses_the_backend_and_command() {
        let b = |r: Request| -> Result<Value, String> {
            Ok(match r {
                Request::ShowAccumulation => json!({"packetlimit": 12, "workers": [{"x": 1}]}),
                Request::ShowMss => json!({"clamp": "off"}),
                _ => return Err("no".into()),
            })
        };
        let d = answer(&b, "/appliance/accumulation", "").unwrap();
        assert_eq!(d[0], ("packetlimit".into(), Entry::Scalar(Scalar::U64(12))));
        let d = answer(&b, "/appliance/accumulation", "0").unwrap();
        assert_eq!(d, vec![("x".into(), Entry::Scalar(Scalar::U64(1)))]);
        assert!(answer(&b, "/appliance/mss", "0").is_err());
        assert!(answer(&b, "/appliance/counters", "").is_err());
        assert!(answer(&b, "/appliance/nope", "").is_err());
    }
}
