//! [`parse_request`]: a request line to a [`Request`], with one-line operator errors that
//! say what was expected and what was given.

use super::{
    LogLevel, MssClamp, OnCapacity, OnLimit, Request, COMMAND_LIST, LONG_FORM_PACKETLIMIT,
    MAX_BYTES_MAX, MAX_BYTES_MIN, MAX_REQUEST, MSS_MAX, MSS_MIN, PACKETLIMIT_MAX, PACKETLIMIT_MIN,
    SESSIONS_LIMIT_DEFAULT, SESSIONS_LIMIT_MAX, SESSIONS_LIMIT_MIN, SNI_FILTER_MAX,
    TARGET_PERCENTILE_DEFAULT,
};

/// Quote a user-supplied word for an error message: printable, at most 40 characters.
/// A number as typed when it is short, quoted and truncated like other words when not (the
/// error line stays small whatever the request).
fn num(word: &str) -> String {
    if word.len() <= 20 {
        word.to_string()
    } else {
        quote(word)
    }
}

fn quote(word: &str) -> String {
    const MAX_CHARS: usize = 40;
    let mut s: String = word.chars().take(MAX_CHARS).collect();
    if word.chars().nth(MAX_CHARS).is_some() {
        s.push('…');
    }
    // `{:?}` escapes control characters and quotes the word.
    format!("{s:?}")
}

/// Cursor over the words of a request line.
struct Words<'a> {
    words: Vec<&'a str>,
    pos: usize,
}

impl<'a> Words<'a> {
    fn next(&mut self) -> Option<&'a str> {
        let w = self.words.get(self.pos).copied();
        if w.is_some() {
            self.pos += 1;
        }
        w
    }

    /// The next word, or a "missing argument" error naming what was expected.
    fn expect(&mut self, what: &str, after: &str) -> Result<&'a str, String> {
        self.next()
            .ok_or_else(|| format!("missing argument: `{after}` needs {what}"))
    }

    /// Error unless every word has been consumed.
    fn finish(&mut self, cmd: &str) -> Result<(), String> {
        match self.next() {
            None => Ok(()),
            Some(w) => Err(format!("unexpected argument {} after `{cmd}`", quote(w))),
        }
    }
}

/// Parse an unsigned decimal number within `min..=max`; `name` names it in errors.
fn parse_number(word: &str, name: &str, min: u64, max: u64) -> Result<u64, String> {
    if word.is_empty() || !word.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "{name} must be a number between {min} and {max}, got {}",
            quote(word)
        ));
    }
    // All digits: parse fails only on overflow, which is out of range as well.
    match word.parse::<u64>() {
        Ok(v) if (min..=max).contains(&v) => Ok(v),
        _ => Err(format!(
            "{name} {} is out of range: must be between {min} and {max}",
            num(word)
        )),
    }
}

fn parse_u32(word: &str, name: &str, min: u32, max: u32) -> Result<u32, String> {
    parse_number(word, name, u64::from(min), u64::from(max))
        .and_then(|v| u32::try_from(v).map_err(|_| format!("{name} {} is out of range", num(word))))
}

fn parse_mss(word: &str, name: &str) -> Result<u16, String> {
    parse_number(word, name, u64::from(MSS_MIN), u64::from(MSS_MAX))
        .and_then(|v| u16::try_from(v).map_err(|_| format!("{name} {} is out of range", num(word))))
}

fn parse_percentile(word: &str) -> Result<f64, String> {
    let bad = || {
        format!(
            "target percentile must be a number greater than 0 and at most 100, got {}",
            quote(word)
        )
    };
    // Plain decimal notation only: no signs, exponents, `inf` or `nan`.
    if word.is_empty() || !word.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Err(bad());
    }
    let p: f64 = word.parse().map_err(|_| bad())?;
    if p.is_finite() && p > 0.0 && p <= 100.0 {
        Ok(p)
    } else {
        Err(format!(
            "target percentile {} is out of range: must be greater than 0 and at most 100",
            num(word)
        ))
    }
}

