// Times aws-local-stepfunctions on map-2000.asl.json (the `map_2000()` machine of
// crates/states/benches/engine.rs) with input {"items": [1..2000]}; the Task `Call` is answered
// at once by a local handler that returns its parameters, as the Rust bench's `Instant0` does.
// Usage: node run.mjs [runs=7]   (one warm-up run first; prints the median)
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

// aws-local-stepfunctions 3.x declares node >=22 and calls Promise.withResolvers (V8 12) in every
// Task state; Node 20 lacks it, so add the standard one-line equivalent when missing.
const polyfilled = typeof Promise.withResolvers !== 'function';
if (polyfilled) {
  Promise.withResolvers = function withResolvers() {
    let resolve, reject;
    const promise = new this((res, rej) => { resolve = res; reject = rej; });
    return { promise, resolve, reject };
  };
}

const { StateMachine } = await import('aws-local-stepfunctions');
const version = JSON.parse(
  readFileSync(new URL('./node_modules/aws-local-stepfunctions/package.json', import.meta.url), 'utf8'),
).version;

const runs = Number(process.argv[2] ?? 7);
if (!Number.isInteger(runs) || runs < 1) throw new Error('runs must be a positive integer');
const definition = JSON.parse(readFileSync(new URL('./map-2000.asl.json', import.meta.url), 'utf8'));
const input = { items: Array.from({ length: 2000 }, (_, i) => i + 1) };
const machine = new StateMachine(definition); // validated once, outside the timing (as the Rust bench parses once)
const options = { overrides: { taskResourceLocalHandlers: { Call: async (parameters) => parameters } } };

async function runOnce() {
  const start = performance.now();
  const result = await machine.run(input, options).result;
  const ms = performance.now() - start;
  if (!Array.isArray(result) || result.length !== 2000 || result[1999].label !== 'item 1999 of 2000'
      || !/^[0-9a-f]{64}$/.test(result[1999].hash)) {
    throw new Error(`unexpected result: ${JSON.stringify(result).slice(0, 200)}`);
  }
  return ms;
}

await runOnce(); // warm-up, and check the machine succeeds
const times = [];
for (let i = 0; i < runs; i++) times.push(await runOnce());
const sorted = [...times].sort((a, b) => a - b);
const mid = sorted.length >> 1;
const median = sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;

console.error(`node ${process.version}${polyfilled ? ' (Promise.withResolvers polyfilled)' : ''}; runs (ms): ${times.map((t) => t.toFixed(1)).join(', ')}`);
console.log(`aws-local-stepfunctions ${version}: median ${median.toFixed(1)} ms over ${runs} runs (2000 items)`);
