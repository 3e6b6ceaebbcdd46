//! Human-readable rendering of control responses for `appliancectl`.
//!
//! The rendering is generic, so it follows whatever fields the appliance returns:
//!
//! - scalar fields become aligned `key  value` lines (the `ok` field is omitted);
//! - nested objects become indented sections headed `key:`;
//! - arrays of objects become tables: a header row with the union of their keys (in
//!   first-seen order), aligned columns, numeric columns right-aligned, `-` for a missing cell;
//! - arrays of scalars are joined with `, `; an empty array or object prints `(none)`;
//! - integers are printed as-is (copy-pasteable into `set` commands); a field whose name
//!   ends in `bytes` also gets a binary-unit reading, e.g. `25165824 (24.0 MiB)`;
//! - control and bidirectional-override characters in strings (an SNI comes from the
//!   network) are escaped, so a response cannot drive the operator's terminal.
//!
//! Key order is the order of the JSON object as parsed (alphabetical unless `serde_json`'s
//! `preserve_order` feature is enabled in the build).

use serde_json::{Map, Value};

use appliance_core::control::Request;

/// Indentation per nesting level.
const INDENT: usize = 2;
/// Gap between aligned columns.
const GAP: usize = 2;

/// Render a response for an operator. `cmd` is the request it answers; it is used for the
/// text printed when a successful response carries no fields.
pub fn render_human(cmd: &Request, resp: &Value) -> String {
    let mut out = String::new();
    // Prometheus text is already meant for humans and scrapers alike: print it as it is.
    if matches!(cmd, Request::ShowMetrics) {
        if let Some(text) = resp.get("metrics").and_then(Value::as_str) {
            for line in text.lines() {
                out.push_str(&sanitize(line));
                out.push('\n');
            }
            return out;
        }
    }
    match resp {
        Value::Object(map) => {
            if map.get("ok") == Some(&Value::Bool(false)) {
                let msg = map
                    .get("error")
                    .map_or_else(|| "unknown error".to_string(), cell);
                out.push_str(&format!("error: {msg}\n"));
                let rest: Map<String, Value> = map
                    .iter()
                    .filter(|(k, _)| k.as_str() != "ok" && k.as_str() != "error")
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                render_object(&mut out, &rest, 0);
            } else {
                let fields: Map<String, Value> = map
                    .iter()
                    .filter(|(k, _)| k.as_str() != "ok")
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                render_object(&mut out, &fields, 0);
            }
        }
        Value::Array(items) => render_array(&mut out, items, 0),
        other => {
            out.push_str(&cell(other));
            out.push('\n');
        }
    }
    if out.is_empty() {
        out = format!("ok: {cmd}\n");
    }
    out
}

/// Printed on one line: scalars, arrays of scalars, empty containers.
fn is_inline(v: &Value) -> bool {
    match v {
        Value::Array(a) => a.iter().all(is_scalar),
        Value::Object(m) => m.is_empty(),
        _ => true,
    }
}

fn is_scalar(v: &Value) -> bool {
    !matches!(v, Value::Array(_) | Value::Object(_))
}

fn render_object(out: &mut String, map: &Map<String, Value>, indent: usize) {
    let pad = " ".repeat(indent);
    let width = map
        .iter()
        .filter(|(_, v)| is_inline(v))
        .map(|(k, _)| width_of(&sanitize(k)))
        .max()
        .unwrap_or(0);
    for (k, v) in map.iter().filter(|(_, v)| is_inline(v)) {
        let key = sanitize(k);
        let value = value_text(k, v);
        out.push_str(&format!(
            "{pad}{key}{}{value}\n",
            " ".repeat(width - width_of(&key) + GAP)
        ));
    }
    for (k, v) in map.iter().filter(|(_, v)| !is_inline(v)) {
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(&format!("{pad}{}:\n", sanitize(k)));
        match v {
            Value::Object(m) => render_object(out, m, indent + INDENT),
            Value::Array(items) => render_array(out, items, indent + INDENT),
            _ => {}
        }
    }
}

fn render_array(out: &mut String, items: &[Value], indent: usize) {
    let pad = " ".repeat(indent);
    if items.is_empty() {
        out.push_str(&format!("{pad}(none)\n"));
    } else if items.iter().all(Value::is_object) {
        let rows: Vec<&Map<String, Value>> = items.iter().filter_map(Value::as_object).collect();
        render_table(out, &rows, indent);
    } else if items.iter().all(is_scalar) {
        out.push_str(&format!("{pad}{}\n", join_scalars(items)));
    } else {
        for item in items {
            out.push_str(&format!("{pad}- {}\n", cell(item)));
        }
    }
}

