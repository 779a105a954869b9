"""`mmgraph serve`: the HTTP service answers as the Python API does, refuses bad requests with a
clear 4xx, swaps runs, and counts requests (FastAPI's TestClient, a tiny finished run)."""

import json
import shutil
import threading

import numpy as np
import pytest
from fastapi.testclient import TestClient

from mmgraph.recommender import Recommender
from mmgraph.serve import MAX_BODY_BYTES, create_app
from tests.tiny_runs import finished_run


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A finished ID-only run on 40 users × 30 items (each user's ~40% random items), plus a
    copy beside it to swap to."""
    folder = tmp_path_factory.mktemp("serve")
    served, _ = finished_run(folder, "served", (40, 30), 0.4,
                             "{dim: 8, optim: {epochs: 4, eval_every: 2}}",
                             "{dim: 8, optim: {epochs: 4, eval_every: 2}}")
    shutil.copytree(served, folder / "runs" / "other")
    return served


@pytest.fixture
def client(run):
    with TestClient(create_app(run)) as client:
        yield client


def test_answers_equal_the_python_api(run, client):
    reference = Recommender.load(run)
    expected = reference.recommend([3, 7], 5)
    answer = client.post("/recommend", json={"users": [3, 7], "k": 5})
    assert answer.status_code == 200
    for entry in answer.json()["recommendations"]:
        rows = expected[expected["user_id"] == entry["user_id"]]
        assert [i["item_id"] for i in entry["items"]] == rows["item_id"].tolist()
        assert np.allclose([i["score"] for i in entry["items"]], rows["score"], atol=1e-6)
        assert entry["source"] == "model"
    history = client.post("/recommend_for_history", json={"items": [1, 2], "k": 4}).json()
    assert [i["item_id"] for i in history["items"]] == reference.recommend_for_history(
        [1, 2], 4)["item_id"].tolist()
    similar = client.post("/similar", json={"item": 5, "k": 3}).json()
    assert [i["item_id"] for i in similar["items"]] == reference.similar_items(5, 3)[
        "item_id"].tolist()
    stranger = client.post("/recommend", json={"users": [999], "k": 2}).json()
    assert stranger["recommendations"][0]["source"] == "popular"
    assert client.post("/update", json={"user": 999, "items": [1, 2]}).status_code == 200
    updated = client.post("/recommend", json={"users": [999], "k": 2}).json()
    assert updated["recommendations"][0]["source"] == "history"
    assert client.get("/health").json() == {"status": "ok", "run": "served", "users": 40,
                                            "items": 30}


def test_items_are_added_and_removed_at_once(run, client):
    user = client.post("/recommend", json={"users": [3], "k": 1}).json()
    best = user["recommendations"][0]["items"][0]["item_id"]
    assert client.request("DELETE", "/items", json={"ids": [best]}).json() == {"removed": 1}
    after = client.post("/recommend", json={"users": [3], "k": 30}).json()
    assert best not in [i["item_id"] for i in after["recommendations"][0]["items"]]
    reference = Recommender.load(run)
    vector = reference.user_vectors[reference.data.users.indices([3], "test")[0]] * 1000
    assert client.post("/items", json={"ids": [500], "vectors": [vector.tolist()]}).json() == {
        "added": 1}
    top = client.post("/recommend", json={"users": [3], "k": 1}).json()
    assert top["recommendations"][0]["items"][0]["item_id"] == 500
    width = client.post("/items", json={"ids": [501], "vectors": [[0.0]]})
    assert width.status_code == 422 and "shape" in width.json()["error"]
    ragged = client.post("/items", json={"ids": [503, 504], "vectors": [[0.0], [0.0, 1.0]]})
    assert ragged.status_code == 422 and "same length" in ragged.json()["error"]
    nans = ", ".join(["NaN"] * len(vector))  # raw JSON: httpx refuses to encode NaN
    nan = client.post("/items", headers={"content-type": "application/json"},
                      content=f'{{"ids": [502], "vectors": [[{nans}]]}}')
    assert nan.status_code == 422 and "NaN or infinite" in nan.json()["error"]


@pytest.mark.parametrize("path, body, status, fragment", [
    ("/recommend", {"users": [3], "k": 0}, 422, "k: Input should be greater than or equal to 1"),
    ("/recommend", {"users": [3], "k": 10**9}, 422, "k: Input should be less than or equal"),
    ("/recommend", {"users": []}, 422, "users: List should have at least 1 item"),
    ("/recommend", {"users": [3], "kk": 1}, 422, "kk: Extra inputs are not permitted"),
    ("/recommend", {"users": [999], "unknown": "error"}, 422, "999"),
    ("/recommend", {"users": ["3"]}, 422, "ids here are integers"),
    ("/recommend", {"users": [True]}, 422, "malformed request"),
    ("/recommend_for_history", {"items": [10**6]}, 422, "not among"),
    ("/similar", {"item": 10**6}, 422, "not among"),
    ("/admin/swap", {"run": "../served"}, 422, "run: String should match pattern"),
    ("/admin/swap", {"run": "missing"}, 422, "no finished"),
])
def test_bad_requests_get_a_clear_4xx(client, path, body, status, fragment):
    answer = client.post(path, json=body)
    assert answer.status_code == status
    assert fragment in answer.json()["error"], answer.json()


def test_unparsable_bodies_and_unknown_routes_answer_in_the_same_shape(client):
    for body in (b'{"users": ["\xff"]}', b"[" * 100_000 + b"]" * 100_000):
        answer = client.post("/recommend", content=body,
                             headers={"content-type": "application/json"})
        assert answer.status_code == 400 and "parsing the body" in answer.json()["error"]
    assert client.get("/nowhere").json() == {"error": "Not Found (GET /nowhere)"}
    assert client.get("/recommend").status_code == 405


def test_oversized_and_lengthless_bodies_are_refused(client):
    big = client.post("/recommend", content=b"{" + b" " * MAX_BODY_BYTES + b"}",
                      headers={"content-type": "application/json"})
    assert big.status_code == 413 and "limited" in big.json()["error"]
    chunked = client.post("/recommend", content=iter([b'{"users": [3]}']),
                          headers={"content-type": "application/json"})
    assert chunked.status_code == 411


def test_a_swap_under_load_drops_no_request_and_metrics_count_them(client, monkeypatch):
    failures, answered, released = [], [], []
    monkeypatch.setattr("mmgraph.serve.app.release_freed_memory", lambda: released.append(1))

    def load():
        for _ in range(40):
            answer = client.post("/recommend", json={"users": [3, 7], "k": 5})
            (answered if answer.status_code == 200 else failures).append(answer.status_code)

    workers = [threading.Thread(target=load) for _ in range(4)]
    for worker in workers:
        worker.start()
    assert client.post("/admin/swap", json={"run": "other"}).json() == {"serving": "other"}
    for worker in workers:
        worker.join()
    assert not failures and len(answered) == 160
    assert client.get("/health").json()["run"] == "other"
    assert released == [1], "the old run's freed pages go back to the system after a swap"
    metrics = client.get("/metrics").text
    assert 'mmgraph_requests_total{endpoint="/recommend",status="200"} 160.0' in metrics
    assert 'mmgraph_request_seconds_count{endpoint="/recommend"} 160.0' in metrics


def _assert_malformed_requests_get_json_errors(port: int) -> None:
    """Requests the HTTP parser refuses before the app sees them get the JSON 400."""
    import socket

    for malformed in (b"Content-Length: -5\r\n", b"Content-Length: 1x\r\n",
                      b"Bad Header\r\n"):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
            raw.sendall(b"POST /recommend HTTP/1.1\r\nHost: x\r\n" + malformed + b"\r\n{}")
            reply = b""
            while chunk := raw.recv(4096):
                reply += chunk
        head, _, body = reply.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 400") and b"application/json" in head, reply
        assert "not valid HTTP/1.1" in json.loads(body)["error"]


def test_without_httptools_the_h11_protocol_answers_in_json_too(run, monkeypatch):
    import socket
    import sys
    import time

    import uvicorn
    from uvicorn.protocols.http.h11_impl import H11Protocol

    from mmgraph.serve.protocol import json_error_protocol

    monkeypatch.setitem(sys.modules, "uvicorn.protocols.http.httptools_impl", None)
    protocol = json_error_protocol()  # as where uvicorn's httptools extra is missing
    assert issubclass(protocol, H11Protocol)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(create_app(run), http=protocol, log_level="warning",
                                           lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        _assert_malformed_requests_get_json_errors(listener.getsockname()[1])
    finally:
        server.should_exit = True
        thread.join(10)


def test_the_command_serves_over_http_and_refuses_a_bad_run(run, tmp_path):
    import socket
    import subprocess
    import sys
    import time
    from pathlib import Path

    import httpx

    command = str(Path(sys.executable).parent / "mmgraph")
    bad = subprocess.run([command, "serve", "--run", str(tmp_path)], capture_output=True,
                         text=True, timeout=60)
    assert bad.returncode == 2 and "no finished" in bad.stderr and "Traceback" not in bad.stderr
    no_threads = subprocess.run([command, "serve", "--run", str(run), "--threads", "0"],
                                capture_output=True, text=True, timeout=60)
    assert no_threads.returncode == 2 and "--threads 0: give 1 or more" in no_threads.stderr
    with socket.socket() as probe:  # a free port
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([command, "-q", "serve", "--run", str(run), "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline, health = time.monotonic() + 60, None
        while health is None and time.monotonic() < deadline:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/health").json()
            except httpx.TransportError:
                time.sleep(0.2)
        assert health is not None and health["status"] == "ok"
        answer = httpx.post(f"http://127.0.0.1:{port}/recommend", json={"users": [3], "k": 2})
        assert len(answer.json()["recommendations"][0]["items"]) == 2
        _assert_malformed_requests_get_json_errors(port)
        assert httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200  # still serving
        for taken in (str(port), "99999"):  # in use; out of range
            refused = subprocess.run([command, "serve", "--run", str(run), "--port", taken],
                                     capture_output=True, text=True, timeout=60)
            assert refused.returncode == 2 and "cannot listen on" in refused.stderr
            assert "Traceback" not in refused.stderr
    finally:
        server.terminate()
        server.wait(10)


def test_a_loaded_run_keeps_its_answers_when_its_file_is_overwritten_in_place(run, tmp_path):
    """The server holds the vectors it verified, not a mapping of the file: bytes written into
    student/embeddings.safetensors in place (cp over it, a truncation) after loading change
    nothing it serves and cannot crash it."""
    copy = tmp_path / "served"
    shutil.copytree(run, copy)
    recommender = Recommender.load(copy)
    before = recommender.recommend([3, 7], 5)
    path = copy / "student" / "embeddings.safetensors"
    size = path.stat().st_size
    with open(path, "r+b") as handle:  # in place: the same inode, other bytes
        handle.seek(size // 2)
        handle.write(bytes(size - size // 2))
    after = recommender.recommend([3, 7], 5)
    assert after.equals(before)
    with open(path, "r+b") as handle:
        handle.truncate(64)
    assert recommender.recommend([3, 7], 5).equals(before)


def test_the_page_and_its_read_only_endpoints(run, client):
    """/ is the page; /browse/... answer what it shows: users with test items first, a user's
    history and ranked list with held-out items marked as the split holds them."""
    from mmgraph.runs import RunDir, load_split

    page = client.get("/")
    assert page.status_code == 200 and "mmgraph" in page.text and "/browse/user" in page.text
    data = load_split(RunDir(run))
    tested = set(data.users.to_ids(data.parts["test"].users_with_items()).tolist())
    users = client.get("/browse/users", params={"limit": 5}).json()
    assert len(users["users"]) == 5 and set(users["users"]) <= tested
    user = users["users"][0]
    answer = client.post("/browse/user", json={"user": user, "k": 30}).json()
    row = int(data.users.indices([user], "test")[0])
    train = set(data.items.to_ids(data.parts["train"].row(row)).tolist())
    assert {i["item_id"] for i in answer["history"]} == train
    assert answer["history"][0]["name"] == str(answer["history"][0]["item_id"])  # no table
    ranked = answer["recommendations"]
    assert not train & {i["item_id"] for i in ranked}
    for part in ("test", "valid"):
        held = set(data.items.to_ids(data.parts[part].row(row)).tolist())
        assert {i["item_id"] for i in ranked if i["held_out"] == part} == held  # k: all items
        assert answer["held_out"][part] == len(held)
    assert [i["score"] for i in ranked] == sorted((i["score"] for i in ranked), reverse=True)
    described = client.post("/browse/items", json={"ids": [ranked[0]["item_id"]]}).json()
    assert described["items"][0]["item_id"] == ranked[0]["item_id"]
    unknown = client.post("/browse/user", json={"user": 10_000})
    assert unknown.status_code == 422 and "Pick one of /browse/users" in unknown.json()["error"]
    assert client.get("/browse/image/0").status_code == 422  # no image column
    assert client.get("/browse/search", params={"q": "1"}).json()["items"] == []  # no names


def test_explain_adds_up_and_answers_over_http(run, client):
    """A user served from a history: its items' contributions add up to the served score;
    over HTTP the same answer; a user without a history is a clear 422."""
    reference = Recommender.load(run)
    reference.update(999, [1, 2, 4])
    item = int(reference.recommend([999], 1)["item_id"].iloc[0])
    explained = reference.explain(999, item, k=10)
    assert explained.history_score == pytest.approx(explained.score, rel=1e-4)
    assert sorted(explained.because["item_id"]) == [1, 2, 4]
    assert explained.because["share"].sum() == pytest.approx(1.0, rel=1e-4)
    contributions = explained.because["contribution"].tolist()
    assert contributions == sorted(contributions, reverse=True)
    trained = reference.explain(3, item, k=2)
    row = int(reference.data.users.indices([3], "test")[0])
    assert len(trained.because) == 2
    assert set(trained.because["item_id"]) <= set(
        reference.data.items.to_ids(reference.interacted.row(row)).tolist())
    answer = client.post("/explain", json={"user": 3, "item": item, "k": 2}).json()
    assert [b["item_id"] for b in answer["because"]] == trained.because["item_id"].tolist()
    assert answer["score"] == pytest.approx(trained.score, rel=1e-5)
    stranger = client.post("/explain", json={"user": 12345, "item": item})
    assert stranger.status_code == 422 and "served popular items" in stranger.json()["error"]


def test_removed_added_items_long_names_and_emptied_catalogues_are_answered(run, tmp_path):
    """Issue 36: an item added then removed made /similar, /recommend_for_history and /update
    answer 500; a 5,000-character run name on /admin/swap, 500; with every other item removed,
    /similar returned a removed item; metric 'cosine' edited into the manifest was served."""
    import json

    copy = tmp_path / "runs" / "served"
    shutil.copytree(run, copy)
    with TestClient(create_app(copy)) as client:
        dim = Recommender.load(copy).index.dim
        assert client.post("/items", json={"ids": [500], "vectors": [[0.1] * dim]}
                           ).status_code == 200
        assert client.request("DELETE", "/items", json={"ids": [500]}).status_code == 200
        for path, body in (("/similar", {"item": 1, "k": 3}),
                           ("/recommend_for_history", {"items": [1, 2], "k": 3}),
                           ("/update", {"user": 3, "items": [1]})):
            assert client.post(path, json=body).status_code == 200, path
        swap = client.post("/admin/swap", json={"run": "x" * 5000})
        assert swap.status_code == 422 and "error" in swap.json()
    recommender = Recommender.load(copy)
    keep = recommender.index.item_ids.ids[0]
    recommender.index.remove([i for i in recommender.index.item_ids.ids if i != keep])
    assert recommender.similar_items(keep, 5).empty
    manifest = copy / "index" / "manifest.json"
    manifest.write_text(json.dumps({**json.loads(manifest.read_text()), "metric": "cosine"}))
    with pytest.raises(Exception, match="ranks by the inner product"):
        Recommender.load(copy)
