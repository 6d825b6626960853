// `leastconn proxy` as a process: config validation (exit 2 naming the
// field), the admin listener (/backends, /metrics, POST down/up/drain),
// health checks, reload from the config file without a dropped request,
// and SIGTERM draining in-flight requests before exit 0.

import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { explain, loadConfig, parseFlags } from "../../cli/proxy/config.js";
import { reusePort } from "../../cli/proxy/workers.js";
import { backend, get, listen, type TestBackend, until } from "./helpers.js";
import { backs, CLI, cleanup, NODE22, named, procs, refuse, start } from "./process.js";

afterEach(cleanup);

describe("leastconn proxy", () => {
  it("refuses a bad configuration with exit 2 and the field and value named", () => {
    const dir = mkdtempSync(join(tmpdir(), "lc-proxy-"));
    const cases: Array<[string[], RegExp]> = [
      [["--backend", "ftp://x:1"], /--backend\[0\]\.url: must be an http:\/\/ URL, got "ftp:\/\/x:1"/],
      [["--backend", "http://127.0.0.1:1,weight=x"], /--backend\[0\]\.weight: must be an integer 0\.\.1000000, got "x"/],
      [["--backend", "http://127.0.0.1:1", "--listen", "nowhere"], /listen: must be HOST:PORT, got "nowhere"/],
      [["--backend", "http://127.0.0.1:1", "--algorithm", "fastest"], /algorithm: must be least-connections.*got "fastest"/],
      [["--backend", "http://127.0.0.1:1", "--retries=-1"], /retries: must be an integer 0\.\.100, got "-1"/],
      [[], /backends: must be a list of backend URLs/],
    ];
    writeFileSync(join(dir, "a.json"), JSON.stringify({ backends: [{ url: "http://127.0.0.1:1", weight: 1.5 }] }));
    cases.push([["--config", join(dir, "a.json")], /backends\[0\]\.weight: must be an integer 0\.\.1000000, got 1\.5/]);
    writeFileSync(join(dir, "b.json"), JSON.stringify({ backends: ["http://127.0.0.1:1"], health: { path: "/h", rise: 0 } }));
    cases.push([["--config", join(dir, "b.json")], /health\.rise: must be an integer 1\.\.1000, got 0/]);
    writeFileSync(join(dir, "c.json"), JSON.stringify({ backends: ["http://127.0.0.1:1"], listn: "x" }));
    cases.push([["--config", join(dir, "c.json")], /config\.listn: is not a setting/]);
    // In-process for each case (a process each would take seconds)...
    for (const [args, message] of cases) {
      let text = "";
      try {
        loadConfig(parseFlags(args));
      } catch (err) {
        text = explain(err);
      }
      expect(text, args.join(" ")).toMatch(message);
    }
    // ...and the process's exit status and message for two of them.
    for (const [args, message] of [cases[0]!, cases[7]!]) {
      const r = refuse(args);
      expect(r.status, args.join(" ")).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).toMatch(/^leastconn proxy: bad configuration: /);
    }
    const unknown = refuse(["--bogus"]);
    expect([unknown.status, unknown.stderr]).toEqual([2, expect.stringMatching(/Unknown option '--bogus'/)]);
  });

  it("spreads requests; the admin listener serves /backends, /metrics and POST down/up/drain", async () => {
    const a = await named("a");
    const b = await named("b");
    const p = await start(["--backend", a.url, "--backend", `${b.url},weight=2,name=bee`, "--admin", "127.0.0.1:0"]);
    // Concurrent requests spread: with one held at a, the next goes to b.
    const slow = get(p.port, "/slow");
    await until(() => a.hits === 1);
    expect((await get(p.port)).body.toString()).toBe("b");
    expect((await slow).body.toString()).toBe("a");
    const list = JSON.parse((await get(p.admin!, "/backends")).body.toString());
    expect(list.map((x: Record<string, unknown>) => [x.name, x.active, x.state, x.weight, x.total])).toEqual([
      [`127.0.0.1:${a.port}`, 0, "up", 1, 1],
      ["bee", 0, "up", 2, 1],
    ]);
    const down = await get(p.admin!, "/backends/bee/down", { method: "POST" });
    expect(JSON.parse(down.body.toString()).state).toBe("down");
    for (let i = 0; i < 3; i++) expect((await get(p.port)).body.toString()).toBe("a");
    expect((await get(p.admin!, "/backends/bee/up", { method: "POST" })).status).toBe(200);
    expect((await get(p.admin!, "/backends/nope/up", { method: "POST" })).status).toBe(404);
    expect((await get(p.admin!, "/backends/bee/up")).status).toBe(405);
    const metrics = (await get(p.admin!, "/metrics")).body.toString();
    expect(metrics).toContain(`leastconn_backend_requests_total{backend="127.0.0.1:${a.port}"} 4`);
    expect(metrics).toContain(`leastconn_backend_active{backend="bee"} 0`);
    expect(metrics).toContain(`leastconn_backend_state{backend="bee",state="up"} 1`);
    expect(metrics).toContain("leastconn_backend_latency_seconds_bucket");
    expect(metrics).toContain("leastconn_backend_failures_total");
    for (const line of metrics.split("\n")) if (line !== "" && !line.startsWith("#")) expect(line).toMatch(/^leastconn_/);
    const drain = await get(p.admin!, `/backends/127.0.0.1:${a.port}/drain`, { method: "POST" });
    expect(drain.status).toBe(200);
    await until(() => true);
    const after = JSON.parse((await get(p.admin!, "/backends")).body.toString());
    expect(after.map((x: Record<string, unknown>) => x.name)).toEqual(["bee"]);
    expect((await get(p.port)).body.toString()).toBe("b");
    p.proc.kill("SIGTERM");
    expect(await p.exited).toBe(0);
  });

  it("health checks take a failing backend down and bring it back up", async () => {
    const a = (await named("a")) as TestBackend & { sick?: boolean };
    const b = await named("b");
    const p = await start([
      "--backend",
      a.url,
      "--backend",
      b.url,
      "--health-path",
      "/health",
      "--health-interval",
      "50",
      "--health-rise",
      "2",
      "--health-fall",
      "2",
    ]);
    a.sick = true;
    await until(() => p.lines.some((l) => l.event === "health_down"), 5_000);
    for (let i = 0; i < 3; i++) expect((await get(p.port)).body.toString()).toBe("b");
    a.sick = false;
    await until(() => p.lines.some((l) => l.event === "health_up"), 5_000);
    expect((await get(p.port)).body.toString()).toBe("a");
    expect(p.lines.filter((l) => l.event === "health_down").map((l) => l.backend)).toEqual([`127.0.0.1:${a.port}`]);
  });

  it("reloads the config file: adds, drains, reweights, with no request dropped", async () => {
    const a = await named("a", 2);
    const b = await named("b", 2);
    const c = await named("c", 2);
    const dir = mkdtempSync(join(tmpdir(), "lc-proxy-"));
    const file = join(dir, "lc.json");
    writeFileSync(file, JSON.stringify({ backends: [a.url, b.url], admin: "127.0.0.1:0" }));
    const p = await start(["--config", file]);
    let stop = false;
    const seen = new Set<string>();
    const bad: number[] = [];
    const load = async (): Promise<void> => {
      while (!stop) {
        const r = await get(p.port);
        if (r.status !== 200) bad.push(r.status);
        seen.add(r.body.toString());
      }
    };
    const lanes = Array.from({ length: 8 }, load);
    await until(() => seen.has("a") && seen.has("b"));
    writeFileSync(file, JSON.stringify({ backends: [{ url: b.url, weight: 3 }, c.url], admin: "127.0.0.1:0" }));
    await until(() => p.lines.some((l) => l.event === "reloaded"), 5_000);
    const reloaded = p.lines.find((l) => l.event === "reloaded")!;
    expect([reloaded.added, reloaded.removed, reloaded.reweighted]).toEqual([
      [`127.0.0.1:${c.port}`],
      [`127.0.0.1:${a.port}`],
      [`127.0.0.1:${b.port}`],
    ]);
    const aHits = a.hits;
    await until(() => seen.has("c"));
    await new Promise((r) => setTimeout(r, 200));
    stop = true;
    await Promise.all(lanes);
    expect(bad).toEqual([]);
    // a drained: nothing new reached it after its in-flight requests ended.
    expect(a.hits - aHits).toBeLessThanOrEqual(8);
    const list = JSON.parse((await get(p.admin!, "/backends")).body.toString());
    expect(list.map((x: Record<string, unknown>) => [x.name, x.weight, x.active])).toEqual([
      [`127.0.0.1:${b.port}`, 3, 0],
      [`127.0.0.1:${c.port}`, 1, 0],
    ]);
    // A broken file is refused and the running config stays.
    writeFileSync(file, "{ not json");
    await until(() => p.lines.some((l) => l.event === "reload_failed"), 5_000);
    expect((await get(p.port)).status).toBe(200);
  });

  it("SIGTERM stops accepting, finishes in-flight requests, then exits 0", async () => {
    const a = await named("a");
    const p = await start(["--backend", a.url, "--drain-timeout", "5000"]);
    const inflight = get(p.port, "/slow");
    await until(() => a.hits === 1);
    p.proc.kill("SIGTERM");
    const r = await inflight;
    expect([r.status, r.body.toString()]).toEqual([200, "a"]);
    expect(await p.exited).toBe(0);
    expect(p.lines.find((l) => l.event === "stopped")?.cutOff).toBe(0);
    await expect(get(p.port)).rejects.toThrow();
  });

  it("SIGTERM past the drain deadline cuts what is left and still exits 0", async () => {
    const hang = await backend(() => {});
    backs.push(hang);
    const p = await start(["--backend", hang.url, "--drain-timeout", "200"]);
    const inflight = get(p.port).catch((e: Error) => e);
    await until(() => hang.hits === 1);
    p.proc.kill("SIGTERM");
    expect(await p.exited).toBe(0);
    expect(await inflight).toBeInstanceOf(Error);
    expect(p.lines.find((l) => l.event === "stopped")?.cutOff).toBe(1);
  });
  it("SIGHUP reloads the config file", async () => {
    const a = await named("a");
    const b = await named("b");
    const dir = mkdtempSync(join(tmpdir(), "lc-proxy-"));
    const file = join(dir, "lc.json");
    writeFileSync(file, JSON.stringify({ backends: [a.url] }));
    const p = await start(["--config", file]);
    writeFileSync(file, JSON.stringify({ backends: [b.url] }));
    p.proc.kill("SIGHUP");
    // The file watch may reload too (it polls); the SIGHUP reload is its own line.
    await until(() => p.lines.some((l) => l.event === "reloaded" && l.why === "SIGHUP"), 5_000);
    expect((await get(p.port)).body.toString()).toBe("b");
  });

  it("--workers 2 runs node:cluster on Node 20 (a table per worker), threads on 22.12+, and says so", async () => {
    const a = await named("a");
    const p = await start(["--backend", a.url, "--workers", "2"]);
    const mode = p.lines.find((l) => l.event === "workers");
    expect([mode?.mode, mode?.workers]).toEqual([reusePort() ? "threads" : "cluster", 2]);
    for (let i = 0; i < 4; i++) expect((await get(p.port)).body.toString()).toBe("a");
    p.proc.kill("SIGTERM");
    expect(await p.exited).toBe(0);
  });
  // Needs a Node with reusePort (22.12+): LEASTCONN_NODE22=/path/to/node, or
  // else one installed from npm (`npx -p node@22`). Skipped only when neither
  // can be had outside CI; under CI=true the test runs or fails.
  it.skipIf(NODE22 === undefined && process.env.CI !== "true")("--workers 2 with reusePort: threads share one count table", async () => {
    if (NODE22 === undefined) throw new Error("no Node >= 22.12 for the reusePort test (set LEASTCONN_NODE22)");
    const a = await named("a", 100);
    const b = await named("b", 100);
    const s = createServer();
    const port = await listen(s);
    await new Promise((r) => s.close(r));
    const proc = spawn(
      NODE22,
      [CLI, "proxy", "--listen", `127.0.0.1:${port}`, "--admin", "127.0.0.1:0", "--workers", "2", "--backend", a.url, "--backend", b.url],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    procs.push(proc);
    const lines: Array<Record<string, unknown>> = [];
    proc.stdout!.on("data", (c: Buffer) => {
      for (const l of c.toString().split("\n")) if (l !== "") lines.push(JSON.parse(l));
    });
    await until(() => lines.filter((l) => l.event === "listening").length === 2, 10_000);
    expect(lines.find((l) => l.event === "workers")?.mode).toBe("threads");
    const adminPort = Number(String(lines.find((l) => l.admin !== null && l.event === "listening")!.admin).split(":")[1]);
    const replies = await Promise.all(Array.from({ length: 40 }, () => get(port)));
    expect(replies.every((r) => r.status === 200)).toBe(true);
    // Both threads served (each logs nothing per request; the kernel spreads
    // connections), and the admin thread's table saw all 40: one shared table.
    const list = JSON.parse((await get(adminPort, "/backends")).body.toString());
    expect(list.map((x: Record<string, number>) => x.total).reduce((p: number, q: number) => p + q)).toBe(40);
    expect(list.map((x: Record<string, number>) => x.active)).toEqual([0, 0]);
    const exited = new Promise((resolve) => proc.on("exit", resolve));
    proc.kill("SIGTERM");
    expect(await exited).toBe(0);
  });
});
