//! The final architecture drawn as SVG from the IR (no plotting crate): a chain as a column of layer
//! boxes (op, output shape, params, MACs; searched layers show the option chosen), a cell space as
//! the DAG of each searched (or fixed) cell type.

use std::fmt::Write;

use super::html::short_label;
use super::html::{esc, group, si};
use crate::catalog::signature;
use crate::cost::op_cost;
use crate::ir::spec::seq_label;
use crate::ir::{Arch, Net, NetKind, Op, SearchSpace, Shape, SpaceSpec};

/// One box of a chain drawing: the ops of one layer (or of the stem, or the head).
#[derive(Debug, Clone, PartialEq)]
pub struct LayerBox {
    /// `stem`, `s1.layer0`, `head`.
    pub name: String,
    /// When the layer is searched: which option was chosen (`option 2 of 3`) and its full label.
    pub chosen: Option<String>,
    pub label: Option<String>,
    pub ops: Vec<String>,
    pub out: Shape,
    pub params: u64,
    pub macs: u64,
}

/// A short label of a resolved op: `conv 3x3 /2 → 64`.
pub fn op_label(op: &Op, input: Shape, output: Shape) -> String {
    let sig = signature(op.kind);
    let has = |n: &str| sig.params.iter().any(|p| p.name == n);
    let mut s = sig.name.to_string();
    if has("kernel") {
        let _ = write!(s, " {}x{}", op.kernel, op.kernel);
    }
    if has("stride") && op.stride > 1 {
        let _ = write!(s, " /{}", op.stride);
    }
    if has("expand") && op.expand > 1 {
        let _ = write!(s, " e{}", op.expand);
    }
    if has("out") && output.channels() != input.channels() {
        let _ = write!(s, " \u{2192}{}", output.channels());
    }
    s
}

/// The layer a node path belongs to: the path without its op index and the candidate/channel tags
/// (`s1.layer0.cand1.c32_32.2` → `s1.layer0`).
fn layer_key(path: &str) -> String {
    let mut parts: Vec<&str> = path.split('.').collect();
    if parts.len() > 1 && parts.last().is_some_and(|p| p.parse::<usize>().is_ok()) {
        parts.pop();
    }
    parts
        .into_iter()
        .filter(|p| !is_tag(p))
        .collect::<Vec<_>>()
        .join(".")
}

/// A weight-sharing tag in a path: `cand1` (the candidate), `c32_64` or `c64` (channel counts).
fn is_tag(seg: &str) -> bool {
    let digits = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit() || c == '_');
    seg.strip_prefix("cand").is_some_and(digits) || seg.strip_prefix('c').is_some_and(digits)
}

/// The layer boxes of a chain network, in order.
pub fn chain_layers(space: &SearchSpace, net: &Net) -> Vec<LayerBox> {
    let mut out: Vec<LayerBox> = Vec::new();
    for n in &net.nodes {
        let NetKind::Op(op) = &n.kind else { continue };
        let input = n
            .inputs
            .first()
            .map(|&i| net.nodes[i].shape)
            .unwrap_or(n.shape);
        let cost = op_cost(op, input, n.shape);
        let key = layer_key(&n.path);
        let dec = n
            .choice
            .and_then(|(d, o)| Some((space.decisions.get(d)?, o)));
        let chosen = dec.map(|(d, o)| format!("option {} of {}", o + 1, d.labels.len()));
        let full = dec.and_then(|(d, o)| Some(format!("{} = {}", d.path, d.labels.get(o)?)));
        let label = op_label(op, input, n.shape);
        match out.last_mut() {
            Some(b) if b.name == key => {
                b.ops.push(label);
                b.out = n.shape;
                b.params += cost.params;
                b.macs += cost.macs;
                if b.chosen.is_none() {
                    b.chosen = chosen;
                    b.label = full;
                }
            }
            _ => out.push(LayerBox {
                name: key,
                chosen,
                label: full,
                ops: vec![label],
                out: n.shape,
                params: cost.params,
                macs: cost.macs,
            }),
        }
    }
    out
}

fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n - 1).collect();
        t.push('\u{2026}');
        t
    }
}

/// A chain as a column of boxes from the input down to the logits.
pub fn chain_svg(input: Shape, layers: &[LayerBox]) -> String {
    const W: usize = 620;
    const BOX_H: usize = 50;
    const GAP: usize = 16;
    let h = 40 + layers.len() * (BOX_H + GAP) + 10;
    let mut s = String::new();
    let _ = write!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"arch\" width=\"{W}\" height=\"{h}\" viewBox=\"0 0 {W} {h}\" font-family=\"sans-serif\">\
         <defs><marker id=\"ah\" markerWidth=\"8\" markerHeight=\"8\" refX=\"4\" refY=\"4\" orient=\"auto\"><path d=\"M0,0 L8,4 L0,8 z\" fill=\"#777\"/></marker></defs>\
         <rect width=\"{W}\" height=\"{h}\" fill=\"#fff\"/>"
    );
    let x = 20;
    let bw = W - 40;
    let mut y = 10;
    let _ = write!(
        s,
        "<rect x=\"{x}\" y=\"{y}\" width=\"{bw}\" height=\"30\" rx=\"6\" fill=\"#eef1f6\" stroke=\"#9aa3b5\"/>\
         <text x=\"{}\" y=\"{}\" font-size=\"13\" font-weight=\"bold\">input</text>\
         <text x=\"{}\" y=\"{}\" font-size=\"12\" text-anchor=\"end\">{}</text>",
        x + 10,
        y + 20,
        x + bw - 10,
        y + 20,
        esc(&input.to_string())
    );
    y += 30;
    for l in layers {
        let _ = write!(
            s,
            "<line x1=\"{c}\" y1=\"{y}\" x2=\"{c}\" y2=\"{}\" stroke=\"#777\" stroke-width=\"1.5\" marker-end=\"url(#ah)\"/>",
            y + GAP - 2,
            c = W / 2
        );
        y += GAP;
        let (fill, stroke) = if l.chosen.is_some() {
            ("#e8f0fd", "#2f6fde")
        } else {
            ("#f7f7f9", "#9aa3b5")
        };
        let title = match &l.chosen {
            Some(c) => format!("{}  \u{b7} searched, {}", l.name, c),
            None => l.name.clone(),
        };
        let tip = l.label.clone().unwrap_or_else(|| l.ops.join(" "));
        let _ = write!(
            s,
            "<g class=\"layer\"><title>{}</title><rect x=\"{x}\" y=\"{y}\" width=\"{bw}\" height=\"{BOX_H}\" rx=\"6\" fill=\"{fill}\" stroke=\"{stroke}\" stroke-width=\"1.5\"/>\
             <text x=\"{}\" y=\"{}\" font-size=\"13\" font-weight=\"bold\">{}</text>\
             <text x=\"{}\" y=\"{}\" font-size=\"12\" fill=\"#333\">{}</text>\
             <text x=\"{}\" y=\"{}\" font-size=\"12\" text-anchor=\"end\">{}</text>\
             <text x=\"{}\" y=\"{}\" font-size=\"11.5\" text-anchor=\"end\" fill=\"#555\">{} params \u{b7} {} MACs</text></g>",
            esc(&tip),
            x + 10,
            y + 19,
            esc(&clip(&title, 58)),
            x + 10,
            y + 38,
            esc(&clip(&l.ops.join(" \u{b7} "), 62)),
            x + bw - 10,
            y + 19,
            esc(&l.out.to_string()),
            x + bw - 10,
            y + 38,
            esc(&group(l.params)),
            esc(&si(l.macs as f64)),
        );
        y += BOX_H;
    }
    s.push_str("</svg>");
    s
}

