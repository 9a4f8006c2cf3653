// Reading conformance-format case files, shared by mutate.mjs and reference.mjs.
import fs from 'fs'
import path from 'path'

// Every .json file below `dir` (models' `.expanded.json` twins excluded), in sorted order.
export function* files(dir) {
  for (const name of fs.readdirSync(dir).sort()) {
    const p = path.join(dir, name)
    if (fs.statSync(p).isDirectory()) yield* files(p)
    else if (name.endsWith('.json') && !name.endsWith('.expanded.json')) yield p
  }
}

// The cases of one file (an array of cases or a single case, with or without BOM), or null.
export function readCases(file) {
  try {
    const cases = JSON.parse(fs.readFileSync(file, 'utf-8').replace(/^\uFEFF/, ''))
    return Array.isArray(cases) ? cases : [cases]
  } catch {
    return null
  }
}
