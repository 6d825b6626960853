// `leastconn proxy` run as a process, for the suites that do: start one and
// read its JSON log lines, backends that answer their name, and cleanup.

import { type ChildProcess, execFileSync, spawn, spawnSync } from "node:child_process";
import { join } from "node:path";
import { backend, type TestBackend, until } from "./helpers.js";

// A Node with reusePort for the threads mode of --workers (see the last test).
export const NODE22 = ((): string | undefined => {
  if (process.env.LEASTCONN_NODE22) return process.env.LEASTCONN_NODE22;
  try {
    const out = execFileSync("npx", ["-y", "-p", "node@22", "node", "-p", "process.execPath"], { encoding: "utf8", timeout: 180_000 });
    return out.trim() || undefined;
  } catch {
    return undefined;
  }
})();

export const CLI = join(import.meta.dirname, "../../dist/cli.js");
export const procs: ChildProcess[] = [];
export const backs: TestBackend[] = [];
/** For afterEach: kills the processes a test started and closes its backends. */
export async function cleanup(): Promise<void> {
  for (const p of procs.splice(0)) if (p.exitCode === null) p.kill("SIGKILL");
  for (const b of backs.splice(0)) await b.close();
}

export interface Running {
  proc: ChildProcess;
  port: number;
  admin: number | null;
  lines: Array<Record<string, unknown>>;
  exited: Promise<number | null>;
}

export async function start(args: string[]): Promise<Running> {
  const proc = spawn(process.execPath, [CLI, "proxy", "--listen", "127.0.0.1:0", ...args], { stdio: ["ignore", "pipe", "pipe"] });
  procs.push(proc);
  const lines: Array<Record<string, unknown>> = [];
  let buf = "";
  proc.stdout!.on("data", (c: Buffer) => {
    buf += c.toString();
    let nl = buf.indexOf("\n");
    while (nl >= 0) {
      lines.push(JSON.parse(buf.slice(0, nl)));
      buf = buf.slice(nl + 1);
      nl = buf.indexOf("\n");
    }
  });
  let err = "";
  proc.stderr!.on("data", (c: Buffer) => {
    err += c.toString();
  });
  const exited = new Promise<number | null>((resolve) => proc.on("exit", (code) => resolve(code)));
  // With --admin, the line of the worker that serves it (under --workers on
  // Node 22.12+, only thread 0 does, and another may listen first).
  const wanted = args.includes("--admin")
    ? (l: Record<string, unknown>) => l.event === "listening" && l.admin !== null
    : (l: Record<string, unknown>) => l.event === "listening";
  await until(() => lines.some(wanted) || proc.exitCode !== null, 10_000);
  const l = lines.find(wanted);
  if (l === undefined) throw new Error(`did not start: ${err}`);
  const port = Number(String(l.listen).split(":")[1]);
  const admin = l.admin === null ? null : Number(String(l.admin).split(":")[1]);
  return { proc, port, admin, lines, exited };
}

export async function named(name: string, delayMs = 0): Promise<TestBackend> {
  const b = await backend((req, res) => {
    if (req.url === "/health") {
      res.statusCode = (b as TestBackend & { sick?: boolean }).sick ? 500 : 200;
      res.end();
      return;
    }
    setTimeout(() => res.end(name), req.url === "/slow" ? 300 : delayMs);
  });
  backs.push(b);
  return b;
}

export function refuse(args: string[]): { status: number | null; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, "proxy", ...args], { encoding: "utf8", timeout: 10_000 });
  return { status: r.status, stderr: r.stderr };
}
