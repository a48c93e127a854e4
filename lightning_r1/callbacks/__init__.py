"""Training callbacks other than the regularizers: sample grids, checkpoints, run summary, Dirac-GAN trajectory."""

from lightning_r1.callbacks.hyperparameter_schedules import HyperparameterSchedules
from lightning_r1.callbacks.iteration_checkpoint import IterationCheckpoint
from lightning_r1.callbacks.preemption import PreemptionCheckpoint
from lightning_r1.callbacks.progress import IterationProgressBar, IterationRichProgressBar
from lightning_r1.callbacks.run_summary import RunSummary
from lightning_r1.callbacks.sample_grid import SampleGrid
from lightning_r1.callbacks.trajectory import TrajectoryRecorder

__all__ = [
    "HyperparameterSchedules",
    "IterationCheckpoint",
    "IterationProgressBar",
    "IterationRichProgressBar",
    "PreemptionCheckpoint",
    "RunSummary",
    "SampleGrid",
    "TrajectoryRecorder",
]
