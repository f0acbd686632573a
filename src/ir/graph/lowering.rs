//! Lowering of chain and cell specs into the space graph: decisions named and counted, candidates,
//! sums, concats, stem and head; every reachable chain configuration's shapes checked.

use super::*;

impl SearchSpace {
    pub(super) fn lower_chain(&mut self, c: &ChainSpec) -> Result<ChainInfo, IrError> {
        if c.input.contains(&0) || c.classes == 0 {
            return Err(spec_err(
                "input",
                "input sizes and classes must be >= 1",
                "e.g. input: [3, 32, 32]",
            ));
        }
        let res = if c.resolutions.is_empty() {
            if c.input[1] != c.input[2] {
                // Non-square inputs are fine; resolution stays the declared one.
            }
            vec![c.input[1]]
        } else {
            c.resolutions.clone()
        };
        if res.contains(&0) {
            return Err(spec_err(
                "resolutions",
                "a resolution of 0",
                "use sizes >= 1",
            ));
        }
        let res_dec = if res.len() > 1 {
            Some(self.add_decision(
                "resolution".into(),
                DecisionKind::Resolution,
                res.iter().map(|r| r.to_string()).collect(),
            )?)
        } else {
            None
        };
        let g = &mut self.graph;
        let input = g.add_node(SpaceNode::Input {
            shape: Shape::Map {
                c: c.input[0],
                h: c.input[1],
                w: c.input[2],
            },
        });
        let mut prev = vec![(input, String::new())];
        let link = |g: &mut DiGraph<SpaceNode, String>,
                    prev: &mut Vec<(NodeIndex, String)>,
                    n: NodeIndex| {
            for (p, label) in prev.drain(..) {
                g.add_edge(p, n, label);
            }
            prev.push((n, String::new()));
        };
        for (i, call) in c.stem.iter().enumerate() {
            check_not_elastic(call, &format!("stem.{i}"))?;
            let n = self.graph.add_node(SpaceNode::Op {
                path: format!("stem.{i}"),
                label: call.to_string(),
            });
            link(&mut self.graph, &mut prev, n);
        }
        let mut stages = vec![];
        let mut prev_outs = 1usize;
        let mut names = BTreeSet::new();
        for (si, st) in c.stages.iter().enumerate() {
            let name = st.name.clone().unwrap_or_else(|| format!("stage{si}"));
            if name.is_empty()
                || name.contains('.')
                || ["stem", "head", "resolution", "input", "output"].contains(&name.as_str())
                || !names.insert(name.clone())
            {
                return Err(spec_err(
                    &name,
                    "a stage name must be unique, non-empty, without '.', and not stem/head/resolution",
                    "rename the stage",
                ));
            }
            let outs = st.out.options();
            let depths = st.repeat.options();
            if outs.is_empty() || outs.contains(&0) {
                return Err(spec_err(
                    &name,
                    "`out` needs channel counts >= 1",
                    "e.g. out: 24 or out: [16, 24]",
                ));
            }
            if depths.is_empty() || depths.contains(&0) {
                return Err(spec_err(
                    &name,
                    "`repeat` needs layer counts >= 1",
                    "e.g. repeat: 2 or repeat: [2, 3, 4]",
                ));
            }
            if st.stride == 0 {
                return Err(spec_err(&name, "stride 0", "use stride 1 or 2"));
            }
            let (cands, choose) = match &st.layer {
                LayerSpec::Fixed(s) => (vec![s.clone()], false),
                LayerSpec::Choose(cs) => (cs.clone(), cs.len() > 1),
            };
            if cands.is_empty() || cands.iter().any(|c| c.is_empty()) {
                return Err(spec_err(
                    &name,
                    "a layer needs at least one candidate, each with at least one op",
                    "give each candidate an op, e.g. [skip]",
                ));
            }
            let out_dec = if outs.len() > 1 {
                Some(self.add_decision(
                    format!("{name}.out"),
                    DecisionKind::Channels,
                    outs.iter().map(|o| o.to_string()).collect(),
                )?)
            } else {
                None
            };
            let depth_dec = if depths.len() > 1 {
                Some(self.add_decision(
                    format!("{name}.depth"),
                    DecisionKind::Depth,
                    depths.iter().map(|o| o.to_string()).collect(),
                )?)
            } else {
                None
            };
            let max_depth = *depths.iter().max().unwrap_or(&1);
            let min_depth = *depths.iter().min().unwrap_or(&1);
            let labels: Vec<String> = cands.iter().map(|s| seq_label(s)).collect();
            let mut layers = vec![];
            let mut layer_nodes = vec![];
            for l in 0..max_depth {
                let lpath = format!("{name}.layer{l}");
                let cand_dec = if choose {
                    Some(self.add_decision(lpath.clone(), DecisionKind::Layer, labels.clone())?)
                } else {
                    None
                };
                let mut elastic = vec![];
                for (j, seq) in cands.iter().enumerate() {
                    for (k, call) in seq.iter().enumerate() {
                        for (arg, values) in call.elastic_args() {
                            if !(matches!(call.kind, OpKind::MbConv)
                                && (arg == "kernel" || arg == "expand"))
                            {
                                return Err(spec_err(
                                    &lpath,
                                    format!(
                                        "`{arg}` of `{}` cannot be elastic",
                                        signature(call.kind).name
                                    ),
                                    "elastic arguments are mbconv's kernel and expand",
                                ));
                            }
                            if values.is_empty()
                                || values.iter().any(|v| *v < 1)
                                || BTreeSet::from_iter(values.iter()).len() != values.len()
                            {
                                return Err(spec_err(
                                    &lpath,
                                    format!("elastic `{arg}` needs distinct values >= 1"),
                                    "e.g. kernel: [3, 5, 7]",
                                ));
                            }
                            if arg == "expand"
                                && call
                                    .args
                                    .get("groups")
                                    .is_some_and(|g| *g != crate::ir::spec::ArgValue::Int(1))
                            {
                                return Err(spec_err(
                                    &lpath,
                                    "elastic expand with grouped 1x1 convs",
                                    "use groups: 1 with an elastic expand",
                                ));
                            }
                            let mut p = lpath.clone();
                            if choose {
                                p.push_str(&format!(".cand{j}"));
                            }
                            if seq.len() > 1 {
                                p.push_str(&format!(".op{k}"));
                            }
                            p.push_str(&format!(".{arg}"));
                            let d = self.add_decision(
                                p,
                                DecisionKind::Elastic,
                                values.iter().map(|v| v.to_string()).collect(),
                            )?;
                            elastic.push(ElasticDec {
                                cand: j,
                                op: k,
                                arg: arg.to_string(),
                                decision: d,
                                values: values.to_vec(),
                            });
                        }
                    }
                }
                let n = self.graph.add_node(SpaceNode::Layer {
                    path: lpath,
                    decision: cand_dec,
                    labels: labels.clone(),
                    optional: l >= min_depth,
                });
                link(&mut self.graph, &mut prev, n);
                layer_nodes.push(n);
                layers.push(LayerInfo { cand_dec, elastic });
            }
            // Depth skips: the stage may end after layer d-1.
            for &d in &depths {
                if d < max_depth {
                    prev.push((layer_nodes[d - 1], format!("depth={d}")));
                }
            }
            stages.push(StageInfo {
                name,
                tag0: prev_outs > 1 || outs.len() > 1,
                tagn: outs.len() > 1,
                outs: outs.clone(),
                depths,
                out_dec,
                depth_dec,
                stride: st.stride,
                cands,
                choose,
                layers,
            });
            prev_outs = outs.len();
        }
        for (i, call) in c.head.iter().enumerate() {
            check_not_elastic(call, &format!("head.{i}"))?;
            let n = self.graph.add_node(SpaceNode::Op {
                path: format!("head.{i}"),
                label: call.to_string(),
            });
            link(&mut self.graph, &mut prev, n);
        }
        let out = self
            .graph
            .add_node(SpaceNode::Output { classes: c.classes });
        link(&mut self.graph, &mut prev, out);
        Ok(ChainInfo {
            res,
            res_dec,
            stages,
            head_tag: prev_outs > 1,
        })
    }

