//! Verdicts on a complete ClientHello from its SNI: exact and suffix rules, first match wins.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    #[default]
    Allow,
    Deny,
}

/// One rule: `sni = "host"` matches exactly, `sni_suffix = ".example.com"` matches the domain
/// and every name under it (a leading dot is optional). Case-insensitive.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    pub sni: Option<String>,
    pub sni_suffix: Option<String>,
    pub action: Action,
}

/// `[policy]`: the default action and the rules.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    #[serde(default)]
    pub default: Action,
    #[serde(default, rename = "rule")]
    pub rules: Vec<Rule>,
}

/// Most rules: each ClientHello is checked against every rule in order.
pub const MAX_RULES: usize = 4096;

impl PolicyConfig {
    pub fn validate(&self) -> Result<(), String> {
        if self.rules.len() > MAX_RULES {
            return Err(format!(
                "policy.rule: at most {MAX_RULES} rules, got {}",
                self.rules.len()
            ));
        }
        for (i, r) in self.rules.iter().enumerate() {
            match (&r.sni, &r.sni_suffix) {
                (Some(_), None) | (None, Some(_)) => {}
                _ => {
                    return Err(format!(
                        "policy.rule[{i}]: give exactly one of sni or sni_suffix"
                    ))
                }
            }
            let v = r.sni.as_deref().or(r.sni_suffix.as_deref()).unwrap_or("");
            if v.trim_start_matches('.').is_empty() || v.len() > 253 {
                return Err(format!("policy.rule[{i}]: bad name {v:?}"));
            }
        }
        Ok(())
    }
}

/// A compiled policy (lower-cased names).
#[derive(Debug, Clone, Default)]
pub struct Policy {
    default: Action,
    rules: Vec<(Match, Action)>,
}

#[derive(Debug, Clone)]
enum Match {
    Exact(String),
    /// The bare domain (no leading dot).
    Suffix(String),
}

impl Policy {
    pub fn new(cfg: &PolicyConfig) -> Policy {
        Policy {
            default: cfg.default,
            rules: cfg
                .rules
                .iter()
                .map(|r| {
                    let m = match (&r.sni, &r.sni_suffix) {
                        (Some(s), _) => Match::Exact(s.to_ascii_lowercase()),
                        (_, Some(s)) => {
                            Match::Suffix(s.trim_start_matches('.').to_ascii_lowercase())
                        }
                        _ => Match::Exact(String::new()),
                    };
                    (m, r.action)
                })
                .collect(),
        }
    }

    /// The verdict for a ClientHello with this SNI (None: no SNI extension).
    pub fn decide(&self, sni: Option<&str>) -> Action {
        let Some(sni) = sni else { return self.default };
        let sni = sni.trim_end_matches('.');
        for (m, a) in &self.rules {
            let hit = match m {
                Match::Exact(e) => sni.eq_ignore_ascii_case(e),
                Match::Suffix(d) => {
                    // Bytes, not `str` slicing: a non-ASCII SNI may put the cut inside a
                    // character.
                    let (s, d) = (sni.as_bytes(), d.as_bytes());
                    s.len() >= d.len()
                        && s[s.len() - d.len()..].eq_ignore_ascii_case(d)
                        && (s.len() == d.len() || s[s.len() - d.len() - 1] == b'.')
                }
            };
            if hit {
                return *a;
            }
        }
        self.default
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pol(text: &str) -> Policy {
        let cfg: PolicyConfig = toml::from_str(text).unwrap();
        cfg.validate().unwrap();
        Policy::new(&cfg)
    }

    /// A non-ASCII SNI whose length puts the suffix cut inside a character is no match, and
    /// no panic (a `str` slice there would abort the appliance).
    #[test]
    fn non_ascii_sni_against_suffix_rules() {
        let p = pol(r#"
default = "allow"
[[rule]]
sni_suffix = "bad.test"
action = "deny"
"#);
        assert_eq!(p.decide(Some("éad.test")), Action::Allow);
        assert_eq!(p.decide(Some("ü.bad.test")), Action::Deny);
        assert_eq!(p.decide(Some("é")), Action::Allow);
    }

    #[test]
    fn exact_suffix_and_default() {
        let p = pol(r#"
default = "allow"
[[rule]]
sni = "Blocked.Test"
action = "deny"
[[rule]]
sni_suffix = ".bad.test"
action = "deny"
[[rule]]
sni_suffix = "ok.bad.test"
action = "allow"
"#);
        assert_eq!(p.decide(Some("blocked.test")), Action::Deny);
        assert_eq!(p.decide(Some("x.blocked.test")), Action::Allow);
        assert_eq!(p.decide(Some("bad.test")), Action::Deny);
        assert_eq!(p.decide(Some("a.b.BAD.test.")), Action::Deny);
        assert_eq!(
            p.decide(Some("notbad.test")),
            Action::Allow,
            "suffix on a label boundary only"
        );
        assert_eq!(
            p.decide(Some("ok.bad.test")),
            Action::Deny,
            "first match wins"
        );
        assert_eq!(p.decide(None), Action::Allow);
        assert_eq!(pol("default = \"deny\"").decide(None), Action::Deny);
    }

    #[test]
    fn invalid_rules_are_refused() {
        for bad in [
            "[[rule]]\naction = \"deny\"",
            "[[rule]]\nsni = \"a\"\nsni_suffix = \"b\"\naction = \"deny\"",
            "[[rule]]\nsni_suffix = \".\"\naction = \"deny\"",
        ] {
            let cfg: PolicyConfig = toml::from_str(bad).unwrap();
            assert!(cfg.validate().is_err(), "{bad}");
        }
        assert!(
            toml::from_str::<PolicyConfig>("[[rule]]\nsni = \"a\"\naction = \"maybe\"").is_err()
        );
    }
}
