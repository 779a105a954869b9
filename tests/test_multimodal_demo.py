"""End-to-end: `mmgraph run` on a tiny version of configs/multimodal-demo.yaml — real images
(fashion-MNIST), real sound clips and real encoders through every stage, cold start included."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pandas as pd
import pytest
import torch
import torch.nn.functional as F
import yaml
from safetensors.torch import load_file

from mmgraph.io import file_sha256
from tests.test_cli import mmgraph

DEMO_CONFIG = Path(__file__).resolve().parents[1] / "configs" / "multimodal-demo.yaml"


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("demo")
    raw = yaml.safe_load(DEMO_CONFIG.read_text())
    data = folder / "data"
    raw["data"].update({"interactions": str(data / "interactions.parquet"),
                        "items": str(data / "items.parquet"), "media_root": str(data / "media")})
    raw["data"]["prepare_options"].update({"num_items": 160, "num_users": 120})
    raw["runs_root"] = str(folder / "runs")
    for section in ("teacher", "student"):
        raw[section]["optim"].update({"epochs": 20, "eval_every": 5})
    raw["student"]["optim"]["batch_size"] = 16  # 120 users: 8 steps per epoch, as the full demo has
    config = folder / "demo.yaml"
    config.write_text(yaml.safe_dump(raw))
    result = mmgraph("run", "--config", str(config))
    assert result.returncode == 0, result.stderr
    # Items have no title column: the examples name them by the text template.
    assert "Top 5 for user" in result.stdout and " tone " in result.stdout
    return folder / "runs" / "multimodal-demo", data


@pytest.mark.slow
def test_every_modality_is_encoded_and_items_without_audio_are_masked(demo_run):
    run, data = demo_run
    items = pd.read_parquet(data / "items.parquet")
    features = load_file(run / "features" / "features.safetensors")
    masks = load_file(run / "features" / "masks.safetensors")
    assert {k: tuple(v.shape) for k, v in features.items()} == {
        "text": (160, 384), "image": (160, 1280), "audio": (160, 200)}
    assert masks["image"].bool().all()
    assert masks["audio"].bool().tolist() == (items["audio"] != "").tolist()
    # Same sound (some freedesktop clips are byte-identical copies) → same vector, else not.
    audio = features["audio"][masks["audio"].bool()]
    sounds = [file_sha256(data / "media" / p) for p in items.loc[items["audio"] != "", "audio"]]
    first = {s: audio[sounds.index(s)] for s in sounds}
    assert all(torch.equal(audio[i], first[s]) for i, s in enumerate(sounds))
    assert len({tuple(v.tolist()) for v in first.values()}) == len(first)


@pytest.mark.slow
def test_audio_graph_links_only_items_with_audio(demo_run):
    run, data = demo_run
    items = pd.read_parquet(data / "items.parquet")
    graph = load_file(run / "graph" / "graph.safetensors")
    edges = graph["item__similar_audio__item.edge_index"]
    without = torch.tensor((items["audio"] == "").to_numpy()).nonzero().flatten()
    assert edges.numel() > 0 and not torch.isin(edges, without).any()


@pytest.mark.slow
def test_new_arrivals_are_placed_from_content_and_served(demo_run):
    """Items with no interactions get mapped vectors; their nearest warm items by the served
    vectors share their true class far more often than chance (10%)."""
    run, data = demo_run
    items = pd.read_parquet(data / "items.parquet").set_index("item_id")
    new_ids = set(pd.read_parquet(data / "new_arrivals.parquet")["item_id"])
    order = pd.read_parquet(run / "ids" / "items.parquet")["item_id"].tolist()
    served = F.normalize(load_file(run / "student" / "embeddings.safetensors")["items"], dim=1)
    cold = [i for i, item in enumerate(order) if item in new_ids]
    warm = [i for i, item in enumerate(order) if item not in new_ids]
    assert cold and load_file(run / "student" / "coldstart.safetensors")
    nearest = (served[cold] @ served[warm].T).topk(5, dim=1).indices
    labels = items.loc[order, "label"].to_numpy()
    same = (labels[torch.tensor(warm)[nearest].numpy()] == labels[cold][:, None]).mean()
    assert same > 0.3, same
    indexed = set(pd.read_parquet(run / "index" / "item_ids.parquet")["item_id"])
    assert new_ids <= indexed


@pytest.mark.slow
def test_metrics_and_recommendations(demo_run):
    run, _ = demo_run
    metrics = json.loads((run / "metrics.json").read_text())
    for model in ("teacher", "student", "popularity"):
        assert 0 <= metrics[model]["test"]["ndcg@20"] <= 1
    # Simulated users with strong class tastes: the multimodal teacher beats popularity.
    assert metrics["teacher"]["test"]["ndcg@20"] > metrics["popularity"]["test"]["ndcg@20"]
    recs = pd.read_parquet(run / "recommendations.parquet")
    assert recs.groupby("user_id").size().eq(20).all()


CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


@contextlib.contextmanager
def _served(run: Path):
    """``mmgraph serve`` of ``run`` on a free 127.0.0.1 port, stopped when the block ends."""
    import socket
    import subprocess
    import sys
    import time

    import httpx

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = str(Path(sys.executable).parent / "mmgraph")
    server = subprocess.Popen([command, "-q", "serve", "--run", str(run), "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                httpx.get(f"{url}/health")
                break
            except httpx.TransportError:
                time.sleep(0.2)
        yield url
    finally:
        server.terminate()
        server.wait(10)


@pytest.fixture
def page_server(request):
    """The demo run served (or ``MMGRAPH_PAGE_RUN``, e.g. runs/quickstart to measure the
    page there)."""
    import os

    run = os.environ.get("MMGRAPH_PAGE_RUN") or request.getfixturevalue("demo_run")[0]
    with _served(Path(run)) as url:
        yield url


def _browser():
    """Headless Chromium through Selenium and Debian's chromium-driver; the test is skipped,
    saying what is missing, where they cannot be installed."""
    import shutil

    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium (the test extra) "
                                    "is not installed")
    if not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)):
        pytest.skip("Debian's chromium and chromium-driver are not installed (make install "
                    "installs them as root)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                 "--window-size=1400,1100"):
        options.add_argument(flag)
    return webdriver.Chrome(service=webdriver.ChromeService(CHROMEDRIVER), options=options)


@pytest.mark.slow
def test_the_page_in_a_browser(page_server, tmp_path):
    """Open /, see a user's k recommendations, "more like this", search by name, click three
    items into a new user's history and see it folded in; every interaction timed in the page
    (MMGRAPH_PAGE_OUT=folder saves the screenshot and the timings there)."""
    import os
    import statistics

    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    driver = _browser()
    try:
        wait = WebDriverWait(driver, 30)

        def cards(section: str) -> list:
            return driver.find_elements(By.CSS_SELECTOR, f"#{section} .card")

        def settled(count: int) -> None:  # every interaction so far has finished
            wait.until(lambda d: len(d.execute_script("return window.mmgraphTimings")) >= count)

        driver.get(page_server + "/")
        settled(1)
        assert len(cards("recs")) == 10 and cards("history")
        assert driver.find_element(By.ID, "error").text == ""
        Select(driver.find_element(By.ID, "user-select")).select_by_index(1)
        settled(2)
        assert "History of user" in driver.find_element(By.ID, "history-title").text
        assert len(cards("recs")) == 10
        first = cards("recs")[0]
        first.find_element(By.CLASS_NAME, "more-like").click()
        settled(3)
        assert len(cards("similar")) == 10
        assert first.find_element(By.CLASS_NAME, "name").text in driver.find_element(
            By.ID, "similar-title").text
        for n, item in enumerate(cards("similar")[:3]):
            item.find_element(By.CLASS_NAME, "add-history").click()
            settled(4 + n)
        assert len(cards("new-history")) == 3 and len(cards("new-recs")) == 10
        chosen = {c.get_attribute("data-item-id") for c in cards("new-history")}
        assert not chosen & {c.get_attribute("data-item-id") for c in cards("new-recs")}
        word = cards("recs")[0].find_element(By.CLASS_NAME, "name").text.split()[0]
        driver.find_element(By.ID, "search-input").send_keys(word)
        settled(7)
        assert cards("search-results")
        assert all(word.lower() in c.find_element(By.CLASS_NAME, "name").text.lower()
                   for c in cards("search-results"))
        images = driver.find_elements(By.CSS_SELECTOR, ".card img")
        if "MMGRAPH_PAGE_RUN" not in os.environ:  # the demo's items have photos
            assert images and all(driver.execute_script(
                "return arguments[0].complete && arguments[0].naturalWidth > 0", img)
                for img in images[:10])
        assert driver.find_element(By.ID, "error").text == ""
        timings = driver.execute_script("return window.mmgraphTimings")
        out = Path(os.environ.get("MMGRAPH_PAGE_OUT") or tmp_path)
        out.mkdir(parents=True, exist_ok=True)
        height = driver.execute_script("return document.documentElement.scrollHeight")
        driver.set_window_size(1400, min(height, 2400))  # the page's sections, for the docs
        driver.save_screenshot(str(out / "page.png"))
        medians = {action: statistics.median(t["ms"] for t in timings if t["action"] == action)
                   for action in dict.fromkeys(t["action"] for t in timings)}
        (out / "page-timings.json").write_text(json.dumps({"timings": timings,
                                                           "median_ms": medians}, indent=1))
        assert set(medians) == {"users", "user", "more like this", "fold in", "search"}
    finally:
        driver.quit()


@pytest.mark.slow
def test_the_page_shows_hostile_item_text_as_text(demo_run, tmp_path):
    """Issue 36: HTML and JavaScript in an item's title are shown as the characters they are,
    never run (the page builds every element with textContent)."""
    import shutil

    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    run, data = demo_run
    copy = tmp_path / "runs" / "multimodal-demo"
    shutil.copytree(run, copy)
    items = pd.read_parquet(data / "items.parquet")
    hostile = ['<img src=x onerror="window.pwned=1">', "<script>window.pwned=2</script>"]
    items["title"] = [hostile[n % 2] + f" item {n}" for n in range(len(items))]
    items.to_parquet(tmp_path / "items.parquet", index=False)
    config = yaml.safe_load((copy / "config.yaml").read_text())
    config["data"]["items"] = str(tmp_path / "items.parquet")
    (copy / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    driver = _browser()
    try:
        with _served(copy) as url:
            driver.get(url + "/")
            wait = WebDriverWait(driver, 30)
            wait.until(lambda d: len(d.execute_script("return window.mmgraphTimings")) >= 1)
            driver.find_element(By.ID, "search-input").send_keys("script")
            wait.until(lambda d: len(d.execute_script("return window.mmgraphTimings")) >= 2)
            names = [c.text for c in driver.find_elements(By.CSS_SELECTOR,
                                                          "#search-results .card .name")]
            assert names and all(n.startswith("<script>window.pwned=2</script>") for n in names)
            shown = {c.text.split(" item ")[0] for c in driver.find_elements(
                By.CSS_SELECTOR, "#recs .card .name")}
            assert shown <= set(hostile)
            assert driver.execute_script("return window.pwned") is None
            assert not driver.find_elements(By.CSS_SELECTOR, ".card .name img, .card script")
    finally:
        driver.quit()