    pub(super) fn lower_cell(&mut self, c: &CellSpec) -> Result<CellInfo, IrError> {
        if c.input.contains(&0)
            || c.classes == 0
            || c.cells == 0
            || c.channels == 0
            || c.stem_multiplier == 0
        {
            return Err(spec_err(
                "cell",
                "input, classes, cells, channels and stem_multiplier must be >= 1",
                "e.g. cells: 8, channels: 16",
            ));
        }
        let reductions = c.reduction_cells();
        if let Some(r) = reductions.iter().find(|r| **r >= c.cells) {
            return Err(spec_err(
                "reduce_at",
                format!("reduction cell {r} is beyond the {} cells", c.cells),
                "use cell indices below `cells`",
            ));
        }
        if !(1..=2).contains(&c.inputs) {
            return Err(spec_err(
                "inputs",
                format!("cells with {} inputs", c.inputs),
                "2 (DARTS) or 1 (NAS-Bench-201)",
            ));
        }
        if let Some(k) = c.node_inputs
            && (c.inputs != 2 || k == 0 || k > c.inputs)
        {
            return Err(spec_err(
                "node_inputs",
                format!("{k} inputs per node in cells with {} inputs", c.inputs),
                "input choice runs in two-input cells, with 1 or 2 inputs per node",
            ));
        }
        if c.inputs == 1 && (c.normal.is_some() || c.reduce.is_some()) {
            return Err(spec_err(
                "inputs",
                "fixed genotypes of single-input cells",
                "search the cell, or declare a two-input genotype",
            ));
        }
        let mut types = vec![];
        for (tname, fixed) in [("normal", &c.normal), ("reduce", &c.reduce)] {
            // Single-input (NAS-Bench-201) networks reduce with residual blocks: no reduction cell.
            if c.inputs == 1 && tname == "reduce" {
                types.push(CellType::Search(vec![]));
                continue;
            }
            let t = match fixed {
                Some(g) => {
                    if g.nodes.is_empty() || g.nodes.iter().any(|n| n.is_empty()) {
                        return Err(spec_err(
                            tname,
                            "a fixed cell needs nodes, each with at least one edge",
                            "list each node's (from, op) edges",
                        ));
                    }
                    for (n, edges) in g.nodes.iter().enumerate() {
                        for e in edges {
                            check_not_elastic(&e.op, tname)?;
                            if e.from >= 2 + g.nodes.len() {
                                return Err(spec_err(
                                    &format!("{tname}.node{n}"),
                                    format!("edge from node {} which does not exist", e.from),
                                    "nodes 0 and 1 are the cell inputs, 2.. the intermediate nodes",
                                ));
                            }
                            if e.from >= 2 + n {
                                return Err(IrError::Cycle {
                                    path: format!("{tname}.node{n} <- node {}", e.from),
                                });
                            }
                        }
                    }
                    CellType::Fixed(g.clone())
                }
                None => {
                    if c.candidates.is_empty() {
                        return Err(spec_err(
                            tname,
                            "a searched cell needs candidate ops",
                            "give `candidates` or a fixed genotype",
                        ));
                    }
                    for call in &c.candidates {
                        check_not_elastic(call, "candidates")?;
                    }
                    let labels: Vec<String> = c.candidates.iter().map(|x| x.to_string()).collect();
                    if c.nodes == 0 {
                        return Err(spec_err(
                            tname,
                            "a cell needs at least one intermediate node",
                            "e.g. nodes: 4",
                        ));
                    }
                    if let Some(k) = c.node_inputs {
                        types.push(CellType::Pick(self.pick_decisions(c, tname, k, &labels)?));
                        continue;
                    }
                    let mut nodes = vec![];
                    for n in 0..c.nodes {
                        let mut edges = vec![];
                        for from in 0..c.inputs + n {
                            edges.push(self.add_decision(
                                format!("{tname}.node{n}.edge{from}"),
                                DecisionKind::Edge,
                                labels.clone(),
                            )?);
                        }
                        nodes.push(edges);
                    }
                    CellType::Search(nodes)
                }
            };
            types.push(t);
        }
        let reduce = types.pop().unwrap_or(CellType::Search(vec![]));
        let normal = types.pop().unwrap_or(CellType::Search(vec![]));
        let info = CellInfo {
            normal,
            reduce,
            reductions,
        };
        // The space graph.
        let g = &mut self.graph;
        let input = g.add_node(SpaceNode::Input {
            shape: Shape::Map {
                c: c.input[0],
                h: c.input[1],
                w: c.input[2],
            },
        });
        if c.inputs == 1 {
            Self::single_input_graph(g, input, c, &self.decisions, &info);
            return Ok(info);
        }
        let s0 = g.add_node(SpaceNode::Op {
            path: "stem.0".into(),
            label: "conv(kernel: 3)".into(),
        });
        g.add_edge(input, s0, String::new());
        let stem = g.add_node(SpaceNode::Op {
            path: "stem.1".into(),
            label: "bn".into(),
        });
        g.add_edge(s0, stem, String::new());
        let (mut p0, mut p1) = (stem, stem);
        let mut red_prev = false;
        for i in 0..c.cells {
            let red = info.reductions.contains(&i);
            let ct = if red { &info.reduce } else { &info.normal };
            let pre0 = g.add_node(SpaceNode::Op {
                path: format!("cell{i}.pre0"),
                label: if red_prev {
                    "factorized_reduce".into()
                } else {
                    "relu_conv_bn(kernel: 1)".into()
                },
            });
            g.add_edge(p0, pre0, String::new());
            let pre1 = g.add_node(SpaceNode::Op {
                path: format!("cell{i}.pre1"),
                label: "relu_conv_bn(kernel: 1)".into(),
            });
            g.add_edge(p1, pre1, String::new());
            let mut states = vec![pre0, pre1];
            let edges: Vec<Vec<(usize, Option<usize>, String)>> = match ct {
                CellType::Search(nodes) => nodes
                    .iter()
                    .map(|es| {
                        es.iter()
                            .enumerate()
                            .map(|(f, d)| (f, Some(*d), String::new()))
                            .collect()
                    })
                    .collect(),
                CellType::Fixed(geno) => geno
                    .nodes
                    .iter()
                    .map(|es| {
                        es.iter()
                            .map(|e| (e.from, None, e.op.to_string()))
                            .collect()
                    })
                    .collect(),
                CellType::Pick(nodes) => {
                    Self::pick_graph(g, &self.decisions, i, nodes, &mut states);
                    p0 = p1;
                    p1 = *states.last().unwrap_or(&p1);
                    red_prev = red;
                    continue;
                }
            };
            let concat = g.add_node(SpaceNode::Concat {
                path: format!("cell{i}.out"),
            });
            for (n, es) in edges.iter().enumerate() {
                let sum = g.add_node(SpaceNode::Sum {
                    path: format!("cell{i}.node{n}"),
                });
                for (e, (from, dec, label)) in es.iter().enumerate() {
                    let en = match dec {
                        Some(d) => g.add_node(SpaceNode::Edge {
                            path: format!("cell{i}.node{n}.edge{from}"),
                            decision: *d,
                            labels: self.decisions[*d].labels.clone(),
                        }),
                        None => g.add_node(SpaceNode::Op {
                            path: format!("cell{i}.node{n}.edge{e}"),
                            label: label.clone(),
                        }),
                    };
                    g.add_edge(states[*from], en, String::new());
                    g.add_edge(en, sum, String::new());
                }
                g.add_edge(sum, concat, String::new());
                states.push(sum);
            }
            p0 = p1;
            p1 = concat;
            red_prev = red;
        }
        let gap = g.add_node(SpaceNode::Op {
            path: "head.0".into(),
            label: "global_avg_pool".into(),
        });
        g.add_edge(p1, gap, String::new());
        let lin = g.add_node(SpaceNode::Op {
            path: "head.1".into(),
            label: "linear".into(),
        });
        g.add_edge(gap, lin, String::new());
        let out = g.add_node(SpaceNode::Output { classes: c.classes });
        g.add_edge(lin, out, String::new());
        Ok(info)
    }

