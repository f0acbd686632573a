//! Concrete networks of a space: of one architecture, of a mix (several candidates of a layer or edge
//! summed) and of every candidate at once (the supernet's instances).

use super::*;

impl SearchSpace {
    /// Pushes one op sequence (a layer's candidate) onto `net`; the context stride goes to the first op
    /// that takes a stride.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn push_seq(
        net: &mut Net,
        base: &str,
        seq: &[OpCall],
        from: usize,
        out: usize,
        stride: usize,
        picks: &[BTreeMap<String, i64>],
        choice: Option<(usize, usize)>,
    ) -> Result<usize, IrError> {
        let mut cur = from;
        let mut stride_left = stride;
        for (k, call) in seq.iter().enumerate() {
            let s = if has_param(call.kind, "stride") {
                let s = stride_left;
                stride_left = 1;
                s
            } else {
                1
            };
            let path = format!("{base}.{k}");
            let op = Op::resolve(
                call,
                Ctx {
                    out,
                    stride: s,
                    affine: None,
                },
                &picks[k],
                &path,
            )?;
            cur = net.push_op(path, op, cur, choice)?;
        }
        if stride_left > 1 {
            return Err(spec_err(
                base,
                format!(
                    "stride {stride} but no op of `{}` takes a stride",
                    seq_label(seq)
                ),
                "start the candidate with an op that has a stride (conv, mbconv, skip, ...)",
            ));
        }
        Ok(cur)
    }

    pub(super) fn layer_base(
        st: &StageInfo,
        l: usize,
        j: usize,
        cin: usize,
        cout: usize,
    ) -> String {
        let mut base = format!("{}.layer{l}", st.name);
        if st.choose {
            base.push_str(&format!(".cand{j}"));
        }
        if (l == 0 && st.tag0) || (l > 0 && st.tagn) {
            base.push_str(&format!(".c{cin}_{cout}"));
        }
        base
    }

    pub(super) fn stem_head(
        net: &mut Net,
        calls: &[OpCall],
        prefix: &str,
        classes: usize,
        from: usize,
    ) -> Result<usize, IrError> {
        let mut cur = from;
        for (i, call) in calls.iter().enumerate() {
            let c = net.nodes[cur].shape.channels();
            let out = if call.kind == OpKind::Linear {
                classes
            } else {
                c
            };
            let path = format!("{prefix}.{i}");
            let op = Op::resolve(
                call,
                Ctx {
                    out,
                    stride: 1,
                    affine: None,
                },
                &BTreeMap::new(),
                &path,
            )?;
            cur = net.push_op(path, op, cur, None)?;
        }
        Ok(cur)
    }

    pub(super) fn head_prefix(info: &ChainInfo, cin: usize) -> String {
        if info.head_tag {
            format!("head.c{cin}")
        } else {
            "head".into()
        }
    }

    /// Runs one chain layer (candidate `j` with elastic picks) from `from`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn push_layer(
        net: &mut Net,
        st: &StageInfo,
        l: usize,
        j: usize,
        from: usize,
        cout: usize,
        elastic_vals: &[(usize, usize, String, i64)],
        choice: Option<(usize, usize)>,
    ) -> Result<usize, IrError> {
        let cin = net.nodes[from].shape.channels();
        let seq = &st.cands[j];
        let mut picks = vec![BTreeMap::new(); seq.len()];
        for (c, k, arg, v) in elastic_vals {
            if *c == j {
                picks[*k].insert(arg.clone(), *v);
            }
        }
        let base = Self::layer_base(st, l, j, cin, cout);
        let stride = if l == 0 { st.stride } else { 1 };
        Self::push_seq(net, &base, seq, from, cout, stride, &picks, choice)
    }

    pub(super) fn chain_net(&self, pick: &mut Picker) -> Result<Net, IrError> {
        let (spec, info) = self
            .chain()
            .ok_or_else(|| spec_err("space", "not a chain", ""))?;
        let (h, w) = match info.res_dec {
            Some(d) => {
                let r = info.res[pick_one(pick, d)?];
                (r, r)
            }
            None if spec.resolutions.len() == 1 => (info.res[0], info.res[0]),
            None => (spec.input[1], spec.input[2]),
        };
        let mut net = Net::new(Shape::Map {
            c: spec.input[0],
            h,
            w,
        });
        let mut cur = Self::stem_head(&mut net, &spec.stem, "stem", spec.classes, 0)?;
        for st in &info.stages {
            let cout = match st.out_dec {
                Some(d) => st.outs[pick_one(pick, d)?],
                None => st.outs[0],
            };
            let depth = match st.depth_dec {
                Some(d) => st.depths[pick_one(pick, d)?],
                None => st.depths[0],
            };
            for l in 0..depth {
                let layer = &st.layers[l];
                let cands: Vec<(usize, Option<(usize, usize)>)> = match layer.cand_dec {
                    Some(d) => pick(d)?.into_iter().map(|j| (j, Some((d, j)))).collect(),
                    None => vec![(0, None)],
                };
                // Several candidates (a mixed network) run on the same input into a sum; their output
                // shapes agree (`validate_chain`).
                let from = cur;
                let mut ends = vec![];
                for (j, choice) in cands {
                    let mut vals = vec![];
                    for e in layer.elastic.iter().filter(|e| e.cand == j) {
                        let v = e.values[pick_one(pick, e.decision)?];
                        vals.push((e.cand, e.op, e.arg.clone(), v));
                    }
                    ends.push(Self::push_layer(
                        &mut net, st, l, j, from, cout, &vals, choice,
                    )?);
                }
                cur = match ends.as_slice() {
                    [one] => *one,
                    _ => net.push_sum(format!("{}.layer{l}", st.name), ends)?,
                };
            }
        }
        let cin = net.nodes[cur].shape.channels();
        cur = Self::stem_head(
            &mut net,
            &spec.head,
            &Self::head_prefix(info, cin),
            spec.classes,
            cur,
        )?;
        let out = net.push_output(cur);
        Self::check_output(&net, out, spec.classes)?;
        Ok(net)
    }

    pub(super) fn check_output(net: &Net, out: usize, classes: usize) -> Result<(), IrError> {
        if net.nodes[out].shape != (Shape::Vec { n: classes }) {
            return Err(IrError::Shape {
                path: "output".into(),
                message: format!(
                    "the network ends in {} instead of {classes} class scores",
                    net.nodes[out].shape
                ),
                help: "end the head with global_avg_pool and linear (out: classes)".into(),
            });
        }
        Ok(())
    }

    pub(super) fn cell_net(&self, pick: Option<&mut Picker>) -> Result<Net, IrError> {
        let (spec, info) = self
            .cell()
            .ok_or_else(|| spec_err("space", "not a cell space", ""))?;
        let mut pick = pick;
        let c = spec.channels;
        let mut net = Net::new(Shape::Map {
            c: spec.input[0],
            h: spec.input[1],
            w: spec.input[2],
        });
        let conv = OpCall::new(OpKind::Conv)
            .arg("kernel", 3)
            .arg("out", (spec.stem_multiplier * c) as i64);
        let bn = OpCall::new(OpKind::BatchNorm);
        let s = Self::stem_head(&mut net, &[conv, bn], "stem", spec.classes, 0)?;
        if spec.inputs == 1 {
            return Self::single_input_net(net, s, spec, info, pick);
        }
        let (mut s0, mut s1) = (s, s);
        let mut cur = c;
        let mut red_prev = false;
        let ctx = |out: usize, stride: usize| Ctx {
            out,
            stride,
            affine: Some(spec.affine),
        };
        let none = BTreeMap::new();
        for i in 0..spec.cells {
            let red = info.reductions.contains(&i);
            if red {
                cur *= 2;
            }
            let pre0_call = if red_prev {
                OpCall::new(OpKind::FactorizedReduce)
            } else {
                OpCall::new(OpKind::ReluConvBn).arg("kernel", 1)
            };
            let p = format!("cell{i}.pre0");
            let pre0 = net.push_op(
                p.clone(),
                Op::resolve(&pre0_call, ctx(cur, 1), &none, &p)?,
                s0,
                None,
            )?;
            let p = format!("cell{i}.pre1");
            let pre1 = net.push_op(
                p.clone(),
                Op::resolve(
                    &OpCall::new(OpKind::ReluConvBn).arg("kernel", 1),
                    ctx(cur, 1),
                    &none,
                    &p,
                )?,
                s1,
                None,
            )?;
            let mut states = vec![pre0, pre1];
            let ct = if red { &info.reduce } else { &info.normal };
            if let CellType::Pick(nodes) = ct {
                let out = Self::pick_cell(&mut net, spec, i, red, cur, nodes, states, &mut pick)?;
                s0 = s1;
                s1 = out;
                red_prev = red;
                continue;
            }
            let n_nodes = match ct {
                CellType::Search(n) => n.len(),
                CellType::Fixed(g) => g.nodes.len(),
                CellType::Pick(n) => n.len(),
            };
            for n in 0..n_nodes {
                let mut ins = vec![];
                match ct {
                    CellType::Search(nodes) => {
                        for (from, &d) in nodes[n].iter().enumerate() {
                            let stride = if red && from < 2 { 2 } else { 1 };
                            // Several options of an edge (every one for the supernet) all feed the
                            // node's sum.
                            let opts: Vec<usize> = match pick.as_mut() {
                                Some(pk) => pk(d)?,
                                None => (0..spec.candidates.len()).collect(),
                            };
                            for j in opts {
                                let path = format!("cell{i}.node{n}.edge{from}.cand{j}");
                                let op = Op::resolve(
                                    &spec.candidates[j],
                                    ctx(cur, stride),
                                    &none,
                                    &path,
                                )?;
                                ins.push(net.push_op(path, op, states[from], Some((d, j)))?);
                            }
                        }
                    }
                    CellType::Pick(_) => {}
                    CellType::Fixed(g) => {
                        for (e, edge) in g.nodes[n].iter().enumerate() {
                            let stride = if red && edge.from < 2 { 2 } else { 1 };
                            let path = format!("cell{i}.node{n}.edge{e}");
                            let op = Op::resolve(&edge.op, ctx(cur, stride), &none, &path)?;
                            ins.push(net.push_op(path, op, states[edge.from], None)?);
                        }
                    }
                }
                states.push(net.push_sum(format!("cell{i}.node{n}"), ins)?);
            }
            let out = net.push_concat(format!("cell{i}.out"), states[2..].to_vec())?;
            s0 = s1;
            s1 = out;
            red_prev = red;
        }
        let gap = OpCall::new(OpKind::GlobalAvgPool);
        let lin = OpCall::new(OpKind::Linear);
        let end = Self::stem_head(&mut net, &[gap, lin], "head", spec.classes, s1)?;
        let out = net.push_output(end);
        Self::check_output(&net, out, spec.classes)?;
        Ok(net)
    }

    /// Cell `i` of an input-choice space on its preprocessed inputs `states`: each node sums, per
    /// slot, the chosen op (`cell{i}.node{n}.in{s}.from{f}.cand{j}`, weights per slot, source and op
    /// as in ENAS) of the chosen earlier node (stride 2 from a reduction cell's inputs). The output
    /// sums ReLU and a 1x1 convolution (`cell{i}.out.node{m}`) of each loose end, the intermediate
    /// nodes that no slot reads, then BN (`cell{i}.out.bn`): ENAS's concatenation and 1x1
    /// convolution, written per node so that the weights do not depend on which nodes are loose.
    /// Without `pick` (the supernet) every option of every slot runs and every node is a loose end.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn pick_cell(
        net: &mut Net,
        spec: &CellSpec,
        i: usize,
        red: bool,
        cur: usize,
        nodes: &[NodePick],
        mut states: Vec<usize>,
        pick: &mut Option<&mut Picker>,
    ) -> Result<usize, IrError> {
        let ctx = |out: usize, stride: usize| Ctx {
            out,
            stride,
            affine: Some(spec.affine),
        };
        let none = BTreeMap::new();
        let mut read = vec![false; spec.inputs + nodes.len()];
        for (n, np) in nodes.iter().enumerate() {
            let mut ins = vec![];
            for (s, (&din, &dop)) in np.inputs.iter().zip(&np.ops).enumerate() {
                let (froms, opts): (Vec<usize>, Vec<usize>) = match pick.as_mut() {
                    Some(pk) => (pk(din)?, pk(dop)?),
                    None => (
                        (0..spec.inputs + n).collect(),
                        (0..spec.candidates.len()).collect(),
                    ),
                };
                for from in froms {
                    read[from] = true;
                    let stride = if red && from < spec.inputs { 2 } else { 1 };
                    for &j in &opts {
                        let path = pick_edge_path(i, n, s, from, j);
                        let op = Op::resolve(&spec.candidates[j], ctx(cur, stride), &none, &path)?;
                        ins.push(net.push_op(path, op, states[from], Some((dop, j)))?);
                    }
                }
            }
            states.push(net.push_sum(format!("cell{i}.node{n}"), ins)?);
        }
        let relu = OpCall::new(OpKind::Relu);
        let conv = OpCall::new(OpKind::Conv).arg("kernel", 1);
        let mut ends = vec![];
        for m in 0..nodes.len() {
            if pick.is_some() && read[spec.inputs + m] {
                continue;
            }
            let base = pick_out_path(i, m);
            let mut x = states[spec.inputs + m];
            for (k, call) in [&relu, &conv].into_iter().enumerate() {
                let p = format!("{base}.{k}");
                x = net.push_op(
                    p.clone(),
                    Op::resolve(call, ctx(cur, 1), &none, &p)?,
                    x,
                    None,
                )?;
            }
            ends.push(x);
        }
        let sum = net.push_sum(format!("cell{i}.out"), ends)?;
        let p = format!("cell{i}.out.bn");
        let bn = OpCall::new(OpKind::BatchNorm);
        net.push_op(
            p.clone(),
            Op::resolve(&bn, ctx(cur, 1), &none, &p)?,
            sum,
            None,
        )
    }

    /// The network of a single-input (NAS-Bench-201) cell space after its stem `s`: cells whose nodes
    /// sum one edge from every earlier node and whose output is the last node, a residual
    /// `basic_block` of stride 2 doubling the channels before each reduction index, then BN, ReLU,
    /// global pooling and the classifier.
    pub(super) fn single_input_net(
        mut net: Net,
        s: usize,
        spec: &CellSpec,
        info: &CellInfo,
        mut pick: Option<&mut Picker>,
    ) -> Result<Net, IrError> {
        let ctx = |out: usize, stride: usize| Ctx {
            out,
            stride,
            affine: Some(spec.affine),
        };
        let none = BTreeMap::new();
        let mut cur = spec.channels;
        let mut prev = s;
        let CellType::Search(nodes) = &info.normal else {
            return Err(spec_err(
                "inputs",
                "a fixed single-input cell",
                "search the cell",
            ));
        };
        for i in 0..spec.cells {
            if info.reductions.contains(&i) {
                cur *= 2;
                let p = format!("cell{i}.reduce");
                let call = OpCall::new(OpKind::BasicBlock);
                prev = net.push_op(
                    p.clone(),
                    Op::resolve(&call, ctx(cur, 2), &none, &p)?,
                    prev,
                    None,
                )?;
            }
            let mut states = vec![prev];
            for (n, froms) in nodes.iter().enumerate() {
                let mut ins = vec![];
                for (from, &d) in froms.iter().enumerate() {
                    let opts: Vec<usize> = match pick.as_mut() {
                        Some(pk) => pk(d)?,
                        None => (0..spec.candidates.len()).collect(),
                    };
                    for j in opts {
                        let path = format!("cell{i}.node{n}.edge{from}.cand{j}");
                        let op = Op::resolve(&spec.candidates[j], ctx(cur, 1), &none, &path)?;
                        ins.push(net.push_op(path, op, states[from], Some((d, j)))?);
                    }
                }
                states.push(net.push_sum(format!("cell{i}.node{n}"), ins)?);
            }
            prev = *states.last().unwrap_or(&prev);
        }
        let head = [
            OpCall::new(OpKind::BatchNorm),
            OpCall::new(OpKind::Relu),
            OpCall::new(OpKind::GlobalAvgPool),
            OpCall::new(OpKind::Linear),
        ];
        let end = Self::stem_head(&mut net, &head, "head", spec.classes, prev)?;
        let out = net.push_output(end);
        Self::check_output(&net, out, spec.classes)?;
        Ok(net)
    }

    /// The concrete network of an architecture given as option indices (`None` = not chosen; an error
    /// if the network needs it). Also returns which decisions the network used.
    pub fn net_from_choices(&self, choices: &[Option<usize>]) -> Result<(Net, Vec<bool>), IrError> {
        let mut used = vec![false; self.decisions.len()];
        let mut pick = |d: usize| -> Result<Vec<usize>, IrError> {
            used[d] = true;
            let dec = &self.decisions[d];
            match choices.get(d).copied().flatten() {
                Some(o) if o < dec.labels.len() => Ok(vec![o]),
                Some(o) => Err(IrError::BadOption {
                    name: dec.path.clone(),
                    pick: o.to_string(),
                    help: format!(
                        "options are 0..{} ({})",
                        dec.labels.len(),
                        dec.labels.join(" | ")
                    ),
                }),
                None => Err(IrError::MissingDecision {
                    name: dec.path.clone(),
                    help: format!("choose one of: {}", dec.labels.join(" | ")),
                }),
            }
        };
        let net = self.build_net(&mut pick)?;
        Ok((net, used))
    }

    pub(super) fn build_net(&self, pick: &mut Picker) -> Result<Net, IrError> {
        match self.spec {
            SpaceSpec::Chain(_) => self.chain_net(pick),
            SpaceSpec::Cell(_) => self.cell_net(Some(pick)),
        }
    }

    /// The concrete network of a mix: per decision the options it takes (empty = not chosen; an error
    /// if the network needs it). A layer or edge decision may take several options: each candidate
    /// runs on the layer's (edge's) input and their outputs are summed (chains: one `Sum` node named
    /// after the layer; cells: the candidates feed the node's sum). Each candidate's op nodes carry
    /// `choice: Some((decision, option))`. Every other decision takes exactly one option. With one
    /// option everywhere the network is `net_from_choices`'s. Also returns which decisions were used.
    pub fn net_from_mix(&self, options: &[Vec<usize>]) -> Result<(Net, Vec<bool>), IrError> {
        if let Some(d) = (self.decisions.len()..options.len()).find(|&d| !options[d].is_empty()) {
            return Err(IrError::UnknownDecision {
                name: format!("#{d}"),
                help: format!(
                    "this space has {} decisions (0..{})",
                    self.decisions.len(),
                    self.decisions.len()
                ),
            });
        }
        let mut used = vec![false; self.decisions.len()];
        let mut pick = |d: usize| -> Result<Vec<usize>, IrError> {
            used[d] = true;
            let dec = &self.decisions[d];
            let given = options.get(d).map(Vec::as_slice).unwrap_or(&[]);
            if given.is_empty() {
                return Err(IrError::MissingDecision {
                    name: dec.path.clone(),
                    help: format!("take at least one of: {}", dec.labels.join(" | ")),
                });
            }
            let mut opts = given.to_vec();
            opts.sort_unstable();
            if let Some(&o) = opts.iter().find(|&&o| o >= dec.labels.len()) {
                return Err(IrError::BadOption {
                    name: dec.path.clone(),
                    pick: o.to_string(),
                    help: format!(
                        "options are 0..{} ({})",
                        dec.labels.len(),
                        dec.labels.join(" | ")
                    ),
                });
            }
            if let Some(w) = opts.windows(2).find(|w| w[0] == w[1]) {
                return Err(IrError::BadOption {
                    name: dec.path.clone(),
                    pick: format!("{} twice", w[0]),
                    help: "list each option of a decision once".into(),
                });
            }
            let mixable = matches!(dec.kind, DecisionKind::Layer | DecisionKind::Edge);
            if opts.len() > 1 && !mixable {
                let list: Vec<String> = opts.iter().map(|o| o.to_string()).collect();
                return Err(IrError::BadOption {
                    name: dec.path.clone(),
                    pick: format!("{{{}}}", list.join(", ")),
                    help: format!(
                        "a {} decision takes exactly one option; only layer and edge decisions mix several",
                        kind_name(dec.kind)
                    ),
                });
            }
            Ok(opts)
        };
        let net = self.build_net(&mut pick)?;
        Ok((net, used))
    }

    /// The supernet's weight instances: every candidate's ops at their largest (elastic) size, once per
    /// weight path. Cell spaces give one network with every candidate on every edge.
    pub fn supernet_net(&self) -> Result<Net, IrError> {
        match self.spec {
            SpaceSpec::Cell(_) => self.cell_net(None),
            SpaceSpec::Chain(_) => self.chain_instances(),
        }
    }

    /// Chains: a flat list of every weight instance (inputs point at scratch input nodes).
    pub(super) fn chain_instances(&self) -> Result<Net, IrError> {
        let (spec, info) = self
            .chain()
            .ok_or_else(|| spec_err("space", "not a chain", ""))?;
        let r = *info.res.iter().max().unwrap_or(&spec.input[1]);
        let (h, w) = if spec.resolutions.is_empty() {
            (spec.input[1], spec.input[2])
        } else {
            (r, r)
        };
        let mut net = Net::new(Shape::Map {
            c: spec.input[0],
            h,
            w,
        });
        let mut cur = Self::stem_head(&mut net, &spec.stem, "stem", spec.classes, 0)?;
        let mut seen = BTreeSet::new();
        // Shapes entering each stage, per channel count.
        let mut entries: BTreeMap<usize, usize> =
            BTreeMap::from([(net.nodes[cur].shape.channels(), cur)]);
        for st in &info.stages {
            let mut next = BTreeMap::new();
            for (_, &from) in entries.iter() {
                for &cout in &st.outs {
                    let mut x = from;
                    for (l, layer) in st.layers.iter().enumerate() {
                        let mut first = None;
                        for j in 0..st.cands.len() {
                            let choice = layer.cand_dec.map(|d| (d, j));
                            let end = Self::push_layer(&mut net, st, l, j, x, cout, &[], choice)?;
                            first.get_or_insert(end);
                        }
                        x = first.unwrap_or(x);
                    }
                    next.insert(cout, x);
                }
            }
            entries = next;
        }
        for (_, &from) in entries.iter() {
            let cin = net.nodes[from].shape.channels();
            cur = Self::stem_head(
                &mut net,
                &spec.head,
                &Self::head_prefix(info, cin),
                spec.classes,
                from,
            )?;
        }
        // Keep each weight path once (layers > 0 repeat per entry channel); each instance gets its
        // own input node so the list stays a valid network.
        let mut flat = Net { nodes: vec![] };
        for n in &net.nodes {
            if let NetKind::Op(_) = n.kind {
                if !seen.insert(n.path.clone()) {
                    continue;
                }
                let input = net.nodes[n.inputs[0]].shape;
                flat.nodes.push(NetNode {
                    path: format!("{}#in", n.path),
                    kind: NetKind::Input,
                    inputs: vec![],
                    shape: input,
                    choice: None,
                });
                let mut m = n.clone();
                m.inputs = vec![flat.nodes.len() - 1];
                flat.nodes.push(m);
            }
        }
        let _ = cur;
        Ok(flat)
    }
}
