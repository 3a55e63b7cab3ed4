// Writes map-2000.asl.json from the body of `map_2000()` in crates/states/benches/engine.rs.
// That `json!` literal is plain JSON, and the crate's serde_json keeps document order
// (`preserve_order`), so JSON.stringify(JSON.parse(body)) is byte for byte what
// `map_2000()` returns. `node export-definition.mjs --check` fails if the file is stale.
import { readFileSync, writeFileSync } from 'node:fs';

const here = new URL('.', import.meta.url);
const rust = readFileSync(new URL('../../crates/states/benches/engine.rs', here), 'utf8');
const m = rust.match(/fn map_2000\(\) -> String \{\s*json!\(([\s\S]*?)\)\s*\.to_string\(\)/);
if (!m) throw new Error('map_2000() not found in engine.rs');
const text = JSON.stringify(JSON.parse(m[1]));
const out = new URL('map-2000.asl.json', here);
if (process.argv.includes('--check')) {
  if (readFileSync(out, 'utf8') !== text) {
    console.error('map-2000.asl.json differs from map_2000() in engine.rs');
    process.exit(1);
  }
  console.log('map-2000.asl.json matches map_2000()');
} else {
  writeFileSync(out, text);
  console.log(`wrote map-2000.asl.json (${text.length} bytes)`);
}
