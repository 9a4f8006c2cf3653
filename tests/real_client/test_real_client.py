"""The Azure IoT models repository client (PyPI azure-iot-modelsrepository 1.0.0b2, unmodified)
resolves every sample model from a running twinhub, in each dependency resolution mode, and
gets exactly the files that were pushed.

That client version crashes, whatever the server, while following the dependencies of a
model that has a Component whose schema is an inline interface (it puts the dict into a
set): such models, and the models whose dependency walk reaches one, are skipped in the
modes that follow dependencies.
"""

from __future__ import annotations

import json

import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.iot.modelsrepository import (
    DEPENDENCY_MODE_DISABLED,
    DEPENDENCY_MODE_ENABLED,
    DEPENDENCY_MODE_TRY_FROM_EXPANDED,
    ModelsRepositoryClient,
)

import sample
from locations import sample_models, sample_root

SAMPLE = sample_models() or {}
DTMIS = sorted(SAMPLE)


def crash_reason(dtmi: str) -> str | None:
    """Why the client would crash following the dependencies of `dtmi`, or None."""
    return sample.client_walk(dtmi, SAMPLE)[1]


def dependency_walk_params():
    """Every DTMI, with a skip mark where the client crashes on the dependency walk."""
    for dtmi in DTMIS:
        reason = crash_reason(dtmi)
        marks = [pytest.mark.skip(reason=f"client 1.0.0b2 crashes here: {reason}")] if reason else []
        yield pytest.param(dtmi, marks=marks, id=dtmi)


def first_difference(got, want, pointer: str = "") -> str | None:
    """The JSON pointer of the first place where two JSON values differ, or None."""
    if isinstance(got, dict) and isinstance(want, dict):
        for key in sorted(set(got) | set(want)):
            if key not in got or key not in want:
                return f"{pointer}/{key} ({'missing' if key not in got else 'unexpected'})"
            found = first_difference(got[key], want[key], f"{pointer}/{key}")
            if found:
                return found
        return None
    if isinstance(got, list) and isinstance(want, list):
        if len(got) != len(want):
            return f"{pointer} (length {len(got)}, file has {len(want)})"
        for index, (a, b) in enumerate(zip(got, want)):
            found = first_difference(a, b, f"{pointer}/{index}")
            if found:
                return found
        return None
    if type(got) is not type(want) or got != want:
        return f"{pointer or '/'} ({json.dumps(got)[:80]} != {json.dumps(want)[:80]})"
    return None


def assert_same_as_files(result: dict, requested: str) -> None:
    """Every model the client returned equals the file of that DTMI (parsed JSON)."""
    for dtmi, model in result.items():
        assert dtmi in SAMPLE, f"{requested}: client returned {dtmi}, which was never pushed"
        difference = first_difference(model, SAMPLE[dtmi].doc)
        assert difference is None, f"{requested}: {dtmi} differs from {SAMPLE[dtmi].path} at {difference}"


def make_client(base_url: str, mode: str) -> ModelsRepositoryClient:
    # No retries, so an error answer from the server surfaces instead of being retried away.
    return ModelsRepositoryClient(repository_location=base_url, dependency_resolution=mode, retry_total=0)


@pytest.fixture(scope="module")
def disabled_client(server):
    with make_client(server.base_url, DEPENDENCY_MODE_DISABLED) as client:
        yield client


@pytest.fixture(scope="module")
def enabled_client(server):
    with make_client(server.base_url, DEPENDENCY_MODE_ENABLED) as client:
        yield client


@pytest.fixture(scope="module")
def expanded_client(server):
    with make_client(server.base_url, DEPENDENCY_MODE_TRY_FROM_EXPANDED) as client:
        yield client


# ---- the push itself ----


def test_models_sample_is_present():
    if not SAMPLE:
        pytest.skip(f"NOTICE: no models sample at {sample_root()}: the real-client test has nothing to resolve")
    assert len(SAMPLE) > 0


def test_push_creates_every_model(push_results, push_plan, models):
    for number, (size, resp) in enumerate(push_results, 1):
        assert resp.status == 201, f"batch {number} of {len(push_plan)} ({size} models): {resp.describe()}"
    assert len(push_results) == len(push_plan)
    assert sum(size for size, _ in push_results) == len(models)


def test_pushing_everything_again_is_idempotent(server, repository, push_plan):
    for batch in push_plan:
        resp = server.push(sample.batch_body(batch))
        assert resp.status == 200, f"identical re-push of {len(batch)} models: {resp.describe()}"


def test_metadata_advertises_expanded_and_counts_every_model(server, repository, models):
    metadata = server.get_json("/metadata.json")
    assert metadata["features"]["expanded"] is True, metadata
    assert metadata["totalModelCount"] == len(models), metadata


def test_index_pages_list_every_model_once(server, repository, models):
    listed: list[str] = []
    page, seen_pages = "index.json", set()
    while page:
        assert page not in seen_pages, f"index pages loop at {page}"
        seen_pages.add(page)
        index = server.get_json("/" + page)
        assert index["links"]["self"] == page, index["links"]
        listed += list(index["models"])
        page = index["links"].get("next")
    assert len(listed) == len(set(listed)), "a DTMI is listed twice"
    assert set(listed) == set(models)


# ---- resolution by the real client ----


