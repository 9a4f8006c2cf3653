// Runs the reference DTDL parser (the .NET DTDLParser compiled to WebAssembly, npm package
// @digicatapult/dtdl-parser, default options, no resolver) over inputs and prints one JSON line
// per input:
//   {"name": "...", "input": [doc, ...], "valid": true|false,
//    "errors": [{"ValidationID": ..., "PrimaryID": ..., "SecondaryID": ..., "Property": ...,
//                "Value": ..., "Type": ...}, ...],
//    "unresolved": [...], "count": N, "model": {id: element}, "standard": [id, ...]}
// `model` holds the elements that are not standard elements, without members at their
// default (null, false, [] or {}); `standard` lists the standard elements the model holds.
// Inputs are the cases of conformance-format files under folders, or a JSON-lines file of
// {"name", "input"} records (from mutate.mjs):
//   node reference.mjs DIR... > reference.jsonl
//   node reference.mjs --inputs inputs.jsonl > reference.jsonl
import fs from 'fs'
import path from 'path'
import { files, readCases } from './cases.mjs'
import readline from 'readline'
import { getInterop } from '@digicatapult/dtdl-parser'

const parser = await getInterop()
const STANDARD = /^dtmi:(dtdl:instance:|dtdl:extension:quantitativeTypes:v[0-9]+:unit:|standard:)/

function isDefault(v) {
  return (
    v === null ||
    v === false ||
    (Array.isArray(v) && v.length === 0) ||
    (v && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length === 0)
  )
}

function run(name, input) {
  const out = { name, input, valid: true, errors: [], unresolved: [] }
  try {
    const om = JSON.parse(parser.parse(JSON.stringify(input)))
    const model = {}
    const standard = []
    for (const [id, el] of Object.entries(om)) {
      // Standard elements have no DefinedIn and an id in the language's own namespaces.
      if (STANDARD.test(id) && !el.DefinedIn) {
        standard.push(id)
        continue
      }
      const kept = {}
      for (const [k, v] of Object.entries(el)) if (!isDefault(v)) kept[k] = v
      model[id] = kept
    }
    out.count = Object.keys(om).length
    out.model = model
    out.standard = standard.sort()
  } catch (e) {
    out.valid = false
    let ex = e
    try {
      ex = JSON.parse(e.message ?? e)
    } catch {}
    if (ex && ex.ExceptionKind === 'Parsing') {
      out.errors = ex.Errors.map((x) => ({
        ValidationID: x.ValidationID,
        PrimaryID: x.PrimaryID ?? null,
        SecondaryID: x.SecondaryID ?? null,
        Property: x.Property ?? null,
        Value: x.Value ?? null,
        Type: x.Type ?? null,
      }))
    } else if (ex && ex.ExceptionKind === 'Resolution') {
      out.unresolved = ex.UndefinedIdentifiers
    } else {
      out.errors = [{ ValidationID: 'exception', PrimaryID: String(e) }]
    }
  }
  process.stdout.write(JSON.stringify(out) + '\n')
}

const args = process.argv.slice(2)
if (args[0] === '--inputs') {
  const lines = readline.createInterface({ input: fs.createReadStream(args[1]), crlfDelay: Infinity })
  for await (const line of lines) {
    if (!line.trim()) continue
    const r = JSON.parse(line)
    run(r.name, r.input)
  }
} else {
  for (const root of args) {
    const base = path.dirname(path.resolve(root))
    for (const file of files(root)) {
      const cases = readCases(file)
      if (!cases) continue
      const rel = path.relative(base, file).split(path.sep).join('/')
      cases.forEach((c, index) => {
        if (Array.isArray(c.input)) run(`${rel}#${index}`, c.input)
      })
    }
  }
}
