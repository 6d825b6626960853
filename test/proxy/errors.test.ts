// Failures and their statuses: refused and reset connections (502, retried
// on another backend when idempotent and bodiless), header and idle
// timeouts (504 / closed), nothing up (503 with Retry-After), and node:http's
// own limits on bad client input. After each, every count is 0.

import { createServer } from "node:http";
import { connect, type Socket } from "node:net";
import { Writable } from "node:stream";
import { type Logger, pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { createProxy, createProxyServer } from "../../cli/proxy/proxy.js";
import { backend, counts, get, listen, silent, startProxy, type TestBackend, type TestProxy } from "./helpers.js";

let open: Array<TestBackend | TestProxy> = [];
afterEach(async () => {
  for (const x of open.reverse()) await x.close();
  open = [];
});

/** n distinct URLs on which nothing listens (ports the OS gave, all held at once, then given back). */
async function deadUrls(n: number): Promise<string[]> {
  const servers = Array.from({ length: n }, () => createServer());
  const ports = [];
  for (const s of servers) ports.push(await listen(s));
  for (const s of servers) await new Promise((r) => s.close(r));
  return ports.map((p) => `http://127.0.0.1:${p}`);
}
async function deadUrl(): Promise<string> {
  return (await deadUrls(1))[0]!;
}

function capture(): { logger: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      lines.push(JSON.parse(chunk.toString()));
      cb();
    },
  });
  return { logger: pino({ level: "info" }, sink), lines };
}

/** Sends raw bytes and collects what comes back until the server closes (or 3 s). */
function raw(port: number, text: string, keepOpen = false): Promise<string> {
  return new Promise((resolve) => {
    const s: Socket = connect(port, "127.0.0.1");
    let got = "";
    s.on("data", (c) => {
      got += c.toString();
    });
    s.on("close", () => resolve(got));
    s.on("error", () => {});
    s.write(text);
    if (!keepOpen) setTimeout(() => s.destroy(), 3_000);
  });
}

