// Faults of `leastconn proxy` as a process, found by a hunt: the admin port
// and reloads must never take the proxy down; an operator's actions and the
// health checks must not undo each other; a reload refuses what a start
// refuses; and --workers must not fork forever or apply an operator's
// action in one worker only.

import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { explain, loadConfig, parseFlags } from "../../cli/proxy/config.js";
import { reusePort } from "../../cli/proxy/workers.js";
import { backend, get, listen, type TestBackend, until } from "./helpers.js";
import { backs, CLI, cleanup, NODE22, named, procs, type Running, start } from "./process.js";

afterEach(cleanup);

/** The raw reply to raw request bytes (until the server closes, or 2 s). */
function raw(port: number, text: string): Promise<string> {
  return new Promise((resolve) => {
    const s = connect(port, "127.0.0.1");
    let got = "";
    s.on("data", (c) => {
      got += c.toString("latin1");
    });
    s.on("error", () => {});
    s.on("close", () => resolve(got));
    s.write(text);
    setTimeout(() => s.destroy(), 2_000);
  });
}

function config(obj: unknown): string {
  const file = join(mkdtempSync(join(tmpdir(), "lc-proxy-")), "lc.json");
  writeFileSync(file, JSON.stringify(obj));
  return file;
}

async function busyPort(): Promise<{ port: number; server: Server }> {
  const server = createServer();
  const port = await listen(server);
  backs.push({ server, port, url: "", hits: 0, close: () => new Promise((r) => server.close(() => r())) } as TestBackend);
  return { port, server };
}

