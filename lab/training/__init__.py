"""Training and evaluation of the lab's models (``python -m lab.train`` and ``lab.evaluate``).

Everything here is CPU-friendly and deterministic: seeded initialization, a per-epoch shuffle
derived from the seed, RNG state saved with every run checkpoint, so an interrupted run that
resumes ends with the same weights as one that never stopped.
"""

from lab.training.evaluation import evaluate_model, load_split
from lab.training.tasks import TASKS, Task
from lab.training.trainer import TrainConfig, train

__all__ = ["TASKS", "Task", "TrainConfig", "evaluate_model", "load_split", "train"]
