//! Writing run-time changes back to the TOML config file.
//!
//! Edits go through `toml_edit`, so comments, blank lines, key order and the formatting
//! of untouched lines stay as they were, and an edited key keeps its own decoration (the
//! whitespace around it and a trailing `# comment` on its line). Missing tables and keys
//! are created (a new table is appended at the end of the file).
//!
//! The file is replaced atomically: the new text goes to a temporary file in the same
//! directory, which is written, fsynced, given the original's permission bits (and owner,
//! when we may), renamed over the original, and then the directory is fsynced. If anything
//! fails before the rename, the temporary file is removed and the original is untouched. A
//! symlinked config file is followed: the link stays, its target is replaced.
//!
//! Edits are not merged with concurrent edits by other writers: the control thread is the
//! only writer of the file while the appliance runs.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use toml_edit::{DocumentMut, InlineTable, Item, Key, Table, Value};

/// Set `edits` (dotted key path, new value) in the TOML file at `path`, atomically.
///
/// Key paths use TOML key syntax: `accumulation.packetlimit`, or quoted segments such as
/// `servers."a.b".port`. All edits are applied in memory first: if any of them fails (the
/// file does not parse, a path crosses a non-table value, a key names a table), nothing
/// is written. Writing identical content is skipped.
pub fn persist(path: &Path, edits: &[(&str, Value)]) -> Result<(), String> {
    let text = read_config(path)?;
    let new_text = apply_edits(&text, edits).map_err(|e| format!("{}: {e}", path.display()))?;
    if new_text == text {
        return Ok(());
    }
    write_atomic(path, new_text.as_bytes())
}

/// Remove the key at the dotted path `key` from the TOML file at `path`, atomically.
/// Returns whether the key existed (the file is not rewritten if it did not).
pub fn remove_key(path: &Path, key: &str) -> Result<bool, String> {
    let text = read_config(path)?;
    let mut doc = parse_doc(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let removed = remove_in(&mut doc, key).map_err(|e| format!("{}: {e}", path.display()))?;
    if removed {
        write_atomic(path, doc.to_string().as_bytes())?;
    }
    Ok(removed)
}

/// Apply `edits` to TOML text and return the new text (the pure part of [`persist`]).
pub fn apply_edits(text: &str, edits: &[(&str, Value)]) -> Result<String, String> {
    let mut doc = parse_doc(text)?;
    for (key, value) in edits {
        set_in(&mut doc, key, value.clone())?;
    }
    let out = doc.to_string();
    // Belt and braces: never write something we could not read back.
    parse_doc(&out).map_err(|e| format!("internal error: edited config does not parse: {e}"))?;
    Ok(out)
}

fn read_config(path: &Path) -> Result<String, String> {
    fs::read_to_string(path).map_err(|e| format!("cannot read config file {}: {e}", path.display()))
}

fn parse_doc(text: &str) -> Result<DocumentMut, String> {
    text.parse::<DocumentMut>().map_err(|e| {
        // TomlError's display spans several lines (with a caret); keep replies one line.
        let msg = e.to_string();
        let msg: Vec<&str> = msg
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        format!("config file does not parse: {}", msg.join(" "))
    })
}

/// Split a dotted key path into its segments.
fn split_key(dotted: &str) -> Result<Vec<String>, String> {
    let keys = Key::parse(dotted).map_err(|_| format!("invalid key path {dotted:?}"))?;
    if keys.is_empty() {
        return Err(format!("invalid key path {dotted:?}"));
    }
    Ok(keys.iter().map(|k| k.get().to_string()).collect())
}

/// Where we are while walking down a key path.
enum Cursor<'a> {
    Table(&'a mut Table),
    Inline(&'a mut InlineTable),
}

fn descend<'a>(item: &'a mut Item, path: &str) -> Result<Cursor<'a>, String> {
    match item {
        Item::Table(t) => Ok(Cursor::Table(t)),
        Item::Value(Value::InlineTable(t)) => Ok(Cursor::Inline(t)),
        _ => Err(format!("cannot set below {path}: it is not a table")),
    }
}

