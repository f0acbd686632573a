//! Architectures: one option per decision, serialised as a readable YAML/JSON map from decision path to
//! an option index or a (quoted) label, and validated against a space (unknown decision or option →
//! an error value).

use super::IrError;
use super::graph::{Net, SearchSpace};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One choice: an option index or the option's label.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Pick {
    Index(usize),
    Label(String),
}

/// An architecture: decision path -> choice. Decisions the architecture makes irrelevant (layers past
/// the chosen depth, elastic values of unchosen candidates) may be left out.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Arch {
    pub choices: BTreeMap<String, Pick>,
}

impl Arch {
    pub fn from_yaml(text: &str) -> Result<Arch, IrError> {
        serde_yaml::from_str(text).map_err(|e| IrError::ArchFormat {
            message: e.to_string(),
        })
    }
    pub fn from_json(text: &str) -> Result<Arch, IrError> {
        serde_json::from_str(text).map_err(|e| IrError::ArchFormat {
            message: e.to_string(),
        })
    }
    pub fn to_yaml(&self) -> String {
        serde_yaml::to_string(self).unwrap_or_default()
    }
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// An architecture from option indices (one per decision of `space`), written with labels; only
    /// the decisions the network uses are kept.
    pub fn from_indices(space: &SearchSpace, indices: &[usize]) -> Result<Arch, IrError> {
        let choices: Vec<Option<usize>> = indices.iter().map(|i| Some(*i)).collect();
        let (_, used) = space.net_from_choices(&choices)?;
        let mut map = BTreeMap::new();
        for (d, dec) in space.decisions.iter().enumerate() {
            if used[d] {
                map.insert(
                    dec.path.clone(),
                    Pick::Label(dec.labels[indices[d]].clone()),
                );
            }
        }
        Ok(Arch { choices: map })
    }

    /// Picks a uniformly random architecture of `space`.
    pub fn random(space: &SearchSpace, rng: &mut impl rand::RngExt) -> Result<Arch, IrError> {
        let idx: Vec<usize> = space
            .decisions
            .iter()
            .map(|d| rng.random_range(0..d.labels.len()))
            .collect();
        Arch::from_indices(space, &idx)
    }
}

impl SearchSpace {
    /// Validates an architecture: every named decision exists and every choice is an option.
    pub fn arch_indices(&self, arch: &Arch) -> Result<Vec<Option<usize>>, IrError> {
        let mut out = vec![None; self.decisions.len()];
        for (name, pick) in &arch.choices {
            let Some(d) = self.decision_index(name) else {
                let mut near: Vec<&str> = self
                    .decisions
                    .iter()
                    .map(|d| d.path.as_str())
                    .filter(|p| p.split('.').next() == name.split('.').next())
                    .take(5)
                    .collect();
                if near.is_empty() {
                    near = self
                        .decisions
                        .iter()
                        .map(|d| d.path.as_str())
                        .take(5)
                        .collect();
                }
                return Err(IrError::UnknownDecision {
                    name: name.clone(),
                    help: if near.is_empty() {
                        "this space has no decisions".into()
                    } else {
                        format!("decisions include: {}", near.join(", "))
                    },
                });
            };
            let dec = &self.decisions[d];
            let idx = match pick {
                Pick::Index(i) if *i < dec.labels.len() => *i,
                Pick::Label(l) => match dec.labels.iter().position(|x| x == l) {
                    Some(i) => i,
                    None => {
                        return Err(IrError::BadOption {
                            name: name.clone(),
                            pick: format!("`{l}`"),
                            help: format!("options are: {}", dec.labels.join(" | ")),
                        });
                    }
                },
                Pick::Index(i) => {
                    return Err(IrError::BadOption {
                        name: name.clone(),
                        pick: i.to_string(),
                        help: format!(
                            "indices are 0..{}; to pick by label write it quoted (options: {})",
                            dec.labels.len(),
                            dec.labels.join(" | ")
                        ),
                    });
                }
            };
            out[d] = Some(idx);
        }
        Ok(out)
    }

    /// The concrete network of an architecture.
    pub fn net(&self, arch: &Arch) -> Result<Net, IrError> {
        let idx = self.arch_indices(arch)?;
        Ok(self.net_from_choices(&idx)?.0)
    }
}
