"""The quickstart's claim on the full, real ml-100k: the distilled student is far above
popularity and close to its teacher. Runs the pipeline API with configs/quickstart.yaml."""

import pytest

from mmgraph.config import load_config
from mmgraph.pipeline import run_all


@pytest.mark.slow
def test_quickstart_student_beats_popularity_and_keeps_the_teachers_accuracy(ml100k_tables,
                                                                            tmp_path):
    interactions, items = ml100k_tables
    cfg = load_config("configs/quickstart.yaml", overrides={
        "runs_root": str(tmp_path), "data": {"interactions": str(interactions),
                                             "items": str(items)}})
    metrics = run_all(cfg, progress=False)
    student = metrics["student"]["test"]["ndcg@20"]
    teacher = metrics["teacher"]["test"]["ndcg@20"]
    popularity = metrics["popularity"]["test"]["ndcg@20"]
    assert metrics["protocol"]["users"]["test"] == 943
    assert student > 1.6 * popularity, metrics
    assert student > 0.95 * teacher, metrics
