//! The stage's latency lookup table, one mechanism for every use of latency: differentiable search's
//! latency penalties, searches' `latency` objectives, Pareto axes and hard constraints, and the
//! `constrained(latency: ..)` sampler of supernet training. Tables hold milliseconds per op; the
//! language writes durations, which sema normalises to seconds.

use std::path::{Path, PathBuf};

use super::Ctx;
use super::error::ExecError;
use crate::compile::latency::{LatencyTable, MeasureOpts, load_or_measure};
use crate::ir::SearchSpace;
use crate::sema::hir::Stage;
use crate::sema::spec::LatencySource;

/// The stage's table when it uses latency ([`Stage::uses_latency`]).
pub fn table_if_wanted(
    ctx: &Ctx,
    stage: &Stage,
    space: &SearchSpace,
) -> Result<Option<LatencyTable>, ExecError> {
    if stage.uses_latency() {
        table(ctx, stage, space).map(Some)
    } else {
        Ok(None)
    }
}

/// Where the stage's latency table lives and how missing entries are measured: `lut("file")`
/// (relative to the pipeline's folder; smoke runs keep it in the stage's folder instead, leaving the
/// sources untouched), or `measure(runs)` (and no setting) into the stage's folder.
pub fn source(ctx: &Ctx, stage: &Stage) -> Result<(PathBuf, MeasureOpts), ExecError> {
    let dir = ctx.dir.stage_dir(&stage.name)?;
    let (path, repeats) = match &*stage.spec.common().latency {
        LatencySource::Lut(file) => {
            let p = Path::new(file);
            let path = if ctx.info.smoke {
                dir.join(p.file_name().unwrap_or(p.as_os_str()))
            } else if p.is_absolute() {
                p.to_path_buf()
            } else {
                ctx.info.file.parent().unwrap_or(Path::new(".")).join(p)
            };
            (path, 20)
        }
        LatencySource::Measure { runs } => (dir.join("latency.yaml"), *runs),
    };
    let opts = MeasureOpts {
        batch: 1,
        warmup: if ctx.info.smoke { 1 } else { 5 },
        repeats: if ctx.info.smoke { 3 } else { repeats.max(1) },
    };
    Ok((path, opts))
}

/// The stage's latency table ([`source`]), every op of `space` in it: ops the table lacks are
/// measured on this device and saved.
pub fn table(ctx: &Ctx, stage: &Stage, space: &SearchSpace) -> Result<LatencyTable, ExecError> {
    let (path, opts) = source(ctx, stage)?;
    eprintln!("latency table {}", path.display());
    Ok(load_or_measure(&path, space, ctx.device(), &opts)?)
}
