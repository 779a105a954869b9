"""The HTTP service fuzzed from its own OpenAPI schema (schemathesis, issue 36): every endpoint,
a bounded number of generated requests each, valid and not; no answer is a 5xx, every refusal
is one sentence in ``{"error": ...}``, and a refused request changes nothing served."""

import os

import pytest

schemathesis = pytest.importorskip("schemathesis", reason="schemathesis (the test extra)")
from hypothesis import HealthCheck, given, settings  # noqa: E402

from mmgraph.serve import create_app  # noqa: E402
from tests.tiny_runs import finished_run  # noqa: E402


EXAMPLES = int(os.environ.get("MMGRAPH_FUZZ_EXAMPLES", "25"))


@pytest.fixture(scope="module")
def served_app(tmp_path_factory):
    run, _ = finished_run(tmp_path_factory.mktemp("fuzz"), "fuzzed", (30, 20), 0.4,
                          "{dim: 8, optim: {epochs: 2, eval_every: 2}}",
                          "{dim: 8, optim: {epochs: 2, eval_every: 2}}")
    return create_app(run)


def test_no_request_gets_a_server_error(served_app):
    """Each operation of the schema, 25 generated requests (seeded; MMGRAPH_FUZZ_EXAMPLES=N
    for a longer search), checked as above."""
    api = schemathesis.openapi.from_asgi("/openapi.json", served_app)
    operations = [result.ok() for result in api.get_all_operations()]
    assert len(operations) >= 12  # every endpoint, the page's included
    statuses: list[int] = []

    for operation in operations:
        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def answers(case):
            response = case.call()
            statuses.append(response.status_code)
            assert response.status_code < 500, (case.method, case.path, case.body,
                                                response.text)
            if response.status_code >= 400:
                error = response.json()["error"]
                assert isinstance(error, str) and error and "Traceback" not in error

        answers()
    assert len(statuses) >= 10 * len(operations)
    assert any(s < 300 for s in statuses) and any(400 <= s < 500 for s in statuses)
