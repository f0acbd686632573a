//! The concrete network of one architecture (`Net`): nodes in topological order and their builders.

use super::*;

/// A node of a concrete network.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum NetKind {
    Input,
    Op(Op),
    Sum,
    Concat,
    Output,
}

/// One node of a concrete network; `path` names the weights of an op node (a supernet's instance path),
/// `choice` the (decision, option) that put it there, if any.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NetNode {
    pub path: String,
    pub kind: NetKind,
    pub inputs: Vec<usize>,
    pub shape: Shape,
    pub choice: Option<(usize, usize)>,
}

/// A concrete network in topological order (node 0 is the input, the last the output).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Net {
    pub nodes: Vec<NetNode>,
}

impl Net {
    pub(super) fn new(input: Shape) -> Net {
        Net {
            nodes: vec![NetNode {
                path: "input".into(),
                kind: NetKind::Input,
                inputs: vec![],
                shape: input,
                choice: None,
            }],
        }
    }
    pub(super) fn last(&self) -> usize {
        self.nodes.len() - 1
    }
    pub(super) fn push_op(
        &mut self,
        path: String,
        op: Op,
        from: usize,
        choice: Option<(usize, usize)>,
    ) -> Result<usize, IrError> {
        let shape = out_shape(&op, self.nodes[from].shape, &path)?;
        self.nodes.push(NetNode {
            path,
            kind: NetKind::Op(op),
            inputs: vec![from],
            shape,
            choice,
        });
        Ok(self.last())
    }
    pub(super) fn push_sum(&mut self, path: String, inputs: Vec<usize>) -> Result<usize, IrError> {
        let shape = self.nodes[inputs[0]].shape;
        for &i in &inputs {
            if self.nodes[i].shape != shape {
                return Err(IrError::Shape {
                    path,
                    message: format!(
                        "summed inputs disagree: `{}` is {} but `{}` is {}",
                        self.nodes[inputs[0]].path, shape, self.nodes[i].path, self.nodes[i].shape
                    ),
                    help: "every edge into a node must give the same shape (reduction edges from the cell inputs have stride 2)".into(),
                });
            }
        }
        self.nodes.push(NetNode {
            path,
            kind: NetKind::Sum,
            inputs,
            shape,
            choice: None,
        });
        Ok(self.last())
    }
    pub(super) fn push_concat(
        &mut self,
        path: String,
        inputs: Vec<usize>,
    ) -> Result<usize, IrError> {
        let mut c = 0;
        let first = self.nodes[inputs[0]].shape;
        let (h0, w0) = match first {
            Shape::Map { h, w, .. } => (h, w),
            Shape::Vec { .. } => (0, 0),
        };
        for &i in &inputs {
            match self.nodes[i].shape {
                Shape::Map { c: ci, h, w } if h == h0 && w == w0 => c += ci,
                s => {
                    return Err(IrError::Shape {
                        path,
                        message: format!("cannot concatenate {s} with {first}"),
                        help: "concatenated nodes must have the same spatial size".into(),
                    });
                }
            }
        }
        self.nodes.push(NetNode {
            path,
            kind: NetKind::Concat,
            inputs,
            shape: Shape::Map { c, h: h0, w: w0 },
            choice: None,
        });
        Ok(self.last())
    }
    pub(super) fn push_output(&mut self, from: usize) -> usize {
        let shape = self.nodes[from].shape;
        self.nodes.push(NetNode {
            path: "output".into(),
            kind: NetKind::Output,
            inputs: vec![from],
            shape,
            choice: None,
        });
        self.last()
    }
    /// A network of one op on `input` (input -> op `path` -> output), e.g. to time an op alone; a shape
    /// error if the op does not fit the input.
    pub fn single_op(path: &str, op: Op, input: Shape) -> Result<Net, IrError> {
        let mut net = Net::new(input);
        let end = net.push_op(path.to_string(), op, 0, None)?;
        net.push_output(end);
        Ok(net)
    }
    /// The op nodes with their input shapes.
    pub fn ops(&self) -> impl Iterator<Item = (&NetNode, &Op, Shape)> {
        self.nodes.iter().filter_map(|n| match &n.kind {
            NetKind::Op(op) => Some((n, op, self.nodes[n.inputs[0]].shape)),
            _ => None,
        })
    }
    /// The network as a petgraph DAG (edges from inputs to nodes).
    pub fn to_graph(&self) -> DiGraph<&NetNode, ()> {
        let mut g = DiGraph::new();
        let idx: Vec<NodeIndex> = self.nodes.iter().map(|n| g.add_node(n)).collect();
        for (i, n) in self.nodes.iter().enumerate() {
            for &j in &n.inputs {
                g.add_edge(idx[j], idx[i], ());
            }
        }
        g
    }
}