fn render_table(out: &mut String, rows: &[&Map<String, Value>], indent: usize) {
    let pad = " ".repeat(indent);
    let mut columns: Vec<&str> = Vec::new();
    for row in rows {
        for k in row.keys() {
            if !columns.contains(&k.as_str()) {
                columns.push(k);
            }
        }
    }
    let headers: Vec<String> = columns.iter().map(|c| sanitize(c)).collect();
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            columns
                .iter()
                .map(|c| row.get(*c).map_or_else(|| "-".to_string(), cell))
                .collect()
        })
        .collect();
    let numeric: Vec<bool> = columns
        .iter()
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(*c))
                .all(|v| v.is_number() || v.is_null())
        })
        .collect();
    let widths: Vec<usize> = (0..columns.len())
        .map(|i| {
            cells
                .iter()
                .map(|r| width_of(&r[i]))
                .chain(std::iter::once(width_of(&headers[i])))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |texts: &[String]| {
        let mut s = pad.clone();
        for (i, t) in texts.iter().enumerate() {
            let fill = " ".repeat(widths[i] - width_of(t));
            let last = i + 1 == texts.len();
            if numeric[i] {
                s.push_str(&fill);
                s.push_str(t);
            } else {
                s.push_str(t);
                if !last {
                    s.push_str(&fill);
                }
            }
            if !last {
                s.push_str(&" ".repeat(GAP));
            }
        }
        s.truncate(s.trim_end().len());
        s.push('\n');
        s
    };
    out.push_str(&line(&headers));
    for row in &cells {
        out.push_str(&line(row));
    }
}

/// A value on a `key  value` line.
fn value_text(key: &str, v: &Value) -> String {
    let text = cell(v);
    match v.as_u64() {
        Some(n) if key.ends_with("bytes") && n >= 1024 => format!("{text} ({})", binary_size(n)),
        _ => text,
    }
}

/// A value in one cell: scalars as text, arrays of scalars joined, the rest as JSON.
fn cell(v: &Value) -> String {
    match v {
        Value::Null => "-".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => sanitize(s),
        Value::Array(a) if a.is_empty() => "(none)".to_string(),
        Value::Object(m) if m.is_empty() => "(none)".to_string(),
        Value::Array(a) if a.iter().all(is_scalar) => join_scalars(a),
        other => sanitize(&other.to_string()),
    }
}

fn join_scalars(items: &[Value]) -> String {
    items.iter().map(cell).collect::<Vec<_>>().join(", ")
}

/// `1536` → `1.5 KiB`.
fn binary_size(n: u64) -> String {
    const UNITS: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

/// Escape characters that would act on a terminal instead of being shown: control
/// characters and bidirectional overrides (as `\u{..}`).
pub fn sanitize(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        let bidi = matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
        if c.is_control() || bidi {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// Display width, counted in characters.
fn width_of(s: &str) -> usize {
    s.chars().count()
}

#[cfg(test)]
mod tests {
    //! Object keys in the inputs are written in sorted order, so the expected output is
    //! the same whether or not `serde_json` preserves insertion order.
    use super::*;
    use serde_json::json;

    fn r(v: Value) -> String {
        render_human(&Request::ShowAccumulation, &v)
    }

    #[test]
    fn scalars_are_aligned_and_ok_omitted() {
        let out = r(
            json!({"capacity_sessions": 5461, "ok": true, "on_limit": "reset", "packetlimit": 12}),
        );
        assert_eq!(
            out,
            "capacity_sessions  5461\non_limit           reset\npacketlimit        12\n"
        );
    }

    #[test]
    fn bytes_get_units_and_nulls_dashes() {
        let out =
            r(json!({"memory_bytes": 25165824u64, "max_bytes": 512, "peak": null, "ratio": 0.5}));
        assert!(out.contains("memory_bytes  25165824 (24.0 MiB)\n"), "{out}");
        assert!(out.contains("max_bytes     512\n"), "{out}");
        assert!(out.contains("peak          -\n"), "{out}");
        assert!(out.contains("ratio         0.5\n"), "{out}");
    }

    #[test]
    fn nested_sections_and_scalar_arrays() {
        let out = r(json!({
            "alpn": ["h2", "http/1.1"],
            "empty": [],
            "total": {"active": 3, "counters": {"released": 7, "started": 10}},
        }));
        assert_eq!(
            out,
            "alpn   h2, http/1.1\nempty  (none)\n\ntotal:\n  active  3\n\n  counters:\n    released  7\n    started   10\n"
        );
    }

    #[test]
    fn arrays_of_objects_become_tables() {
        let out = r(json!({
            "workers": [
                {"active": 12, "sni": "a.example", "worker": 0},
                {"active": 1234, "note": "x", "worker": 1},
            ]
        }));
        assert_eq!(
            out,
            "workers:\n  active  sni        worker  note\n      12  a.example       0  -\n    1234  -               1  x\n"
        );
    }

    #[test]
    fn top_level_array_and_nested_cells() {
        let out = r(json!([{"a": 1, "b": {"x": [1, 2]}}, {"a": 22, "b": [3]}]));
        assert_eq!(out, " a  b\n 1  {\"x\":[1,2]}\n22  3\n");
        let out = r(json!([1, {"a": 1}]));
        assert_eq!(out, "- 1\n- {\"a\":1}\n");
        assert_eq!(r(json!("hello")), "hello\n");
    }

    #[test]
    fn empty_response_says_ok() {
        let out = render_human(&Request::SetPacketLimit(24), &json!({"ok": true}));
        assert_eq!(out, "ok: set packetlimit 24\n");
    }

    #[test]
    fn errors_render() {
        let out = r(json!({"ok": false, "error": "nope"}));
        assert_eq!(out, "error: nope\n");
    }

    #[test]
    fn terminal_escapes_are_neutralised() {
        let out = r(json!({"sessions": [{"sni": "evil\u{1b}[2J\u{202e}moc.x"}]}));
        assert!(!out.contains('\u{1b}'), "{out:?}");
        assert!(!out.contains('\u{202e}'), "{out:?}");
        assert!(out.contains("evil\\u{1b}[2J\\u{202e}moc.x"), "{out}");
    }

    #[test]
    fn binary_sizes() {
        assert_eq!(binary_size(1024), "1.0 KiB");
        assert_eq!(binary_size(1536), "1.5 KiB");
        assert_eq!(binary_size(u64::MAX), "16.0 EiB");
    }
}
