//! The `labelSelector` query parameter as the API server reads it: comma-separated
//! requirements `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`, `k` and `!k`, all of
//! which must hold. Only what clients send for pod lists; set-based values may not
//! contain commas or parentheses, as in Kubernetes.

use std::collections::BTreeMap;

/// One requirement of a selector.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    DoesNotExist(String),
}

impl Requirement {
    fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        match self {
            Self::Equals(k, v) => labels.get(k) == Some(v),
            Self::NotEquals(k, v) => labels.get(k) != Some(v),
            Self::In(k, vs) => labels.get(k).is_some_and(|l| vs.contains(l)),
            Self::NotIn(k, vs) => labels.get(k).is_none_or(|l| !vs.contains(l)),
            Self::Exists(k) => labels.contains_key(k),
            Self::DoesNotExist(k) => !labels.contains_key(k),
        }
    }
}

/// A parsed selector; the empty one matches everything, as in Kubernetes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelQuery(Vec<Requirement>);

/// A selector the API server would reject with 400 Bad Request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unable to parse requirement {requirement:?}: {why}")]
pub struct SelectorError {
    requirement: String,
    why: &'static str,
}

impl LabelQuery {
    /// Parses the query parameter's value (already URL-decoded).
    pub fn parse(text: &str) -> Result<Self, SelectorError> {
        let mut requirements = Vec::new();
        for part in split_top_level(text) {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            requirements.push(parse_requirement(part)?);
        }
        Ok(Self(requirements))
    }

    /// Whether an object with `labels` is selected.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.0.iter().all(|r| r.matches(labels))
    }
}

/// Splits on the commas that separate requirements, not those inside `(...)`.
fn split_top_level(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

fn parse_requirement(part: &str) -> Result<Requirement, SelectorError> {
    let error = |why| SelectorError {
        requirement: part.to_owned(),
        why,
    };
    let key = |k: &str| {
        let k = k.trim();
        if k.is_empty() || k.contains(char::is_whitespace) {
            Err(error("invalid label key"))
        } else {
            Ok(k.to_owned())
        }
    };
    if let Some((k, v)) = part.split_once("!=") {
        return Ok(Requirement::NotEquals(key(k)?, v.trim().to_owned()));
    }
    if let Some((k, v)) = part.split_once("==").or_else(|| part.split_once('=')) {
        return Ok(Requirement::Equals(key(k)?, v.trim().to_owned()));
    }
    if let Some(open) = part.find('(') {
        let close = part
            .rfind(')')
            .filter(|&c| c > open && part[c + 1..].trim().is_empty())
            .ok_or_else(|| error("unbalanced parentheses"))?;
        let values: Vec<String> = part[open + 1..close]
            .split(',')
            .map(|v| v.trim().to_owned())
            .collect();
        if values.iter().all(String::is_empty) {
            return Err(error(
                "for 'in', 'notin' operators, values set can't be empty",
            ));
        }
        let head: Vec<&str> = part[..open].split_whitespace().collect();
        return match head.as_slice() {
            [k, "in"] => Ok(Requirement::In(key(k)?, values)),
            [k, "notin"] => Ok(Requirement::NotIn(key(k)?, values)),
            _ => Err(error("expected 'in' or 'notin'")),
        };
    }
    match part.strip_prefix('!') {
        Some(k) => Ok(Requirement::DoesNotExist(key(k)?)),
        None => Ok(Requirement::Exists(key(part)?)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn equality_requirements_must_all_hold() {
        let q = LabelQuery::parse("app=shop,tier==web").unwrap();
        assert!(q.matches(&labels(&[("app", "shop"), ("tier", "web"), ("x", "y")])));
        assert!(!q.matches(&labels(&[("app", "shop"), ("tier", "db")])));
        assert!(!q.matches(&labels(&[("app", "shop")])));
    }

    #[test]
    fn set_based_requirements() {
        let q =
            LabelQuery::parse("app=shop,track in (stable, canary),zone notin (b),owner,!legacy")
                .unwrap();
        let base = [("app", "shop"), ("track", "canary"), ("owner", "me")];
        assert!(q.matches(&labels(&base)));
        assert!(!q.matches(&labels(&[
            ("app", "shop"),
            ("track", "beta"),
            ("owner", "me")
        ])));
        assert!(!q.matches(&labels(&[
            ("app", "shop"),
            ("track", "stable"),
            ("owner", "me"),
            ("zone", "b")
        ])));
        assert!(!q.matches(&labels(&[("app", "shop"), ("track", "stable")])));
        assert!(!q.matches(&labels(&[
            ("app", "shop"),
            ("track", "stable"),
            ("owner", "me"),
            ("legacy", "1")
        ])));
        assert!(LabelQuery::parse("tier!=db").unwrap().matches(&labels(&[])));
    }

    #[test]
    fn empty_selects_everything_and_garbage_is_rejected() {
        assert!(
            LabelQuery::parse("")
                .unwrap()
                .matches(&labels(&[("a", "b")]))
        );
        assert!(LabelQuery::parse("a in ()").is_err());
        assert!(LabelQuery::parse("a within (x)").is_err());
        assert!(LabelQuery::parse("a in (x").is_err());
    }
}
