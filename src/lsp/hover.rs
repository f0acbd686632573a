//! Hover texts (Markdown): an op's documentation and parameters from the catalogue, a setting's
//! meaning and accepted values from sema's tables, a chain stage's input/output shapes and
//! params/MACs range, a space's cardinality and params/MACs range (the torch-free IR and cost code).

use std::collections::BTreeSet;
use std::fmt::Write;

use super::index::{Analysis, Range};
use crate::catalog::{self, OpSig};
use crate::cost::{self, Cost, net_cost};
use crate::ir::SearchSpace;
use crate::ir::ops::Shape;
use crate::sema::tables::{self, Sig, Ty};
use crate::source::FileId;
use crate::syntax::ast::DeclKind;

/// The hover text at `offset` of file `file` of `a`, and the range it is about.
pub fn hover(a: &Analysis, file: FileId, offset: usize) -> Option<(String, Range)> {
    let ix = a.files().get(file.0 as usize)?;
    if let Some(inc) = ix.include_at(offset) {
        return Some((
            format!("include `{}`\n\n{}", inc.rel, inc.target.display()),
            inc.span,
        ));
    }
    if let Some(d) = ix.decl_name_at(offset) {
        return Some((decl(a, &d.name)?, d.name_span));
    }
    if let Some(u) = ix.use_at(offset) {
        if a.decl(&u.name).is_some() {
            return Some((decl(a, &u.name)?, u.span));
        }
        let owner = ix.decls.get(u.decl);
        let stage_kind = owner
            .filter(|d| d.kind == DeclKind::Stage)
            .and_then(|d| stage_kind(d.value.as_deref()?));
        if let Some(key) = &u.key
            && let Some(kind) = stage_kind
            && let Some(setting) = tables::settings_for(kind).find(|s| s.key == key)
            && let Some(sig) = call_sig(setting.ty, &u.name)
        {
            return Some((sig_text(key, sig), u.span));
        }
        if u.key.is_none()
            && owner.is_some_and(|d| d.kind == DeclKind::Stage)
            && let Some(kind) = stage_kind
        {
            return Some((stage_kind_text(&u.name, kind), u.span));
        }
        if let Some(op) = catalog::lookup(&u.name) {
            return Some((op_text(op), u.span));
        }
        if tables::METRICS.contains(&u.name.as_str()) {
            return Some((format!("metric `{}`", u.name), u.span));
        }
    }
    if let Some((key, span)) = ix.executor_key_at(offset)
        && let Some(setting) = tables::SLURM_SETTINGS.iter().find(|s| s.key == key)
    {
        return Some((
            format!(
                "`executor slurm` setting `{}`: {}\n\naccepts {} (default: {})",
                setting.key,
                setting.doc,
                setting.ty.describe(),
                setting.default
            ),
            *span,
        ));
    }
    if let Some(k) = ix.key_at(offset)
        && let Some(owner) = ix.decls.get(k.decl)
        && owner.kind == DeclKind::Space
        && owner.value.as_deref() == Some("cell")
        && k.top
        && let Some(setting) = tables::CELL_SETTINGS.iter().find(|s| s.key == k.name)
    {
        return Some((
            format!("cell space setting `{}`: {}", setting.key, setting.doc),
            k.span,
        ));
    }
    if let Some(k) = ix.key_at(offset)
        && let Some(owner) = ix.decls.get(k.decl)
        && owner.kind == DeclKind::Stage
        && k.top
    {
        let kind = stage_kind(owner.value.as_deref()?);
        let setting = tables::SETTINGS.iter().find(|s| s.key == k.name)?;
        let mut t = format!(
            "setting `{}`: {}\n\naccepts {}",
            setting.key,
            setting.doc,
            setting.ty.describe()
        );
        if let Some(kind) = kind
            && !setting.kinds.contains(&kind)
        {
            let _ = write!(
                t,
                "\n\nnot a setting of `{}` stages",
                owner.value.as_deref().unwrap_or("")
            );
        }
        if let Ty::Call(sigs) = setting.ty {
            t.push('\n');
            for s in sigs {
                let _ = write!(t, "\n- `{}`: {}", s.name, s.doc);
            }
        }
        return Some((t, k.span));
    }
    if let Some(k) = ix.chain_stage_at(offset)
        && let Some(owner) = ix.decls.get(k.decl)
        && let Some((_, space)) = a.front.spaces.iter().find(|(n, _)| *n == owner.name)
        && let Some(s) = k.chain_stage
    {
        return Some((chain_stage(space, &owner.name, s)?, k.stmt));
    }
    None
}

fn stage_kind(name: &str) -> Option<crate::sema::hir::StageKind> {
    tables::STAGES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, k)| *k)
}

fn call_sig(ty: Ty, name: &str) -> Option<&'static Sig> {
    match ty {
        Ty::Call(sigs) => sigs.iter().find(|s| s.name == name),
        _ => None,
    }
}

/// An op's documentation and parameter table.
pub fn op_text(op: &OpSig) -> String {
    let mut t = format!("op `{}`: {}\n", op.name, op.doc);
    if !op.aliases.is_empty() {
        let _ = writeln!(
            t,
            "\nalso named {}",
            crate::diag::one_of(op.aliases.iter().copied())
        );
    }
    if !op.params.is_empty() {
        t.push_str("\n| parameter | type | default | meaning |\n|---|---|---|---|\n");
        for (i, p) in op.params.iter().enumerate() {
            let ty = match p.ty {
                catalog::ParamTy::Int => "int".to_string(),
                catalog::ParamTy::Float => "float".to_string(),
                catalog::ParamTy::Bool => "bool".to_string(),
                catalog::ParamTy::Name(ns) => ns.join(" \\| "),
            };
            let default = match p.default {
                catalog::Default::Required => "required".to_string(),
                catalog::Default::Context => "from context".to_string(),
                catalog::Default::Int(v) => v.to_string(),
                catalog::Default::Float(v) => v.to_string(),
                catalog::Default::Bool(v) => v.to_string(),
                catalog::Default::Name(v) => v.to_string(),
            };
            let pos = if i < op.positional {
                " (positional)"
            } else {
                ""
            };
            let _ = writeln!(t, "| `{}`{pos} | {ty} | {default} | {} |", p.name, p.doc);
        }
    }
    t
}

