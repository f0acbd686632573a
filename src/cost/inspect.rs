//! `inspect`: the summary of a space (and optionally one architecture) for the CLI, as a
//! JSON-serialisable struct and a human-readable table.

use super::{Cost, SpaceCost, arch_cost, space_cost};
use crate::ir::{Arch, IrError, SearchSpace};
use serde::Serialize;
use std::fmt;

/// What `nasl inspect` prints.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub kind: String,
    pub input: [usize; 3],
    pub decisions: usize,
    /// Exact number of architectures, in decimal.
    pub cardinality: String,
    pub cost: SpaceCost,
    /// The given architecture's exact cost.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arch: Option<Cost>,
}

/// Summarises `space` (and `arch`, if given).
pub fn inspect(space: &SearchSpace, arch: Option<&Arch>) -> Result<Report, IrError> {
    let input = space.spec.input();
    Ok(Report {
        kind: space.kind().to_string(),
        input,
        decisions: space.decisions.len(),
        cardinality: space.cardinality().to_string(),
        cost: space_cost(space)?,
        arch: arch.map(|a| arch_cost(space, a)).transpose()?,
    })
}

/// `1234567` → `1,234,567`: counts as the reports print them.
pub fn group(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [c, h, w] = self.input;
        writeln!(f, "{:<18} {}", "kind", self.kind)?;
        writeln!(f, "{:<18} {c}x{h}x{w}", "input")?;
        writeln!(f, "{:<18} {}", "decisions", self.decisions)?;
        writeln!(f, "{:<18} {}", "architectures", self.cardinality)?;
        writeln!(
            f,
            "{:<18} {} .. {}",
            "params",
            group(self.cost.params.min),
            group(self.cost.params.max)
        )?;
        writeln!(
            f,
            "{:<18} {}",
            "supernet params",
            group(self.cost.supernet_params)
        )?;
        writeln!(
            f,
            "{:<18} {} .. {}",
            "MACs",
            group(self.cost.macs.min),
            group(self.cost.macs.max)
        )?;
        if let Some(a) = self.arch {
            writeln!(f, "{:<18} {}", "arch params", group(a.params))?;
            writeln!(f, "{:<18} {}", "arch MACs", group(a.macs))?;
        }
        Ok(())
    }
}
