//! A covering set of architectures of a chain space: together they hold every op, at every input
//! shape, that any architecture of the space holds. This is what a latency lookup table must measure
//! when an architecture's latency is not a sum of per-option costs (OFA's elastic kernel and expand,
//! depth, width and resolution): each op's key depends only on its own layer's options and on its
//! input shape, and the shape only on the resolution and the channel decisions.

use super::{SearchSpace, combos, spec_err};
use crate::ir::IrError;

/// The most architectures a cover may hold (their networks are built to collect the ops).
pub const MAX_COVER: usize = 20_000;

impl SearchSpace {
    /// Architectures (option indices) that together hold every (op, input shape) of the space:
    /// - the decisions that set shapes (resolution, each stage's `out`, anything not tied to one
    ///   layer) take every combination of their options;
    /// - every stage takes its greatest depth (a shallower stage drops layers; the layers it keeps
    ///   see the same shapes);
    /// - the decisions of one layer (its candidate, its elastic arguments) go through every
    ///   combination of their options, all layers stepping together (a layer with fewer
    ///   combinations wraps round).
    ///
    /// Errors for cell spaces (their per-edge costs are sums of options already) and for covers of
    /// more than [`MAX_COVER`] architectures.
    pub fn op_cover(&self) -> Result<Vec<Vec<usize>>, IrError> {
        let Some((_, info)) = self.chain() else {
            return Err(spec_err(
                "space",
                "only chain spaces have elastic, depth, channel or resolution decisions to cover",
                "a cell space's latency table sums its edges' options",
            ));
        };
        let n = self.decisions.len();
        let mut base = vec![0usize; n];
        let mut tied = vec![false; n];
        let mut layers: Vec<Vec<usize>> = Vec::new();
        for st in &info.stages {
            if let Some(d) = st.depth_dec {
                let deepest = (0..st.depths.len())
                    .max_by_key(|&i| st.depths[i])
                    .unwrap_or(0);
                base[d] = deepest;
                tied[d] = true;
            }
            for layer in &st.layers {
                let decs: Vec<usize> = layer
                    .cand_dec
                    .into_iter()
                    .chain(layer.elastic.iter().map(|e| e.decision))
                    .collect();
                for &d in &decs {
                    tied[d] = true;
                }
                if !decs.is_empty() {
                    layers.push(decs);
                }
            }
        }
        let options = |d: usize| (0..self.decisions[d].labels.len()).collect::<Vec<usize>>();
        let shaping: Vec<usize> = (0..n).filter(|&d| !tied[d]).collect();
        let shape_combos = combos(&shaping.iter().map(|&d| options(d)).collect::<Vec<_>>());
        let layer_combos: Vec<Vec<Vec<usize>>> = layers
            .iter()
            .map(|decs| combos(&decs.iter().map(|&d| options(d)).collect::<Vec<_>>()))
            .collect();
        let steps = layer_combos.iter().map(Vec::len).max().unwrap_or(1);
        let total = shape_combos.len().saturating_mul(steps);
        if total > MAX_COVER {
            return Err(spec_err(
                "space",
                format!(
                    "covering every op of the space at every shape takes {total} architectures \
                     (more than {MAX_COVER})"
                ),
                "fewer resolutions or channel options per stage keep the latency table measurable",
            ));
        }
        let mut out = Vec::with_capacity(total);
        for shape in &shape_combos {
            for j in 0..steps {
                let mut arch = base.clone();
                for (&d, &o) in shaping.iter().zip(shape) {
                    arch[d] = o;
                }
                for (decs, cs) in layers.iter().zip(&layer_combos) {
                    for (&d, &o) in decs.iter().zip(&cs[j % cs.len()]) {
                        arch[d] = o;
                    }
                }
                out.push(arch);
            }
        }
        Ok(out)
    }
}
