"""Runs that name one ``encoders.cache_dir`` encode each item's content once between them."""

from mmgraph.config import RunConfig
from mmgraph.pipeline import STAGES
from mmgraph.runs import RunDir


def test_runs_sharing_a_cache_dir_encode_once(tmp_path, tiny_interactions, monkeypatch):
    from encoders.text import HFTextEncoder

    tiny_interactions.to_csv(tmp_path / "inter.csv", index=False)
    items = tiny_interactions[["item_id"]].drop_duplicates().assign(
        title=lambda f: "item number " + f["item_id"].astype(str))
    items.to_csv(tmp_path / "items.csv", index=False)
    calls = []
    original = HFTextEncoder.encode
    monkeypatch.setattr(HFTextEncoder, "encode",
                        lambda self, batch: calls.append(len(batch)) or original(self, batch))
    for name in ("first", "second"):
        cfg = RunConfig.model_validate({
            "name": name, "runs_root": str(tmp_path / "runs"),
            "data": {"interactions": str(tmp_path / "inter.csv"),
                     "items": str(tmp_path / "items.csv")},
            "encoders": {"cache_dir": str(tmp_path / "shared-cache")}})
        run = RunDir(cfg.run_dir)
        for stage in ("split", "encode"):
            STAGES[stage](cfg, run, progress=False)
        assert (run.root / "features" / "features.safetensors").is_file()
    assert sum(calls) == len(items)  # the second run found every vector in the shared cache
    assert not (tmp_path / "runs" / "second" / "features" / "cache").exists()
