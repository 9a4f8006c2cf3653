"""Where the repository, the twinhub binary and the models sample are."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import sample

REPO_ROOT = Path(__file__).resolve().parents[2]


def repo_path(value: str) -> Path:
    """An absolute path as given, or a path relative to the repository root."""
    path = Path(value)
    return path if path.is_absolute() else REPO_ROOT / path


def sample_root() -> Path:
    return repo_path(os.environ.get("TWINHUB_MODELS_SAMPLE", "../shared/models-sample"))


@lru_cache(maxsize=1)
def sample_models() -> dict[str, sample.Model] | None:
    """The sample's models, or None (with a printed notice) where it is absent."""
    root = sample_root()
    if not (root / "dtmi").is_dir():
        print(f"NOTICE: models sample not found at {root}; the real-client test is skipped", flush=True)
        return None
    return sample.load_sample(root)
