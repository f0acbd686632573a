//! Multi-path (mixed) forwards of a supernet: a `Mix` takes, per decision, one or more options with
//! optional scalar weights. A layer or edge decision may take several candidates, whose outputs on the
//! same input are summed, each times its weight (`None` = 1): path dropout in one-shot training (Bender
//! et al. 2018) keeps a random subset of candidates unweighted, DARTS-style mixing weights every
//! candidate by a softmax of architecture parameters (the weights carry gradients). Every other
//! decision takes exactly one option. `drop_paths` samples the path-dropout subsets.

use crate::ir::{Arch, DecisionKind, IrError, SearchSpace};
use rand::seq::SliceRandom;
use std::collections::HashMap;
use tch::{Device, Tensor};

/// Per decision (indexed as `SearchSpace::decisions`), the options a forward takes, each with an
/// optional scalar weight (`None` = 1). An empty list leaves the decision unchosen (an error if the
/// network needs it), as does a decision past the end of `picks`.
#[derive(Debug, Default)]
pub struct Mix {
    pub picks: Vec<Vec<(usize, Option<Tensor>)>>,
}

impl Clone for Mix {
    /// Weights are shared (`shallow_clone`), so gradients still reach the original tensors.
    fn clone(&self) -> Mix {
        Mix {
            picks: self
                .picks
                .iter()
                .map(|l| {
                    l.iter()
                        .map(|(o, w)| (*o, w.as_ref().map(Tensor::shallow_clone)))
                        .collect()
                })
                .collect(),
        }
    }
}

impl Mix {
    /// A mix that chooses nothing yet, for `decisions` decisions.
    pub fn new(decisions: usize) -> Mix {
        Mix {
            picks: (0..decisions).map(|_| vec![]).collect(),
        }
    }

    /// The single path of one option index per decision (unweighted).
    pub fn single(indices: &[usize]) -> Mix {
        Mix {
            picks: indices.iter().map(|&o| vec![(o, None)]).collect(),
        }
    }

    /// The single path of an architecture; decisions it leaves out stay unchosen.
    pub fn from_arch(space: &SearchSpace, arch: &Arch) -> Result<Mix, IrError> {
        Ok(Mix::from_choices(&space.arch_indices(arch)?))
    }

    /// The single path of per-decision choices (`None` = unchosen).
    pub fn from_choices(choices: &[Option<usize>]) -> Mix {
        Mix {
            picks: choices
                .iter()
                .map(|c| c.iter().map(|&o| (o, None)).collect())
                .collect(),
        }
    }

    /// Unweighted option lists per decision, e.g. from `drop_paths`.
    pub fn from_options(options: &[Vec<usize>]) -> Mix {
        Mix {
            picks: options
                .iter()
                .map(|l| l.iter().map(|&o| (o, None)).collect())
                .collect(),
        }
    }

    /// Adds `option` of `decision` with an optional weight (the list grows as needed).
    pub fn push(&mut self, decision: usize, option: usize, weight: Option<Tensor>) -> &mut Mix {
        if self.picks.len() <= decision {
            self.picks.resize_with(decision + 1, Vec::new);
        }
        self.picks[decision].push((option, weight));
        self
    }

    /// The option indices per decision, without weights.
    pub fn options(&self) -> Vec<Vec<usize>> {
        self.picks
            .iter()
            .map(|l| l.iter().map(|(o, _)| *o).collect())
            .collect()
    }

    /// The weight given to `option` of `decision`, if any.
    pub fn weight(&self, decision: usize, option: usize) -> Option<&Tensor> {
        self.picks
            .get(decision)?
            .iter()
            .find(|(o, _)| *o == option)?
            .1
            .as_ref()
    }

    /// The weights as 0-dimensional tensors keyed by (decision, option), after checking each holds one
    /// number on `device`.
    pub(crate) fn scalar_weights(
        &self,
        space: &SearchSpace,
        device: Device,
    ) -> Result<HashMap<(usize, usize), Tensor>, IrError> {
        let mut out = HashMap::new();
        for (d, list) in self.picks.iter().enumerate() {
            for (o, w) in list {
                let Some(w) = w else { continue };
                let path = space
                    .decisions
                    .get(d)
                    .map(|dec| dec.path.clone())
                    .unwrap_or_else(|| format!("#{d}"));
                if w.numel() != 1 {
                    return Err(IrError::Shape {
                        path,
                        message: format!(
                            "the weight of option {o} has shape {:?}, not a single number",
                            w.size()
                        ),
                        help: "a mix weight is a scalar tensor, e.g. one element of a softmax"
                            .into(),
                    });
                }
                if w.device() != device {
                    return Err(IrError::Shape {
                        path,
                        message: format!(
                            "the weight of option {o} is on {:?} but the input is on {device:?}",
                            w.device()
                        ),
                        help: "move the weights to the input's device".into(),
                    });
                }
                out.insert((d, *o), w.reshape([] as [i64; 0]));
            }
        }
        Ok(out)
    }
}

/// Path dropout (Bender et al. 2018): for each layer or edge decision every option is kept
/// independently with probability `1 - rate`; when fewer than `keep` (at least 1, at most the number
/// of options) survive, randomly chosen dropped ones are added back up to `keep`. Any other decision
/// takes one uniformly random option. Lists are sorted; `Mix::from_options` makes them a mix.
pub fn drop_paths(
    space: &SearchSpace,
    rate: f64,
    keep: usize,
    rng: &mut impl rand::RngExt,
) -> Vec<Vec<usize>> {
    // NaN counts as no dropout.
    let rate = if rate >= 0.0 { rate.min(1.0) } else { 0.0 };
    space
        .decisions
        .iter()
        .map(|dec| {
            let n = dec.labels.len();
            if n == 0 {
                return vec![];
            }
            if !matches!(dec.kind, DecisionKind::Layer | DecisionKind::Edge) {
                return vec![rng.random_range(0..n)];
            }
            let (mut kept, mut dropped): (Vec<usize>, Vec<usize>) =
                (0..n).partition(|_| !rng.random_bool(rate));
            let want = keep.clamp(1, n);
            if kept.len() < want {
                dropped.shuffle(rng);
                kept.extend(dropped.into_iter().take(want - kept.len()));
                kept.sort_unstable();
            }
            kept
        })
        .collect()
}