/// One edge of a cell drawing: from node (0, 1 the inputs; 2.. the intermediate nodes) into an
/// intermediate node (0-based), with its op.
#[derive(Debug, Clone, PartialEq)]
pub struct CellEdgeView {
    pub from: usize,
    pub to: usize,
    pub op: String,
}

/// The edges of each cell type of an architecture (`normal`, `reduce`), zero/none edges left out,
/// and the intermediate nodes (0-based) its output reads: every one, or with an input choice
/// (`node_inputs`) the loose ends, those no node reads.
pub type CellView = (String, usize, Vec<CellEdgeView>, Vec<usize>);

/// The drawing of each cell type of an architecture (see `CellView`).
pub fn cell_edges(space: &SearchSpace, arch: &Arch) -> Vec<CellView> {
    let SpaceSpec::Cell(spec) = &space.spec else {
        return vec![];
    };
    let picks = space.arch_indices(arch).unwrap_or_default();
    let mut out: Vec<CellView> = Vec::new();
    let chosen = |d: usize| picks.get(d).copied().flatten();
    for pc in space.pick_cells() {
        let mut edges = Vec::new();
        let mut read = vec![false; pc.nodes.len()];
        for (to, (ins, ops)) in pc.nodes.iter().enumerate() {
            for (&din, &dop) in ins.iter().zip(ops) {
                let (Some(from), Some(o)) = (chosen(din), chosen(dop)) else {
                    continue;
                };
                if from >= pc.inputs {
                    read[from - pc.inputs] = true;
                }
                let label = &space.decisions[dop].labels[o];
                if matches!(label.as_str(), "none" | "zero" | "none()" | "zero()") {
                    continue;
                }
                edges.push(CellEdgeView {
                    from,
                    to,
                    op: short_label(label),
                });
            }
        }
        let loose = (0..pc.nodes.len()).filter(|&m| !read[m]).collect();
        out.push((pc.cell.to_string(), pc.nodes.len(), edges, loose));
    }
    if !out.is_empty() {
        return out;
    }
    for cell in ["normal", "reduce"] {
        let fixed = if cell == "normal" {
            &spec.normal
        } else {
            &spec.reduce
        };
        let mut edges = Vec::new();
        if let Some(g) = fixed {
            for (to, ins) in g.nodes.iter().enumerate() {
                for e in ins {
                    edges.push(CellEdgeView {
                        from: e.from,
                        to,
                        op: short_label(&seq_label(std::slice::from_ref(&e.op))),
                    });
                }
            }
        } else {
            for e in space.cell_edges().into_iter().filter(|e| e.cell == cell) {
                let Some(Some(o)) = picks.get(e.decision) else {
                    continue;
                };
                let label = space.decisions[e.decision].labels[*o].clone();
                if matches!(label.as_str(), "none" | "zero" | "none()" | "zero()") {
                    continue;
                }
                edges.push(CellEdgeView {
                    from: e.from,
                    to: e.node,
                    op: short_label(&label),
                });
            }
        }
        out.push((
            cell.to_string(),
            spec.nodes,
            edges,
            (0..spec.nodes).collect(),
        ));
    }
    out
}

