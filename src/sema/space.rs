//! Spaces and blocks: chain spaces, DAG cell spaces and fixed cells (genotypes) per SPACE_MODEL.md.
//! Op calls are checked against `catalog`; blocks are expanded with their arguments; channels and
//! spatial sizes are followed through chains and cell stacks; fixed cells are checked as DAGs.

use super::Cx;
use super::hir::*;
use super::values::Env;
use crate::catalog::{self, Default as CDefault, OpKind, ParamTy};
use crate::diag::{Code, Diagnostic, did_you_mean, one_of};
use crate::source::Span;
use crate::syntax::ast::{Decl, DeclKind, Expr, ExprKind, Stmt, Term};

/// How deep blocks may expand into blocks.
const MAX_BLOCK_DEPTH: usize = 16;

/// Where an op sits: what `Context` arguments mean there, and whether list arguments (elastic) are allowed.
#[derive(Clone, Copy)]
struct OpCx {
    elastic: bool,
}

/// The shape flowing through a network: channels (None: not known statically), spatial size, vector.
#[derive(Clone, Copy, Debug)]
struct Shape {
    c: Option<u32>,
    h: u32,
    vector: bool,
}

impl Cx<'_> {
    pub(super) fn check_block(&mut self, d: &Decl) {
        if d.params.is_none() && d.value.is_empty() {
            self.err(
                Diagnostic::new(
                    Code::SemaMissing,
                    d.span,
                    format!("block `{}` has no ops", d.name.name),
                )
                .label("empty block")
                .help("write `block NAME(params) = op(...) op ...`"),
            );
        }
    }

    /// Resolves a sequence of op calls (ops and blocks), e.g. a stem or one candidate.
    fn ops(&mut self, e: &Expr, env: &Env, ocx: OpCx, depth: usize) -> Option<Vec<OpCall>> {
        match self.op_budget {
            0 => return None,
            1 => {
                self.op_budget = 0;
                self.err(
                    Diagnostic::new(
                        Code::SemaOutOfRange,
                        e.span,
                        format!(
                            "the spaces expand into more than {} op calls",
                            super::MAX_OPS
                        ),
                    )
                    .label("expansion stopped here")
                    .help(
                        "blocks that repeat other blocks multiply; flatten them or use `repeat:`",
                    ),
                );
                return None;
            }
            _ => self.op_budget -= 1,
        }
        let e = self.resolve(e, env).clone();
        match &e.kind {
            ExprKind::Seq(items) => {
                let mut out = Vec::new();
                let mut ok = true;
                for i in items {
                    match self.ops(i, env, ocx, depth) {
                        Some(v) => out.extend(v),
                        None => ok = false,
                    }
                }
                ok.then_some(out)
            }
            _ => {
                let Some((name, args)) = e.as_callish() else {
                    self.wrong_type(
                        &e,
                        "an op call such as `conv(3, out: 16)` or `skip`",
                        "an op",
                    );
                    return None;
                };
                if let Some(sig) = catalog::lookup(&name.name) {
                    return self.op(sig, e.span, args, env, ocx).map(|o| vec![o]);
                }
                if let Some(block) = self.blocks.get(&name.name).cloned() {
                    self.used.insert(name.name.clone());
                    if depth >= MAX_BLOCK_DEPTH {
                        self.err(Diagnostic::new(Code::SemaRecursiveBlock, name.span, format!("blocks nest more than {MAX_BLOCK_DEPTH} levels deep at `{}`: does it expand into itself?", name.name)).label("expansion does not end").help("a block may use other blocks, but not itself, directly or indirectly"));
                        return None;
                    }
                    let params = block.params.clone().unwrap_or_default();
                    let mut inner = Env::new();
                    let mut pos = 0;
                    let mut ok = true;
                    for t in args {
                        match t {
                            Term::Pos(v) => {
                                match params.get(pos) {
                                    Some(p) => {
                                        inner.insert(p.name.clone(), self.resolve(v, env).clone());
                                    }
                                    None => {
                                        self.err(
                                            Diagnostic::new(
                                                Code::SemaBadArguments,
                                                v.span,
                                                format!(
                                                    "block `{}` takes {} argument{}",
                                                    name.name,
                                                    params.len(),
                                                    if params.len() == 1 { "" } else { "s" }
                                                ),
                                            )
                                            .label("one too many")
                                            .help(
                                                format!(
                                                    "`{}` is declared with ({})",
                                                    name.name,
                                                    params
                                                        .iter()
                                                        .map(|p| p.name.as_str())
                                                        .collect::<Vec<_>>()
                                                        .join(", ")
                                                ),
                                            ),
                                        );
                                        ok = false;
                                    }
                                }
                                pos += 1;
                            }
                            Term::Named(n, v) => {
                                if params.iter().any(|p| p.name == n.name) {
                                    inner.insert(n.name.clone(), self.resolve(v, env).clone());
                                } else {
                                    let help = did_you_mean(
                                        &n.name,
                                        params.iter().map(|p| p.name.as_str()),
                                    )
                                    .unwrap_or_else(|| {
                                        format!(
                                            "its parameters: {}",
                                            one_of(params.iter().map(|p| p.name.as_str()))
                                        )
                                    });
                                    self.err(
                                        Diagnostic::new(
                                            Code::SemaUnknownArgument,
                                            n.span,
                                            format!(
                                                "block `{}` has no parameter `{}`",
                                                name.name, n.name
                                            ),
                                        )
                                        .label("unknown parameter")
                                        .help(help),
                                    );
                                    ok = false;
                                }
                            }
                        }
                    }
                    for p in &params {
                        if !inner.contains_key(&p.name) {
                            self.err(
                                Diagnostic::new(
                                    Code::SemaMissing,
                                    e.span,
                                    format!("block `{}` needs `{}`", name.name, p.name),
                                )
                                .label(format!("`{}` not given", p.name))
                                .note(p.span, "parameter declared here")
                                .help(format!(
                                    "pass it: `{}({})`",
                                    name.name,
                                    params
                                        .iter()
                                        .map(|p| p.name.as_str())
                                        .collect::<Vec<_>>()
                                        .join(", ")
                                )),
                            );
                            ok = false;
                        }
                    }
                    if !ok {
                        return None;
                    }
                    let mut out = Vec::new();
                    for t in &block.value {
                        match t {
                            Term::Pos(v) => match self.ops(v, &inner, ocx, depth + 1) {
                                Some(o) => out.extend(o),
                                None => ok = false,
                            },
                            Term::Named(n, _) => {
                                self.err(
                                    Diagnostic::new(
                                        Code::SemaWrongType,
                                        n.span,
                                        "a block is a sequence of ops",
                                    )
                                    .label("not an op")
                                    .help("write `block b(k) = conv(kernel: k) bn relu`"),
                                );
                                ok = false;
                            }
                        }
                    }
                    return ok.then_some(out);
                }
                let blocks: Vec<String> = self.blocks.keys().cloned().collect();
                let mut cands: Vec<&str> = catalog::all_names().collect();
                cands.extend(blocks.iter().map(String::as_str));
                let help = did_you_mean(&name.name, cands).unwrap_or_else(|| {
                    "see docs/language.md for the op catalogue, or declare a `block`".into()
                });
                let what = if self
                    .names
                    .get(&name.name)
                    .is_some_and(|n| n.kind != DeclKind::Block)
                {
                    format!("`{}` is not an op or a block", name.name)
                } else {
                    format!("unknown op `{}`", name.name)
                };
                self.err(
                    Diagnostic::new(Code::SemaUnknownOp, name.span, what)
                        .label("no op or block of this name")
                        .help(help),
                );
                None
            }
        }
    }

    /// Checks one catalogue op call.
    fn op(
        &mut self,
        sig: &'static catalog::OpSig,
        span: Span,
        args: &[Term],
        env: &Env,
        ocx: OpCx,
    ) -> Option<OpCall> {
        let mut vals: Vec<Option<Arg>> = vec![None; sig.params.len()];
        let mut ok = true;
        let mut pos = 0;
        for t in args {
            let (idx, v) = match t {
                Term::Named(n, v) => match sig.params.iter().position(|p| p.name == n.name) {
                    Some(i) => (i, v),
                    None => {
                        let help = did_you_mean(&n.name, sig.params.iter().map(|p| p.name))
                            .unwrap_or_else(|| {
                                if sig.params.is_empty() {
                                    format!("`{}` takes no arguments", sig.name)
                                } else {
                                    format!(
                                        "`{}` takes {}",
                                        sig.name,
                                        one_of(sig.params.iter().map(|p| p.name))
                                    )
                                }
                            });
                        self.err(
                            Diagnostic::new(
                                Code::SemaUnknownArgument,
                                n.span,
                                format!("`{}` has no argument `{}`", sig.name, n.name),
                            )
                            .label("unknown argument")
                            .help(help),
                        );
                        ok = false;
                        continue;
                    }
                },
                Term::Pos(v) => {
                    let rv = self.resolve(v, env);
                    if let Some(i) = rv.as_name().and_then(|n| {
                        sig.params
                            .iter()
                            .position(|p| p.name == n.name && p.ty == ParamTy::Bool)
                    }) {
                        vals[i] = Some(Arg::Bool(true));
                        continue;
                    }
                    if pos >= sig.positional {
                        let help = match sig.params.get(sig.positional) {
                            Some(p) => format!("name the argument, e.g. `{}: ...`", p.name),
                            None => format!("`{}` takes no arguments", sig.name),
                        };
                        self.err(
                            Diagnostic::new(
                                Code::SemaBadArguments,
                                v.span,
                                format!(
                                    "`{}` takes {} positional argument{}",
                                    sig.name,
                                    sig.positional,
                                    if sig.positional == 1 { "" } else { "s" }
                                ),
                            )
                            .label("one too many")
                            .help(help),
                        );
                        ok = false;
                        continue;
                    }
                    pos += 1;
                    (pos - 1, v)
                }
            };
            if vals[idx].is_some() {
                self.err(
                    Diagnostic::new(
                        Code::SemaBadArguments,
                        t.span(),
                        format!("argument `{}` is given twice", sig.params[idx].name),
                    )
                    .label("again here")
                    .help("give each argument once"),
                );
                ok = false;
                continue;
            }
            let v = self.resolve(v, env).clone();
            match self.op_arg(sig, &sig.params[idx], &v, ocx) {
                Some(a) => vals[idx] = Some(a),
                None => ok = false,
            }
        }
        let mut out = Vec::new();
        for (p, v) in sig.params.iter().zip(vals) {
            let a = match (v, p.default) {
                (Some(a), _) => a,
                (None, CDefault::Required) => {
                    self.err(
                        Diagnostic::new(
                            Code::SemaMissing,
                            span,
                            format!("`{}` needs `{}`", sig.name, p.name),
                        )
                        .label(format!("`{}` missing", p.name))
                        .help(format!("add `{}: ...` ({})", p.name, p.doc)),
                    );
                    ok = false;
                    continue;
                }
                (None, CDefault::Context) => Arg::Context,
                (None, CDefault::Int(i)) => Arg::Int(i),
                (None, CDefault::Float(f)) => Arg::Float(f),
                (None, CDefault::Bool(b)) => Arg::Bool(b),
                (None, CDefault::Name(n)) => Arg::Name(n.into()),
            };
            out.push((p.name.to_string(), a));
        }
        ok.then_some(OpCall {
            kind: sig.kind,
            args: out,
            span,
        })
    }

    fn op_arg(
        &mut self,
        sig: &catalog::OpSig,
        p: &catalog::Param,
        v: &Expr,
        ocx: OpCx,
    ) -> Option<Arg> {
        let what = format!("`{}` of `{}`", p.name, sig.name);
        if let ExprKind::List(items) = &v.kind {
            if !ocx.elastic || p.ty != ParamTy::Int || p.name == "stride" {
                self.err(Diagnostic::new(Code::SemaWrongType, v.span, format!("{what} cannot be a list here")).label("a list makes an elastic argument").help("elastic (list-valued) arguments are allowed for whole-number op arguments other than `stride`, in the layers of a chain stage"));
                return None;
            }
            if items.is_empty() {
                self.out_of_range(v, &what, "an elastic argument needs at least one value");
                return None;
            }
            let vs: Vec<Option<Arg>> = items
                .iter()
                .map(|i| self.op_arg(sig, p, i, OpCx { elastic: false }))
                .collect();
            return vs.into_iter().collect::<Option<Vec<_>>>().map(Arg::Choices);
        }
        match p.ty {
            ParamTy::Int => {
                let min = if matches!(
                    p.name,
                    "dilation" | "kernel" | "out" | "stride" | "groups" | "expand"
                ) {
                    1
                } else {
                    0
                };
                self.int(v, min, &what).map(Arg::Int)
            }
            ParamTy::Float => {
                let f = self.float(v, &what)?;
                if p.name == "p" {
                    if !(0.0..=1.0).contains(&f) {
                        self.out_of_range(v, &what, "a probability is between 0 and 1");
                        return None;
                    }
                    if f >= 1.0 {
                        self.err(Diagnostic::new(Code::SemaSuspicious, v.span, format!("{what} is {f}: everything is dropped")).label("suspicious").help("a dropout probability of 1 zeroes every activation; typical values are 0.1 to 0.5"));
                    }
                }
                Some(Arg::Float(f))
            }
            ParamTy::Bool => match v.kind {
                ExprKind::Bool(b) => Some(Arg::Bool(b)),
                _ => {
                    self.wrong_type(v, "`true` or `false`", &what);
                    None
                }
            },
            ParamTy::Name(names) => match v.as_name() {
                Some(n) if names.contains(&n.name.as_str()) => Some(Arg::Name(n.name.clone())),
                _ => {
                    let help = v
                        .as_name()
                        .and_then(|n| did_you_mean(&n.name, names.iter().copied()))
                        .unwrap_or_else(|| format!("use {}", one_of(names.iter().copied())));
                    self.err(
                        Diagnostic::new(
                            Code::SemaUnknownValue,
                            v.span,
                            format!("{what} must be {}", one_of(names.iter().copied())),
                        )
                        .label("not a known value")
                        .help(help),
                    );
                    None
                }
            },
        }
    }

    /// Checks a space declaration.
    pub(super) fn space(&mut self, d: &Decl) -> Option<Space> {
        let kinds = ["chain", "cell", "genotype"];
        let Some(Term::Pos(head)) = d.value.first() else {
            self.err(
                Diagnostic::new(
                    Code::SemaWrongType,
                    d.name.span,
                    "a space is `chain(...)`, `cell(...)` or `genotype(...)`",
                )
                .label("missing kind")
                .help("write `space net = chain(input: [1, 28, 28], classes: 10) { ... }`"),
            );
            return None;
        };
        let Some((kind, args)) = head.as_callish() else {
            self.wrong_type(
                head,
                "`chain(...)`, `cell(...)` or `genotype(...)`",
                "a space",
            );
            return None;
        };
        if !kinds.contains(&kind.name.as_str()) {
            let help = did_you_mean(&kind.name, kinds)
                .unwrap_or_else(|| "use `chain`, `cell` or `genotype`".into());
            self.err(
                Diagnostic::new(
                    Code::SemaUnknownValue,
                    kind.span,
                    format!("unknown space kind `{}`", kind.name),
                )
                .label("not a space kind")
                .help(help),
            );
            return None;
        }
        if d.value.len() > 1 {
            self.err(
                Diagnostic::new(
                    Code::SemaWrongType,
                    d.value[1].span(),
                    "a space takes one kind call",
                )
                .label("unexpected")
                .help("put settings in the body `{ ... }`"),
            );
        }
        let mut env = Env::new();
        for t in args {
            match t {
                Term::Named(n, v) => {
                    env.insert(n.name.clone(), v.clone());
                }
                Term::Pos(v) => {
                    self.err(
                        Diagnostic::new(
                            Code::SemaBadArguments,
                            v.span,
                            format!("`{}` takes named arguments only", kind.name),
                        )
                        .label("unnamed")
                        .help("write e.g. `input: [1, 28, 28]`"),
                    );
                }
            }
        }
        let body = d.body.clone().unwrap_or_default();
        let sb = match kind.name.as_str() {
            "chain" => self.chain(d, args, &env, &body).map(SpaceBody::Chain),
            "cell" => self.cell(d, args, &env, &body).map(SpaceBody::Cell),
            _ => self.genotype(d, args, &env, &body).map(SpaceBody::Genotype),
        }?;
        Some(Space {
            name: d.name.name.clone(),
            body: sb,
            span: d.span,
        })
    }

    fn allowed_args(&mut self, args: &[Term], allowed: &[&str], kind: &str) {
        for t in args {
            if let Term::Named(n, _) = t
                && !allowed.contains(&n.name.as_str())
            {
                let help = did_you_mean(&n.name, allowed.iter().copied()).unwrap_or_else(|| {
                    format!("`{kind}` takes {}", one_of(allowed.iter().copied()))
                });
                self.err(
                    Diagnostic::new(
                        Code::SemaUnknownArgument,
                        n.span,
                        format!("`{kind}` has no argument `{}`", n.name),
                    )
                    .label("unknown argument")
                    .help(help),
                );
            }
        }
    }

    fn unknown_setting(&mut self, s: &Stmt, allowed: &[&str], context: &str) {
        let help = did_you_mean(&s.key.name, allowed.iter().copied())
            .unwrap_or_else(|| format!("{context} takes {}", one_of(allowed.iter().copied())));
        self.err(
            Diagnostic::new(
                Code::SemaUnknownSetting,
                s.key.span,
                format!("`{}` is not a setting of {context}", s.key.name),
            )
            .label("unknown here")
            .help(help),
        );
    }

    fn shape3(&mut self, e: Option<&Expr>, span: Span, what: &str) -> Option<[u32; 3]> {
        let Some(e) = e else {
            self.err(
                Diagnostic::new(
                    Code::SemaMissing,
                    span,
                    format!("{what} needs `input: [C, H, W]`"),
                )
                .label("no input shape")
                .help("add e.g. `input: [1, 28, 28]`"),
            );
            return None;
        };
        match &e.kind {
            ExprKind::List(items) if items.len() == 3 => {
                let v: Vec<Option<i64>> = items
                    .iter()
                    .map(|i| self.int(i, 1, "an input dimension"))
                    .collect();
                let v: Vec<i64> = v.into_iter().collect::<Option<_>>()?;
                let cl = |x: i64| u32::try_from(x).unwrap_or(u32::MAX);
                Some([cl(v[0]), cl(v[1]), cl(v[2])])
            }
            _ => {
                self.wrong_type(e, "a shape `[C, H, W]`", "`input`");
                None
            }
        }
    }

    fn u32_of(
        &mut self,
        e: Option<&Expr>,
        min: i64,
        span: Span,
        what: &str,
        default: Option<u32>,
    ) -> Option<u32> {
        match e {
            Some(e) => self
                .int(e, min, what)
                .map(|v| u32::try_from(v).unwrap_or(u32::MAX)),
            None => {
                if default.is_none() {
                    self.err(
                        Diagnostic::new(Code::SemaMissing, span, format!("missing {what}"))
                            .label(format!("{what} not given"))
                            .help(format!("add `{what}: ...`")),
                    );
                }
                default
            }
        }
    }

    fn u32_list(&mut self, e: &Expr, min: i64, what: &str) -> Option<Vec<u32>> {
        let items: Vec<&Expr> = match &e.kind {
            ExprKind::List(items) => items.iter().collect(),
            ExprKind::Range(a, b) => {
                let lo = self.int(a, min, what)?;
                let hi = self.int(b, min, what)?;
                if hi < lo || hi - lo > 64 {
                    self.out_of_range(e, what, "a range must go up and hold at most 65 values");
                    return None;
                }
                return Some((lo..=hi).map(|x| x as u32).collect());
            }
            _ => vec![e],
        };
        if items.is_empty() {
            self.out_of_range(e, what, "needs at least one value");
            return None;
        }
        let v: Vec<Option<i64>> = items.iter().map(|i| self.int(i, min, what)).collect();
        v.into_iter()
            .map(|x| x.map(|y| u32::try_from(y).unwrap_or(u32::MAX)))
            .collect()
    }

    fn chain(&mut self, d: &Decl, args: &[Term], env: &Env, body: &[Stmt]) -> Option<Chain> {
        self.allowed_args(args, &["input", "classes"], "chain");
        let input = self.shape3(env.get("input"), d.name.span, "a chain");
        let classes = self.u32_of(env.get("classes"), 1, d.name.span, "classes", None);
        let mut ok = input.is_some() && classes.is_some();
        let input = input.unwrap_or([1, 1, 1]);
        let classes = classes.unwrap_or(1);
        let mut stem = Vec::new();
        let mut head = Vec::new();
        let mut stages = Vec::new();
        let mut resolutions = Vec::new();
        let mut shape = Shape {
            c: Some(input[0]),
            h: input[1].min(input[2]),
            vector: false,
        };
        let mut head_span = None;
        for s in body {
            match s.key.name.as_str() {
                "stem" | "head" => {
                    let is_head = s.key.name == "head";
                    let mut ops = Vec::new();
                    for t in &s.terms {
                        match t {
                            Term::Pos(e) => match self.ops(e, env, OpCx { elastic: false }, 0) {
                                Some(v) => ops.extend(v),
                                None => ok = false,
                            },
                            Term::Named(n, _) => {
                                self.err(
                                    Diagnostic::new(
                                        Code::SemaWrongType,
                                        n.span,
                                        format!("`{}` is a sequence of ops", s.key.name),
                                    )
                                    .label("not an op")
                                    .help("write e.g. `stem conv(3, out: 16) bn relu`"),
                                );
                                ok = false;
                            }
                        }
                    }
                    if is_head {
                        head_span = Some(s.span);
                        head = ops;
                    } else {
                        stem = ops;
                    }
                }
                "resolution" => match s.terms.first() {
                    Some(Term::Pos(e)) => match self.u32_list(e, 1, "a resolution") {
                        Some(v) => resolutions = v,
                        None => ok = false,
                    },
                    _ => {
                        self.err(
                            Diagnostic::new(
                                Code::SemaMissing,
                                s.span,
                                "`resolution` needs a list of sizes",
                            )
                            .label("no sizes")
                            .help("write e.g. `resolution [128, 160, 192, 224]`"),
                        );
                        ok = false;
                    }
                },
                "layers" => match self.chain_stage(s, env) {
                    Some(st) => stages.push((st, s.span)),
                    None => ok = false,
                },
                // The chain segment was written `stage` before `stage` meant pipeline stages alone.
                "stage" => {
                    self.err(
                        Diagnostic::new(
                            Code::SemaUnknownSetting,
                            s.key.span,
                            "a chain's group of layers is written `layers`",
                        )
                        .label("`stage` names pipeline stages only")
                        .help("rename it: `layers out: 32, stride: 2, repeat: 2, choose [a, b]`"),
                    );
                    ok = false;
                }
                _ => {
                    self.unknown_setting(
                        s,
                        &["stem", "layers", "head", "resolution"],
                        "a chain space",
                    );
                    ok = false;
                }
            }
        }
        if !ok {
            return None;
        }
        if let Some(min) = resolutions.iter().min() {
            shape.h = *min;
        }
        // Follow the shape: stem, stages, head.
        let stem_ok = self.flow(&stem, &mut shape, None, 1, true);
        for (st, span) in &stages {
            let out = st.out.iter().max().copied();
            let before = shape;
            if st.stride > 1 && before.h < st.stride {
                self.err(
                    Diagnostic::new(
                        Code::SemaSpatialTooSmall,
                        *span,
                        format!(
                            "the feature map is {}x{} here; stride {} shrinks it below 1 pixel",
                            before.h, before.h, st.stride
                        ),
                    )
                    .label("this stage downsamples too far")
                    .help("remove a stride-2 stage, use `stride: 1`, or a larger input resolution"),
                );
                ok = false;
                continue;
            }
            let candidates: Vec<&Vec<OpCall>> = match &st.layer {
                Layer::Fixed(ops) => vec![ops],
                Layer::Choose(c) => c.iter().collect(),
            };
            let mut after = before;
            for (li, stride) in [(0, st.stride), (1, 1)] {
                if li == 1 && st.repeat.iter().max().copied().unwrap_or(1) < 2 {
                    break;
                }
                for ops in &candidates {
                    let mut sh = if li == 0 { before } else { after };
                    if !self.flow(ops, &mut sh, out, stride, false) {
                        ok = false;
                        continue;
                    }
                    if st.out.len() == 1 && sh.c.is_some() && sh.c != out && !sh.vector {
                        let last = ops.last().map(|o| o.span).unwrap_or(*span);
                        self.err(Diagnostic::new(Code::SemaShapeMismatch, last, format!("this layer ends with {} channels but the stage's `out` is {}", sh.c.unwrap_or(0), out.unwrap_or(0))).label("channel mismatch").note(*span, "stage declared here").help("drop the explicit `out:` of the op so it takes the stage's, or end the layer with an op that produces the stage's channels"));
                        ok = false;
                    }
                    after = Shape {
                        c: out.or(sh.c),
                        h: sh.h,
                        vector: sh.vector,
                    };
                }
            }
            shape = Shape {
                c: if st.out.len() == 1 { out } else { None },
                ..after
            };
        }
        let head_ok = self.flow(&head, &mut shape, None, 1, true);
        if stem_ok
            && head_ok
            && let Some(span) = head_span
        {
            if !shape.vector {
                self.err(
                    Diagnostic::new(
                        Code::SemaShapeMismatch,
                        span,
                        "the head does not end with a vector of class scores",
                    )
                    .label("still a feature map")
                    .help("end the head with `global_avg_pool linear(out: classes)`"),
                );
                ok = false;
            } else if let Some(c) = shape.c
                && c != classes
            {
                self.err(
                    Diagnostic::new(
                        Code::SemaShapeMismatch,
                        span,
                        format!("the network ends with {c} outputs but `classes` is {classes}"),
                    )
                    .label("wrong number of outputs")
                    .help("use `linear(out: classes)`"),
                );
                ok = false;
            }
        } else if head_span.is_none() {
            self.err(
                Diagnostic::new(Code::SemaMissing, d.name.span, "a chain needs a `head`")
                    .label("no head")
                    .help("add `head global_avg_pool linear(out: classes)`"),
            );
            ok = false;
        }
        ok &= stem_ok && head_ok;
        ok.then(|| Chain {
            input,
            resolutions,
            classes,
            stem,
            stages: stages.into_iter().map(|(s, _)| s).collect(),
            head,
        })
    }

    /// Follows the shape through fixed ops; `out`/`stride` are the context values (None: must be explicit).
    fn flow(
        &mut self,
        ops: &[OpCall],
        sh: &mut Shape,
        out: Option<u32>,
        stride: u32,
        explicit: bool,
    ) -> bool {
        let mut first = true;
        for op in ops {
            let int = |n: &str| match op.arg(n) {
                Some(Arg::Int(i)) => Some(Some(u32::try_from(*i).unwrap_or(u32::MAX))),
                Some(Arg::Choices(_)) => Some(None),
                _ => None,
            };
            let s = match int("stride") {
                Some(Some(s)) => s,
                Some(None) => 1,
                None => {
                    if first {
                        stride
                    } else {
                        1
                    }
                }
            };
            let o = match int("out") {
                Some(o) => o,
                None => out,
            };
            let sig = catalog::signature(op.kind);
            let makes_channels = sig.params.iter().any(|p| p.name == "out");
            if op.kind == OpKind::Linear {
                if !sh.vector {
                    self.err(
                        Diagnostic::new(
                            Code::SemaShapeMismatch,
                            op.span,
                            "`linear` needs a vector but gets a feature map",
                        )
                        .label("feature map here")
                        .help("put `global_avg_pool` before `linear`"),
                    );
                    return false;
                }
                sh.c = o.or(if explicit { None } else { sh.c });
                continue;
            }
            if sh.vector
                && !matches!(
                    op.kind,
                    OpKind::Dropout
                        | OpKind::Relu
                        | OpKind::Relu6
                        | OpKind::HSwish
                        | OpKind::Swish
                        | OpKind::Sigmoid
                )
            {
                self.err(
                    Diagnostic::new(
                        Code::SemaShapeMismatch,
                        op.span,
                        format!("`{}` needs a feature map but gets a vector", sig.name),
                    )
                    .label("after global_avg_pool")
                    .help("move it before `global_avg_pool`"),
                );
                return false;
            }
            if op.kind == OpKind::GlobalAvgPool {
                sh.vector = true;
                sh.h = 1;
                continue;
            }
            if makes_channels && explicit && matches!(op.arg("out"), Some(Arg::Context)) {
                self.err(
                    Diagnostic::new(
                        Code::SemaMissing,
                        op.span,
                        format!("`{}` in a stem or head needs `out:`", sig.name),
                    )
                    .label("no stage gives its channels here")
                    .help("add `out: N`"),
                );
                return false;
            }
            let s = if op.kind == OpKind::FactorizedReduce {
                2
            } else {
                s
            };
            if sig.params.iter().any(|p| p.name == "stride") || op.kind == OpKind::FactorizedReduce
            {
                if s > 1 && sh.h < s {
                    self.err(Diagnostic::new(Code::SemaSpatialTooSmall, op.span, format!("the feature map is {}x{} here; stride {s} shrinks it below 1 pixel", sh.h, sh.h)).label("downsamples too far").help("use stride 1 here or a larger input"));
                    return false;
                }
                sh.h = sh.h.div_ceil(s.max(1));
            }
            if makes_channels {
                sh.c = o;
            }
            if let (Some(c), Some(Arg::Int(g))) = (sh.c, op.arg("groups"))
                && *g > 0
                && c % (*g as u32) != 0
            {
                self.err(
                    Diagnostic::new(
                        Code::SemaShapeMismatch,
                        op.span,
                        format!("{c} channels cannot be split into {g} groups"),
                    )
                    .label("groups do not divide the channels")
                    .help("choose `groups` dividing the channel count"),
                );
                return false;
            }
            first = false;
        }
        true
    }

    fn chain_stage(&mut self, s: &Stmt, env: &Env) -> Option<ChainStage> {
        let mut out = None;
        let mut stride = 1;
        let mut repeat = vec![1];
        let mut layer = None;
        let mut ok = true;
        for t in &s.terms {
            match t {
                Term::Named(n, v) => {
                    let v = self.resolve(v, env).clone();
                    match n.name.as_str() {
                        "out" => out = self.u32_list(&v, 1, "`out` of a stage"),
                        "stride" => match self.int(&v, 1, "`stride` of a stage") {
                            Some(x) => stride = u32::try_from(x).unwrap_or(u32::MAX),
                            None => ok = false,
                        },
                        "repeat" => match self.u32_list(&v, 1, "`repeat` of a stage") {
                            Some(r) => repeat = r,
                            None => ok = false,
                        },
                        _ => {
                            let help = did_you_mean(&n.name, ["out", "stride", "repeat"])
                                .unwrap_or_else(|| {
                                    "a stage takes `out`, `stride` and `repeat`".into()
                                });
                            self.err(
                                Diagnostic::new(
                                    Code::SemaUnknownArgument,
                                    n.span,
                                    format!("a stage has no argument `{}`", n.name),
                                )
                                .label("unknown argument")
                                .help(help),
                            );
                            ok = false;
                        }
                    }
                }
                Term::Pos(e) => {
                    let e = self.resolve(e, env).clone();
                    let l = if let ExprKind::Choose(cands) = &e.kind {
                        if layer.is_some() {
                            None
                        } else {
                            let mut v = Vec::new();
                            for c in cands {
                                match self.ops(c, env, OpCx { elastic: true }, 0) {
                                    Some(o) => v.push(o),
                                    None => ok = false,
                                }
                            }
                            if cands.is_empty() {
                                self.out_of_range(&e, "`choose`", "needs at least one candidate");
                                ok = false;
                            }
                            Some(Layer::Choose(v))
                        }
                    } else {
                        match (&mut layer, self.ops(&e, env, OpCx { elastic: true }, 0)) {
                            (Some(Layer::Fixed(ops)), Some(more)) => {
                                ops.extend(more);
                                continue;
                            }
                            (None, Some(ops)) => Some(Layer::Fixed(ops)),
                            (_, None) => {
                                ok = false;
                                continue;
                            }
                            _ => None,
                        }
                    };
                    match l {
                        Some(l) => layer = Some(l),
                        None => {
                            self.err(
                                Diagnostic::new(
                                    Code::SemaWrongType,
                                    e.span,
                                    "a stage's layer is either fixed ops or one `choose [...]`",
                                )
                                .label("second layer description")
                                .help(
                                    "write `layers out: 32, stride: 2, repeat: 2, choose [a, b]`",
                                ),
                            );
                            ok = false;
                        }
                    }
                }
            }
        }
        let Some(out) = out else {
            if ok {
                self.err(
                    Diagnostic::new(Code::SemaMissing, s.span, "a stage needs `out`")
                        .label("no output channels")
                        .help("add `out: 32` (or a list of channel choices)"),
                );
            }
            return None;
        };
        let Some(layer) = layer else {
            self.err(
                Diagnostic::new(
                    Code::SemaMissing,
                    s.span,
                    "a stage needs its layers: ops or `choose [...]`",
                )
                .label("no layers")
                .help("add e.g. `choose [mbconv(3, 3), skip]`"),
            );
            return None;
        };
        ok.then_some(ChainStage {
            out,
            stride,
            repeat,
            layer,
        })
    }

    /// A cell space's `network`; `stem_default` is the stem multiplier when none is written (3 for
    /// DARTS's two-input cells, 1 for NAS-Bench-201's single-input cells).
    fn network(&mut self, s: &Stmt, stem_default: u32) -> Option<CellNetwork> {
        let allowed = [
            "cells",
            "channels",
            "reduce_at",
            "input",
            "classes",
            "stem_multiplier",
            "auxiliary",
        ];
        let mut env = Env::new();
        for t in &s.terms {
            match t {
                Term::Named(n, v) if allowed.contains(&n.name.as_str()) => {
                    env.insert(n.name.clone(), v.clone());
                }
                Term::Named(..) => {}
                Term::Pos(v) => {
                    self.err(
                        Diagnostic::new(
                            Code::SemaBadArguments,
                            v.span,
                            "`network` takes named values",
                        )
                        .label("unnamed")
                        .help("write e.g. `network cells: 8, channels: 16`"),
                    );
                }
            }
        }
        self.allowed_args(&s.terms, &allowed, "network");
        let cells = self.u32_of(env.get("cells"), 1, s.span, "cells", None);
        let channels = self.u32_of(env.get("channels"), 1, s.span, "channels", None);
        let input = self.shape3(env.get("input"), s.span, "`network`");
        let classes = self.u32_of(env.get("classes"), 1, s.span, "classes", None);
        let stem_multiplier = self.u32_of(
            env.get("stem_multiplier"),
            1,
            s.span,
            "stem_multiplier",
            Some(stem_default),
        );
        let auxiliary = env
            .get("auxiliary")
            .and_then(|e| self.float(e, "auxiliary"));
        let mut reduce_at = vec![1.0 / 3.0, 2.0 / 3.0];
        if let Some(e) = env.get("reduce_at") {
            match &e.kind {
                ExprKind::List(items) => {
                    let v: Vec<Option<f64>> =
                        items.iter().map(|i| self.float(i, "`reduce_at`")).collect();
                    reduce_at = v.into_iter().collect::<Option<_>>()?;
                    if let Some(bad) = items
                        .iter()
                        .zip(&reduce_at)
                        .find(|(_, f)| !(**f > 0.0 && **f < 1.0))
                    {
                        self.out_of_range(
                            bad.0,
                            "`reduce_at`",
                            "a fraction of the depth, strictly between 0 and 1",
                        );
                        return None;
                    }
                }
                _ => {
                    self.wrong_type(e, "a list of fractions like `[1/3, 2/3]`", "`reduce_at`");
                    return None;
                }
            }
        }
        let net = CellNetwork {
            cells: cells?,
            channels: channels?,
            reduce_at,
            input: input?,
            classes: classes?,
            stem_multiplier: stem_multiplier?,
            auxiliary,
        };
        let mut h = net.input[1].min(net.input[2]);
        for _ in &net.reduce_at {
            if h < 2 {
                self.err(Diagnostic::new(Code::SemaSpatialTooSmall, s.span, format!("the feature map is {h}x{h} before a reduction cell; stride 2 shrinks it below 1 pixel")).label("too many reductions for this input").help("use fewer `reduce_at` positions or a larger input"));
                return None;
            }
            h = h.div_ceil(2);
        }
        Some(net)
    }

    fn cell(&mut self, d: &Decl, args: &[Term], env: &Env, body: &[Stmt]) -> Option<CellSpace> {
        self.allowed_args(args, &["nodes", "inputs"], "cell");
        let nodes = self.u32_of(env.get("nodes"), 1, d.name.span, "nodes", Some(4));
        let inputs = self.u32_of(env.get("inputs"), 1, d.name.span, "inputs", Some(2));
        let mut ops = None;
        let mut network = None;
        let mut node_inputs = None;
        let mut ok = true;
        for s in body {
            match s.key.name.as_str() {
                "ops" => match s.terms.first() {
                    Some(Term::Pos(Expr {
                        kind: ExprKind::List(items),
                        ..
                    })) => {
                        let mut v = Vec::new();
                        for i in items {
                            match self.ops(i, env, OpCx { elastic: false }, 0) {
                                Some(o) if o.len() == 1 => v.extend(o),
                                Some(_) => {
                                    self.err(Diagnostic::new(Code::SemaWrongType, i.span, "each candidate of a cell edge is one op").label("a sequence").help("declare a catalogue op, or use a chain space for sequences"));
                                    ok = false;
                                }
                                None => ok = false,
                            }
                        }
                        if v.is_empty() && ok {
                            self.err(
                                Diagnostic::new(
                                    Code::SemaMissing,
                                    s.span,
                                    "a cell space needs candidate ops",
                                )
                                .label("empty list")
                                .help("list the candidate ops of every edge"),
                            );
                            ok = false;
                        }
                        ops = Some(v);
                    }
                    _ => {
                        self.err(
                            Diagnostic::new(
                                Code::SemaWrongType,
                                s.span,
                                "`ops` needs a list of ops",
                            )
                            .label("not a list")
                            .help("write `ops [sep_conv(3), skip, none]`"),
                        );
                        ok = false;
                    }
                },
                "node_inputs" => {
                    node_inputs = self.node_inputs(s, inputs);
                    ok &= node_inputs.is_some();
                }
                "network" => {
                    network = self.network(s, if inputs == Some(1) { 1 } else { 3 });
                    ok &= network.is_some();
                }
                _ => {
                    let keys: Vec<&str> =
                        super::tables::CELL_SETTINGS.iter().map(|s| s.key).collect();
                    self.unknown_setting(s, &keys, "a cell space");
                    ok = false;
                }
            }
        }
        if ops.is_none() && ok {
            self.err(
                Diagnostic::new(
                    Code::SemaMissing,
                    d.name.span,
                    "a cell space needs `ops [...]`",
                )
                .label("no candidate ops")
                .help("add `ops [sep_conv(3), sep_conv(5), skip, none]`"),
            );
            ok = false;
        }
        if network.is_none() && ok {
            self.err(
                Diagnostic::new(
                    Code::SemaMissing,
                    d.name.span,
                    "a cell space needs `network ...`",
                )
                .label("no network")
                .help("add `network cells: 8, channels: 16, input: [3, 32, 32], classes: 10`"),
            );
            ok = false;
        }
        if !ok {
            return None;
        }
        Some(CellSpace {
            nodes: nodes?,
            inputs: inputs?,
            ops: ops?,
            node_inputs,
            network: network?,
        })
    }

    /// `node_inputs k` of a cell space (see `tables::CELL_SETTINGS`): `1 <= k <= inputs`, the
    /// earlier nodes node 0 can read, in a two-input cell.
    fn node_inputs(&mut self, s: &Stmt, inputs: Option<u32>) -> Option<u32> {
        let e = match s.terms.as_slice() {
            [Term::Pos(e)] => e,
            _ => {
                self.err(
                    Diagnostic::new(
                        Code::SemaWrongType,
                        s.span,
                        "`node_inputs` needs one whole number",
                    )
                    .label("not one number")
                    .help("write `node_inputs 2`: each node reads two chosen earlier nodes (ENAS)"),
                );
                return None;
            }
        };
        let k = u32::try_from(self.int(e, 1, "`node_inputs`")?).unwrap_or(u32::MAX);
        let inputs = inputs?;
        if inputs != 2 {
            self.err(
                Diagnostic::new(
                    Code::SemaOutOfRange,
                    s.span,
                    format!("`node_inputs` in a cell with {inputs} input"),
                )
                .label("input choice needs two cell inputs")
                .help("write `cell(nodes: N, inputs: 2)`: the ENAS/DARTS skeleton, whose output is the loose ends"),
            );
            return None;
        }
        if k > inputs {
            self.err(
                Diagnostic::new(
                    Code::SemaOutOfRange,
                    e.span,
                    format!("`node_inputs {k}` but the first node has only {inputs} earlier nodes to read"),
                )
                .label(format!("more than {inputs}"))
                .help(format!("write `node_inputs` between 1 and {inputs} (ENAS: 2)")),
            );
            return None;
        }
        Some(k)
    }

    fn genotype(&mut self, d: &Decl, args: &[Term], env: &Env, body: &[Stmt]) -> Option<Genotype> {
        self.allowed_args(args, &["inputs"], "genotype");
        let inputs = self.u32_of(env.get("inputs"), 1, d.name.span, "inputs", Some(2))?;
        let (mut normal, mut reduce, mut network) = (None, None, None);
        let mut ok = true;
        for s in body {
            match s.key.name.as_str() {
                "normal" | "reduce" => {
                    let c = self.fixed_cell(s, inputs, env);
                    ok &= c.is_some();
                    if s.key.name == "normal" {
                        normal = c
                    } else {
                        reduce = c
                    }
                }
                "network" => {
                    network = self.network(s, 3);
                    ok &= network.is_some();
                }
                _ => {
                    self.unknown_setting(s, &["normal", "reduce", "network"], "a genotype");
                    ok = false;
                }
            }
        }
        if ok {
            for (what, v) in [
                ("normal", normal.is_some()),
                ("reduce", reduce.is_some()),
                ("network", network.is_some()),
            ] {
                if !v {
                    self.err(Diagnostic::new(Code::SemaMissing, d.name.span, format!("a genotype needs `{what}`")).label(format!("no `{what}`")).help("a genotype has `normal { node ... }`, `reduce { node ... }` and `network ...`"));
                    ok = false;
                }
            }
        }
        if !ok {
            return None;
        }
        Some(Genotype {
            inputs,
            normal: normal?,
            reduce: reduce?,
            network: network?,
        })
    }

    fn fixed_cell(&mut self, s: &Stmt, inputs: u32, env: &Env) -> Option<FixedCell> {
        let Some(body) = &s.body else {
            self.err(
                Diagnostic::new(
                    Code::SemaMissing,
                    s.span,
                    format!("`{}` needs a body of nodes", s.key.name),
                )
                .label("no body")
                .help("write `normal { node (sep_conv(3), 0), (skip, 1) ... }`"),
            );
            return None;
        };
        let mut nodes: Vec<(Vec<Edge>, Span, Vec<Span>)> = Vec::new();
        let mut concat: Option<(Vec<u32>, Span)> = None;
        let mut ok = true;
        for st in body {
            match st.key.name.as_str() {
                "node" => {
                    let me = inputs + nodes.len() as u32;
                    let mut edges = Vec::new();
                    let mut spans = Vec::new();
                    for t in &st.terms {
                        let e = match t {
                            Term::Pos(e) => e,
                            Term::Named(n, _) => {
                                self.err(
                                    Diagnostic::new(
                                        Code::SemaWrongType,
                                        n.span,
                                        "an edge is `(op, from)`",
                                    )
                                    .label("not an edge")
                                    .help("write `node (sep_conv(3), 0), (skip, 1)`"),
                                );
                                ok = false;
                                continue;
                            }
                        };
                        let ExprKind::Tuple(parts) = &e.kind else {
                            self.wrong_type(e, "an edge `(op, from)`", "an edge");
                            ok = false;
                            continue;
                        };
                        if parts.len() != 2 {
                            self.wrong_type(e, "an edge `(op, from)`", "an edge");
                            ok = false;
                            continue;
                        }
                        let op = self.ops(&parts[0], env, OpCx { elastic: false }, 0);
                        let from = self.int(&parts[1], 0, "the source node of an edge");
                        let (Some(mut op), Some(from)) = (op, from) else {
                            ok = false;
                            continue;
                        };
                        let from = u32::try_from(from).unwrap_or(u32::MAX);
                        if from >= me {
                            self.err(Diagnostic::new(Code::SemaDagCycle, parts[1].span, format!("node {me} reads node {from}, which is not earlier")).label(if from == me { "an edge into itself".to_string() } else { "a forward edge makes a cycle".to_string() }).help(format!("nodes are numbered inputs 0..{} then intermediate nodes; node {me} may read nodes 0..{}", inputs.saturating_sub(1), me.saturating_sub(1))));
                            ok = false;
                            continue;
                        }
                        if op.len() != 1 {
                            self.err(
                                Diagnostic::new(
                                    Code::SemaWrongType,
                                    parts[0].span,
                                    "an edge is one op",
                                )
                                .label("a sequence")
                                .help("use a single catalogue op"),
                            );
                            ok = false;
                            continue;
                        }
                        spans.push(parts[1].span);
                        edges.push(Edge {
                            op: op.remove(0),
                            from,
                        });
                    }
                    if st.terms.is_empty() {
                        self.err(
                            Diagnostic::new(
                                Code::SemaMissing,
                                st.span,
                                format!("node {me} has no incoming edge"),
                            )
                            .label("no edges")
                            .help("give it edges `(op, from)`"),
                        );
                        ok = false;
                    }
                    nodes.push((edges, st.span, spans));
                }
                "concat" => match st.terms.first() {
                    Some(Term::Pos(e)) => match self.u32_list(e, 0, "a concatenated node") {
                        Some(v) => concat = Some((v, e.span)),
                        None => ok = false,
                    },
                    _ => {
                        self.err(
                            Diagnostic::new(
                                Code::SemaMissing,
                                st.span,
                                "`concat` needs a list of nodes",
                            )
                            .label("no nodes")
                            .help("write `concat [2, 3, 4, 5]`"),
                        );
                        ok = false;
                    }
                },
                _ => {
                    self.unknown_setting(st, &["node", "concat"], "a fixed cell");
                    ok = false;
                }
            }
        }
        if !ok {
            return None;
        }
        let total = inputs + nodes.len() as u32;
        let (concat, concat_span) = concat.unwrap_or(((inputs..total).collect(), s.key.span));
        if let Some(bad) = concat.iter().find(|c| **c >= total) {
            self.err(
                Diagnostic::new(
                    Code::SemaDagUnreachable,
                    concat_span,
                    format!(
                        "`concat` names node {bad}, but the cell has nodes 0..{}",
                        total.saturating_sub(1)
                    ),
                )
                .label("no such node")
                .help("list intermediate nodes only"),
            );
            return None;
        }
        // Reachability: from the output (concat) backwards.
        let mut live = vec![false; total as usize];
        let mut stack: Vec<u32> = concat.clone();
        while let Some(n) = stack.pop() {
            if live[n as usize] {
                continue;
            }
            live[n as usize] = true;
            if n >= inputs
                && let Some((edges, _, _)) = nodes.get((n - inputs) as usize)
            {
                stack.extend(edges.iter().map(|e| e.from));
            }
        }
        for (i, (_, span, _)) in nodes.iter().enumerate() {
            if !live[inputs as usize + i] {
                self.err(
                    Diagnostic::new(
                        Code::SemaDagUnreachable,
                        *span,
                        format!("node {} cannot reach the cell output", inputs as usize + i),
                    )
                    .label("its result is never used")
                    .help("add it to `concat`, or let a later node read it"),
                );
                ok = false;
            }
        }
        for i in 0..inputs {
            if !live[i as usize] {
                self.err(
                    Diagnostic::new(
                        Code::SemaDagUnusedInput,
                        s.key.span,
                        format!("cell input {i} is never used"),
                    )
                    .label(format!("no path from input {i} to the output"))
                    .help(format!("let some node read it: `({}, {i})`", "sep_conv(3)")),
                );
                ok = false;
            }
        }
        ok.then(|| FixedCell {
            nodes: nodes.into_iter().map(|(e, _, _)| e).collect(),
            concat,
        })
    }
}
