"""Property test: whatever YAML a config file holds, loading it gives a valid RunConfig or a
ConfigError naming the file; never another exception."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mmgraph.config import RunConfig, load_config
from mmgraph.errors import ConfigError

SECTIONS = ["name", "seed", "device", "data", "split", "encoders", "graph", "teacher", "student",
            "evaluation", "recommend", "bogus"]
KEYS = ["interactions", "items", "prepare", "prepare_options", "valid", "test", "text", "image",
        "dim", "layers", "lr", "epochs", "content", "fusion", "ks", "early_stopping_metric",
        "index_factory", "index_params", "k", "kd_weight", "num_items", "columns", "user", "x",
        "optim"]
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-5, 10 ** 6),
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=8),
                    st.sampled_from(["fused", "graph", "ml-100k", "fashion-demo", "ndcg@20",
                                     "Flat", "HNSW32", "data.csv", "auto"]))
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(KEYS), inner, max_size=4)),
    max_leaves=10)


@pytest.mark.filterwarnings("ignore:config:FutureWarning")  # format-1 keys are read too
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.dictionaries(st.sampled_from(SECTIONS), VALUES, max_size=6), VALUES))
def test_any_config_loads_or_names_the_file(document):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "run.yaml"
        path.write_text(yaml.safe_dump(document), encoding="utf-8")
        try:
            assert isinstance(load_config(path), RunConfig)
        except ConfigError as error:
            assert str(path) in str(error)