fn sig_text(key: &str, sig: &Sig) -> String {
    let mut t = format!("`{}` ({key}): {}\n", sig.name, sig.doc);
    for p in sig.params {
        let default = p.default;
        let _ = write!(
            t,
            "\n- `{}`: {} (default: {default})",
            p.name,
            p.ty.describe()
        );
    }
    t
}

fn stage_kind_text(name: &str, kind: crate::sema::hir::StageKind) -> String {
    let mut t = format!("stage kind `{name}`; settings:\n");
    for s in tables::settings_for(kind) {
        let _ = write!(t, "\n- `{}`: {} (default: {})", s.key, s.doc, s.default);
    }
    t
}

/// A declaration's hover: its kind and name, and for a built space its size and cost.
fn decl(a: &Analysis, name: &str) -> Option<String> {
    let (file, d) = a.decl(name)?;
    let text = a.text(file);
    let header = text
        .get(d.span.0..d.span.1)
        .and_then(|s| s.lines().next())
        .unwrap_or("")
        .trim_end_matches('{')
        .trim();
    let mut t = format!("```nasl\n{header}\n```\n");
    if d.kind == DeclKind::Space
        && let Some((_, space)) = a.front.spaces.iter().find(|(n, _)| n == name)
    {
        match cost::inspect(space, None) {
            Ok(r) => {
                let _ = write!(
                    t,
                    "\n{} space, {} decisions, {} architectures\n\nparams {} .. {} (supernet {})\n\nMACs {} .. {}",
                    r.kind,
                    r.decisions,
                    r.cardinality,
                    r.cost.params.min,
                    r.cost.params.max,
                    r.cost.supernet_params,
                    r.cost.macs.min,
                    r.cost.macs.max
                );
            }
            Err(e) => {
                let _ = write!(t, "\n{e}");
            }
        }
    }
    Some(t)
}

fn shape_text(s: Shape) -> String {
    match s {
        Shape::Map { c, h, w } => format!("{c}×{h}×{w}"),
        Shape::Vec { n } => format!("{n}"),
    }
}

fn key(s: Shape) -> (usize, usize, usize, bool) {
    match s {
        Shape::Map { c, h, w } => (c, h, w, true),
        Shape::Vec { n } => (n, 0, 0, false),
    }
}

/// Stage `s` of a chain space: the shapes its layers take in and give out over every architecture,
/// and the range of its params and MACs (min and max over candidates, channel counts and depths).
pub fn chain_stage(space: &SearchSpace, name: &str, s: usize) -> Option<String> {
    let walk = space.chain_walk()?;
    if s >= walk.stages() {
        return None;
    }
    let mut shapes: Vec<Shape> = Vec::new();
    for input in walk.inputs() {
        let stem = walk.stem(input).ok()?;
        shapes.push(stem.nodes.last().map(|n| n.shape).unwrap_or(input));
    }
    for st in 0..=s {
        let mut next: Vec<Shape> = Vec::new();
        let (mut lo, mut hi) = (
            Cost {
                params: u64::MAX,
                macs: u64::MAX,
            },
            Cost::default(),
        );
        let max_depth = walk.depths(st).iter().copied().max().unwrap_or(1);
        for &input in &shapes {
            for &cout in walk.outs(st) {
                let mut shape = input;
                let (mut acc_lo, mut acc_hi) = (Cost::default(), Cost::default());
                for l in 0..max_depth {
                    let opts = walk.layer_options(st, l, shape, cout).ok()?;
                    let costs: Vec<Cost> = opts.iter().map(net_cost).collect();
                    acc_lo.params += costs.iter().map(|c| c.params).min().unwrap_or(0);
                    acc_lo.macs += costs.iter().map(|c| c.macs).min().unwrap_or(0);
                    acc_hi.params += costs.iter().map(|c| c.params).max().unwrap_or(0);
                    acc_hi.macs += costs.iter().map(|c| c.macs).max().unwrap_or(0);
                    if let Some(last) = opts.first().and_then(|n| n.nodes.last()) {
                        shape = last.shape;
                    }
                    if walk.depths(st).contains(&(l + 1)) {
                        next.push(shape);
                        lo.params = lo.params.min(acc_lo.params);
                        lo.macs = lo.macs.min(acc_lo.macs);
                        hi.params = hi.params.max(acc_hi.params);
                        hi.macs = hi.macs.max(acc_hi.macs);
                    }
                }
            }
        }
        let mut seen = BTreeSet::new();
        next.retain(|s| seen.insert(key(*s)));
        if st == s {
            let list = |v: &[Shape]| {
                v.iter()
                    .map(|s| shape_text(*s))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let depths: Vec<String> = walk.depths(st).iter().map(|d| d.to_string()).collect();
            return Some(format!(
                "stage {} of `{name}`: {} layer(s)\n\ninput {} → output {}\n\nparams {} .. {}\n\nMACs {} .. {}",
                s + 1,
                depths.join(" or "),
                list(&shapes),
                list(&next),
                lo.params,
                hi.params,
                lo.macs,
                hi.macs
            ));
        }
        shapes = next;
    }
    None
}
