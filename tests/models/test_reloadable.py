"""Models reload themselves: save_pretrained writes the weights and the architecture beside
them; from_pretrained rebuilds the same model (same outputs) from those files alone, and
refuses a missing or foreign architecture file with a clear error."""

import json

import pytest
import torch

from mmgraph.distill.coldstart import ColdStartMapper
from mmgraph.errors import RunDirError
from mmgraph.models.reloadable import config_path
from mmgraph.models.sequential import SequentialStudent
from mmgraph.models.student import IDStudent
from mmgraph.models.teacher import MultimodalTeacher


def _teacher() -> MultimodalTeacher:
    return MultimodalTeacher(5, 7, 8, 2, {"text": 6}, "sum", 1, "feature")


@pytest.mark.parametrize("build, call", [
    (_teacher, lambda m: m.content_vector({"text": torch.ones(7, 6)})),
    (lambda: IDStudent(5, 7, 4, 8), lambda m: torch.cat(m())),
    (lambda: SequentialStudent(7, 8, 4, 1, 2, 0.0),
     lambda m: m.user_vectors(torch.tensor([[0, 1, 2, 3], [0, 0, 4, 5]]))),
    (lambda: ColdStartMapper(6, 4, 16), lambda m: m(torch.ones(3, 6))),
])
def test_round_trip_rebuilds_the_same_model(tmp_path, build, call):
    torch.manual_seed(0)
    model = build().eval()
    model.save_pretrained(tmp_path / "model.safetensors")
    saved = json.loads(config_path(tmp_path / "model.safetensors").read_text())
    assert saved["class"] == type(model).__name__
    torch.manual_seed(1)  # another random start: only the files can make them equal
    loaded = type(model).from_pretrained(tmp_path / "model.safetensors")
    assert loaded.config == model.config
    with torch.no_grad():
        assert torch.equal(call(loaded), call(model))


def test_parts_attached_after_construction_can_be_left_out(tmp_path):
    model = _teacher()
    model.biases = torch.nn.Linear(2, 1)  # as the rating task attaches its biases
    model.save_pretrained(tmp_path / "model.safetensors")
    with pytest.raises(RuntimeError, match="biases"):
        MultimodalTeacher.from_pretrained(tmp_path / "model.safetensors")
    loaded = MultimodalTeacher.from_pretrained(tmp_path / "model.safetensors",
                                               ignore_prefixes=("biases.",))
    assert torch.equal(loaded.item_embedding.weight, model.item_embedding.weight)


def test_missing_or_foreign_architecture_is_a_clear_error(tmp_path):
    weights = tmp_path / "model.safetensors"
    ColdStartMapper(6, 4).save_pretrained(weights)
    with pytest.raises(RunDirError, match="does not describe a model of class IDStudent"):
        IDStudent.from_pretrained(weights)
    config_path(weights).unlink()
    with pytest.raises(RunDirError, match="model.json is missing.*Rerun the stage"):
        ColdStartMapper.from_pretrained(weights)
