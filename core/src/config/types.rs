//! The settings' value types: what to do on a limit, on no capacity, on an unparsable
//! ClientHello, on a full flow table, with malformed frames and fragments; the MSS clamp and
//! insert values (with their TOML forms); how a port is named.

use serde::{Deserialize, Serialize};

/// Over budget (too many packets or bytes, or no progress for `hold_timeout_secs`).
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Hash, Default)]
#[serde(rename_all = "lowercase")]
pub enum OnLimit {
    /// RST both ways, end reason `accumulation-limit` (what the field's appliance does).
    #[default]
    Reset,
    /// Forward what is held, mark the session uninspected (fail open).
    Release,
}

/// A ClientHello the parser cannot read (bad framing or a message it refuses), `[accumulation]
/// on_unparsable`. Unset: `reset` when the policy can deny (a deny rule, or `default =
/// "deny"`), else `release`.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Hash, Default)]
#[serde(rename_all = "lowercase")]
pub enum OnUnparsable {
    /// RST both ways, end reason `unparsable` (fail closed: what cannot be judged does not
    /// reach the server).
    Reset,
    /// Forward it uninspected (fail open: a hello a server accepts but this parser does not
    /// would bypass the policy). The default of the default policy (allow, no rules).
    #[default]
    Release,
}

impl OnUnparsable {
    pub fn as_str(self) -> &'static str {
        match self {
            OnUnparsable::Reset => "reset",
            OnUnparsable::Release => "release",
        }
    }
}

/// No free accumulation capacity when a session starts.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Hash, Default)]
#[serde(rename_all = "lowercase")]
pub enum OnCapacity {
    /// Pass the session uninspected.
    #[default]
    Bypass,
    /// RST both ways, end reason `accumulation-capacity`.
    Reset,
}

impl OnLimit {
    /// The keyword as typed and as written to the config file.
    pub fn as_str(self) -> &'static str {
        match self {
            OnLimit::Reset => "reset",
            OnLimit::Release => "release",
        }
    }
}

impl OnCapacity {
    /// The keyword as typed and as written to the config file.
    pub fn as_str(self) -> &'static str {
        match self {
            OnCapacity::Bypass => "bypass",
            OnCapacity::Reset => "reset",
        }
    }
}

/// What to do when a worker's flow table is full.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum OnTableFull {
    /// Forward the packet untracked (fail open).
    #[default]
    Pass,
    /// Drop the packet (fail closed).
    Drop,
}

/// What to do with malformed IP/TCP frames (bad lengths, bad options).
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum MalformedAction {
    #[default]
    Drop,
    Pass,
}

/// What to do with IP fragments of TCP (`[flow] fragments`). The appliance does not
/// reassemble: a ClientHello in fragments would reach the server uninspected, and a later
/// fragment carries no port to tell an accumulated session from another.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum Fragments {
    /// Drop TCP fragments while accumulation is on (fail closed). TCP sets Don't Fragment,
    /// so honest traffic is not fragmented; other protocols' fragments pass.
    #[default]
    Drop,
    /// Forward them uninspected (fail open: a ClientHello in fragments is not judged).
    Pass,
}

/// `clamp = 1400 | "auto" | false`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum MssClamp {
    #[default]
    Off,
    /// From the egress port's MTU: MTU−40 (IPv4), MTU−60 (IPv6).
    Auto,
    Value(u16),
}

/// `insert_missing = 1460 | false`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MssInsert {
    #[default]
    Off,
    Value(u16),
}

/// Valid MSS values for clamp and insert: below 536 is below every IPv4 host's minimum
/// (RFC 1122), above 9000 exceeds any jumbo MTU we forward.
pub const MSS_MIN: u16 = 536;
pub const MSS_MAX: u16 = 9000;

pub(super) mod clamp_serde {
    use super::MssClamp;
    use serde::{de, Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Deserialize, Serialize)]
    #[serde(untagged)]
    enum Raw {
        B(bool),
        N(i64),
        S(String),
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<MssClamp, D::Error> {
        match Raw::deserialize(d)? {
            Raw::B(false) => Ok(MssClamp::Off),
            Raw::S(s) if s == "auto" => Ok(MssClamp::Auto),
            Raw::S(s) if s == "off" => Ok(MssClamp::Off),
            Raw::N(n) if (super::MSS_MIN as i64..=super::MSS_MAX as i64).contains(&n) => {
                Ok(MssClamp::Value(n as u16))
            }
            _ => Err(de::Error::custom(format!(
                "expected a number {}..={}, \"auto\" or false",
                super::MSS_MIN,
                super::MSS_MAX
            ))),
        }
    }

    pub fn serialize<S: Serializer>(v: &MssClamp, s: S) -> Result<S::Ok, S::Error> {
        match v {
            MssClamp::Off => Raw::B(false),
            MssClamp::Auto => Raw::S("auto".into()),
            MssClamp::Value(n) => Raw::N(*n as i64),
        }
        .serialize(s)
    }
}

pub(super) mod insert_serde {
    use super::MssInsert;
    use serde::{de, Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Deserialize, Serialize)]
    #[serde(untagged)]
    enum Raw {
        B(bool),
        N(i64),
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<MssInsert, D::Error> {
        match Raw::deserialize(d)? {
            Raw::B(false) => Ok(MssInsert::Off),
            Raw::N(n) if (super::MSS_MIN as i64..=super::MSS_MAX as i64).contains(&n) => {
                Ok(MssInsert::Value(n as u16))
            }
            _ => Err(de::Error::custom(format!(
                "expected a number {}..={} or false",
                super::MSS_MIN,
                super::MSS_MAX
            ))),
        }
    }

    pub fn serialize<S: Serializer>(v: &MssInsert, s: S) -> Result<S::Ok, S::Error> {
        match v {
            MssInsert::Off => Raw::B(false),
            MssInsert::Value(n) => Raw::N(*n as i64),
        }
        .serialize(s)
    }
}

/// A DPDK port named by id or by device name.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(untagged)]
pub enum PortRef {
    Id(u16),
    Name(String),
}
