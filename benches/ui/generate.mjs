// Pushes N synthetic models (default 20,000) into a running twinhub for page-time measurements:
// 40 namespaces, every model with telemetry and properties (units, semantic types), every third
// with a command, every tenth a component pointing at an earlier model of its namespace.
// Usage: node benches/ui/generate.mjs http://127.0.0.1:8080 ADMIN_TOKEN [N]
const [base, token, count = "20000"] = process.argv.slice(2);
const total = Number(count);
const units = [["Temperature", "degreeCelsius"], ["Pressure", "kilopascal"], ["Velocity", "metrePerSecond"], ["Power", "watt"]];
const batch = 1000;
const started = Date.now();
for (let first = 0; first < total; first += batch) {
  const models = [];
  for (let i = first; i < Math.min(first + batch, total); i++) {
    const ns = `dtmi:com:vendor${i % 8}:line${i % 5}`;
    const [semantic, unit] = units[i % units.length];
    const contents = [
      { "@type": ["Telemetry", semantic], name: "reading", schema: "double", unit },
      { "@type": "Property", name: "serial", schema: "string" },
      { "@type": "Property", name: "setpoint", schema: "double", writable: i % 2 === 0 },
    ];
    if (i % 3 === 0) contents.push({ "@type": "Command", name: "reset", request: { name: "delay", schema: "duration" } });
    // Components point at the previous model (never one with a component: DTDL forbids nesting).
    if (i % 10 === 9) contents.push({ "@type": "Component", name: "part", schema: `dtmi:com:vendor${(i - 1) % 8}:line${(i - 1) % 5}:Device${i - 1};1` });
    models.push({
      "@context": ["dtmi:dtdl:context;3", "dtmi:dtdl:extension:quantitativeTypes;1"],
      "@id": `${ns}:Device${i};1`,
      "@type": "Interface",
      displayName: `Device ${i}`,
      description: `Synthetic device number ${i} for page timing`,
      contents,
    });
  }
  const response = await fetch(`${base}/api/v1/models`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify(models),
  });
  if (!response.ok) throw new Error(`push failed: ${response.status} ${await response.text()}`);
}
console.log(`pushed ${total} models in ${((Date.now() - started) / 1000).toFixed(1)} s`);
