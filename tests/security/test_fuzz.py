"""Schemathesis against the service's own OpenAPI document, over a loopback socket.

Every operation gets generated valid and invalid requests; every answer must be a documented
status with a body matching its documented schema, and none may be a server error. At least
1,000 cases run per seed. Two seeds run: a fixed one (the cases every commit must keep passing)
and one derived from the commit (new cases each commit, where a fixed seed finds nothing new).
Both are printed; ``TRAINCTL_FUZZ_SEED=N`` replays one.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.support.auth import api_keys_setting, key_headers
from tests.support.fakebackend import build
from tests.support.http import LiveServer
from tests.support.seeds import FIXED_SEED, commit_seed

EXAMPLES_PER_MODE = 50
MIN_CASES = 1000
ADMIN = key_headers("admin")
# "Schema-valid request rejected" flags answers the schema cannot express: a 422 for a data
# asset that does not exist, or a callback host off the allowlist. Those are right answers.
EXCLUDED: list[schemathesis.CheckFunction] = [positive_data_acceptance]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    built = build(tmp_path_factory.mktemp("fuzz"), auth_mode="api-key", api_keys=api_keys_setting())
    with LiveServer(built.app) as server:
        yield server


def finished_pipeline(base_url: str) -> str:
    """A real run, so fuzzed artifact paths, steps and actions reach past the 404."""
    run_id: str = httpx.post(f"{base_url}/v1/training-runs", json={"kind": "pipeline"}, headers=ADMIN).json()[
        "id"
    ]
    httpx.get(f"{base_url}/v1/training-runs/{run_id}/wait", params={"timeout": 10}, headers=ADMIN)
    return run_id


def run_operation(
    operation: schemathesis.APIOperation[Any, Any, Any, Any],
    mode: schemathesis.GenerationMode,
    base_url: str,
    statuses: Counter[int],
    fuzz_seed: int,
    **fixed: Any,
) -> None:
    @seed(fuzz_seed)
    @settings(
        max_examples=EXAMPLES_PER_MODE,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode, **fixed), _=st.just(None))
    def check(case: schemathesis.Case[Any], _: None) -> None:
        response = case.call_and_validate(base_url=base_url, excluded_checks=EXCLUDED)
        statuses[response.status_code] += 1
        if response.status_code == 401 and mode.is_positive:
            raise AssertionError("the fuzzer's key was refused: a valid case never reached its handler")

    check()


@pytest.mark.timeout(300)
@pytest.mark.parametrize("fuzz_seed", [FIXED_SEED, commit_seed()], ids=["fixed-seed", "commit-seed"])
def test_no_server_errors_and_every_response_as_documented(live: LiveServer, fuzz_seed: int) -> None:
    # OpenAPI-aware auth: schemathesis knows the key is the ApiKey scheme, not a header to mutate.
    config = schemathesis.Config.from_dict({"auth": {"openapi": {"ApiKey": {"api_key": ADMIN["X-API-Key"]}}}})
    schema = schemathesis.openapi.from_url(f"{live.url}/openapi.json", config=config)
    statuses: Counter[int] = Counter()
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    assert len(operations) >= 15
    existing = {"run_id": finished_pipeline(live.url)}
    positive, negative = schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE
    for operation in operations:
        if operation.path == "/v1/events":
            # An endless stream: every valid case would wait forever for the answer to end.
            # tests/api/test_events_api.py covers its parameters and their 422s instead.
            continue
        passes: list[tuple[schemathesis.GenerationMode, dict[str, Any]]] = [(positive, {}), (negative, {})]
        if "{run_id}" in operation.path:
            passes.append((positive, {"path_parameters": existing}))
        for mode, fixed in passes:
            try:
                run_operation(operation, mode, live.url, statuses, fuzz_seed, **fixed)
            except Unsatisfiable:
                continue  # nothing to make invalid: the operation takes no input
            except (Exception, BaseExceptionGroup) as error:  # report every failing operation
                failures.append(f"{operation.label} [{mode.value} {fixed}]: {error}")
    total = sum(statuses.values())
    print(
        f"schemathesis seed {fuzz_seed} (replay: TRAINCTL_FUZZ_SEED={fuzz_seed}): {total} cases over "
        f"{len(operations)} operations; statuses {sorted(statuses.items())}"
    )
    assert not failures, f"seed {fuzz_seed}:\n\n" + "\n\n".join(failures)
    # Negative cases may drop the key (a 401 is then right); the rest must reach the handlers.
    assert total - statuses[401] >= MIN_CASES
    assert not [s for s in statuses if s >= 500]
