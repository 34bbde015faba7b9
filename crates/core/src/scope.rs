//! Scope strings (RFC 6749 §3.3): space-delimited, case-sensitive tokens of `%x21 /
//! %x23-5B / %x5D-7E`, held as a set so order and duplicates never matter.

use std::collections::BTreeSet;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A scope value that is not a valid RFC 6749 §3.3 scope-token list.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("scope contains a character RFC 6749 section 3.3 does not allow")]
pub struct InvalidScope;

/// A set of scope tokens.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct ScopeSet(BTreeSet<String>);

fn is_scope_char(c: char) -> bool {
    matches!(c, '\x21' | '\x23'..='\x5B' | '\x5D'..='\x7E')
}

impl ScopeSet {
    /// Parses a space-delimited scope string; empty tokens from repeated spaces are
    /// ignored, any other character outside the RFC grammar is refused.
    pub fn parse(s: &str) -> Result<Self, InvalidScope> {
        let mut set = BTreeSet::new();
        for token in s.split(' ').filter(|t| !t.is_empty()) {
            if !token.chars().all(is_scope_char) {
                return Err(InvalidScope);
            }
            set.insert(token.to_owned());
        }
        Ok(ScopeSet(set))
    }

    /// Builds a set from tokens already known to be valid (e.g. from config).
    pub fn from_tokens<I, S>(tokens: I) -> Result<Self, InvalidScope>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let joined: Vec<String> = tokens.into_iter().map(|t| t.as_ref().to_owned()).collect();
        if joined.iter().any(|t| t.is_empty() || t.contains(' ')) {
            return Err(InvalidScope);
        }
        ScopeSet::parse(&joined.join(" "))
    }

    /// Whether `token` is in the set.
    pub fn contains(&self, token: &str) -> bool {
        self.0.contains(token)
    }

    /// Whether every token of `self` is also in `other` (RFC 6749 §6: a refresh may
    /// narrow the scope, never widen it).
    pub fn is_subset_of(&self, other: &ScopeSet) -> bool {
        self.0.is_subset(&other.0)
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The tokens in sorted order.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    /// The tokens of `self` that are also in `other`.
    #[must_use]
    pub fn intersection(&self, other: &ScopeSet) -> ScopeSet {
        ScopeSet(self.0.intersection(&other.0).cloned().collect())
    }

    /// The union of both sets.
    #[must_use]
    pub fn union(&self, other: &ScopeSet) -> ScopeSet {
        ScopeSet(self.0.union(&other.0).cloned().collect())
    }
}

impl std::fmt::Display for ScopeSet {
    /// The canonical wire form: tokens sorted, one space apart.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut first = true;
        for t in &self.0 {
            if !first {
                f.write_str(" ")?;
            }
            f.write_str(t)?;
            first = false;
        }
        Ok(())
    }
}

impl Serialize for ScopeSet {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for ScopeSet {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        ScopeSet::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_ignores_order_duplicates_and_extra_spaces() {
        let a = ScopeSet::parse("openid  profile openid").unwrap();
        let b = ScopeSet::parse("profile openid").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.to_string(), "openid profile");
    }

    #[test]
    fn parse_refuses_characters_outside_the_grammar() {
        assert_eq!(ScopeSet::parse("open\"id"), Err(InvalidScope));
        assert_eq!(ScopeSet::parse("a\\b"), Err(InvalidScope));
        assert_eq!(ScopeSet::parse("tab\there"), Err(InvalidScope));
        assert_eq!(ScopeSet::parse("é"), Err(InvalidScope));
    }

    #[test]
    fn subset_is_what_narrowing_allows() {
        let granted = ScopeSet::parse("openid profile email").unwrap();
        assert!(
            ScopeSet::parse("openid email")
                .unwrap()
                .is_subset_of(&granted)
        );
        assert!(
            !ScopeSet::parse("openid admin")
                .unwrap()
                .is_subset_of(&granted)
        );
    }
}