/// Split `--name=value` into `("--name", Some("value"))`.
fn split_option(word: &str) -> (&str, Option<&str>) {
    match word.split_once('=') {
        Some((n, v)) if n.starts_with("--") => (n, Some(v)),
        _ => (word, None),
    }
}

/// Parse one request line (without its line terminator; surrounding whitespace is ignored).
///
/// Errors are one-line messages meant for the operator: unknown commands list the known
/// ones, and bad arguments say what was expected and what was given.
pub fn parse_request(line: &str) -> Result<Request, String> {
    if line.len() > MAX_REQUEST {
        return Err(format!("request too long (max {MAX_REQUEST} bytes)"));
    }
    let words: Vec<&str> = line.split_whitespace().collect();
    if words.is_empty() {
        return Err(format!("empty request; commands: {COMMAND_LIST}"));
    }
    let mut w = Words { words, pos: 0 };
    let first = w.next().unwrap_or_default();
    let req = match first.to_ascii_lowercase().as_str() {
        "show" => parse_show(&mut w)?,
        "set" => parse_set(&mut w)?,
        "advise" => parse_advise(&mut w)?,
        "what-if" => {
            let what = w.expect("`packetlimit N`", "what-if")?;
            if !what.eq_ignore_ascii_case("packetlimit") {
                return Err(format!(
                    "unknown what-if target {}; expected `what-if packetlimit N`",
                    quote(what)
                ));
            }
            let n = w.expect("a packet limit N", "what-if packetlimit")?;
            let n = parse_u32(n, "packetlimit", PACKETLIMIT_MIN, PACKETLIMIT_MAX)?;
            w.finish("what-if packetlimit N")?;
            Request::WhatIfPacketLimit(n)
        }
        "debug" => parse_long_form(&mut w)?,
        _ => {
            return Err(format!(
                "unknown command {}; commands: {COMMAND_LIST}",
                quote(first)
            ))
        }
    };
    Ok(req)
}

fn parse_show(w: &mut Words<'_>) -> Result<Request, String> {
    const TARGETS: &str = "accumulation, counters, mss, ports, config, metrics, sessions";
    let what = w
        .next()
        .ok_or_else(|| format!("missing argument: `show` needs one of: {TARGETS}"))?;
    let req = match what.to_ascii_lowercase().as_str() {
        "accumulation" => Request::ShowAccumulation,
        "counters" => Request::ShowCounters,
        "mss" => Request::ShowMss,
        "ports" => Request::ShowPorts,
        "config" => Request::ShowConfig,
        "metrics" => Request::ShowMetrics,
        "sessions" => return parse_show_sessions(w),
        _ => {
            return Err(format!(
                "unknown show target {}; expected one of: {TARGETS}",
                quote(what)
            ))
        }
    };
    w.finish(&format!("show {}", what.to_ascii_lowercase()))?;
    Ok(req)
}

fn parse_show_sessions(w: &mut Words<'_>) -> Result<Request, String> {
    let mut sni: Option<String> = None;
    let mut limit: Option<u32> = None;
    while let Some(word) = w.next() {
        let (name, inline) = split_option(word);
        match name.to_ascii_lowercase().as_str() {
            "--sni" => {
                if sni.is_some() {
                    return Err("--sni given more than once".to_string());
                }
                let v = match inline {
                    Some(v) => v,
                    None => w.expect("a server name", "--sni")?,
                };
                if v.is_empty() {
                    return Err("missing argument: `--sni` needs a server name".to_string());
                }
                if v.len() > SNI_FILTER_MAX {
                    return Err(format!(
                        "--sni is too long ({} bytes, max {SNI_FILTER_MAX})",
                        v.len()
                    ));
                }
                sni = Some(v.to_string());
            }
            "--limit" => {
                if limit.is_some() {
                    return Err("--limit given more than once".to_string());
                }
                let v = match inline {
                    Some(v) => v,
                    None => w.expect("a number N", "--limit")?,
                };
                limit = Some(parse_u32(
                    v,
                    "--limit",
                    SESSIONS_LIMIT_MIN,
                    SESSIONS_LIMIT_MAX,
                )?);
            }
            _ => {
                return Err(format!(
                    "unknown option {} for `show sessions`; expected --sni S or --limit N",
                    quote(word)
                ))
            }
        }
    }
    Ok(Request::ShowSessions {
        sni,
        limit: limit.unwrap_or(SESSIONS_LIMIT_DEFAULT),
    })
}