describe("errors", () => {
  it("a refused backend: GET is retried on the other one; POST with a body gets 502; each failure is logged once", async () => {
    const ok = await backend((_req, res) => res.end("ok"));
    open.push(ok);
    const log = capture();
    const p = await startProxy({ backends: [await deadUrl(), ok.url], logger: log.logger });
    open.push(p);
    const r = await get(p.port);
    expect([r.status, r.body.toString()]).toEqual([200, "ok"]);
    const post = await get(p.port, "/", { method: "POST", body: "data" });
    expect([post.status, post.body.toString()]).toEqual([502, "Bad Gateway\n"]);
    expect(counts(p.proxy)).toEqual([0, 0]);
    expect(log.lines.map((l) => [l.event, l.code, l.status])).toEqual([
      ["retry", "ECONNREFUSED", undefined],
      ["upstream_error", "ECONNREFUSED", 502],
    ]);
  });

  it("retries: 0 answers 502 at once; every backend refused answers 502 after the retries", async () => {
    const p0 = await startProxy({ backends: [await deadUrl()], retries: 0 });
    open.push(p0);
    expect((await get(p0.port)).status).toBe(502);
    const p2 = await startProxy({ backends: await deadUrls(3), retries: 2 });
    open.push(p2);
    const r = await get(p2.port);
    expect(r.status).toBe(502);
    // Each retry went to a backend not tried yet (the failed lease is still held at the next pick).
    expect(p2.proxy.balancer.snapshot().map((s) => s.total)).toEqual([1, 1, 1]);
    expect(counts(p2.proxy)).toEqual([0, 0, 0]);
  });

  it("a reset before the response is a 502 (retried when idempotent, on a backend not tried yet)", async () => {
    const reset = await backend((req) => req.socket.destroy());
    const other = await backend((req) => req.socket.destroy());
    open.push(reset, other);
    const p = await startProxy({ backends: [reset.url, other.url], retries: 1 });
    open.push(p);
    const r = await get(p.port);
    expect(r.status).toBe(502);
    expect([reset.hits, other.hits]).toEqual([1, 1]);
    expect(counts(p.proxy)).toEqual([0, 0]);
    // Alone, a backend is not tried twice: no retry, the failure is the answer.
    const alone = await startProxy({ backends: [reset.url], retries: 1 });
    open.push(alone);
    expect((await get(alone.port)).status).toBe(502);
    expect(reset.hits).toBe(2);
    expect(counts(alone.proxy)).toEqual([0]);
  });

  it("a header timeout is a 504; an idle body timeout closes the client socket", async () => {
    const hang = await backend((req, res) => {
      if (req.url === "/idle") {
        res.writeHead(200);
        res.write("start");
      }
    });
    open.push(hang);
    const p = await startProxy({ backends: [hang.url], timeouts: { headersMs: 200, idleMs: 200 } });
    open.push(p);
    const t0 = Date.now();
    const r = await get(p.port, "/hang");
    expect([r.status, r.body.toString()]).toEqual([504, "Gateway Timeout\n"]);
    expect(Date.now() - t0).toBeLessThan(2_000);
    await expect(get(p.port, "/idle")).rejects.toThrow();
    expect(counts(p.proxy)).toEqual([0]);
  });

  it("nothing up: 503 with Retry-After, logged", async () => {
    const ok = await backend((_req, res) => res.end("ok"));
    open.push(ok);
    const log = capture();
    const p = await startProxy({ backends: [ok.url], logger: log.logger });
    open.push(p);
    p.proxy.balancer.markDown(p.proxy.balancer.names[0]!);
    const r = await get(p.port);
    expect([r.status, r.headers["retry-after"], r.body.toString()]).toEqual([503, "1", "Service Unavailable\n"]);
    expect(log.lines.map((l) => l.event)).toEqual(["unavailable"]);
    expect(ok.hits).toBe(0);
  });

  it("bad client input is refused by node:http's limits before any backend sees it", async () => {
    const ok = await backend((_req, res) => res.end("ok"));
    open.push(ok);
    const p = await startProxy(
      { backends: [ok.url] },
      { headersTimeoutMs: 300, requestTimeoutMs: 600, checkIntervalMs: 50, maxHeaderSize: 4_096 },
    );
    open.push(p);
    // Malformed request line.
    expect(await raw(p.port, "GARBAGE\r\n\r\n")).toMatch(/^HTTP\/1\.1 400 /);
    // Content-Length and Transfer-Encoding together (request smuggling).
    expect(await raw(p.port, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")).toMatch(
      /^HTTP\/1\.1 400 /,
    );
    // A header flood past maxHeaderSize.
    let flood = "GET / HTTP/1.1\r\nHost: x\r\n";
    for (let i = 0; i < 300; i++) flood += `x-h${i}: ${"v".repeat(20)}\r\n`;
    expect(await raw(p.port, flood + "\r\n")).toMatch(/^HTTP\/1\.1 431 /);
    // A target that is not a path (absolute-form, asterisk-form): 400 from the proxy.
    expect(await raw(p.port, "GET http://elsewhere/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")).toMatch(/^HTTP\/1\.1 400 /);
    expect(await raw(p.port, "OPTIONS * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")).toMatch(/^HTTP\/1\.1 400 /);
    // Slowloris: a head that never ends is cut by headersTimeout.
    const t0 = Date.now();
    expect(await raw(p.port, "GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ", true)).toMatch(/^HTTP\/1\.1 408 /);
    expect(Date.now() - t0).toBeLessThan(2_000);
    expect(ok.hits).toBe(0);
    expect(counts(p.proxy)).toEqual([0]);
  });

  it("createProxy refuses bad options naming the field", () => {
    const cases: Array<[Parameters<typeof createProxy>[0], string]> = [
      [{ backends: ["http://127.0.0.1:1", "http://127.0.0.1:1"] }, "backends[1].name"],
      [{ backends: ["https://127.0.0.1:1"] }, "backends[0].url"],
      [{ backends: ["http://127.0.0.1:1/path"] }, "backends[0].url"],
      [{ backends: [{ url: "http://127.0.0.1:1", weight: -1 }] }, "backends[0].weight"],
      [{ backends: [], retries: 1.5 }, "retries"],
      [{ backends: [], timeouts: { headersMs: 0 } }, "timeouts.headersMs"],
    ];
    for (const [options, field] of cases) {
      expect(() => createProxy({ logger: silent, ...options }), field).toThrow(
        expect.objectContaining({ code: "LC_ERR_INVALID_ARGUMENT", field }),
      );
    }
  });

  it("createProxyServer refuses a requestTimeoutMs below headersTimeoutMs with the field named (node would throw a bare RangeError)", () => {
    const proxy = createProxy({ backends: ["http://127.0.0.1:1"], logger: silent });
    expect(() => createProxyServer(proxy, { requestTimeoutMs: 1_000 })).toThrow(
      expect.objectContaining({
        code: "LC_ERR_INVALID_ARGUMENT",
        field: "requestTimeoutMs",
        message: "must be 0 or at least headersTimeoutMs (10000), got 1000",
      }),
    );
    expect(() => createProxyServer(proxy, { requestTimeoutMs: 0 })).not.toThrow();
  });
});
