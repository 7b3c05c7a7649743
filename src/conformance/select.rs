//! Which checks a run includes: `--only` and `--skip` id globs (`*` any
//! run of characters, `?` one; case-insensitive).

/// The run's selection.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    pub only: Vec<String>,
    pub skip: Vec<String>,
}

impl Selection {
    /// Why `id` is left out, or `None` if it runs.
    pub fn excludes(&self, id: &str) -> Option<String> {
        if !self.only.is_empty() && !self.only.iter().any(|g| glob(g, id)) {
            return Some(format!("not selected by --only {}", self.only.join(",")));
        }
        self.skip
            .iter()
            .find(|g| glob(g, id))
            .map(|g| format!("left out by --skip {g}"))
    }

    /// The patterns that match no check of the catalogue (a typo).
    pub fn unmatched<'a>(&'a self, ids: &[&str]) -> Vec<&'a str> {
        self.only
            .iter()
            .chain(&self.skip)
            .filter(|g| !ids.iter().any(|id| glob(g, id)))
            .map(String::as_str)
            .collect()
    }
}

/// Whether `text` matches the glob `pattern`.
pub fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.to_ascii_uppercase().chars().collect();
    let t: Vec<char> = text.to_ascii_uppercase().chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn globs() {
        assert!(glob("SP-AUTHZ-*", "SP-AUTHZ-03"));
        assert!(glob("sp-authz-0?", "SP-AUTHZ-03"));
        assert!(glob("*", "SP-LEAK-01"));
        assert!(glob("SP-LEAK-01", "SP-LEAK-01"));
        assert!(!glob("SP-LEAK-0", "SP-LEAK-01"));
        assert!(!glob("SP-AUTHZ-*", "SP-LEAK-01"));
        assert!(glob("*-01", "SP-LEAK-01"));
    }

    #[test]
    fn only_then_skip() {
        let s = Selection {
            only: vec!["SP-AUTHZ-*".into()],
            skip: vec!["SP-AUTHZ-01".into()],
        };
        assert!(s.excludes("SP-AUTHZ-03").is_none());
        assert!(s.excludes("SP-AUTHZ-01").unwrap().contains("--skip"));
        assert!(s.excludes("SP-LEAK-01").unwrap().contains("--only"));
        assert_eq!(s.unmatched(&["SP-AUTHZ-01"]), Vec::<&str>::new());
        let typo = Selection {
            only: vec!["SP-AUHTZ-*".into()],
            skip: vec![],
        };
        assert_eq!(typo.unmatched(&["SP-AUTHZ-01"]), vec!["SP-AUHTZ-*"]);
    }
}