    /// The decisions of an input-choice cell, in ENAS's order: per node, the earlier node each of its
    /// `k` slots reads (options: the node indices `0..inputs+n`, cell inputs first), then each slot's
    /// op.
    fn pick_decisions(
        &mut self,
        c: &CellSpec,
        tname: &str,
        k: usize,
        labels: &[String],
    ) -> Result<Vec<NodePick>, IrError> {
        let mut nodes = vec![];
        for n in 0..c.nodes {
            let froms: Vec<String> = (0..c.inputs + n).map(|f| f.to_string()).collect();
            let mut inputs = vec![];
            for s in 0..k {
                inputs.push(self.add_decision(
                    format!("{tname}.node{n}.input{s}"),
                    DecisionKind::Input,
                    froms.clone(),
                )?);
            }
            let mut ops = vec![];
            for s in 0..k {
                ops.push(self.add_decision(
                    format!("{tname}.node{n}.op{s}"),
                    DecisionKind::Edge,
                    labels.to_vec(),
                )?);
            }
            nodes.push(NodePick { inputs, ops });
        }
        Ok(nodes)
    }

    /// Cell `i`'s nodes in the space graph when it chooses its inputs: one edge per slot, read from
    /// every node it may choose (the graph edge names the input option), into the node's sum; the
    /// output sums the loose ends' projections (`cell{i}.out`), here drawn from every node.
    fn pick_graph(
        g: &mut DiGraph<SpaceNode, String>,
        decisions: &[Decision],
        i: usize,
        nodes: &[NodePick],
        states: &mut Vec<NodeIndex>,
    ) {
        let out = g.add_node(SpaceNode::Sum {
            path: format!("cell{i}.out"),
        });
        for (n, np) in nodes.iter().enumerate() {
            let sum = g.add_node(SpaceNode::Sum {
                path: format!("cell{i}.node{n}"),
            });
            for (s, (&din, &dop)) in np.inputs.iter().zip(&np.ops).enumerate() {
                let e = g.add_node(SpaceNode::Edge {
                    path: format!("cell{i}.node{n}.in{s}"),
                    decision: dop,
                    labels: decisions[dop].labels.clone(),
                });
                for (from, &st) in states.iter().enumerate() {
                    g.add_edge(st, e, format!("{} = {from}", decisions[din].path));
                }
                g.add_edge(e, sum, String::new());
            }
            g.add_edge(sum, out, String::new());
            states.push(sum);
        }
        states.push(out);
    }

