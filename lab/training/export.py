"""Turn a finished run into a shipped checkpoint with its test metrics."""

from __future__ import annotations

from pathlib import Path

from lab.checkpoints import load_checkpoint
from lab.models.pretrained import export_checkpoint
from lab.training.evaluation import evaluate_model, load_split
from lab.training.tasks import get_task

__all__ = ["SUBSET_SIZE", "export_run", "split_items"]

#: Test utterances whose metrics are recorded separately, so tests can recheck them quickly.
SUBSET_SIZE = 20


def split_items(task_name: str, *, subset: bool = False) -> list:
    """The test split as a task sees it (keyword clips only for the classifier)."""
    task = get_task(task_name)
    return load_split("test", task.features, keywords_only=task.keywords_only,
                      limit=SUBSET_SIZE if subset else None)


def export_run(task_name: str, run_dir: str | Path | None = None, *,
               directory: str | Path | None = None) -> dict:
    """Evaluate ``runs/<task>/best.pt`` on the test split and write the shipped checkpoint."""
    from lab.data import corpus_version

    task = get_task(task_name)
    run_dir = Path(run_dir or Path("runs") / task_name)
    best = load_checkpoint(run_dir / "best.pt", keys=("state_dict", "epoch", "metrics"))
    last = load_checkpoint(run_dir / "last.pt", keys=("state",))
    model = task.build()
    model.load_state_dict(best["state_dict"])
    model.eval()
    metrics = evaluate_model(model, split_items(task_name))
    subset = evaluate_model(model, split_items(task_name, subset=True))
    training = {"best_epoch": best["epoch"], "epochs": last["state"]["epoch"],
                "seconds": round(last["state"]["seconds"], 1), "valid": best["metrics"]}
    path = export_checkpoint(model, task_name, directory=directory,
                             corpus_version=corpus_version(), metrics=metrics,
                             subset_metrics=subset, training=training)
    size = path.stat().st_size
    print(f"exported {path} ({size / 1e6:.2f} MB): test {metrics}")
    return {"path": str(path), "metrics": metrics, "subset_metrics": subset, "bytes": size}