/// A cell as a DAG: the two inputs on the left, the intermediate nodes left to right, the output
/// (of the intermediate nodes in `outputs`) on the right; each edge labelled with its op.
pub fn cell_svg(title: &str, nodes: usize, edges: &[CellEdgeView], outputs: &[usize]) -> String {
    let col = 150.0;
    let w = (170.0 + col * (nodes as f64 + 1.0)) as usize;
    let h = 300usize;
    let pos = |i: usize| -> (f64, f64) {
        match i {
            0 => (60.0, 80.0),
            1 => (60.0, 220.0),
            n => (
                170.0 + col * (n - 2) as f64 + 40.0,
                if (n - 2) % 2 == 0 { 110.0 } else { 190.0 },
            ),
        }
    };
    let out_pos = (w as f64 - 60.0, 150.0);
    let id: String = title
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let mut s = String::new();
    let _ = write!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"cell\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" font-family=\"sans-serif\">\
         <defs><marker id=\"ah-{id}\" markerWidth=\"8\" markerHeight=\"8\" refX=\"8\" refY=\"4\" orient=\"auto\"><path d=\"M0,0 L8,4 L0,8 z\" fill=\"#666\"/></marker></defs>\
         <rect width=\"{w}\" height=\"{h}\" fill=\"#fff\"/>\
         <text x=\"10\" y=\"20\" font-size=\"14\" font-weight=\"bold\">{}</text>",
        esc(title),
    );
    let r = 22.0;
    let arrow = |s: &mut String, a: (f64, f64), b: (f64, f64), dashed: bool| {
        let (dx, dy) = (b.0 - a.0, b.1 - a.1);
        let len = (dx * dx + dy * dy).sqrt().max(1.0);
        let (ax, ay) = (a.0 + dx / len * r, a.1 + dy / len * r);
        let (bx, by) = (b.0 - dx / len * (r + 2.0), b.1 - dy / len * (r + 2.0));
        let _ = write!(
            s,
            "<line x1=\"{ax:.1}\" y1=\"{ay:.1}\" x2=\"{bx:.1}\" y2=\"{by:.1}\" stroke=\"#666\" stroke-width=\"1.4\"{} marker-end=\"url(#ah-{})\"/>",
            if dashed {
                " stroke-dasharray=\"4 3\""
            } else {
                ""
            },
            id
        );
    };
    for e in edges {
        arrow(&mut s, pos(e.from), pos(e.to + 2), false);
    }
    for &n in outputs.iter().filter(|&&n| n < nodes) {
        arrow(&mut s, pos(n + 2), out_pos, true);
    }
    // Labels after the lines so that they sit on top.
    for (k, e) in edges.iter().enumerate() {
        let (a, b) = (pos(e.from), pos(e.to + 2));
        let t = 0.5 + 0.12 * ((k % 3) as f64 - 1.0);
        let (mx, my) = (a.0 + (b.0 - a.0) * t, a.1 + (b.1 - a.1) * t);
        let label = clip(&e.op, 32);
        let lw = 6.5 * label.chars().count() as f64 + 8.0;
        let _ = write!(
            s,
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{lw:.1}\" height=\"15\" rx=\"3\" fill=\"#fffbe6\" stroke=\"#d8c98a\"/>\
             <text x=\"{mx:.1}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"middle\">{}</text>",
            mx - lw / 2.0,
            my - 8.0,
            my + 3.5,
            esc(&label)
        );
    }
    let node = |s: &mut String, p: (f64, f64), label: &str, fill: &str| {
        let _ = write!(
            s,
            "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"{r}\" fill=\"{fill}\" stroke=\"#555\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" font-size=\"12\" text-anchor=\"middle\">{}</text>",
            p.0,
            p.1,
            p.0,
            p.1 + 4.0,
            esc(label)
        );
    };
    node(&mut s, pos(0), "c[k-2]", "#dfe9fb");
    node(&mut s, pos(1), "c[k-1]", "#dfe9fb");
    for n in 0..nodes {
        node(&mut s, pos(n + 2), &n.to_string(), "#f2f2f2");
    }
    node(&mut s, out_pos, "c[k]", "#dff3e6");
    s.push_str("</svg>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::driver;

    const CHAIN: &str = r#"
space net = chain(input: [1, 28, 28], classes: 10) {
  stem conv(3, out: 16, stride: 2) bn relu
  layers out: 16, stride: 1, repeat: 2, choose [conv(3) bn relu, conv(5) bn relu, skip]
  head global_avg_pool linear(out: classes)
}
"#;

    fn space(text: &str) -> SearchSpace {
        let front = driver::check_text("t.nas", text);
        assert!(!front.checked.has_errors(), "{:?}", front.checked.diags);
        front.spaces.into_iter().next().unwrap().1
    }

    #[test]
    fn layer_keys_drop_op_index_and_tags() {
        assert_eq!(layer_key("stem.2"), "stem");
        assert_eq!(layer_key("s1.layer0.cand1.2"), "s1.layer0");
        assert_eq!(layer_key("s1.layer0.cand1.c32_64.0"), "s1.layer0");
        assert_eq!(layer_key("head"), "head");
        assert_eq!(layer_key("head.c64.1"), "head");
        assert_eq!(layer_key("cell0.node1.edge2.0"), "cell0.node1.edge2");
    }

    #[test]
    fn chain_layers_sum_to_the_architecture_cost() {
        let sp = space(CHAIN);
        let dec: Vec<String> = sp.decisions.iter().map(|d| d.path.clone()).collect();
        let mut arch = Arch::default();
        arch.choices
            .insert(dec[0].clone(), crate::ir::Pick::Index(1));
        arch.choices
            .insert(dec[1].clone(), crate::ir::Pick::Index(2));
        let net = sp.net(&arch).unwrap();
        let layers = chain_layers(&sp, &net);
        let cost = crate::cost::arch_cost(&sp, &arch).unwrap();
        assert_eq!(layers.iter().map(|l| l.params).sum::<u64>(), cost.params);
        assert_eq!(layers.iter().map(|l| l.macs).sum::<u64>(), cost.macs);
        let names: Vec<&str> = layers.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names.first(), Some(&"stem"), "{names:?}");
        assert_eq!(names.last(), Some(&"head"), "{names:?}");
        assert_eq!(layers.len(), 4, "{names:?}");
        // The searched layers say what was chosen; the first is a 5x5 conv.
        assert_eq!(layers[1].chosen.as_deref(), Some("option 2 of 3"));
        assert!(
            layers[1].label.as_deref().unwrap().contains("kernel: 5"),
            "{:?}",
            layers[1]
        );
        assert_eq!(layers[0].chosen, None, "the stem is fixed");
        assert!(
            layers[1].ops[0].starts_with("conv 5x5"),
            "{:?}",
            layers[1].ops
        );
        assert!(layers[2].ops[0].starts_with("skip"), "{:?}", layers[2].ops);
        assert_eq!(layers[0].out.to_string(), "16x14x14");
        let svg = chain_svg(Shape::Map { c: 1, h: 28, w: 28 }, &layers);
        assert_eq!(svg.matches("<g class=\"layer\">").count(), 4);
        assert!(svg.contains("1x28x28"));
        assert!(svg.contains(&group(layers[1].params)));
    }

    #[test]
    fn cell_svg_draws_each_kept_edge_with_its_op() {
        let edges = vec![
            CellEdgeView {
                from: 0,
                to: 0,
                op: "sep_conv_3x3".into(),
            },
            CellEdgeView {
                from: 1,
                to: 0,
                op: "skip<&>".into(),
            },
            CellEdgeView {
                from: 2,
                to: 1,
                op: "max_pool".into(),
            },
        ];
        let svg = cell_svg("normal cell", 2, &edges, &[0, 1]);
        assert!(svg.contains(">sep_conv_3x3</text>"));
        assert!(svg.contains("skip&lt;&amp;&gt;"));
        // 3 op edges + 2 dashed edges into the output.
        assert_eq!(svg.matches("<line").count(), 5);
        assert_eq!(svg.matches("stroke-dasharray").count(), 2);
        // c[k-2], c[k-1], 2 nodes, the output.
        assert_eq!(svg.matches("<circle").count(), 5);
        // An input-choice cell draws its loose ends alone into the output.
        let loose = cell_svg("normal cell", 2, &edges, &[1]);
        assert_eq!(loose.matches("stroke-dasharray").count(), 1);
    }
}
