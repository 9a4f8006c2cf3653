#!/usr/bin/env python3
"""Data steps of benches/resolution/run.sh (standard library only).

  bench_data.py body SAMPLE_DIR OUT      the sample as one JSON array body, dependency-ordered
  bench_data.py extras SAMPLE_DIR OUT    the thermostat set models the sample lacks, as one body
  bench_data.py push-each BASE_URL TOKEN SAMPLE_DIR
                                         push the sample one model per request, dependency-
                                         ordered; prints the seconds it took
  bench_data.py export BASE_URL SAMPLE_DIR OUT_DIR
                                         fetch every model's .json and .expanded.json from
                                         twinhub into OUT_DIR, in DMR layout
"""

from __future__ import annotations

import json
import sys
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.dont_write_bytecode = True
sys.path.insert(0, str(HERE.parents[1] / "tests" / "real_client"))

import sample  # noqa: E402  (tests/real_client/sample.py)

EXTRAS_DIR = HERE / "models"


def load(sample_dir: str) -> dict[str, sample.Model]:
    root = Path(sample_dir)
    return sample.load_sample(root) if (root / "dtmi").is_dir() else {}


def extras(models: dict[str, sample.Model]) -> dict[str, sample.Model]:
    """The thermostat set (benches/resolution/models) minus what the sample already has."""
    found = {}
    for file in sorted(EXTRAS_DIR.glob("*.json")):
        text = file.read_text("utf-8")
        doc = json.loads(text)
        if doc["@id"] not in models:
            found[doc["@id"]] = sample.Model(doc["@id"], sample.dtmi_to_path(doc["@id"]), text, doc)
    return found


def write_body(models: dict[str, sample.Model], out: str) -> None:
    body = sample.batch_body(sample.dependency_order(models)) if models else b"[]"
    Path(out).write_bytes(body)
    print(f"{len(models)} models, {len(body)} bytes -> {out}")


def export(base_url: str, dtmis: list[str], out_dir: str) -> None:
    out = Path(out_dir)
    for dtmi in dtmis:
        for expanded in (False, True):
            path = sample.dtmi_to_path(dtmi, expanded)
            with urllib.request.urlopen(f"{base_url}/{path}", timeout=60) as resp:
                target = out / path
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(resp.read())
    print(f"exported {len(dtmis)} models (.json and .expanded.json) to {out}")


def push_each(base_url: str, token: str, models: dict[str, sample.Model]) -> None:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    start = time.perf_counter()
    for model in sample.dependency_order(models):
        req = urllib.request.Request(f"{base_url}/api/v1/models", data=model.body_bytes, headers=headers)
        with urllib.request.urlopen(req, timeout=60) as resp:  # raises on 4xx/5xx
            resp.read()
    print(f"{time.perf_counter() - start:.6f}")


def main(argv: list[str]) -> None:
    command = argv[1]
    if command == "body":
        write_body(load(argv[2]), argv[3])
    elif command == "extras":
        write_body(extras(load(argv[2])), argv[3])
    elif command == "push-each":
        push_each(argv[2].rstrip("/"), argv[3], load(argv[4]))
    elif command == "export":
        models = load(argv[3])
        export(argv[2].rstrip("/"), sorted(models) + sorted(extras(models)), argv[4])
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
