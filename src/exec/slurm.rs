//! The Slurm executor: a stage's batch of pieces as one `sbatch --array` job over the shared run
//! directory, followed with `squeue`/`sacct`, tasks that failed outside nasl resubmitted.

use super::pool::Piece;
use super::{Ctx, ExecError};

/// Runs `pieces` of `stage` as a Slurm job array and waits for them.
pub fn run_array(ctx: &mut Ctx, stage: &str, pieces: &[Piece]) -> Result<(), ExecError> {
    let _ = (ctx, pieces);
    Err(ExecError::Slurm {
        stage: stage.to_string(),
        message: "not yet".into(),
        help: "use local workers".into(),
    })
}
