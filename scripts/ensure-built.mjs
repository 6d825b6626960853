// Rebuilds when any source is newer than the build, so `npm test` and
// `npm start` never run stale output.
import { existsSync, readdirSync, statSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const outputs = ["build/core.wasm", "build/core-wasm.js", "dist/index.js", "dist/cli.js"].map((f) => join(root, f));
const sources = ["assembly", "bindings", "cli", "asconfig.json", "scripts/build.mjs", "package.json"];

function newest(path) {
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  return Math.max(0, ...readdirSync(path).map((f) => newest(join(path, f))));
}

const built = outputs.every(existsSync) ? Math.min(...outputs.map((f) => statSync(f).mtimeMs)) : -1;
const changed = Math.max(...sources.map((s) => join(root, s)).filter(existsSync).map(newest));
if (changed > built) execFileSync(process.execPath, [join(root, "scripts", "build.mjs")], { stdio: "inherit" });