@pytest.mark.parametrize("dtmi", DTMIS)
def test_resolve_disabled(dtmi, repository, disabled_client, server):
    result = disabled_client.get_models(dtmi, dependency_resolution=DEPENDENCY_MODE_DISABLED)
    assert list(result) == [dtmi]
    assert_same_as_files(result, dtmi)

    model = SAMPLE[dtmi]
    served = server.get("/" + model.path)
    assert served.status == 200, served.describe()
    assert served.headers.get("content-type", "").split(";")[0].strip() == "application/json", served.headers
    # The pushed array element is the file's text; its JSON value is that text without
    # surrounding whitespace. Either is "the bytes as pushed"; anything else is not.
    assert served.body in (model.element_bytes, model.body_bytes), (
        f"served bytes differ from {model.path}: {served.body[:200]!r}"
    )


@pytest.mark.parametrize("dtmi", list(dependency_walk_params()))
def test_resolve_enabled(dtmi, repository, enabled_client):
    expected, _ = sample.client_walk(dtmi, SAMPLE)
    result = enabled_client.get_models(dtmi, dependency_resolution=DEPENDENCY_MODE_ENABLED)
    assert set(result) == expected, (
        f"missing {sorted(expected - set(result))}, unexpected {sorted(set(result) - expected)}"
    )
    assert_same_as_files(result, dtmi)


@pytest.mark.parametrize("dtmi", list(dependency_walk_params()))
def test_resolve_try_from_expanded(dtmi, repository, expanded_client, server):
    # The client falls back to walking .json files when .expanded.json is missing, so check
    # that the expanded form is really served: root first, each model once.
    raw = server.get("/" + sample.dtmi_to_path(dtmi, expanded=True))
    assert raw.status == 200, raw.describe()
    ids = [element.get("@id") for element in json.loads(raw.body)]
    assert ids and ids[0] == dtmi, f"expanded array starts with {ids[:1]}"
    assert len(ids) == len(set(ids)), f"duplicates in the expanded array: {ids}"

    result = expanded_client.get_models(dtmi, dependency_resolution=DEPENDENCY_MODE_TRY_FROM_EXPANDED)
    returned = set(result)
    walked, _ = sample.client_walk(dtmi, SAMPLE)
    referenced = sample.reference_closure(dtmi, SAMPLE)
    assert next(iter(result)) == dtmi, "the requested model is not first"
    # The expanded form holds the full closure: every stored model named anywhere in the
    # model or its dependencies (extends, components, schemas), which includes all the
    # client's own walk would fetch.
    assert walked <= referenced
    assert returned == referenced, (
        f"missing {sorted(referenced - returned)}, models it does not depend on {sorted(returned - referenced)}"
    )
    assert_same_as_files(result, dtmi)


@pytest.mark.parametrize(
    "mode", [DEPENDENCY_MODE_DISABLED, DEPENDENCY_MODE_ENABLED, DEPENDENCY_MODE_TRY_FROM_EXPANDED]
)
def test_an_unknown_dtmi_is_not_found_in_every_mode(mode, repository, server):
    with make_client(server.base_url, mode) as client:
        with pytest.raises(ResourceNotFoundError):
            client.get_models("dtmi:com:example:twinhubNeverPushedThis;1", dependency_resolution=mode)


def test_several_dtmis_in_one_call_resolve_together(repository, enabled_client):
    roots = [dtmi for dtmi in DTMIS if crash_reason(dtmi) is None][:25]
    expected = set().union(*(sample.client_walk(dtmi, SAMPLE)[0] for dtmi in roots))
    result = enabled_client.get_models(roots, dependency_resolution=DEPENDENCY_MODE_ENABLED)
    assert set(result) == expected
    assert_same_as_files(result, f"{len(roots)} DTMIs at once")


# ---- a static tree exported by `twinhub export`, served by python -m http.server ----


@pytest.fixture(scope="module")
def static_tree(server, push_results, push_plan, tmp_path_factory):
    """The base URL of the sample exported from twinhub and served by a plain static server."""
    if len(push_results) != len(push_plan) or push_results[-1][1].status not in (200, 201):
        pytest.fail("the sample could not be pushed: see test_push_creates_every_model", pytrace=False)
    import subprocess
    import sys
    import time
    import urllib.request

    from twinhub import free_port

    tree = tmp_path_factory.mktemp("static") / "tree"
    export = subprocess.run(
        [str(server.binary), "export", str(tree), "--repo", server.base_url],
        capture_output=True, text=True, timeout=600,
    )
    assert export.returncode == 0, f"twinhub export failed ({export.returncode}): {export.stderr}"
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(tree)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"{url}/metadata.json", timeout=2).close()
            break
        except OSError:
            assert time.monotonic() < deadline, "python -m http.server did not start"
            time.sleep(0.05)
    yield url
    process.terminate()
    process.wait(timeout=10)


@pytest.mark.parametrize("mode", [DEPENDENCY_MODE_DISABLED, DEPENDENCY_MODE_ENABLED, DEPENDENCY_MODE_TRY_FROM_EXPANDED])
def test_an_exported_static_tree_resolves_every_model_like_the_server(mode, static_tree, server):
    """Every sample model resolves from the static export exactly as from twinhub itself."""
    resolvable = [dtmi for dtmi in DTMIS if mode == DEPENDENCY_MODE_DISABLED or crash_reason(dtmi) is None]
    assert resolvable, "no model to resolve"
    with make_client(static_tree, mode) as from_static, make_client(server.base_url, mode) as from_server:
        for dtmi in resolvable:
            result = from_static.get_models(dtmi, dependency_resolution=mode)
            assert result == from_server.get_models(dtmi, dependency_resolution=mode), dtmi
            assert_same_as_files(result, dtmi)
