"""Training callbacks other than the regularizers: sample grids, run summary, Dirac-GAN trajectory."""

from lightning_r1.callbacks.preemption import PreemptionCheckpoint
from lightning_r1.callbacks.run_summary import RunSummary
from lightning_r1.callbacks.sample_grid import SampleGrid
from lightning_r1.callbacks.trajectory import TrajectoryRecorder

__all__ = ["PreemptionCheckpoint", "RunSummary", "SampleGrid", "TrajectoryRecorder"]
