// Runs the reference DTDL parser (the .NET DTDLParser compiled to WebAssembly, npm package
// @digicatapult/dtdl-parser, default options) over every case of the conformance-format files
// under the given folders and prints one JSON line per case:
//   {"file": "specification/X.json", "index": 0, "valid": true|false,
//    "errors": [["dtmi:dtdl:parsingError:...", "primary id or null"], ...], "unresolved": [...]}
// Usage (from a folder where the package is installed):
//   node reference.mjs DIR... > reference.jsonl
import fs from 'fs'
import path from 'path'
import { getInterop } from '@digicatapult/dtdl-parser'

const parser = await getInterop()

function* files(dir) {
  for (const name of fs.readdirSync(dir).sort()) {
    const p = path.join(dir, name)
    if (fs.statSync(p).isDirectory()) yield* files(p)
    else if (name.endsWith('.json')) yield p
  }
}

for (const root of process.argv.slice(2)) {
  const base = path.dirname(path.resolve(root))
  for (const file of files(root)) {
    let cases
    try {
      cases = JSON.parse(fs.readFileSync(file, 'utf-8').replace(/^\uFEFF/, ''))
    } catch {
      continue
    }
    if (!Array.isArray(cases)) cases = [cases]
    cases.forEach((c, index) => {
      if (!Array.isArray(c.input)) return
      const rel = path.relative(base, file).split(path.sep).join('/')
      const out = { file: rel, index, valid: true, errors: [], unresolved: [] }
      try {
        parser.parse(JSON.stringify(c.input))
      } catch (e) {
        out.valid = false
        let ex = e
        try {
          ex = JSON.parse(e.message ?? e)
        } catch {}
        if (ex && ex.ExceptionKind === 'Parsing') {
          out.errors = ex.Errors.map((x) => [x.ValidationID, x.PrimaryID ?? null])
        } else if (ex && ex.ExceptionKind === 'Resolution') {
          out.unresolved = ex.UndefinedIdentifiers
        } else {
          out.errors = [['exception', String(e)]]
        }
      }
      process.stdout.write(JSON.stringify(out) + '\n')
    })
  }
}