fn parse_set(w: &mut Words<'_>) -> Result<Request, String> {
    const TARGETS: &str = "packetlimit, max-bytes, on-limit, on-capacity, mss, log-level";
    let what = w
        .next()
        .ok_or_else(|| format!("missing argument: `set` needs one of: {TARGETS}"))?;
    let req = match what.to_ascii_lowercase().as_str() {
        "packetlimit" => {
            let n = w.expect("a packet limit N (1..=64)", "set packetlimit")?;
            let n = parse_u32(n, "packetlimit", PACKETLIMIT_MIN, PACKETLIMIT_MAX)?;
            w.finish("set packetlimit N")?;
            Request::SetPacketLimit(n)
        }
        "max-bytes" => {
            let n = w.expect("a byte count N (512..=65536)", "set max-bytes")?;
            let n = parse_u32(n, "max-bytes", MAX_BYTES_MIN, MAX_BYTES_MAX)?;
            w.finish("set max-bytes N")?;
            Request::SetMaxBytes(n)
        }
        "on-limit" => {
            let v = w.expect("reset or release", "set on-limit")?;
            let v = match v.to_ascii_lowercase().as_str() {
                "reset" => OnLimit::Reset,
                "release" => OnLimit::Release,
                _ => {
                    return Err(format!(
                        "on-limit must be reset or release, got {}",
                        quote(v)
                    ))
                }
            };
            w.finish("set on-limit")?;
            Request::SetOnLimit(v)
        }
        "on-capacity" => {
            let v = w.expect("bypass or reset", "set on-capacity")?;
            let v = match v.to_ascii_lowercase().as_str() {
                "bypass" => OnCapacity::Bypass,
                "reset" => OnCapacity::Reset,
                _ => {
                    return Err(format!(
                        "on-capacity must be bypass or reset, got {}",
                        quote(v)
                    ))
                }
            };
            w.finish("set on-capacity")?;
            Request::SetOnCapacity(v)
        }
        "mss" => parse_set_mss(w)?,
        "log-level" => {
            let v = w.expect("error, warn, info, debug or trace", "set log-level")?;
            let v = match v.to_ascii_lowercase().as_str() {
                "error" => LogLevel::Error,
                "warn" | "warning" => LogLevel::Warn,
                "info" => LogLevel::Info,
                "debug" => LogLevel::Debug,
                "trace" => LogLevel::Trace,
                _ => {
                    return Err(format!(
                        "log-level must be error, warn, info, debug or trace, got {}",
                        quote(v)
                    ))
                }
            };
            w.finish("set log-level")?;
            Request::SetLogLevel(v)
        }
        _ => {
            return Err(format!(
                "unknown set target {}; expected one of: {TARGETS}",
                quote(what)
            ))
        }
    };
    Ok(req)
}