fn set_in(doc: &mut DocumentMut, dotted: &str, value: Value) -> Result<(), String> {
    let segs = split_key(dotted)?;
    let (last, parents) = segs
        .split_last()
        .ok_or_else(|| format!("invalid key path {dotted:?}"))?;
    let mut cur = Cursor::Table(doc.as_table_mut());
    let mut walked = String::new();
    for seg in parents {
        if !walked.is_empty() {
            walked.push('.');
        }
        walked.push_str(seg);
        cur = match cur {
            Cursor::Table(t) => {
                let item = t.entry(seg).or_insert_with(|| {
                    let mut nt = Table::new();
                    // Not displayed while it holds only sub-tables.
                    nt.set_implicit(true);
                    Item::Table(nt)
                });
                if item.is_none() {
                    let mut nt = Table::new();
                    nt.set_implicit(true);
                    *item = Item::Table(nt);
                }
                descend(item, &walked)?
            }
            Cursor::Inline(t) => {
                let v = t
                    .entry(seg.as_str())
                    .or_insert_with(|| Value::InlineTable(InlineTable::new()));
                match v {
                    Value::InlineTable(it) => Cursor::Inline(it),
                    _ => return Err(format!("cannot set below {walked}: it is not a table")),
                }
            }
        };
    }
    match cur {
        Cursor::Table(t) => match t.get_mut(last) {
            Some(Item::Value(old)) => replace_keeping_decor(old, value),
            Some(item @ Item::None) => *item = Item::Value(value),
            Some(_) => return Err(format!("cannot set {dotted}: it is a table, not a value")),
            None => {
                t.insert(last, Item::Value(value));
            }
        },
        Cursor::Inline(t) => match t.get_mut(last) {
            Some(old) => replace_keeping_decor(old, value),
            None => {
                t.insert(last.as_str(), value);
            }
        },
    }
    Ok(())
}

/// Replace a value, keeping the whitespace and trailing comment around the old one.
fn replace_keeping_decor(old: &mut Value, mut new: Value) {
    *new.decor_mut() = old.decor().clone();
    *old = new;
}

fn remove_in(doc: &mut DocumentMut, dotted: &str) -> Result<bool, String> {
    let segs = split_key(dotted)?;
    let (last, parents) = segs
        .split_last()
        .ok_or_else(|| format!("invalid key path {dotted:?}"))?;
    let mut cur = Cursor::Table(doc.as_table_mut());
    for seg in parents {
        let next = match cur {
            Cursor::Table(t) => t.get_mut(seg).and_then(|i| descend(i, seg).ok()),
            Cursor::Inline(t) => match t.get_mut(seg) {
                Some(Value::InlineTable(it)) => Some(Cursor::Inline(it)),
                _ => None,
            },
        };
        match next {
            Some(c) => cur = c,
            None => return Ok(false),
        }
    }
    Ok(match cur {
        Cursor::Table(t) => t.remove(last).is_some(),
        Cursor::Inline(t) => t.remove(last).is_some(),
    })
}