    /// The space graph of a single-input (NAS-Bench-201) cell network: stem, cells (a residual block
    /// before each reduction index), head.
    pub(super) fn single_input_graph(
        g: &mut DiGraph<SpaceNode, String>,
        input: NodeIndex,
        c: &CellSpec,
        decisions: &[Decision],
        info: &CellInfo,
    ) {
        let op =
            |g: &mut DiGraph<SpaceNode, String>, from: NodeIndex, path: String, label: &str| {
                let n = g.add_node(SpaceNode::Op {
                    path,
                    label: label.into(),
                });
                g.add_edge(from, n, String::new());
                n
            };
        let s0 = op(g, input, "stem.0".into(), "conv(kernel: 3)");
        let mut prev = op(g, s0, "stem.1".into(), "bn");
        for i in 0..c.cells {
            if info.reductions.contains(&i) {
                prev = op(g, prev, format!("cell{i}.reduce"), "basic_block(stride: 2)");
            }
            let mut states = vec![prev];
            if let CellType::Search(nodes) = &info.normal {
                for (n, froms) in nodes.iter().enumerate() {
                    let sum = g.add_node(SpaceNode::Sum {
                        path: format!("cell{i}.node{n}"),
                    });
                    for (from, &d) in froms.iter().enumerate() {
                        let e = g.add_node(SpaceNode::Edge {
                            path: format!("cell{i}.node{n}.edge{from}"),
                            decision: d,
                            labels: decisions[d].labels.clone(),
                        });
                        g.add_edge(states[from], e, String::new());
                        g.add_edge(e, sum, String::new());
                    }
                    states.push(sum);
                }
            }
            prev = *states.last().unwrap_or(&prev);
        }
        let mut last = prev;
        for (k, label) in ["bn", "relu", "global_avg_pool", "linear"]
            .iter()
            .enumerate()
        {
            last = op(g, last, format!("head.{k}"), label);
        }
        let out = g.add_node(SpaceNode::Output { classes: c.classes });
        g.add_edge(last, out, String::new());
    }

