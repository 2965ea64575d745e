//! Validated identifiers of servers and jobs: 1..=64 characters from `[A-Za-z0-9_.-]`, so an
//! id is always exactly one MQTT topic level and never a wildcard.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::hash::{Hash, Hasher};
use std::marker::PhantomData;
use std::str::FromStr;

use crate::{Error, Result};

/// Longest id, in bytes (= characters: ids are ASCII).
pub const MAX_ID_LEN: usize = 64;

/// What an [`Id`] names; its `WHAT` appears in error texts ("invalid server id ...").
pub trait IdKind {
    const WHAT: &'static str;
}

/// Marker of [`ServerId`].
pub enum ServerKind {}
/// Marker of [`JobId`].
pub enum JobKind {}

impl IdKind for ServerKind {
    const WHAT: &'static str = "server";
}
impl IdKind for JobKind {
    const WHAT: &'static str = "job";
}

/// A validated identifier; see [`ServerId`] and [`JobId`].
pub struct Id<K> {
    value: String,
    kind: PhantomData<fn() -> K>,
}

/// The name of an encoding server, unique on the broker (also its MQTT client id suffix).
pub type ServerId = Id<ServerKind>;
/// The name of a job, unique on the broker while the job runs.
pub type JobId = Id<JobKind>;

impl<K: IdKind> Id<K> {
    /// Validates `value`: 1..=64 characters from `A-Z a-z 0-9 _ . -`.
    pub fn new(value: impl Into<String>) -> Result<Self> {
        let value = value.into();
        let reason = if value.is_empty() {
            Some("empty".to_owned())
        } else if value.len() > MAX_ID_LEN {
            Some(format!("{} bytes long", value.len()))
        } else {
            value
                .chars()
                .find(|&c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')))
                .map(|c| format!("contains {c:?}"))
        };
        match reason {
            Some(reason) => Err(Error::InvalidId {
                what: K::WHAT,
                value,
                reason,
            }),
            None => Ok(Self {
                value,
                kind: PhantomData,
            }),
        }
    }
}

impl<K> Id<K> {
    pub fn as_str(&self) -> &str {
        &self.value
    }
}

impl<K> Clone for Id<K> {
    fn clone(&self) -> Self {
        Self {
            value: self.value.clone(),
            kind: PhantomData,
        }
    }
}

impl<K> PartialEq for Id<K> {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
    }
}

impl<K> Eq for Id<K> {}

impl<K> PartialOrd for Id<K> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl<K> Ord for Id<K> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.value.cmp(&other.value)
    }
}

impl<K> Hash for Id<K> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.value.hash(state);
    }
}

impl<K: IdKind> fmt::Debug for Id<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{:?}", K::WHAT, self.value)
    }
}

impl<K> fmt::Display for Id<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.value)
    }
}

impl<K> AsRef<str> for Id<K> {
    fn as_ref(&self) -> &str {
        &self.value
    }
}

impl<K: IdKind> FromStr for Id<K> {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::new(s)
    }
}

impl<K> Serialize for Id<K> {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.value)
    }
}

impl<'de, K: IdKind> Deserialize<'de> for Id<K> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        let value = String::deserialize(deserializer)?;
        Self::new(value).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_ids_keep_their_text() {
        for ok in ["a", "enc-01", "job_2024.10.01", "A-Z.0_9", &"x".repeat(64)] {
            let id = ServerId::new(ok).unwrap();
            assert_eq!(id.as_str(), ok);
            assert_eq!(id.to_string(), ok);
            assert_eq!(ok.parse::<ServerId>().unwrap(), id);
        }
    }

    #[test]
    fn invalid_ids_name_the_problem() {
        let cases = [
            ("", "empty"),
            ("a/b", "contains '/'"),
            ("+", "contains '+'"),
            ("job#1", "contains '#'"),
            ("with space", "contains ' '"),
            ("é", "contains 'é'"),
        ];
        for (bad, reason) in cases {
            let err = JobId::new(bad).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!(
                    "invalid job id {bad:?}: {reason} (expected 1..=64 characters from A-Z a-z 0-9 _ . -)"
                )
            );
        }
        let long = "x".repeat(65);
        assert!(ServerId::new(long)
            .unwrap_err()
            .to_string()
            .starts_with("invalid server id \"xxx"));
        assert!(ServerId::new("x".repeat(65))
            .unwrap_err()
            .to_string()
            .contains(": 65 bytes long ("));
    }

    #[test]
    fn serde_validates() {
        let id: JobId = serde_json::from_str(r#""job-1""#).unwrap();
        assert_eq!(serde_json::to_string(&id).unwrap(), r#""job-1""#);
        let err = serde_json::from_str::<JobId>(r#""job/1""#).unwrap_err();
        assert!(
            err.to_string().contains("invalid job id \"job/1\""),
            "{err}"
        );
        assert_eq!(format!("{id:?}"), "job:\"job-1\"");
    }
}