fn parse_set_mss(w: &mut Words<'_>) -> Result<Request, String> {
    let what = w.expect("insert-missing or clamp", "set mss")?;
    let req = match what.to_ascii_lowercase().as_str() {
        "insert-missing" => {
            let v = w.expect("an MSS N (536..=9000) or off", "set mss insert-missing")?;
            let v = if v.eq_ignore_ascii_case("off") {
                None
            } else {
                Some(parse_mss(v, "mss insert-missing").map_err(|e| format!("{e} (or off)"))?)
            };
            w.finish("set mss insert-missing")?;
            Request::SetMssInsertMissing(v)
        }
        "clamp" => {
            let v = w.expect("an MSS N (536..=9000), auto or off", "set mss clamp")?;
            let v = match v.to_ascii_lowercase().as_str() {
                "auto" => MssClamp::Auto,
                "off" => MssClamp::Off,
                _ => MssClamp::Value(
                    parse_mss(v, "mss clamp").map_err(|e| format!("{e} (or auto, off)"))?,
                ),
            };
            w.finish("set mss clamp")?;
            Request::SetMssClamp(v)
        }
        _ => {
            return Err(format!(
                "unknown mss setting {}; expected insert-missing or clamp",
                quote(what)
            ))
        }
    };
    Ok(req)
}

fn parse_advise(w: &mut Words<'_>) -> Result<Request, String> {
    let what = w.expect("`packetlimit`", "advise")?;
    if !what.eq_ignore_ascii_case("packetlimit") {
        return Err(format!(
            "unknown advise target {}; expected `advise packetlimit [--target-percentile P]`",
            quote(what)
        ));
    }
    let mut target: Option<f64> = None;
    while let Some(word) = w.next() {
        let (name, inline) = split_option(word);
        if !name.eq_ignore_ascii_case("--target-percentile") {
            return Err(format!(
                "unknown option {} for `advise packetlimit`; expected --target-percentile P",
                quote(word)
            ));
        }
        if target.is_some() {
            return Err("--target-percentile given more than once".to_string());
        }
        let v = match inline {
            Some(v) => v,
            None => w.expect("a percentile P (0 < P <= 100)", "--target-percentile")?,
        };
        target = Some(parse_percentile(v)?);
    }
    Ok(Request::AdvisePacketLimit {
        target_percentile: target.unwrap_or(TARGET_PERCENTILE_DEFAULT),
    })
}

/// `debug dataplane set ssl-decrypt accumulate-client-hello packetlimit N` (the first word
/// has been consumed).
fn parse_long_form(w: &mut Words<'_>) -> Result<Request, String> {
    let full = LONG_FORM_PACKETLIMIT.join(" ");
    for expected in &LONG_FORM_PACKETLIMIT[1..] {
        match w.next() {
            Some(word) if word.eq_ignore_ascii_case(expected) => {}
            Some(word) => {
                return Err(format!(
                    "unknown debug command: expected `{expected}`, got {}; the supported form is `{full} N`",
                    quote(word)
                ))
            }
            None => {
                return Err(format!(
                    "missing argument: the supported debug command is `{full} N`"
                ))
            }
        }
    }
    let n = w.expect("a packet limit N (1..=64)", &full)?;
    let n = parse_u32(n, "packetlimit", PACKETLIMIT_MIN, PACKETLIMIT_MAX)?;
    w.finish(&format!("{full} N"))?;
    Ok(Request::SetPacketLimit(n))
}

#[cfg(test)]
mod tests {
    use super::super::COMMANDS_HELP;
    use super::*;
    use proptest::prelude::*;

    fn ok(line: &str) -> Request {
        match parse_request(line) {
            Ok(r) => r,
            Err(e) => panic!("{line:?} failed: {e}"),
        }
    }