    /// Checks every reachable (resolution, channels, depth, candidate, elastic value) configuration of a
    /// chain: candidates of a layer must agree on the output shape and the head must give class scores.
    pub(super) fn validate_chain(&self) -> Result<(), IrError> {
        let (spec, info) = self
            .chain()
            .ok_or_else(|| spec_err("space", "not a chain", ""))?;
        let sizes: Vec<(usize, usize)> = if spec.resolutions.is_empty() {
            vec![(spec.input[1], spec.input[2])]
        } else {
            info.res.iter().map(|r| (*r, *r)).collect()
        };
        for (h, w) in sizes {
            let mut net = Net::new(Shape::Map {
                c: spec.input[0],
                h,
                w,
            });
            let stem_end = Self::stem_head(&mut net, &spec.stem, "stem", spec.classes, 0)?;
            let mut states = BTreeSet::from([shape_key(net.nodes[stem_end].shape)]);
            for st in &info.stages {
                let mut next = BTreeSet::new();
                for &state in &states {
                    for &cout in &st.outs {
                        let mut shape = unkey(state);
                        for (l, layer) in st.layers.iter().enumerate() {
                            let mut results = BTreeSet::new();
                            for j in 0..st.cands.len() {
                                let es: Vec<&ElasticDec> =
                                    layer.elastic.iter().filter(|e| e.cand == j).collect();
                                let lists: Vec<Vec<i64>> =
                                    es.iter().map(|e| e.values.clone()).collect();
                                for combo in combos(&lists) {
                                    let vals: Vec<(usize, usize, String, i64)> = es
                                        .iter()
                                        .zip(combo)
                                        .map(|(e, v)| (e.cand, e.op, e.arg.clone(), v))
                                        .collect();
                                    let mut scratch = Net::new(shape);
                                    let end = Self::push_layer(
                                        &mut scratch,
                                        st,
                                        l,
                                        j,
                                        0,
                                        cout,
                                        &vals,
                                        None,
                                    )?;
                                    results.insert((shape_key(scratch.nodes[end].shape), j));
                                }
                            }
                            let distinct: BTreeSet<_> = results.iter().map(|r| r.0).collect();
                            if distinct.len() > 1 {
                                let desc: Vec<String> = results
                                    .iter()
                                    .map(|(s, j)| format!("candidate {j} gives {}", unkey(*s)))
                                    .collect();
                                return Err(IrError::Shape {
                                    path: format!("{}.layer{l}", st.name),
                                    message: format!("the candidates disagree on the output shape: {}", desc.join(", ")),
                                    help: "every candidate of a layer must produce the stage's channels and stride".into(),
                                });
                            }
                            shape = unkey(*distinct.iter().next().unwrap_or(&state));
                            if st.depths.contains(&(l + 1)) {
                                next.insert(shape_key(shape));
                            }
                        }
                    }
                }
                states = next;
            }
            for state in states {
                let shape = unkey(state);
                let mut net = Net::new(shape);
                let end = Self::stem_head(
                    &mut net,
                    &spec.head,
                    &Self::head_prefix(info, shape.channels()),
                    spec.classes,
                    0,
                )?;
                Self::check_output(&net, end, spec.classes)?;
            }
        }
        Ok(())
    }
}
