// How many Balancers a process can hold under `ulimit -v`, and what the
// first one too many throws. Every Balancer owns one Wasm memory; V8 with its
// trap handler (the default on 64-bit) reserves about 10 GiB of address space
// per memory whatever its declared maximum, and without the trap handler
// (`node --disable-wasm-trap-handler`) it reserves the declared maximum. So
// this measures both: the failure is a CapacityError (LC_ERR_CAPACITY), never
// a bare RangeError, and the declared maximum (asconfig.json, what a table
// of MAX_CAP backends needs) bounds the reservation. Linux only (/proc).

import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const dist = fileURLToPath(new URL("../../dist/index.js", import.meta.url));
const GiB_KB = 1024 * 1024;
const TRY = 8;

// Creates up to TRY Balancers and reports how many were made, the VmSize
// growth per Balancer (KiB) and what the first failure threw.
const CHILD = `
import { readFileSync } from "node:fs";
const vm = () => +readFileSync("/proc/self/status", "utf8").match(/VmSize:\\s+(\\d+)/)[1];
const { Balancer } = await import(${JSON.stringify(dist)});
const base = vm();
const kept = [];
const sizes = [];
let error = null;
for (let i = 0; i < ${TRY}; i++) {
  const before = vm();
  try {
    const b = new Balancer({ backends: ["a", "b"] });
    if (b.acquire()?.backend !== "a") throw new Error("the Balancer does not pick");
    kept.push(b);
    sizes.push(vm() - before);
  } catch (e) {
    error = { name: e.name, code: e.code ?? null, rangeError: e instanceof RangeError };
    break;
  }
}
console.log(JSON.stringify({ base, made: kept.length, sizes, error }));
`;

interface Report {
  base: number;
  made: number;
  sizes: number[];
  error: { name: string; code: string | null; rangeError: boolean } | null;
}

function run(limitKb: number | null, flags: string[] = []): Report {
  // The program comes on stdin, so bash only sees the limit and the flags.
  const node = [process.execPath, ...flags, "--input-type=module"].join(" ");
  const script = (limitKb === null ? "" : `ulimit -v ${limitKb} && `) + `exec ${node}`;
  const r = spawnSync("bash", ["-c", script], { input: CHILD, encoding: "utf8", timeout: 30_000 });
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as Report;
}

// V8 uses its trap handler (and the 10 GiB reservation) on 64-bit Linux.
const linux =
  process.platform === "linux" &&
  (process.arch === "x64" || process.arch === "arm64") &&
  existsSync("/proc/self/status") &&
  existsSync(dist);
const noTrapFlag = process.allowedNodeEnvironmentFlags.has("--disable-wasm-trap-handler");

describe.skipIf(!linux)("Balancers under ulimit -v", () => {
  // The child's VmSize once the bundle is loaded, before any Balancer.
  const base = linux ? run(null, []).base : 0;

  it("with the trap handler: one Balancer in 10 GiB more than the base; the next is LC_ERR_CAPACITY", () => {
    const r = run(base + 11 * GiB_KB);
    expect(r.made).toBe(1);
    expect(r.sizes[0]).toBeGreaterThanOrEqual(10 * GiB_KB);
    expect(r.error).toEqual({ name: "CapacityError", code: "LC_ERR_CAPACITY", rangeError: false });
  });

  it("with the trap handler and 2 GiB more than the base: the first Balancer is LC_ERR_CAPACITY", () => {
    const r = run(base + 2 * GiB_KB);
    expect(r.made).toBe(0);
    expect(r.error).toEqual({ name: "CapacityError", code: "LC_ERR_CAPACITY", rangeError: false });
  });

  it.skipIf(!noTrapFlag)("without the trap handler a Balancer reserves at most its declared maximum (< 1.3 GiB), not 4 GiB", () => {
    const free = run(null, ["--disable-wasm-trap-handler"]);
    expect(free.made).toBe(TRY);
    // 19,115 pages (1,195 MiB) plus, for the first, V8's code space.
    for (const kb of free.sizes.slice(1)) expect(kb).toBeLessThan(1.3 * GiB_KB);
    // Under a limit V8 reserves the maximum while it can, then only what is
    // used (growing by copy): every Balancer still works.
    const limited = run(base + 3 * GiB_KB, ["--disable-wasm-trap-handler"]);
    expect(limited).toMatchObject({ made: TRY, error: null });
    expect(limited.sizes.filter((kb) => kb >= 700 * 1024).length).toBeLessThanOrEqual(3);
  });
});
