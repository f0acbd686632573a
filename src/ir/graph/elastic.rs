//! Elastic arguments per weight instance: which values an elastic `mbconv` argument (`kernel`,
//! `expand`) takes at one op of the supernet's network, and the size of OFA's kernel transformation
//! matrices that an elastic kernel adds to the supernet (`compile::elastic` builds them).

use super::SearchSpace;

impl SearchSpace {
    /// The values (ascending, distinct) of elastic argument `arg` of the op at node path `path` of
    /// the supernet's network (`supernet_net`), or `None` when that argument of that op is not
    /// elastic (or the space is not a chain).
    pub fn elastic_values(&self, path: &str, arg: &str) -> Option<Vec<usize>> {
        let (_, info) = self.chain()?;
        for st in &info.stages {
            for (l, layer) in st.layers.iter().enumerate() {
                for e in layer.elastic.iter().filter(|e| e.arg == arg) {
                    let mut base = format!("{}.layer{l}", st.name);
                    if st.choose {
                        base.push_str(&format!(".cand{}", e.cand));
                    }
                    let Some(rest) = path.strip_prefix(&base) else {
                        continue;
                    };
                    // `.{op}` or, for weights per channel pair, `.c{cin}_{cout}.{op}`.
                    let segs: Vec<&str> = rest.split('.').collect();
                    let op = e.op.to_string();
                    let ok = match segs.as_slice() {
                        ["", k] => *k == op,
                        ["", tag, k] => tag.starts_with('c') && tag.contains('_') && *k == op,
                        _ => false,
                    };
                    if ok {
                        let mut v: Vec<usize> = e.values.iter().map(|&v| v as usize).collect();
                        v.sort_unstable();
                        v.dedup();
                        return Some(v);
                    }
                }
            }
        }
        None
    }
}

/// The parameters of OFA's kernel transformation matrices for an elastic kernel with these sizes:
/// one (t*t) x (t*t) matrix per step from a size to the next smaller one t (7 -> 5: 25 x 25).
pub fn kernel_transform_params(kernels: &[usize]) -> u64 {
    let mut k: Vec<usize> = kernels.to_vec();
    k.sort_unstable();
    k.dedup();
    k.iter()
        .take(k.len().saturating_sub(1))
        .map(|&t| (t * t * t * t) as u64)
        .sum()
}
