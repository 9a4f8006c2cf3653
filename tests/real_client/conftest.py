"""Fixtures: the models sample, a running twinhub with the sample pushed, one client per mode.

Environment:
  TWINHUB_BIN             the twinhub binary (default: target/release/twinhub in the repo)
  TWINHUB_MODELS_SAMPLE   the sample in DMR layout (default: ../shared/models-sample beside the repo)
  REAL_CLIENT_MAX_BATCH_MODELS / REAL_CLIENT_MAX_BATCH_BYTES
                          split the push into batches within these limits (default 1000 / 8 MiB)
"""

from __future__ import annotations

import os
import secrets
from collections import Counter, defaultdict

import pytest

import sample
from locations import repo_path, sample_models, sample_root
from twinhub import Twinhub

MODES = {
    "test_resolve_disabled": "disabled",
    "test_resolve_enabled": "enabled",
    "test_resolve_try_from_expanded": "tryFromExpanded",
}


@pytest.fixture(scope="session")
def models() -> dict[str, sample.Model]:
    found = sample_models()
    if found is None:
        pytest.skip(f"models sample not found at {sample_root()}")
    return found


@pytest.fixture(scope="session")
def server(tmp_path_factory, models):  # no sample: skip before starting anything
    binary = repo_path(os.environ.get("TWINHUB_BIN", "target/release/twinhub"))
    if not binary.is_file():
        pytest.fail(f"twinhub binary not found at {binary}: build it (cargo build --release --bin twinhub) or set TWINHUB_BIN")
    hub = Twinhub(binary, tmp_path_factory.mktemp("twinhub"), secrets.token_hex(16))
    hub.start()
    yield hub
    code = hub.stop()
    assert code == 0, f"twinhub did not shut down gracefully on SIGTERM (exit {code})\n{hub.log_tail()}"


@pytest.fixture(scope="session")
def push_plan(models) -> list[list[sample.Model]]:
    """The whole sample in dependency order, cut into batches within the request limits."""
    max_models = int(os.environ.get("REAL_CLIENT_MAX_BATCH_MODELS", "1000"))
    max_bytes = int(os.environ.get("REAL_CLIENT_MAX_BATCH_BYTES", str(8 * 1024 * 1024)))
    return sample.batches(sample.dependency_order(models), max_models, max_bytes)


@pytest.fixture(scope="session")
def push_results(server, push_plan):
    """Push every batch as raw file texts; stops at the first refused batch.

    Returns [(batch size, response)]. A refusal is not raised here, so that one test
    (test_push_creates_every_model) reports it in full and the others fail in one line.
    """
    results = []
    for number, batch in enumerate(push_plan, 1):
        resp = server.push(sample.batch_body(batch))
        print(f"push batch {number}/{len(push_plan)}: {len(batch)} models -> HTTP {resp.status}", flush=True)
        results.append((len(batch), resp))
        if resp.status not in (200, 201):
            break
    return results


@pytest.fixture
def repository(server, push_results, push_plan):
    """The base URL of a twinhub holding the whole sample."""
    if len(push_results) != len(push_plan) or push_results[-1][1].status not in (200, 201):
        pytest.fail("the sample could not be pushed: see test_push_creates_every_model", pytrace=False)
    return server.base_url


# ---- per-mode counts in the terminal summary ----

_outcomes: dict[str, str] = {}


def pytest_runtest_logreport(report):
    function = report.nodeid.split("::")[-1].split("[")[0]
    if function not in MODES:
        return
    if report.when not in ("setup", "call"):
        return  # a teardown error belongs to the server, not to one model
    if report.failed:
        _outcomes[report.nodeid] = "failed"
    elif report.skipped:
        _outcomes[report.nodeid] = "skipped"
    elif report.when == "call" and report.passed:
        _outcomes.setdefault(report.nodeid, "passed")


def pytest_terminal_summary(terminalreporter):
    counts: dict[str, Counter] = defaultdict(Counter)
    for nodeid, outcome in _outcomes.items():
        counts[MODES[nodeid.split("::")[-1].split("[")[0]]][outcome] += 1
    terminalreporter.section("real client: models resolved per dependency mode")
    for mode in MODES.values():
        c = counts[mode]
        terminalreporter.write_line(
            f"mode {mode:<16} passed {c['passed']:>4}   failed {c['failed']:>4}   skipped {c['skipped']:>4}"
        )
