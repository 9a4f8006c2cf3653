import fs from 'fs'
import { getInterop } from '@digicatapult/dtdl-parser'
const p = await getInterop()
const input = fs.readFileSync(process.argv[2] ?? 0, 'utf-8')
try {
  const om = JSON.parse(p.parse(input))
  const std = process.argv.includes('--std')
  const out = {}
  for (const [k, v] of Object.entries(om)) if (std || !k.includes(':instance:') && !k.startsWith('dtmi:standard')) out[k] = v
  console.log(JSON.stringify({count: Object.keys(om).length, elements: out}, null, 1))
} catch (e) {
  let ex = e; try { ex = JSON.parse(e.message ?? e) } catch {}
  console.log(JSON.stringify(ex.Errors ? ex.Errors.map(x => [x.ValidationID.replace('dtmi:dtdl:parsingError:',''), x.PrimaryID, x.SecondaryID, x.Property, x.Value, x.Type]) : ex))
}