/// Replace the file at `path` with `contents` atomically and durably (see the module
/// documentation). The file's permission bits and, where permitted, owner are kept; a
/// new file gets mode 0644.
pub fn write_atomic(path: &Path, contents: &[u8]) -> Result<(), String> {
    // Follow a symlinked config so the link survives.
    let target = fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let dir = match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = target
        .file_name()
        .ok_or_else(|| format!("{} is not a file path", path.display()))?
        .to_string_lossy()
        .into_owned();
    let original = fs::metadata(&target).ok();
    let mode = original
        .as_ref()
        .map_or(0o644, |m| m.permissions().mode() & 0o7777);

    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let tmp = dir.join(format!(
        ".{name}.tmp.{}.{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let guard = TempGuard(Some(tmp.clone()));
    let fail = |what: &str, e: io::Error| format!("cannot {what} {}: {e}", tmp.display());

    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| fail("create", e))?;
    if let Some(m) = &original {
        // Keep the owner when we are allowed to (root, or it is already us).
        let _ = std::os::unix::fs::fchown(&file, Some(m.uid()), Some(m.gid()));
    }
    file.set_permissions(fs::Permissions::from_mode(mode))
        .map_err(|e| fail("set permissions on", e))?;
    file.write_all(contents).map_err(|e| fail("write", e))?;
    file.sync_all().map_err(|e| fail("fsync", e))?;
    drop(file);
    fs::rename(&tmp, &target).map_err(|e| {
        format!(
            "cannot rename {} over {}: {e}",
            tmp.display(),
            target.display()
        )
    })?;
    guard.disarm();
    sync_dir(&dir).map_err(|e| {
        format!(
            "{} was replaced but fsync of directory {} failed: {e}",
            target.display(),
            dir.display()
        )
    })
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    match File::open(dir)?.sync_all() {
        // Some filesystems cannot fsync a directory; the rename is as durable as it gets.
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => Ok(()),
        r => r,
    }
}

/// Removes the temporary file unless disarmed.
struct TempGuard(Option<PathBuf>);

impl TempGuard {
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for TempGuard {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = fs::remove_file(p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;
    use std::process::Command;

    /// A fresh directory under the system temp dir, removed on drop.
    struct TestDir(PathBuf);

    impl TestDir {
        fn new(tag: &str) -> Self {
            static N: AtomicU64 = AtomicU64::new(0);
            let p = std::env::temp_dir().join(format!(
                "appliance-persist-{tag}-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            let _ = fs::remove_dir_all(&p);
            fs::create_dir_all(&p).unwrap();
            TestDir(p)
        }

        fn file(&self, name: &str, text: &str) -> PathBuf {
            let p = self.0.join(name);
            fs::write(&p, text).unwrap();
            p
        }

        fn names(&self) -> Vec<String> {
            let mut v: Vec<String> = fs::read_dir(&self.0)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            v.sort();
            v
        }
    }

    impl Drop for TestDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    const CONFIG: &str = "\
# Appliance configuration.
# Comments and layout must survive edits.

[control]
socket = \"/run/appliance/control.sock\"   # where appliancectl connects

[accumulation]
# Held segments per ClientHello.
packetlimit   = 12   # raised from 8 after the field incident
max_bytes = 16384
on_limit = \"reset\"

[mss]
clamp = \"auto\"
";

    fn int(v: i64) -> Value {
        Value::from(v)
    }

    #[test]
    fn edit_keeps_comments_layout_and_trailing_comment() {
        let out = apply_edits(CONFIG, &[("accumulation.packetlimit", int(24))]).unwrap();
        let want = CONFIG.replace(
            "packetlimit   = 12   # raised",
            "packetlimit   = 24   # raised",
        );
        assert_eq!(out, want);
    }

    #[test]
    fn several_edits_and_types() {
        let out = apply_edits(
            CONFIG,
            &[
                ("accumulation.on_limit", Value::from("release")),
                ("mss.clamp", Value::from(false)),
                ("accumulation.max_bytes", int(32768)),
            ],
        )
        .unwrap();
        assert!(out.contains("on_limit = \"release\"\n"), "{out}");
        assert!(out.contains("clamp = false\n"), "{out}");
        assert!(out.contains("max_bytes = 32768\n"), "{out}");
        assert!(out.contains("# where appliancectl connects"));
        assert!(out.contains("# Held segments per ClientHello."));
    }

    #[test]
    fn creates_missing_keys_and_tables() {
        let out = apply_edits(
            CONFIG,
            &[
                ("mss.insert_missing", int(1460)),
                ("logging.level", Value::from("debug")),
                ("a.b.c", int(1)),
            ],
        )
        .unwrap();
        let doc: toml_edit::DocumentMut = out.parse().unwrap();
        assert_eq!(doc["mss"]["insert_missing"].as_integer(), Some(1460));
        assert_eq!(doc["mss"]["clamp"].as_str(), Some("auto"));
        assert_eq!(doc["logging"]["level"].as_str(), Some("debug"));
        assert_eq!(doc["a"]["b"]["c"].as_integer(), Some(1));
        // The original text is a prefix, except for the key added to [mss] at its end.
        assert!(out.starts_with(&CONFIG[..CONFIG.find("[mss]").unwrap()]));
        assert!(out.contains("[logging]\nlevel = \"debug\"\n"), "{out}");
        assert!(out.contains("[a.b]\nc = 1\n"), "{out}");
        assert!(
            !out.contains("[a]\n"),
            "implicit parent table is not printed: {out}"
        );
    }

    #[test]
    fn empty_file_dotted_and_inline_tables() {
        let out = apply_edits("", &[("accumulation.packetlimit", int(3))]).unwrap();
        assert_eq!(out, "[accumulation]\npacketlimit = 3\n");

        let text = "accumulation.packetlimit = 12 # dotted\nmss = { clamp = 1400, insert_missing = 1460 }\n";
        let out = apply_edits(
            text,
            &[
                ("accumulation.packetlimit", int(24)),
                ("mss.clamp", int(1380)),
                ("mss.new", Value::from(true)),
            ],
        )
        .unwrap();
        assert!(
            out.starts_with("accumulation.packetlimit = 24 # dotted\n"),
            "{out}"
        );
        let doc: toml_edit::DocumentMut = out.parse().unwrap();
        assert_eq!(doc["mss"]["clamp"].as_integer(), Some(1380));
        assert_eq!(doc["mss"]["new"].as_bool(), Some(true));
        assert!(out.contains("clamp = 1380, insert_missing = 1460"), "{out}");

        let out = apply_edits("[s]\n\"a.b\" = 1\n", &[("s.\"a.b\"", int(2))]).unwrap();
        assert_eq!(out, "[s]\n\"a.b\" = 2\n");
    }

    #[test]
    fn bad_edits_are_refused() {
        let e = apply_edits(CONFIG, &[("accumulation", int(1))]).unwrap_err();
        assert!(e.contains("is a table"), "{e}");
        let e = apply_edits(CONFIG, &[("accumulation.packetlimit.x", int(1))]).unwrap_err();
        assert!(e.contains("not a table"), "{e}");
        let e = apply_edits(CONFIG, &[("", int(1))]).unwrap_err();
        assert!(e.contains("invalid key path"), "{e}");
        let e = apply_edits(CONFIG, &[("a..b", int(1))]).unwrap_err();
        assert!(e.contains("invalid key path"), "{e}");
        let e = apply_edits("x = [", &[("a", int(1))]).unwrap_err();
        assert!(e.contains("does not parse"), "{e}");
        assert!(!e.contains('\n'), "one line: {e}");
    }

    #[test]
    fn persist_writes_atomically_and_keeps_mode() {
        let d = TestDir::new("mode");
        let p = d.file("appliance.toml", CONFIG);
        fs::set_permissions(&p, fs::Permissions::from_mode(0o640)).unwrap();
        let ino_before = fs::metadata(&p).unwrap().ino();
        persist(&p, &[("accumulation.packetlimit", int(24))]).unwrap();
        let text = fs::read_to_string(&p).unwrap();
        assert!(text.contains("packetlimit   = 24   # raised from 8"));
        let meta = fs::metadata(&p).unwrap();
        assert_eq!(meta.permissions().mode() & 0o7777, 0o640);
        assert_ne!(
            meta.ino(),
            ino_before,
            "replaced by rename, not rewritten in place"
        );
        assert_eq!(
            d.names(),
            vec!["appliance.toml".to_string()],
            "no temp file left"
        );

        // Unchanged content: no rewrite.
        let ino = meta.ino();
        persist(&p, &[("accumulation.packetlimit", int(24))]).unwrap();
        assert_eq!(fs::metadata(&p).unwrap().ino(), ino);
    }

    #[test]
    fn parse_error_leaves_file_untouched() {
        let d = TestDir::new("parse");
        let broken = "[accumulation]\npacketlimit = \n# broken\n";
        let p = d.file("appliance.toml", broken);
        let e = persist(&p, &[("accumulation.packetlimit", int(24))]).unwrap_err();
        assert!(e.contains("does not parse"), "{e}");
        assert_eq!(fs::read_to_string(&p).unwrap(), broken);
        assert_eq!(d.names(), vec!["appliance.toml".to_string()]);

        let e = persist(&d.0.join("missing.toml"), &[("a", int(1))]).unwrap_err();
        assert!(e.contains("cannot read config file"), "{e}");
        let e = persist(&p, &[("accumulation.packetlimit", int(24))]).unwrap_err();
        assert!(e.contains("appliance.toml"), "names the file: {e}");
    }

    #[test]
    fn symlinked_config_keeps_its_link() {
        let d = TestDir::new("link");
        let real = d.file("real.toml", CONFIG);
        let link = d.0.join("appliance.toml");
        symlink(&real, &link).unwrap();
        persist(&link, &[("accumulation.packetlimit", int(30))]).unwrap();
        assert!(fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert!(fs::read_to_string(&real)
            .unwrap()
            .contains("packetlimit   = 30"));
        assert_eq!(
            d.names(),
            vec!["appliance.toml".to_string(), "real.toml".to_string()]
        );
    }

    #[test]
    fn remove_key_works() {
        let d = TestDir::new("remove");
        let p = d.file("appliance.toml", CONFIG);
        assert!(remove_key(&p, "mss.clamp").unwrap());
        assert!(!remove_key(&p, "mss.clamp").unwrap());
        assert!(!remove_key(&p, "nothing.here").unwrap());
        let text = fs::read_to_string(&p).unwrap();
        assert!(!text.contains("clamp"));
        assert!(text.contains("# raised from 8"));
    }

    /// Environment variable that turns [`write_failure_child`] into the real test body.
    const CHILD_ENV: &str = "APPLIANCE_PERSIST_TEST_CHILD";

    /// Runs only in a child process: with a file-size limit smaller than the config, the
    /// temporary file cannot be written and `persist` must fail cleanly.
    #[test]
    fn write_failure_child() {
        let Some(path) = std::env::var_os(CHILD_ENV) else {
            return;
        };
        // SAFETY: plain libc calls on this (single-purpose child) process: ignore SIGXFSZ
        // so an oversized write fails with EFBIG instead of killing us, and lower the soft
        // file-size limit; both take valid arguments.
        unsafe {
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            let mut lim = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            assert_eq!(libc::getrlimit(libc::RLIMIT_FSIZE, &mut lim), 0);
            lim.rlim_cur = 32;
            assert_eq!(libc::setrlimit(libc::RLIMIT_FSIZE, &lim), 0);
        }
        let r = persist(
            Path::new(&path),
            &[("accumulation.packetlimit", Value::from(24))],
        );
        println!("CHILD-RESULT: {r:?}");
    }

    #[test]
    fn failed_temp_write_leaves_original_intact() {
        let d = TestDir::new("efbig");
        let p = d.file("appliance.toml", CONFIG);
        let exe = std::env::current_exe().unwrap();
        let name = format!(
            "{}::write_failure_child",
            module_path!().split_once("::").map_or("", |(_, rest)| rest)
        );
        let out = Command::new(exe)
            .args([name.as_str(), "--exact", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, &p)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let line = stdout
            .lines()
            .find_map(|l| l.find("CHILD-RESULT: ").map(|i| &l[i..]))
            .unwrap_or_else(|| panic!("child did not report: {stdout} {out:?}"));
        assert!(
            line.contains("Err(") && line.contains("cannot write"),
            "{line}"
        );
        assert_eq!(fs::read_to_string(&p).unwrap(), CONFIG, "original intact");
        assert_eq!(
            d.names(),
            vec!["appliance.toml".to_string()],
            "temp removed"
        );
    }
}