    fn err(line: &str) -> String {
        match parse_request(line) {
            Ok(r) => panic!("{line:?} parsed as {r:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn every_command_parses() {
        let cases: Vec<(&str, Request)> = vec![
            ("show accumulation", Request::ShowAccumulation),
            ("show counters", Request::ShowCounters),
            ("show mss", Request::ShowMss),
            ("show ports", Request::ShowPorts),
            ("show config", Request::ShowConfig),
            ("show metrics", Request::ShowMetrics),
            (
                "show sessions",
                Request::ShowSessions {
                    sni: None,
                    limit: 100,
                },
            ),
            (
                "show sessions --sni example.com --limit 5",
                Request::ShowSessions {
                    sni: Some("example.com".into()),
                    limit: 5,
                },
            ),
            (
                "show sessions --limit=10000 --sni=Example.COM",
                Request::ShowSessions {
                    sni: Some("Example.COM".into()),
                    limit: 10000,
                },
            ),
            ("set packetlimit 24", Request::SetPacketLimit(24)),
            ("set packetlimit 1", Request::SetPacketLimit(1)),
            ("set packetlimit 64", Request::SetPacketLimit(64)),
            (
                "debug dataplane set ssl-decrypt accumulate-client-hello packetlimit 24",
                Request::SetPacketLimit(24),
            ),
            ("set max-bytes 512", Request::SetMaxBytes(512)),
            ("set max-bytes 65536", Request::SetMaxBytes(65536)),
            ("set on-limit reset", Request::SetOnLimit(OnLimit::Reset)),
            (
                "set on-limit release",
                Request::SetOnLimit(OnLimit::Release),
            ),
            (
                "set on-capacity bypass",
                Request::SetOnCapacity(OnCapacity::Bypass),
            ),
            (
                "set on-capacity reset",
                Request::SetOnCapacity(OnCapacity::Reset),
            ),
            (
                "set mss insert-missing 1460",
                Request::SetMssInsertMissing(Some(1460)),
            ),
            (
                "set mss insert-missing off",
                Request::SetMssInsertMissing(None),
            ),
            (
                "set mss clamp 1400",
                Request::SetMssClamp(MssClamp::Value(1400)),
            ),
            ("set mss clamp auto", Request::SetMssClamp(MssClamp::Auto)),
            ("set mss clamp off", Request::SetMssClamp(MssClamp::Off)),
            ("set log-level error", Request::SetLogLevel(LogLevel::Error)),
            ("set log-level warn", Request::SetLogLevel(LogLevel::Warn)),
            ("set log-level info", Request::SetLogLevel(LogLevel::Info)),
            ("set log-level debug", Request::SetLogLevel(LogLevel::Debug)),
            ("set log-level trace", Request::SetLogLevel(LogLevel::Trace)),
            (
                "advise packetlimit",
                Request::AdvisePacketLimit {
                    target_percentile: 99.9,
                },
            ),
            (
                "advise packetlimit --target-percentile 95",
                Request::AdvisePacketLimit {
                    target_percentile: 95.0,
                },
            ),
            (
                "advise packetlimit --target-percentile=100",
                Request::AdvisePacketLimit {
                    target_percentile: 100.0,
                },
            ),
            ("what-if packetlimit 48", Request::WhatIfPacketLimit(48)),
        ];
        for (line, want) in cases {
            assert_eq!(ok(line), want, "{line}");
            // The canonical form parses back to the same request.
            assert_eq!(ok(&want.to_line()), want, "{line}");
        }
    }

    #[test]
    fn whitespace_and_case_are_lenient() {
        assert_eq!(ok("  SHOW   Accumulation \t"), Request::ShowAccumulation);
        assert_eq!(ok("Set PacketLimit 12"), Request::SetPacketLimit(12));
        assert_eq!(
            ok("DEBUG dataplane SET ssl-decrypt Accumulate-Client-Hello packetlimit 8"),
            Request::SetPacketLimit(8)
        );
    }

    #[test]
    fn unknown_command_lists_commands() {
        let e = err("frobnicate");
        assert!(e.contains("unknown command \"frobnicate\""), "{e}");
        assert!(e.contains("show accumulation"), "{e}");
        assert!(e.contains("what-if packetlimit"), "{e}");
        assert!(err("").contains("empty request"));
        assert!(err("   ").contains("empty request"));
        assert!(err("show frobs").contains("unknown show target"));
        assert!(err("set frobs 1").contains("unknown set target"));
        assert!(err("set mss frob 1").contains("unknown mss setting"));
        assert!(err("advise frobs").contains("unknown advise target"));
        assert!(err("what-if frobs 1").contains("unknown what-if target"));
        assert!(err("debug dataplane set ssl-decrypt other packetlimit 3").contains("expected"));
    }

    #[test]
    fn missing_arguments() {
        for line in [
            "show",
            "set",
            "set packetlimit",
            "set max-bytes",
            "set on-limit",
            "set on-capacity",
            "set mss",
            "set mss clamp",
            "set mss insert-missing",
            "set log-level",
            "advise",
            "advise packetlimit --target-percentile",
            "what-if",
            "what-if packetlimit",
            "show sessions --sni",
            "show sessions --limit",
            "show sessions --sni=",
            "debug",
            "debug dataplane set ssl-decrypt accumulate-client-hello",
            "debug dataplane set ssl-decrypt accumulate-client-hello packetlimit",
        ] {
            let e = err(line);
            assert!(e.contains("missing argument"), "{line}: {e}");
        }
    }

    #[test]
    fn non_numeric_arguments() {
        for line in [
            "set packetlimit twelve",
            "set packetlimit -1",
            "set packetlimit +5",
            "set packetlimit 1.5",
            "set packetlimit 0x10",
            "set max-bytes 1k",
            "set mss clamp big",
            "set mss insert-missing on",
            "what-if packetlimit x",
            "show sessions --limit all",
            "advise packetlimit --target-percentile nan",
            "advise packetlimit --target-percentile inf",
            "advise packetlimit --target-percentile 1e2",
            "advise packetlimit --target-percentile -5",
            "advise packetlimit --target-percentile 9.9.9",
        ] {
            let e = err(line);
            assert!(e.contains("must be"), "{line}: {e}");
            assert!(e.contains("got"), "{line}: {e}");
        }
    }

    #[test]
    fn out_of_range_values() {
        for line in [
            "set packetlimit 0",
            "set packetlimit 65",
            "set packetlimit 99999999999999999999999999",
            "debug dataplane set ssl-decrypt accumulate-client-hello packetlimit 65",
            "set max-bytes 511",
            "set max-bytes 65537",
            "set mss clamp 535",
            "set mss clamp 9001",
            "set mss insert-missing 100",
            "set mss insert-missing 70000",
            "what-if packetlimit 0",
            "what-if packetlimit 100",
            "show sessions --limit 0",
            "show sessions --limit 10001",
            "advise packetlimit --target-percentile 0",
            "advise packetlimit --target-percentile 100.01",
            "advise packetlimit --target-percentile 0.0",
        ] {
            let e = err(line);
            assert!(e.contains("out of range"), "{line}: {e}");
        }
        let e = err("set packetlimit 65");
        assert_eq!(
            e,
            "packetlimit 65 is out of range: must be between 1 and 64"
        );
    }

    #[test]
    fn trailing_and_repeated_arguments() {
        assert!(err("show counters now").contains("unexpected argument \"now\""));
        assert!(err("set packetlimit 12 13").contains("unexpected argument"));
        assert!(err("show sessions --limit 1 --limit 2").contains("more than once"));
        assert!(err("show sessions --sni a --sni b").contains("more than once"));
        assert!(err("show sessions --verbose").contains("unknown option"));
        assert!(err("advise packetlimit --p 3").contains("unknown option"));
        let long = "x".repeat(SNI_FILTER_MAX + 1);
        assert!(err(&format!("show sessions --sni {long}")).contains("too long"));
    }

    #[test]
    fn long_and_garbage_lines() {
        let long = format!("show counters {}", " ".repeat(MAX_REQUEST));
        assert_eq!(err(&long), "request too long (max 4096 bytes)");
        let e = err("\u{1b}[31mred\u{0}");
        assert!(e.contains("\\u{1b}"), "control characters are escaped: {e}");
        assert!(!e.contains('\u{1b}'));
        let e = err(&"y".repeat(1000));
        assert!(e.len() < 400, "echoed words are truncated: {}", e.len());
    }

    #[test]
    fn names_and_change_flags() {
        assert!(ok("set packetlimit 3").is_change());
        assert!(ok("set log-level info").is_change());
        assert!(!ok("what-if packetlimit 3").is_change());
        assert!(!ok("show sessions").is_change());
        assert_eq!(ok("set mss clamp auto").name(), "set mss clamp");
        assert_eq!(ok("show sessions --limit 3").name(), "show sessions");
    }

    #[test]
    fn help_mentions_every_command() {
        for word in [
            "show accumulation",
            "show counters",
            "show mss",
            "show ports",
            "show config",
            "show metrics",
            "show sessions",
            "set packetlimit",
            "set max-bytes",
            "set on-limit",
            "set on-capacity",
            "set mss insert-missing",
            "set mss clamp",
            "set log-level",
            "advise packetlimit",
            "what-if packetlimit",
            "debug dataplane set ssl-decrypt accumulate-client-hello packetlimit",
        ] {
            assert!(COMMANDS_HELP.contains(word), "{word}");
        }
    }

    fn arb_request() -> impl Strategy<Value = Request> {
        prop_oneof![
            Just(Request::ShowAccumulation),
            Just(Request::ShowCounters),
            Just(Request::ShowMss),
            Just(Request::ShowPorts),
            Just(Request::ShowConfig),
            Just(Request::ShowMetrics),
            (
                proptest::option::of("[a-z0-9.*-]{1,40}"),
                SESSIONS_LIMIT_MIN..=SESSIONS_LIMIT_MAX
            )
                .prop_map(|(sni, limit)| Request::ShowSessions { sni, limit }),
            (PACKETLIMIT_MIN..=PACKETLIMIT_MAX).prop_map(Request::SetPacketLimit),
            (MAX_BYTES_MIN..=MAX_BYTES_MAX).prop_map(Request::SetMaxBytes),
            prop_oneof![Just(OnLimit::Reset), Just(OnLimit::Release)].prop_map(Request::SetOnLimit),
            prop_oneof![Just(OnCapacity::Bypass), Just(OnCapacity::Reset)]
                .prop_map(Request::SetOnCapacity),
            proptest::option::of(MSS_MIN..=MSS_MAX).prop_map(Request::SetMssInsertMissing),
            prop_oneof![
                Just(MssClamp::Auto),
                Just(MssClamp::Off),
                (MSS_MIN..=MSS_MAX).prop_map(MssClamp::Value)
            ]
            .prop_map(Request::SetMssClamp),
            prop_oneof![
                Just(LogLevel::Error),
                Just(LogLevel::Warn),
                Just(LogLevel::Info),
                Just(LogLevel::Debug),
                Just(LogLevel::Trace)
            ]
            .prop_map(Request::SetLogLevel),
            (1u32..=100_000).prop_map(|p| Request::AdvisePacketLimit {
                target_percentile: f64::from(p) / 1000.0
            }),
            (PACKETLIMIT_MIN..=PACKETLIMIT_MAX).prop_map(Request::WhatIfPacketLimit),
        ]
    }

    proptest! {
        #[test]
        fn never_panics_on_arbitrary_text(s in "\\PC{0,200}") {
            let _ = parse_request(&s);
        }

        #[test]
        fn never_panics_on_command_like_text(
            words in proptest::collection::vec(
                prop_oneof![
                    Just("show".to_string()), Just("set".to_string()), Just("mss".to_string()),
                    Just("packetlimit".to_string()), Just("--limit".to_string()),
                    Just("--sni".to_string()), Just("--target-percentile".to_string()),
                    Just("clamp".to_string()), Just("sessions".to_string()),
                    "[0-9]{0,25}", "[0-9.]{0,8}", "\\PC{0,6}"
                ],
                0..8,
            )
        ) {
            let _ = parse_request(&words.join(" "));
        }

        #[test]
        fn canonical_line_round_trips(req in arb_request()) {
            prop_assert_eq!(parse_request(&req.to_line()), Ok(req));
        }
    }
}
