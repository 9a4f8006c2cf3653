// Generates mutated DTDL inputs for differential runs against the reference parser.
//
// Seeds are the inputs of conformance-format case files (every case under the given case
// folders) and the models of DMR trees (each model with the models it references from the same
// tree, so that no resolver is needed). Each output is one seed with one to three mutations:
// members dropped, values retyped, @type changed or extended with co-types, array items and
// members duplicated, DTDL versions swapped, extension contexts added or removed, names and
// identifiers broken. Output: one JSON line per input, {"name": "...", "input": [doc, ...]}.
//
//   node mutate.mjs --count 20000 --seed 1 --cases DIR... --models DIR... > inputs.jsonl
//
// The same arguments always give the same inputs (a seeded generator, sorted file order).

import fs from 'fs'
import path from 'path'
import { files, readCases } from './cases.mjs'

const args = process.argv.slice(2)
let count = 1000
let seed = 1
const caseDirs = []
const modelDirs = []
for (let i = 0, mode = null; i < args.length; i++) {
  const a = args[i]
  if (a === '--count') count = Number(args[++i])
  else if (a === '--seed') seed = Number(args[++i])
  else if (a === '--cases' || a === '--models') mode = a
  else if (mode === '--cases') caseDirs.push(a)
  else if (mode === '--models') modelDirs.push(a)
  else throw new Error(`unexpected argument ${a}`)
}

// mulberry32: small, fast, reproducible.
let state = seed >>> 0
function random() {
  state = (state + 0x6d2b79f5) >>> 0
  let t = state
  t = Math.imul(t ^ (t >>> 15), t | 1)
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}
const pick = (list) => list[Math.floor(random() * list.length)]

const seeds = []
for (const dir of caseDirs) {
  for (const file of files(dir)) {
    const cases = readCases(file)
    if (!cases) continue
    cases.forEach((c, i) => {
      if (Array.isArray(c.input) && c.input.length > 0)
        seeds.push({ name: `${path.basename(file)}#${i}`, input: c.input })
    })
  }
}
for (const dir of modelDirs) {
  const tree = new Map()
  for (const file of files(dir)) {
    try {
      const doc = JSON.parse(fs.readFileSync(file, 'utf-8').replace(/^\uFEFF/, ''))
      for (const top of Array.isArray(doc) ? doc : [doc]) if (top && top['@id']) tree.set(top['@id'], doc)
    } catch {}
  }
  for (const [id, doc] of tree) {
    // The model and, transitively, every model of the tree it names.
    const closure = [doc]
    const seen = new Set([id])
    for (let k = 0; k < closure.length; k++) {
      for (const ref of JSON.stringify(closure[k]).match(/dtmi:[A-Za-z0-9_:]+;[0-9]+/g) ?? []) {
        if (!seen.has(ref) && tree.has(ref)) {
          seen.add(ref)
          closure.push(tree.get(ref))
        }
      }
    }
    seeds.push({ name: id, input: closure })
  }
}
if (seeds.length === 0) throw new Error('no seeds: give --cases and/or --models folders')

const TERMS = [
  'Interface', 'Telemetry', 'Property', 'Command', 'Component', 'Relationship', 'Array', 'Enum',
  'EnumValue', 'Map', 'MapKey', 'MapValue', 'Object', 'Field', 'CommandPayload', 'CommandRequest',
  'CommandResponse', 'double', 'integer', 'string', 'boolean', 'long', 'float', 'date', 'dateTime',
  'duration', 'time', 'byte', 'bytes', 'uuid', 'unsignedInteger', 'scaledDecimal', 'Historized',
  'Temperature', 'degreeCelsius', 'ValueAnnotation', 'Override', 'Required', 'Indexed', 'Unit',
  'SemanticType', 'Cacheable', 'Mqtt', 'Idempotent', 'Foobar',
]
const CONTEXTS = [
  'dtmi:dtdl:extension:annotation;1', 'dtmi:dtdl:extension:annotation;2',
  'dtmi:dtdl:extension:historization;1', 'dtmi:dtdl:extension:historization;2',
  'dtmi:dtdl:extension:mqtt;1', 'dtmi:dtdl:extension:mqtt;2', 'dtmi:dtdl:extension:mqtt;3',
  'dtmi:dtdl:extension:mqtt;4', 'dtmi:dtdl:extension:overriding;1', 'dtmi:dtdl:extension:overriding;2',
  'dtmi:dtdl:extension:quantitativeTypes;1', 'dtmi:dtdl:extension:quantitativeTypes;2',
  'dtmi:dtdl:extension:quantitativeTypes;3', 'dtmi:dtdl:extension:requirement;1',
  'dtmi:dtdl:extension:requirement;2', 'dtmi:iotcentral:context;2', 'dtmi:iotoperations:context;4',
  'dtmi:dtdl:extension:layering;1', 'dtmi:dtdl:extension:mqtt;5', 'dtmi:undefinedExtension:context;1',
]
const VALUES = [
  'string', 'x', '', 1, 0, -1, 2.5, 1e10, true, false, null, [], {}, ['a'], { en: 'x' },
  'dtmi:com:example:Other;1', 'dtmi:com:example:Other', 'a_', '1a', 'P1D', 'en-US', 'ab-xyz-',
]

