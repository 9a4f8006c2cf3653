"""The models sample (DMR folder layout) and what a client should see of it.

Everything here is computed from the files alone, never from the server, so the
tests can compare what the server and the client return against it.
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass
from pathlib import Path

UTF8_BOM = "\ufeff"
JSON_WHITESPACE = " \t\r\n"


@dataclass(frozen=True)
class Model:
    """One model file of the sample."""

    dtmi: str
    path: str  # relative to the sample root, e.g. "dtmi/com/example/thermostat-1.json"
    text: str  # the file's text without a UTF-8 BOM
    doc: dict

    @property
    def body_bytes(self) -> bytes:
        """The bytes pushed for this model: the file's bytes, BOM stripped."""
        return self.text.encode("utf-8")

    @property
    def element_bytes(self) -> bytes:
        """The model's JSON text without the whitespace around it, as an array element."""
        return self.text.strip(JSON_WHITESPACE).encode("utf-8")


class ClientCrash(Exception):
    """Where azure-iot-modelsrepository 1.0.0b2 crashes while following dependencies."""


def dtmi_to_path(dtmi: str, expanded: bool = False) -> str:
    """The DMR convention: lowercase, ':' -> '/', ';' -> '-', plus '.json'."""
    path = dtmi.lower().replace(":", "/").replace(";", "-")
    return path + (".expanded.json" if expanded else ".json")


def load_sample(root: Path) -> dict[str, Model]:
    """Read every model file under root/dtmi, keyed by its root @id."""
    models: dict[str, Model] = {}
    for file in sorted((root / "dtmi").rglob("*.json")):
        if file.name.endswith(".expanded.json"):
            continue
        text = file.read_bytes().decode("utf-8")
        if text.startswith(UTF8_BOM):
            text = text[len(UTF8_BOM) :]
        doc = json.loads(text)
        relative = file.relative_to(root).as_posix()
        if not isinstance(doc, dict) or not isinstance(doc.get("@id"), str):
            raise ValueError(f"{relative}: not a single model object with an @id")
        if dtmi_to_path(doc["@id"]) != relative:
            raise ValueError(f"{relative}: does not match the path of {doc['@id']}")
        if doc["@id"] in models:
            raise ValueError(f"{relative}: duplicate DTMI {doc['@id']}")
        models[doc["@id"]] = Model(doc["@id"], relative, text, doc)
    return models


def references(doc, known: dict[str, Model]) -> set[str]:
    """Every stored DTMI that a model names anywhere as a value (not as @id or @context)."""
    found: set[str] = set()
    stack = [doc]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                if key not in ("@id", "@context"):
                    stack.append(value)
        elif isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, str) and node in known:
            found.add(node)
    found.discard(doc.get("@id"))
    return found


def reference_closure(dtmi: str, models: dict[str, Model]) -> set[str]:
    """The model and everything it references, transitively: the widest sound expansion."""
    seen = {dtmi}
    queue = deque([dtmi])
    while queue:
        for ref in references(models[queue.popleft()].doc, models):
            if ref not in seen:
                seen.add(ref)
                queue.append(ref)
    return seen


def client_dependencies(doc: dict) -> list[str]:
    """The DTMIs the client's pseudo-parser follows from one model.

    Mirrors azure.iot.modelsrepository._pseudo_parser._get_model_dependencies:
    the schema of each contents item whose @type is the string "Component", and
    `extends` (a string, or a list of strings and inline interfaces, recursing into
    those). A Component whose schema is not a string makes the client fail
    (it puts the dict into a set: TypeError: unhashable type), so it raises.
    """
    deps: list[str] = []
    for item in doc.get("contents", []):
        if item.get("@type") == "Component":
            schema = item.get("schema")
            if not isinstance(schema, str):
                raise ClientCrash(
                    f"{doc.get('@id', 'an inline interface')}: component "
                    f"{item.get('name')!r} has an inline {type(schema).__name__} schema"
                )
            deps.append(schema)
    extends = doc.get("extends")
    if isinstance(extends, str):
        deps.append(extends)
    elif isinstance(extends, list):
        for item in extends:
            if isinstance(item, str):
                deps.append(item)
            elif isinstance(item, dict):
                deps += client_dependencies(item)
    return deps


def client_walk(dtmi: str, models: dict[str, Model]) -> tuple[set[str], str | None]:
    """What the client fetches for `dtmi` in "enabled" mode, and why it would crash, if it does."""
    seen = {dtmi}
    queue = deque([dtmi])
    while queue:
        current = queue.popleft()
        try:
            deps = client_dependencies(models[current].doc)
        except ClientCrash as crash:
            return seen, str(crash)
        for dep in deps:
            if dep not in seen:
                seen.add(dep)
                queue.append(dep)
    return seen, None


def dependency_order(models: dict[str, Model]) -> list[Model]:
    """Every model after all the models it references (a topological order)."""
    ordered: list[Model] = []
    state: dict[str, str] = {}  # "visiting" | "done"

    def visit(dtmi: str) -> None:
        stack = [(dtmi, iter(sorted(references(models[dtmi].doc, models))))]
        state[dtmi] = "visiting"
        while stack:
            current, children = stack[-1]
            child = next(children, None)
            if child is None:
                stack.pop()
                state[current] = "done"
                ordered.append(models[current])
            elif state.get(child) == "visiting":
                raise ValueError(f"dependency cycle through {child}")
            elif child not in state:
                state[child] = "visiting"
                stack.append((child, iter(sorted(references(models[child].doc, models)))))

    for dtmi in sorted(models):
        if dtmi not in state:
            visit(dtmi)
    return ordered


def batches(ordered: list[Model], max_models: int, max_bytes: int) -> list[list[Model]]:
    """Split a dependency order into consecutive batches within the request limits.

    A model's dependencies come before it in `ordered`, so each lies in the same
    batch or an earlier one.
    """
    result: list[list[Model]] = []
    current: list[Model] = []
    size = 2  # "[" and "]"
    for model in ordered:
        extra = len(model.body_bytes) + 1  # the separating comma
        if current and (len(current) >= max_models or size + extra > max_bytes):
            result.append(current)
            current, size = [], 2
        if 2 + extra > max_bytes:
            raise ValueError(f"{model.path} alone exceeds the request size limit")
        current.append(model)
        size += extra
    if current:
        result.append(current)
    return result


def batch_body(batch: list[Model]) -> bytes:
    """A JSON array of the models' raw texts, so each element keeps its exact bytes."""
    return b"[" + b",".join(model.body_bytes for model in batch) + b"]"
