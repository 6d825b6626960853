// The older builds the benches time beside today's, built on demand from
// git: `await baseline("core")` returns the file URL of one ESM bundle of
// that build's entry, with its Wasm inlined. The first call exports the
// pinned commit into a temporary directory (git archive, so this checkout is
// untouched), links this checkout's node_modules into it, runs that commit's
// own `node scripts/build.mjs`, and bundles the entry into one file with
// esbuild; later calls find it in the cache (node_modules/.cache, ignored by
// git). Needs the repository's history (a normal clone has it).
//
// `node bench/baseline.mjs [name...]` builds them ahead of a run (default:
// all) and prints where they are.

import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const cache = join(root, "node_modules", ".cache", "leastconn-baselines");

/** Each baseline: the commit, the entry of its dist/ to bundle, and what it stands for. */
export const BASELINES = {
  // bench:core's "previous build": the Balancer with issue 7's split core,
  // before limits, slow start and peak-ewma (merge of wt-core). Its 4,049-byte
  // Wasm is the one the limits rows are measured against.
  core: { ref: "81ed5a9052e76fab22f76035f3530216d250e8a6", entry: "dist/index.js" },
  // bench:shared's "before issue 12": the shared-memory entry with the
  // ownerless spinlock and no per-thread lease rows (merge of wt-core8), so
  // the cost of surviving a dying thread is a ratio from one run.
  shared: { ref: "a371bb66c00d8f6009488447e978449a0c620b64", entry: "dist/shared.js" },
};

/** Where baseline `name` is cached (it may not be built yet). */
export function baselinePath(name) {
  const b = BASELINES[name];
  if (b === undefined) throw new Error(`unknown baseline ${name}; known: ${Object.keys(BASELINES).join(", ")}`);
  return join(cache, `${name}-${b.ref.slice(0, 12)}.mjs`);
}

/** The file URL of baseline `name`, built first when it is not cached. */
export async function baseline(name) {
  const out = baselinePath(name);
  if (!existsSync(out)) await build(name, out);
  return pathToFileURL(out).href;
}

async function build(name, out) {
  const { ref, entry } = BASELINES[name];
  const git = (args, options = {}) => execFileSync("git", ["-C", root, ...args], { stdio: ["ignore", "pipe", "inherit"], ...options });
  try {
    git(["cat-file", "-e", `${ref}^{commit}`]);
  } catch {
    throw new Error(`baseline ${name}: commit ${ref} is not in this clone (a shallow clone? run git fetch --unshallow)`);
  }
  const work = mkdtempSync(join(tmpdir(), `leastconn-baseline-${name}-`));
  try {
    console.error(`building baseline ${name} from ${ref.slice(0, 7)} in ${work} ...`);
    execFileSync("tar", ["-x", "-C", work], { input: git(["archive", "--format=tar", ref], { maxBuffer: 1 << 30 }) });
    symlinkSync(join(root, "node_modules"), join(work, "node_modules"), "dir");
    execFileSync(process.execPath, ["scripts/build.mjs"], { cwd: work, stdio: ["ignore", "ignore", "inherit"] });
    const esbuild = await import("esbuild");
    mkdirSync(cache, { recursive: true });
    // Written beside, then renamed: a bench started at the same time sees
    // either no file or a whole one.
    const partial = `${out}.${process.pid}.tmp`;
    await esbuild.build({
      entryPoints: [join(work, entry)],
      outfile: partial,
      bundle: true,
      format: "esm",
      platform: "neutral",
      target: "es2022",
      logLevel: "warning",
      banner: { js: `// ${entry} as built at commit ${ref} (bench/baseline.mjs, baseline "${name}"). Generated.` },
    });
    renameSync(partial, out);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const names = process.argv.length > 2 ? process.argv.slice(2) : Object.keys(BASELINES);
  for (const name of names) console.log(`${name}: ${fileURLToPath(await baseline(name))}`);
}
