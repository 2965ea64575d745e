//! The swarm policy: content complexity and free fleet resources in, swarm configuration out.
//!
//! The default is the seed policy: complexity > 7 and free resources > 50% gives swarm size 3,
//! complexity level 9, redundancy 2; complexity > 4 and free > 30% gives 2, 7, 1; otherwise 1, 5, 0.
//! Rules are tried in order; the first whose two thresholds are both exceeded wins.

use serde::{Deserialize, Serialize};

use crate::{Error, Result};
use bitswarm_core::{COMPLEXITY_RANGE, REDUNDANCY_RANGE};

/// What the policy decides for a scene.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SwarmConfig {
    /// How many servers may work on the scene's chunks at once (the swarm's width).
    pub swarm_size: u32,
    /// Encoder effort 1..=10 for the scene's chunks.
    pub complexity_level: u8,
    /// Extra copies of each chunk, on distinct servers.
    pub redundancy: u8,
}

/// One row of the policy table.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyRule {
    /// The rule applies when the scene's complexity (1..=10) is strictly above this.
    pub complexity_above: u8,
    /// ... and the fleet's free resources (0..=1) are strictly above this.
    pub free_above: f64,
    #[serde(flatten)]
    pub outcome: SwarmConfig,
}

/// An ordered rule table with a fallback.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SwarmPolicy {
    pub rules: Vec<PolicyRule>,
    pub fallback: SwarmConfig,
}

impl Default for SwarmPolicy {
    fn default() -> Self {
        let rule =
            |complexity_above, free_above, swarm_size, complexity_level, redundancy| PolicyRule {
                complexity_above,
                free_above,
                outcome: SwarmConfig {
                    swarm_size,
                    complexity_level,
                    redundancy,
                },
            };
        Self {
            rules: vec![rule(7, 0.5, 3, 9, 2), rule(4, 0.3, 2, 7, 1)],
            fallback: SwarmConfig {
                swarm_size: 1,
                complexity_level: 5,
                redundancy: 0,
            },
        }
    }
}

impl SwarmConfig {
    fn validate(&self, at: &str) -> Result<()> {
        if self.swarm_size == 0 || self.swarm_size > 10_000 {
            return Err(Error::Config(format!(
                "{at}: invalid swarm_size {} (expected 1..=10000)",
                self.swarm_size
            )));
        }
        if !COMPLEXITY_RANGE.contains(&self.complexity_level) {
            return Err(Error::Config(format!(
                "{at}: invalid complexity_level {} (expected 1..=10)",
                self.complexity_level
            )));
        }
        if !REDUNDANCY_RANGE.contains(&self.redundancy) {
            return Err(Error::Config(format!(
                "{at}: invalid redundancy {} (expected 0..=8)",
                self.redundancy
            )));
        }
        Ok(())
    }
}

impl SwarmPolicy {
    pub fn validate(&self) -> Result<()> {
        for (i, rule) in self.rules.iter().enumerate() {
            let at = format!("policy.rules[{i}]");
            if !(0.0..=1.0).contains(&rule.free_above) {
                return Err(Error::Config(format!(
                    "{at}: invalid free_above {} (expected 0.0..=1.0)",
                    rule.free_above
                )));
            }
            if rule.complexity_above > 10 {
                return Err(Error::Config(format!(
                    "{at}: invalid complexity_above {} (expected 0..=10)",
                    rule.complexity_above
                )));
            }
            rule.outcome.validate(&at)?;
        }
        self.fallback.validate("policy.fallback")
    }

    /// The configuration for content of `complexity` (1..=10) on a fleet with `free` (0..=1)
    /// of its resources available to this job.
    pub fn decide(&self, complexity: u8, free: f64) -> SwarmConfig {
        self.rules
            .iter()
            .find(|r| complexity > r.complexity_above && free > r.free_above)
            .map_or(self.fallback, |r| r.outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(swarm_size: u32, complexity_level: u8, redundancy: u8) -> SwarmConfig {
        SwarmConfig {
            swarm_size,
            complexity_level,
            redundancy,
        }
    }

    #[test]
    fn seed_thresholds() {
        let p = SwarmPolicy::default();
        p.validate().unwrap();
        assert_eq!(p.decide(8, 0.51), cfg(3, 9, 2));
        assert_eq!(
            p.decide(8, 0.5),
            cfg(2, 7, 1),
            "free must be strictly above 50%"
        );
        assert_eq!(
            p.decide(7, 0.9),
            cfg(2, 7, 1),
            "complexity must be strictly above 7"
        );
        assert_eq!(p.decide(5, 0.31), cfg(2, 7, 1));
        assert_eq!(p.decide(5, 0.3), cfg(1, 5, 0));
        assert_eq!(p.decide(4, 1.0), cfg(1, 5, 0));
        assert_eq!(p.decide(10, 0.0), cfg(1, 5, 0));
    }

    #[test]
    fn policy_reads_from_toml_and_validates() {
        let text = r#"
            [[rules]]
            complexity_above = 2
            free_above = 0.0
            swarm_size = 4
            complexity_level = 3
            redundancy = 1
            [fallback]
            swarm_size = 1
            complexity_level = 1
            redundancy = 0
        "#;
        let p: SwarmPolicy = toml::from_str(text).unwrap();
        p.validate().unwrap();
        assert_eq!(p.decide(3, 0.1), cfg(4, 3, 1));
        let bad = SwarmPolicy {
            fallback: cfg(1, 11, 0),
            ..p
        };
        assert_eq!(
            bad.validate().unwrap_err().to_string(),
            "invalid configuration: policy.fallback: invalid complexity_level 11 (expected 1..=10)"
        );
    }
}
