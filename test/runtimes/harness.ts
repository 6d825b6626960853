// Node-side plumbing of the cross-runtime tests: where the runtimes are,
// whether a missing one is a skip or a failure, esbuild bundles of the
// runtime-neutral modules, the cross-origin-isolated test server, Chromium
// and Deno processes.
//
// Policy: under CI (CI=true) a runtime that cannot start is a failure,
// never a skip. Elsewhere a runtime whose binary is truly absent is skipped,
// loudly.

import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { extname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";
import { type Browser, chromium } from "playwright-core";

export const ROOT = resolve(fileURLToPath(new URL("../..", import.meta.url)));
export const DIST_URL = new URL("../../dist/", import.meta.url).href;
export const CHROMIUM = "/usr/bin/chromium";
export const DENO = join(ROOT, "node_modules", ".bin", "deno");
export const IN_CI = process.env.CI === "true";

// Keep Chromium from reaching for Google's services (updates, sync, QUIC
// probes), which a machine without network makes it wait on; Playwright
// adds its own headless flags.
const CHROMIUM_FLAGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** True when the tests of a runtime must be skipped (never under CI). */
export function skipRuntime(name: string, binary: string): boolean {
  if (IN_CI || existsSync(binary)) return false;
  console.warn(`\n!!! SKIPPING every ${name} test: ${binary} is absent (under CI=true this is a failure) !!!\n`);
  return true;
}

export const GOLDEN_SCENARIO = join(ROOT, "test", "runtimes", "scenario.golden.txt");

export function readGolden(): string {
  return readFileSync(GOLDEN_SCENARIO, "utf8");
}

/** An esbuild bundle of one of our modules, as JavaScript text. */
export async function bundle(entry: string, platform: "neutral" | "node" = "neutral"): Promise<string> {
  const result = await esbuild.build({
    entryPoints: [join(ROOT, entry)],
    bundle: true,
    write: false,
    format: "esm",
    platform,
    target: "es2022",
    logLevel: "silent",
  });
  return result.outputFiles[0]!.text;
}

export interface TestServer {
  url: string;
  close(): Promise<void>;
}

const TYPES: Record<string, string> = {
  ".js": "text/javascript; charset=utf-8",
  ".html": "text/html; charset=utf-8",
  ".jsonl": "application/octet-stream",
};

/**
 * Serves `pages` (URL path → body) and the files under dist/, examples/
 * and test/transcripts/ on 127.0.0.1, every response cross-origin isolated so
 * pages may share memory with their workers.
 */
export async function startServer(pages: Record<string, string>): Promise<TestServer> {
  const server: Server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname);
    res.setHeader("Cross-Origin-Opener-Policy", "same-origin");
    res.setHeader("Cross-Origin-Embedder-Policy", "require-corp");
    res.setHeader("Cross-Origin-Resource-Policy", "same-origin");
    res.setHeader("Cache-Control", "no-store");
    const type = TYPES[extname(path)] ?? "text/plain; charset=utf-8";
    if (Object.hasOwn(pages, path)) {
      res.writeHead(200, { "Content-Type": path === "/" ? TYPES[".html"]! : type }).end(pages[path]);
      return;
    }
    const file = join(ROOT, path);
    const allowed = ["/dist/", "/examples/", "/test/transcripts/"].some((dir) => path.startsWith(dir)) && !path.includes("..");
    if (allowed && existsSync(file)) {
      res.writeHead(200, { "Content-Type": type }).end(readFileSync(file));
      return;
    }
    res.writeHead(404).end(`not found: ${path}`);
  });
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("the test server has no port");
  return {
    url: `http://127.0.0.1:${address.port}`,
    close: () => new Promise<void>((ok) => server.close(() => ok())),
  };
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_FLAGS, timeout: 60_000 });
}

export interface ProcessResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the npm-installed Deno with `args` from the repository root, colours off. */
export function runDeno(args: string[], timeoutMs = 150_000): Promise<ProcessResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(DENO, args, {
      cwd: ROOT,
      env: { ...process.env, NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1", DENO_NO_PROMPT: "1" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** The text a Deno test printed between `@@NAME@@` markers (see test/runtimes/deno/). */
export function between(output: string, name: string): string {
  const open = `@@${name}-begin@@\n`;
  const close = `@@${name}-end@@`;
  const start = output.indexOf(open);
  const end = output.indexOf(close, start);
  if (start < 0 || end < 0) throw new Error(`no ${name} block in the Deno output`);
  return output.slice(start + open.length, end);
}
