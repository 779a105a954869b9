"""Human-readable summaries of a run: the metrics table and example recommendations."""

from __future__ import annotations

import pandas as pd
from rich.console import Console
from rich.table import Table

from encoders.templates import item_texts
from mmgraph.config import RunConfig
from mmgraph.data.tables import ITEM, USER, load_items
from mmgraph.io import read_parquet
from mmgraph.runs import RunDir, layout

__all__ = ["print_metrics", "print_examples", "NO_HELD_OUT_USERS"]


#: Said (in the log, and under the printed table) when a split part has no user to evaluate.
NO_HELD_OUT_USERS = ("%s: no user has a held-out interaction, so its metrics are undefined "
                     "(written as 0.0 over 0 users): give users more interactions or raise "
                     "split.%s.")


def print_metrics(metrics: dict, console: Console) -> None:
    models = [m for m in ("popularity", "teacher", "student") if m in metrics]
    names = list(metrics["student"]["test"])
    rating = "rmse" in names
    models += ["training mean"] if rating else []
    table = Table(title="Rating errors (held-out pairs)" if rating
                  else "Full-ranking metrics (train items excluded)")
    table.add_column("model")
    table.add_column("split")
    for name in names:
        table.add_column(name, justify="right")
    for model in models:
        for part in ("valid", "test"):
            table.add_row(model, part, *(f"{metrics[model][part][n]:.4f}" for n in names))
    console.print(table)
    for part, users in metrics.get("protocol", {}).get("users", {}).items():
        if users == 0:
            console.print(NO_HELD_OUT_USERS % (part, part))


def print_examples(cfg: RunConfig, run: RunDir, console: Console, num_users: int = 3,
                   k: int = 5) -> None:
    """A few test users' top-k, each item named by its ``title`` column or else by the text
    encoder's template (when the items table has either); ✓ = a hit."""
    recs = read_parquet(run.path(layout.RECOMMENDATIONS))
    test = read_parquet(run.path(layout.split_part("test")), columns=[USER, ITEM])
    titles = None
    if cfg.data.items is not None:
        items = load_items(cfg.data.items, cfg.data.columns.item)
        if "title" in items:
            titles = items.set_index(ITEM)["title"]
        elif cfg.encoders.text is not None:
            titles = pd.Series(item_texts(items, cfg.encoders.text.template), index=items[ITEM])
    held_out = set(zip(test[USER], test[ITEM]))
    for user in recs[USER].drop_duplicates().head(num_users):
        table = Table(title=f"Top {k} for user {user} (student via FAISS; ✓ = in the user's test "
                            f"items)")
        for column in ("rank", "item_id", "title", "score", "hit"):
            table.add_column(column)
        for row in recs[recs[USER] == user].head(k).itertuples(index=False):
            title = str(titles.get(row.item_id, "")) if titles is not None else ""
            hit = "✓" if (user, row.item_id) in held_out else ""
            table.add_row(str(row.rank), str(row.item_id), title, f"{row.score:.3f}", hit)
        console.print(table)
