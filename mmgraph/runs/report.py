"""A finished run's training report, ``report.html``: one self-contained page (plots inline)
with the metrics table, the teacher's and the student's validation curves, the teacher's blend
(each component's validation score and weight, each filter's chosen setting) and, for
``teacher: auto``, what the search chose within its budget.

Read from the run's files alone (``metrics.json``, ``teacher/state.json``,
``student/state.json``): the evaluate stage writes it, ``mmgraph report --run RUN`` writes it
for a run made before and prints its path. Plots with matplotlib (file-only Agg backend)."""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path

from mmgraph.io import atomic_path, read_json
from mmgraph.runs import layout
from mmgraph.runs.rundir import RunDir

__all__ = ["write_report"]

_STYLE = ("body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:62em;color:#222}"
          "table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;"
          "padding:.25em .6em;text-align:right}th:first-child,td:first-child{text-align:left}"
          "h2{margin-top:1.8em}.note{color:#555}td.text{text-align:left}")


def write_report(run_dir: str | Path | RunDir, finished: bool = True) -> Path:
    """Write ``report.html`` of the run in ``run_dir`` and return its path: a finished run's
    (a clear error otherwise), or with ``finished=False`` the evaluate stage's, which writes
    it beside ``metrics.json`` before the stage is recorded."""
    run = run_dir if isinstance(run_dir, RunDir) else RunDir(run_dir)
    if finished:
        run.fingerprint("evaluate")
    metrics = read_json(run.path(layout.METRICS))
    cfg = run.read_config()
    metric = cfg.evaluation.early_stopping_metric if cfg is not None else "ndcg@20"
    states = {model: read_json(run.path(path)) for model, path in (
        ("teacher", layout.TEACHER_STATE), ("student", layout.STUDENT_STATE))
        if run.path(path).is_file()}
    parts = [f"<h1>Run {html.escape(run.root.name)}</h1>", "<h2>Metrics</h2>",
             _metrics_table(metrics)]
    protocol = metrics.get("protocol", {})
    if protocol:
        parts.append("<p class='note'>" + "<br>".join(
            f"{html.escape(k)}: {html.escape(json.dumps(v) if isinstance(v, dict) else str(v))}"
            for k, v in protocol.items()) + "</p>")
    for model, state in states.items():
        parts += [f"<h2>{model.capitalize()}: validation during training</h2>",
                  _curve(model, state, metric)]
    if "teacher" in states:
        parts.append(_blend(states["teacher"], metric))
    page = (f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>mmgraph run "
            f"{html.escape(run.root.name)}</title><style>{_STYLE}</style></head><body>"
            + "\n".join(parts) + "</body></html>")
    path = run.path(layout.REPORT)
    with atomic_path(path) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return path


def _metrics_table(metrics: dict) -> str:
    models = [m for m, value in metrics.items() if isinstance(value, dict) and "test" in value]
    names = list(metrics[models[0]]["test"]) if models else []
    rows = "".join(
        f"<tr><td>{html.escape(model)}</td><td>{part}</td>"
        + "".join(f"<td>{metrics[model][part].get(name, float('nan')):.4f}</td>"
                  for name in names) + "</tr>"
        for model in models for part in ("valid", "test") if part in metrics[model])
    header = "".join(f"<th>{html.escape(name)}</th>" for name in names)
    return f"<table><tr><th>model</th><th>split</th>{header}</tr>{rows}</table>"


def _curve(model: str, state: dict, metric: str) -> str:
    """The training loss and the validation ``metric`` by epoch, as an inline PNG."""
    history = state.get("history") or []
    if not history:
        return "<p class='note'>No training history (closed-form components only).</p>"
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, loss_axis = plt.subplots(figsize=(7, 3.2), dpi=100)
    epochs = [h["epoch"] for h in history if "loss" in h]
    loss_axis.plot(epochs, [h["loss"] for h in history if "loss" in h], color="#999",
                   label="training loss")
    loss_axis.set_xlabel("epoch")
    loss_axis.set_ylabel("training loss")
    scored = [h for h in history if metric in h]
    if scored:
        metric_axis = loss_axis.twinx()
        metric_axis.plot([h["epoch"] for h in scored], [h[metric] for h in scored], "o-",
                         color="#1f6feb", label=f"valid {metric}")
        metric_axis.set_ylabel(f"valid {metric}")
        if "best_epoch" in state:
            metric_axis.axvline(state["best_epoch"], color="#2e7d32", linestyle="--",
                                label=f"best epoch {state['best_epoch']}")
        metric_axis.legend(loc="lower right", fontsize=8)
    loss_axis.set_title(f"{model}: training loss and validation {metric}", fontsize=10)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    encoded = base64.b64encode(buffer.getvalue()).decode()
    best = (f"<p>Best epoch {state['best_epoch']}: valid {metric} "
            f"{state.get(f'valid_{metric}', float('nan')):.4f}.</p>"
            if "best_epoch" in state else "")
    return f"<img alt='{model} validation curve' src='data:image/png;base64,{encoded}'>{best}"


def _blend(state: dict, metric: str) -> str:
    """The teacher's components: validation score, chosen setting and blend weight."""
    weights = state.get("weights") or {}
    scores = state.get(f"valid_{metric}_by_component", {})
    trained = state.get("config", {})

    def setting(name: str) -> dict | None:
        if name != "lightgcn":
            return state.get(f"{name}_setting")
        return {"dim": trained.get("dim"), "lr": trained.get("optim", {}).get("lr"),
                "best epoch": state.get("best_epoch")}

    if not weights:
        return ""
    rows = "".join(
        f"<tr><td>{html.escape(name)}</td><td>{scores.get(name, float('nan')):.4f}</td>"
        f"<td>{weight:.2f}</td><td class='text'>{html.escape(_setting(setting(name)))}</td>"
        f"</tr>" for name, weight in weights.items())
    blended = state.get(f"valid_{metric}_blended")
    auto = state.get("auto_seconds")
    notes = ([f"Blended: valid {metric} {blended:.4f}."] if blended is not None else []) + (
        [f"teacher: auto spent {auto['spent']:.0f} s of its {auto['budget']:.0f} s budget; the "
         f"run's config.yaml holds what it chose."] if auto else [])
    return (f"<h2>Teacher blend</h2><table><tr><th>component</th><th>valid {metric}</th>"
            f"<th>weight</th><th>chosen setting</th></tr>{rows}</table>"
            + "".join(f"<p>{html.escape(n)}</p>" for n in notes))


def _setting(setting: dict | None) -> str:
    if not setting:
        return ""
    return ", ".join(f"{k} {v:g}" if isinstance(v, (int, float)) else f"{k} {v}"
                     for k, v in setting.items())