/// Every (parent, key) slot of a JSON tree (objects by key, arrays by index).
function slots(node, out = []) {
  if (Array.isArray(node)) node.forEach((v, i) => { out.push([node, i]); slots(v, out) })
  else if (node && typeof node === 'object')
    for (const k of Object.keys(node)) { out.push([node, k]); slots(node[k], out) }
  return out
}
function objects(node, out = []) {
  if (Array.isArray(node)) node.forEach((v) => objects(v, out))
  else if (node && typeof node === 'object') {
    out.push(node)
    for (const v of Object.values(node)) objects(v, out)
  }
  return out
}
const tops = (input) => input.flatMap((d) => (Array.isArray(d) ? d : [d])).filter((d) => d && typeof d === 'object')

const MUTATIONS = {
  dropMember(input) {
    const s = slots(input).filter(([p]) => !Array.isArray(p))
    if (!s.length) return false
    const [p, k] = pick(s)
    delete p[k]
    return `drop ${k}`
  },
  dropItem(input) {
    const s = slots(input).filter(([p]) => Array.isArray(p) && p !== input)
    if (!s.length) return false
    const [p, i] = pick(s)
    p.splice(i, 1)
    return 'drop item'
  },
  retypeValue(input) {
    const s = slots(input).filter(([p, k]) => p !== input && k !== '@context')
    if (!s.length) return false
    const [p, k] = pick(s)
    p[k] = structuredClone(random() < 0.5 ? pick(VALUES) : pick(TERMS))
    return `retype ${k}`
  },
  retypeType(input) {
    const o = objects(input).filter((x) => '@type' in x)
    if (!o.length) return false
    const x = pick(o)
    const r = random()
    if (r < 0.4) x['@type'] = pick(TERMS)
    else if (r < 0.8) x['@type'] = [...(Array.isArray(x['@type']) ? x['@type'] : [x['@type']]), pick(TERMS)]
    else delete x['@type']
    return 'retype @type'
  },
  duplicateItem(input) {
    const arrays = slots(input).map(([p, k]) => p[k]).filter((v) => Array.isArray(v) && v.length)
    if (!arrays.length) return false
    const a = pick(arrays)
    const item = structuredClone(pick(a))
    if (item && typeof item === 'object' && random() < 0.5) {
      if ('name' in item) item.name = `${item.name}2`
      if ('@id' in item && random() < 0.5) delete item['@id']
    }
    a.push(item)
    return 'duplicate item'
  },
  copyMember(input) {
    const o = objects(input)
    const from = o.filter((x) => Object.keys(x).length)
    if (!from.length) return false
    const a = pick(from)
    const k = pick(Object.keys(a))
    pick(o)[k] = structuredClone(a[k])
    return `copy ${k}`
  },
  swapVersion(input) {
    const to = pick([2, 3, 4])
    const text = JSON.stringify(input).replace(/dtmi:dtdl:context;[0-9]/g, `dtmi:dtdl:context;${to}`)
    input.splice(0, input.length, ...JSON.parse(text))
    return `version ${to}`
  },
  addContext(input) {
    const t = tops(input)
    if (!t.length) return false
    const x = pick(t)
    const ctx = Array.isArray(x['@context']) ? x['@context'] : x['@context'] === undefined ? [] : [x['@context']]
    const c = pick(CONTEXTS)
    if (random() < 0.8) ctx.push(c)
    else ctx.unshift(c)
    x['@context'] = ctx
    return `context ${c}`
  },
  dropContext(input) {
    const t = tops(input).filter((x) => Array.isArray(x['@context']) && x['@context'].length > 1)
    if (!t.length) return false
    const ctx = pick(t)['@context']
    ctx.splice(Math.floor(random() * ctx.length), 1)
    return 'drop context'
  },
  breakName(input) {
    const o = objects(input).filter((x) => typeof x.name === 'string')
    if (!o.length) return false
    pick(o).name = pick(['1a', 'a_', '_a', 'a-b', 'x'.repeat(70), '', 'ok', 'name'])
    return 'name'
  },
  breakId(input) {
    const o = objects(input).filter((x) => typeof x['@id'] === 'string')
    if (!o.length) return false
    const x = pick(o)
    const id = x['@id']
    x['@id'] = pick([
      id.replace(/;[0-9.]+$/, ''), `${id}#frag`, id.replace(/^dtmi:/, 'dtmi:_'),
      id.replace(/;([0-9]+)$/, ';$1.2'), 'dtmi:dtdl:reserved;1', pick(o)['@id'], `${id}x`,
    ])
    return 'id'
  },
  addDocument(input) {
    const x = pick(seeds)
    input.push(...structuredClone(x.input).slice(0, 1))
    return 'add document'
  },
}
const NAMES = Object.keys(MUTATIONS)

let made = 0
for (let attempt = 0; made < count && attempt < count * 20; attempt++) {
  const s = pick(seeds)
  const input = structuredClone(s.input)
  const n = 1 + Math.floor(random() * 3)
  const applied = []
  for (let k = 0; k < n; k++) {
    const m = pick(NAMES)
    const what = MUTATIONS[m](input)
    if (what) applied.push(what)
  }
  if (!applied.length) continue
  process.stdout.write(JSON.stringify({ name: `${s.name} | ${applied.join(', ')}`, input }) + '\n')
  made++
}
process.stderr.write(`${made} inputs from ${seeds.length} seeds\n`)
