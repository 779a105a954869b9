"""Issue 36's findings on config, devices, media paths and add_items: each a clear error (or,
for YAML merge keys, the right answer) where a traceback or a wrong paragraph came before."""

import pandas as pd
import pytest

from encoders.media import MediaError, resolve_media_path
from mmgraph.config import load_config
from mmgraph.errors import ConfigError, DataError
from mmgraph.runtime import pick_device


def test_yaml_merge_keys_work_and_duplicate_keys_are_still_refused(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("name: m\ndata: {interactions: a.csv}\n"
                      "teacher: {dim: 8, optim: &optim {lr: 0.03, epochs: 5}}\n"
                      "student: {dim: 4, optim: {<<: *optim, epochs: 7}}\n")
    cfg = load_config(config)
    assert (cfg.student.optim.lr, cfg.student.optim.epochs) == (0.03, 7)
    config.write_text("name: m\nname: n\ndata: {interactions: a.csv}\n")
    with pytest.raises(ConfigError, match="found the key 'name' twice"):
        load_config(config)


def test_a_huge_cut_off_is_named_by_its_key(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("name: m\ndata: {interactions: a.csv}\nevaluation: {ks: [10000000000]}\n")
    with pytest.raises(ConfigError, match=r"evaluation\.ks\.0: Input should be less than or "
                                          r"equal to 10000"):
        load_config(config)


def test_a_device_the_machine_lacks_is_a_config_error():
    import torch

    missing = f"cuda:{torch.cuda.device_count()}"
    with pytest.raises(ConfigError, match=f"device '{missing}': this machine has"):
        pick_device(missing)
    assert pick_device("cpu").type == "cpu"


def test_a_media_cell_with_a_nul_byte_is_a_media_error(tmp_path):
    with pytest.raises(MediaError, match="holds a NUL character"):
        resolve_media_path(tmp_path, "a\x00b.png")


def test_add_items_with_no_rows_or_no_id_column_is_a_data_error():
    import re

    from mmgraph.recommender import Recommender

    recommender = Recommender.__new__(Recommender)  # the check comes before any run file
    recommender.run = object()
    for frame, said in ((pd.DataFrame({"item_id": []}), "no rows"),
                        (pd.DataFrame({"title": ["x"]}), "columns ['title']"),
                        ([1, 2], "list")):
        with pytest.raises(DataError, match=f"add_items takes a table .* got {re.escape(said)}"):
            recommender.add_items(frame)
