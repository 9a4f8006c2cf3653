#!/usr/bin/env python3
"""Writes a DMR folder tree of N realistic DTDL v2 interfaces for the import benchmark.

Usage: python3 benches/import/generate.py OUT_DIR [--count 20000] [--seed 6] [--legacy N]

Models spread over 40 vendor namespaces and mix telemetry, properties and commands with varied
schemas (primitives, enums, objects, arrays, maps, semantic types with units). About a quarter
extend one or two earlier interfaces (chains up to 4 deep, across namespaces) and about a quarter
have one to three components whose schemas are earlier component-free interfaces, so the whole
tree validates only if every dependency resolves. Deterministic for a given seed.

`--legacy N` (at most 10) makes the interfaces 1..N break a repository convention the way
`dtmi:MeshSystems:txs:modbus;1` in the public repository does: a command's request schema
has an `@id` outside the root DTMI. They are early, component-free interfaces, so later ones
extend them and use them as components; the tree then imports only with `--allow-legacy`.
The rest of the corpus is the same with or without legacy models.
"""

import argparse
import json
import os
import random

PRIMITIVES = ["double", "float", "integer", "long", "boolean", "string", "dateTime", "duration"]
SEMANTIC = [("Temperature", "degreeCelsius"), ("Pressure", "kilopascal"), ("Frequency", "hertz"),
            ("Velocity", "metrePerSecond"), ("Power", "watt"), ("Voltage", "volt")]
WORDS = ["sensor", "valve", "pump", "meter", "gateway", "camera", "lock", "light", "fan", "relay",
         "thermostat", "tracker", "scale", "drive", "charger", "panel", "beacon", "router"]


def schema(rng, depth=0, arrays=True):
    """A schema; `arrays=False` for properties, which DTDL v2 forbids to hold arrays."""
    kind = rng.random()
    if depth > 1 or kind < 0.55:
        return rng.choice(PRIMITIVES)
    if kind < 0.7:
        values = [{"name": f"state{v}", "enumValue": v} for v in range(rng.randint(2, 5))]
        return {"@type": "Enum", "valueSchema": "integer", "enumValues": values}
    if kind < 0.85:
        fields = [{"name": f"field{f}", "schema": schema(rng, depth + 1, arrays)} for f in range(rng.randint(2, 4))]
        return {"@type": "Object", "fields": fields}
    if kind < 0.93 and arrays:
        return {"@type": "Array", "elementSchema": schema(rng, depth + 1)}
    return {"@type": "Map", "mapKey": {"name": "key", "schema": "string"},
            "mapValue": {"name": "value", "schema": schema(rng, depth + 1, arrays)}}


def contents(rng, index):
    items = []
    for k in range(rng.randint(3, 10)):
        name = f"{rng.choice(WORDS)}{k}n{index}"
        roll = rng.random()
        if roll < 0.45:
            if rng.random() < 0.4:
                semantic, unit = rng.choice(SEMANTIC)
                items.append({"@type": ["Telemetry", semantic], "name": name, "schema": "double", "unit": unit})
            else:
                items.append({"@type": "Telemetry", "name": name, "schema": schema(rng)})
        elif roll < 0.8:
            items.append({"@type": "Property", "name": name, "schema": schema(rng, arrays=False),
                          "writable": rng.random() < 0.5, "displayName": {"en": f"Setting {k}"}})
        else:
            command = {"@type": "Command", "name": name, "description": f"Runs operation {k}."}
            if rng.random() < 0.6:
                command["request"] = {"name": "input", "schema": schema(rng)}
            if rng.random() < 0.6:
                command["response"] = {"name": "result", "schema": schema(rng)}
            items.append(command)
    return items


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--count", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument("--legacy", type=int, default=0)
    args = parser.parse_args()
    if not 0 <= args.legacy <= 10:
        parser.error("--legacy takes 0 to 10 models (the first interfaces are the component-free ones)")
    rng = random.Random(args.seed)
    depth = []        # extends depth of each interface
    leaves = []       # indexes of interfaces without components (usable as component schemas)
    dtmis = []
    for i in range(args.count):
        namespace = f"vendor{i % 40}"
        dtmi = f"dtmi:com:{namespace}:{rng.choice(WORDS).capitalize()}{i};1"
        model = {"@context": "dtmi:dtdl:context;2", "@id": dtmi, "@type": "Interface",
                 "displayName": {"en": f"Device type {i}"},
                 "description": f"Generated interface {i} for the import benchmark."}
        body = contents(rng, i)
        my_depth = 0
        if i > 10 and rng.random() < 0.25:
            bases = {rng.randrange(i) for _ in range(rng.randint(1, 2))}
            bases = [b for b in bases if depth[b] < 3]
            if bases:
                model["extends"] = [dtmis[b] for b in bases] if len(bases) > 1 else dtmis[bases[0]]
                my_depth = 1 + max(depth[b] for b in bases)
        has_components = False
        if len(leaves) > 10 and rng.random() < 0.25:
            for c, target in enumerate({rng.choice(leaves) for _ in range(rng.randint(1, 3))}):
                body.append({"@type": "Component", "name": f"part{c}n{i}", "schema": dtmis[target]})
                has_components = True
        if 1 <= i <= args.legacy:
            # Outside the root: `…:Gateway7Operation` does not start with `…:Gateway7`'s labels.
            operation = dtmi.split(";")[0] + "Operation;1"
            body.append({"@type": "Command", "name": f"operate{i}",
                         "request": {"name": "operation", "schema": {
                             "@id": operation, "@type": "Object",
                             "fields": [{"name": "register", "schema": "integer"}]}}})
        model["contents"] = body
        depth.append(my_depth)
        dtmis.append(dtmi)
        if not has_components and "extends" not in model:
            leaves.append(i)
        labels = dtmi[len("dtmi:"):].split(";")[0].lower().split(":")
        path = os.path.join(args.out, "dtmi", *labels[:-1], f"{labels[-1]}-1.json")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            json.dump(model, f, indent=2)
            f.write("\n")
    print(f"wrote {args.count} interfaces to {args.out}")


if __name__ == "__main__":
    main()