describe("leastconn proxy, faults", () => {
  it("the admin port answers a malformed target with 400, HEAD like GET, a POST with a body, and the proxy keeps serving", async () => {
    const a = await named("a");
    const p = await start(["--backend", a.url, "--admin", "127.0.0.1:0"]);
    for (const target of ["http://%zz/", "http://[", "http://a:b@", "//%zz", "*"]) {
      const reply = await raw(p.admin!, `GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      expect(reply, target).toMatch(/^HTTP\/1\.1 400 /);
    }
    const head = await raw(p.admin!, "HEAD /backends HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    expect(head).toMatch(/^HTTP\/1\.1 200 /);
    const name = encodeURIComponent(`127.0.0.1:${a.port}`);
    const withBody = await get(p.admin!, `/backends/${name}/down`, { method: "POST", body: Buffer.alloc(16 << 10, 120) });
    expect([withBody.status, JSON.parse(withBody.body.toString()).state]).toEqual([200, "down"]);
    const big = await raw(
      p.admin!,
      `POST /backends/${name}/up HTTP/1.1\r\nHost: x\r\nContent-Length: ${4 << 20}\r\n\r\n${"x".repeat(128 << 10)}`,
    );
    expect(big).toMatch(/^HTTP\/1\.1 413 .*\r\nconnection: close\r\n/is);
    expect((await get(p.admin!, `/backends/${name}/up`, { method: "POST" })).status).toBe(200);
    expect((await get(p.port)).body.toString()).toBe("a");
    expect(p.proc.exitCode).toBeNull();
  });

  it("a reload with health checks on applies (it used to exit), and health settings change live", async () => {
    const a = await named("a");
    const b = await named("b");
    const health = { path: "/health", intervalMs: 50, rise: 1, fall: 1 };
    const file = config({ backends: [a.url], health, admin: "127.0.0.1:0" });
    const p = await start(["--config", file]);
    writeFileSync(file, JSON.stringify({ backends: [b.url], health: { ...health, intervalMs: 60 }, admin: "127.0.0.1:0" }));
    p.proc.kill("SIGHUP");
    await until(() => p.lines.some((l) => l.event === "reloaded" && l.why === "SIGHUP"), 5_000);
    const line = p.lines.find((l) => l.event === "reloaded" && l.why === "SIGHUP")!;
    expect([line.added, line.removed, line.needsRestart]).toEqual([[`127.0.0.1:${b.port}`], [`127.0.0.1:${a.port}`], []]);
    expect((await get(p.port)).body.toString()).toBe("b");
    // The new backend is checked: sick, it goes down.
    (b as TestBackend & { sick?: boolean }).sick = true;
    await until(() => p.lines.some((l) => l.event === "health_down" && l.backend === `127.0.0.1:${b.port}`), 5_000);
    expect(p.proc.exitCode).toBeNull();
  });

  it("a reload refuses what a start refuses, and names what needs a restart", async () => {
    const a = await named("a");
    const file = config({ backends: [a.url] });
    const p = await start(["--config", file]);
    writeFileSync(file, JSON.stringify({ backends: [a.url], queue: { limit: -5 } }));
    p.proc.kill("SIGHUP");
    await until(() => p.lines.some((l) => l.event === "reload_failed"), 5_000);
    expect(p.lines.find((l) => l.event === "reload_failed")!.error).toMatch(/^queue\.limit must be an integer/);
    let text = "";
    try {
      loadConfig(parseFlags(["--config", file]));
    } catch (err) {
      text = explain(err);
    }
    expect(text).toMatch(/^queue\.limit must be an integer .*got -5$/);
    writeFileSync(file, JSON.stringify({ backends: [a.url], ejection: { consecutiveFailures: 2 }, health: { path: "/health" } }));
    p.proc.kill("SIGHUP");
    await until(() => p.lines.some((l) => l.event === "reloaded" && l.why === "SIGHUP"), 5_000);
    expect(p.lines.find((l) => l.event === "reloaded" && l.why === "SIGHUP")!.needsRestart).toEqual(["ejection", "health"]);
    expect((await get(p.port)).body.toString()).toBe("a");
  });

  it("--trust-forwarded and trustForwarded in the file are read; anything but a boolean is refused", () => {
    expect(loadConfig(parseFlags(["--backend", "http://127.0.0.1:1", "--trust-forwarded"])).trustForwarded).toBe(true);
    expect(loadConfig(parseFlags(["--backend", "http://127.0.0.1:1"])).trustForwarded).toBe(false);
    let text = "";
    try {
      loadConfig(parseFlags(["--config", config({ backends: ["http://127.0.0.1:1"], trustForwarded: "yes" })]));
    } catch (err) {
      text = explain(err);
    }
    expect(text).toBe('trustForwarded: must be true or false, got "yes"');
  });

  it("an operator's up leaves a backend failing its checks down; passing checks do not undo a drain", async () => {
    const a = (await named("a")) as TestBackend & { sick?: boolean };
    let release: (() => void) | null = null;
    const c = (await backend((req, res) => {
      if (req.url === "/health") {
        res.statusCode = (c as TestBackend & { sick?: boolean }).sick ? 500 : 200;
        res.end();
      } else if (req.url === "/hold") release = () => res.end("held");
      else res.end("c");
    })) as TestBackend & { sick?: boolean };
    backs.push(c);
    const p = await start([
      ...["--backend", a.url, "--backend", c.url, "--admin", "127.0.0.1:0"],
      ...["--health-path", "/health", "--health-interval", "50", "--health-rise", "1", "--health-fall", "1"],
    ]);
    const state = async (port: number): Promise<string | undefined> =>
      JSON.parse((await get(p.admin!, "/backends")).body.toString()).find((x: { name: string }) => x.name === `127.0.0.1:${port}`)?.state;
    a.sick = true;
    await until(() => p.lines.some((l) => l.event === "health_down"), 5_000);
    const up = await get(p.admin!, `/backends/127.0.0.1:${a.port}/up`, { method: "POST" });
    expect([up.status, JSON.parse(up.body.toString()).state]).toEqual([200, "down"]);
    await new Promise((r) => setTimeout(r, 200)); // four more failed checks
    expect(await state(a.port)).toBe("down");
    for (let i = 0; i < 4; i++) expect((await get(p.port)).body.toString()).toBe("c");

    // c: a request in flight, failing checks, drained, then passing checks.
    const held = get(p.port, "/hold");
    await until(() => release !== null);
    c.sick = true;
    await until(() => p.lines.some((l) => l.event === "health_down" && l.backend === `127.0.0.1:${c.port}`), 5_000);
    expect((await get(p.admin!, `/backends/127.0.0.1:${c.port}/drain`, { method: "POST" })).status).toBe(200);
    c.sick = false;
    await new Promise((r) => setTimeout(r, 300));
    expect(await state(c.port)).toBe("draining");
    // a passes its checks again: back up, as the operator asked.
    a.sick = false;
    await until(() => p.lines.some((l) => l.event === "health_up"), 5_000);
    expect(await state(a.port)).toBe("up");
    expect((await get(p.port)).body.toString()).toBe("a");
    release!();
    expect((await held).body.toString()).toBe("held");
    // Its last request done, it leaves the table.
    for (let i = 0; i < 50 && (await state(c.port)) !== undefined; i++) await new Promise((r) => setTimeout(r, 20));
    expect(await state(c.port)).toBeUndefined();
  });

  it("--workers 2 (cluster): a port in use exits 2 at once instead of forking forever", async () => {
    const { port } = await busyPort();
    const a = await named("a");
    const proc = spawn(process.execPath, [CLI, "proxy", "--listen", `127.0.0.1:${port}`, "--workers", "2", "--backend", a.url], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    procs.push(proc);
    let out = "";
    proc.stdout!.on("data", (c: Buffer) => {
      out += c.toString();
    });
    const code = await new Promise((resolve) => proc.on("exit", resolve));
    expect(code).toBe(2);
    expect(out.match(/"event":"worker_exit"/g)?.length).toBe(1);
  });

  // On Node 20 (cluster) and on Node 22.12+ (threads): the proxy port binds, the admin port does not.
  for (const [mode, node] of [
    ["cluster", process.execPath],
    ["threads", NODE22],
  ] as const) {
    it.skipIf(node === undefined && process.env.CI !== "true")(
      `--workers 2 (${mode}): the admin port in use exits 2, not a restart loop`,
      async () => {
        if (node === undefined) throw new Error("no Node >= 22.12 for the reusePort test (set LEASTCONN_NODE22)");
        const { port } = await busyPort();
        const a = await named("a");
        const proc = spawn(
          node,
          [CLI, "proxy", "--listen", "127.0.0.1:0", "--admin", `127.0.0.1:${port}`, "--workers", "2", "--backend", a.url],
          {
            stdio: ["ignore", "pipe", "pipe"],
          },
        );
        procs.push(proc);
        let out = "";
        proc.stdout!.on("data", (c: Buffer) => {
          out += c.toString();
        });
        const exited = new Promise((resolve) => proc.on("exit", resolve));
        const code = await Promise.race([exited, new Promise((r) => setTimeout(() => r("still running after 15 s"), 15_000))]);
        expect(code).toBe(2);
        expect(out.match(/"event":"worker_exit"/g)?.length).toBe(1);
      },
    );
  }

  it.skipIf(NODE22 === undefined && process.env.CI !== "true")(
    "--workers 2 (threads): each backend's maxConnections, the queue and ejection from the config apply in every thread",
    async () => {
      if (NODE22 === undefined) throw new Error("no Node >= 22.12 for the reusePort test (set LEASTCONN_NODE22)");
      const a = await named("a");
      const bad = await backend((_req, res) => {
        res.statusCode = 500;
        res.end("no");
      });
      backs.push(bad);
      const file = config({
        backends: [{ url: a.url, maxConnections: 1 }, { url: bad.url }],
        algorithm: "round-robin", // sequential requests reach both (least-connections would tie on the first)
        ejection: { consecutiveFailures: 1, baseMs: 60_000, maxPercent: 100 },
        queue: { limit: 0 },
      });
      const proc = spawn(NODE22, [CLI, "proxy", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--workers", "2", "--config", file], {
        stdio: ["ignore", "pipe", "inherit"],
      });
      procs.push(proc);
      const lines: Array<Record<string, unknown>> = [];
      proc.stdout!.on("data", (c: Buffer) => {
        for (const l of c.toString().split("\n")) if (l !== "") lines.push(JSON.parse(l));
      });
      await until(() => lines.filter((l) => l.event === "listening").length === 2, 10_000);
      const listening = lines.find((l) => l.event === "listening" && l.admin !== null)!;
      const port = Number(String(listening.listen).split(":")[1]);
      const admin = Number(String(listening.admin).split(":")[1]);
      const list = JSON.parse((await get(admin, "/backends")).body.toString()) as Array<Record<string, unknown>>;
      expect(list.map((x) => x.maxConnections)).toEqual([1, null]);
      // Before, threads balanced without ejection: the failing backend kept its share for good.
      for (let i = 0; i < 20 && !lines.some((l) => l.event === "ejected"); i++) await get(port);
      expect(lines.find((l) => l.event === "ejected")?.backend).toBe(new URL(bad.url).host);
      const exited = new Promise((resolve) => proc.on("exit", resolve));
      proc.kill("SIGTERM");
      expect(await exited).toBe(0);
    },
  );

  const clusterMode = !reusePort();
  // Two cluster workers in front of a and b, with an admin port. Round-robin:
  // sequential requests reach both backends (least-connections ties on the first).
  const twoWorkers = async (a: TestBackend, b: TestBackend): Promise<Running> => {
    const p = await start([
      "--backend",
      a.url,
      "--backend",
      b.url,
      "--workers",
      "2",
      "--admin",
      "127.0.0.1:0",
      "--algorithm",
      "round-robin",
    ]);
    await until(() => p.lines.filter((l) => l.event === "listening").length === 2, 10_000);
    return p;
  };
  it.skipIf(!clusterMode)("--workers 2 (cluster): a replacement worker applies the operator's down from before it started", async () => {
    const a = await named("a");
    const b = await named("b");
    const p = await twoWorkers(a, b);
    expect((await get(p.admin!, `/backends/127.0.0.1:${b.port}/down`, { method: "POST" })).status).toBe(200);
    await new Promise((r) => setTimeout(r, 200));
    // Kill both workers in turn; each replacement is told of the down when it is ready.
    for (const worker of p.lines.filter((l) => l.event === "listening").map((l) => Number(l.pid))) {
      const before = p.lines.filter((l) => l.event === "listening").length;
      process.kill(worker, "SIGKILL");
      await until(() => p.lines.filter((l) => l.event === "listening").length === before + 1, 10_000);
    }
    await new Promise((r) => setTimeout(r, 200));
    const hits = b.hits;
    for (let i = 0; i < 40; i++) expect((await get(p.port)).body.toString()).toBe("a");
    expect(b.hits).toBe(hits);
    p.proc.kill("SIGTERM");
    expect(await p.exited).toBe(0);
  });

  it("up cancels an operator's drain even once the backend has left the table: it comes back as it was", async () => {
    const a = await named("a");
    const b = await named("b");
    const args = ["--backend", a.url, "--backend", `${b.url},maxConnections=3`, "--admin", "127.0.0.1:0", "--algorithm", "round-robin"];
    const p = await start(args);
    const name = `127.0.0.1:${b.port}`;
    const drained = await get(p.admin!, `/backends/${name}/drain`, { method: "POST" });
    expect(JSON.parse(drained.body.toString())).toEqual({ name, state: "removed" }); // idle: gone at once
    const up = await get(p.admin!, `/backends/${name}/up`, { method: "POST" });
    expect(up.status).toBe(200);
    expect(JSON.parse(up.body.toString())).toMatchObject({ name, maxConnections: 3 });
    const hits = b.hits;
    for (let i = 0; i < 10; i++) await get(p.port);
    expect(b.hits).toBeGreaterThan(hits);
    // A name never drained is still unknown.
    expect((await get(p.admin!, "/backends/127.0.0.1:1/up", { method: "POST" })).status).toBe(404);
    p.proc.kill("SIGTERM");
    expect(await p.exited).toBe(0);
  });

  it.skipIf(!clusterMode)("--workers 2 (cluster): up after a drain brings the backend back in every worker", async () => {
    const a = await named("a");
    const b = await named("b");
    const p = await twoWorkers(a, b);
    const name = `127.0.0.1:${b.port}`;
    expect((await get(p.admin!, `/backends/${name}/drain`, { method: "POST" })).status).toBe(200);
    await new Promise((r) => setTimeout(r, 200));
    expect((await get(p.admin!, `/backends/${name}/up`, { method: "POST" })).status).toBe(200);
    await new Promise((r) => setTimeout(r, 200));
    // Every worker has it again: each /backends answer (from either worker) lists it.
    for (let i = 0; i < 6; i++) {
      const list = JSON.parse((await get(p.admin!, "/backends")).body.toString()) as Array<{ name: string }>;
      expect(list.map((x) => x.name)).toContain(name);
    }
    p.proc.kill("SIGTERM");
    expect(await p.exited).toBe(0);
  });

  it("--workers 2 (cluster): an operator's down reaches every worker", async () => {
    const a = await named("a");
    const b = await named("b");
    const p = await start(["--backend", a.url, "--backend", b.url, "--workers", "2", "--admin", "127.0.0.1:0"]);
    await until(() => p.lines.filter((l) => l.event === "listening").length === 2, 10_000);
    const down = await get(p.admin!, `/backends/127.0.0.1:${b.port}/down`, { method: "POST" });
    expect(down.status).toBe(200);
    await new Promise((r) => setTimeout(r, 200)); // the other worker hears of it through the primary
    const before = b.hits;
    for (let i = 0; i < 40; i++) expect((await get(p.port)).body.toString()).toBe("a");
    expect(b.hits).toBe(before);
    p.proc.kill("SIGTERM");
    expect(await p.exited).toBe(0);
  });

  it.skipIf(NODE22 === undefined && process.env.CI !== "true")("--workers 2 (threads): a port in use exits 2, not 0", async () => {
    if (NODE22 === undefined) throw new Error("no Node >= 22.12 for the reusePort test (set LEASTCONN_NODE22)");
    const { port } = await busyPort();
    const a = await named("a");
    const proc = spawn(NODE22, [CLI, "proxy", "--listen", `127.0.0.1:${port}`, "--workers", "2", "--backend", a.url], {
      stdio: ["ignore", "ignore", "ignore"],
    });
    procs.push(proc);
    expect(await new Promise((resolve) => proc.on("exit", resolve))).toBe(2);
  });
});
