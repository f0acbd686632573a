//! Exact cardinality of a space and read access to a chain's structure for dynamic programming.

use super::*;

impl SearchSpace {
    /// The exact number of distinct architectures (decisions a choice makes irrelevant are not counted).
    pub fn cardinality(&self) -> BigUint {
        match (&self.spec, &self.lowered) {
            (SpaceSpec::Chain(_), Lowered::Chain(info)) => {
                let mut total = BigUint::from(info.res.len());
                for st in &info.stages {
                    // Options of one layer: candidates times their elastic combinations.
                    let layer = &st.layers[0];
                    let mut m = BigUint::from(0u32);
                    for j in 0..st.cands.len() {
                        let mut p = BigUint::from(1u32);
                        for e in layer.elastic.iter().filter(|e| e.cand == j) {
                            p *= e.values.len();
                        }
                        m += p;
                    }
                    let mut stage = BigUint::from(0u32);
                    for &d in &st.depths {
                        stage += m.pow(d as u32);
                    }
                    total *= stage * st.outs.len();
                }
                total
            }
            (SpaceSpec::Cell(_), _) => {
                let mut total = BigUint::from(1u32);
                for d in &self.decisions {
                    total *= d.labels.len();
                }
                total
            }
            _ => BigUint::from(0u32),
        }
    }

    /// For cost: the chain's pieces (stem/head calls, stages), in a form the DP can walk.
    pub fn chain_walk(&self) -> Option<ChainWalk<'_>> {
        let (spec, info) = self.chain()?;
        Some(ChainWalk {
            space: self,
            spec,
            info,
        })
    }
}

/// Read access to a chain space's structure for dynamic programming over it (cost min/max).
pub struct ChainWalk<'a> {
    space: &'a SearchSpace,
    pub spec: &'a ChainSpec,
    info: &'a ChainInfo,
}

impl ChainWalk<'_> {
    /// Input shapes, one per resolution option.
    pub fn inputs(&self) -> Vec<Shape> {
        if self.spec.resolutions.is_empty() {
            vec![Shape::Map {
                c: self.spec.input[0],
                h: self.spec.input[1],
                w: self.spec.input[2],
            }]
        } else {
            self.info
                .res
                .iter()
                .map(|r| Shape::Map {
                    c: self.spec.input[0],
                    h: *r,
                    w: *r,
                })
                .collect()
        }
    }
    pub fn stages(&self) -> usize {
        self.info.stages.len()
    }
    pub fn outs(&self, s: usize) -> &[usize] {
        &self.info.stages[s].outs
    }
    pub fn depths(&self, s: usize) -> &[usize] {
        &self.info.stages[s].depths
    }
    /// The stem as a network on `input`.
    pub fn stem(&self, input: Shape) -> Result<Net, IrError> {
        let mut net = Net::new(input);
        SearchSpace::stem_head(&mut net, &self.spec.stem, "stem", self.spec.classes, 0)?;
        Ok(net)
    }
    /// The head as a network on `input`.
    pub fn head(&self, input: Shape) -> Result<Net, IrError> {
        let mut net = Net::new(input);
        let prefix = SearchSpace::head_prefix(self.info, input.channels());
        SearchSpace::stem_head(&mut net, &self.spec.head, &prefix, self.spec.classes, 0)?;
        Ok(net)
    }
    /// Every option of layer `l` of stage `s` (candidate x elastic values) as a network on `input`.
    pub fn layer_options(
        &self,
        s: usize,
        l: usize,
        input: Shape,
        cout: usize,
    ) -> Result<Vec<Net>, IrError> {
        let st = &self.info.stages[s];
        let layer = &st.layers[l];
        let mut out = vec![];
        for j in 0..st.cands.len() {
            let es: Vec<&ElasticDec> = layer.elastic.iter().filter(|e| e.cand == j).collect();
            let lists: Vec<Vec<i64>> = es.iter().map(|e| e.values.clone()).collect();
            for combo in combos(&lists) {
                let vals: Vec<(usize, usize, String, i64)> = es
                    .iter()
                    .zip(combo)
                    .map(|(e, v)| (e.cand, e.op, e.arg.clone(), v))
                    .collect();
                let mut net = Net::new(input);
                SearchSpace::push_layer(&mut net, st, l, j, 0, cout, &vals, None)?;
                out.push(net);
            }
        }
        let _ = self.space;
        Ok(out)
    }
}
