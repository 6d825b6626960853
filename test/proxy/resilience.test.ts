// The core's resilience under the proxy: per-backend maxConnections with the
// Balancer's queue (wait, queue full, queue timeout: 503 with Retry-After),
// and passive ejection from reported outcomes (5xx and connect errors are
// failures). After each, every count is 0.

import { afterEach, describe, expect, it } from "vitest";
import { backend, counts, get, startProxy, type TestBackend, type TestProxy, until } from "./helpers.js";

let open: Array<TestBackend | TestProxy> = [];
afterEach(async () => {
  for (const x of open.reverse()) await x.close();
  open = [];
});

describe("resilience", () => {
  it("a full backend queues the next request, refuses past the queue limit, and times out", async () => {
    const b = await backend((req, res) => setTimeout(() => res.end("done"), req.url === "/long" ? 600 : 150));
    open.push(b);
    const p = await startProxy({ backends: [{ url: b.url, maxConnections: 1 }], queue: { limit: 1, timeoutMs: 2_000 } });
    open.push(p);
    const first = get(p.port);
    await until(() => b.hits === 1);
    const second = get(p.port);
    await until(() => p.proxy.balancer.snapshot().queue.length === 1);
    const third = await get(p.port);
    expect([third.status, third.headers["retry-after"]]).toEqual([503, "1"]);
    expect((await first).status).toBe(200);
    expect((await second).status).toBe(200);
    expect(b.hits).toBe(2);
    // A wait past timeoutMs.
    const q = await startProxy({ backends: [{ url: b.url, maxConnections: 1 }], queue: { limit: 10, timeoutMs: 100 } });
    open.push(q);
    const long = get(q.port, "/long");
    await until(() => q.proxy.balancer.snapshot()[0]!.active === 1);
    const timedOut = await get(q.port);
    expect(timedOut.status).toBe(503);
    expect((await long).status).toBe(200);
    expect(counts(p.proxy)).toEqual([0]);
    expect(counts(q.proxy)).toEqual([0]);
  });

  it("a client that leaves while queued leaves no waiter and no count", async () => {
    const held: Array<() => void> = [];
    const b = await backend((_req, res) => held.push(() => res.end("x")));
    open.push(b);
    const p = await startProxy({ backends: [{ url: b.url, maxConnections: 1 }], queue: { limit: 10, timeoutMs: 5_000 } });
    open.push(p);
    const first = get(p.port);
    await until(() => b.hits === 1);
    const { request } = await import("node:http");
    const req = request({ host: "127.0.0.1", port: p.port, path: "/", agent: false });
    req.on("error", () => {});
    req.end();
    await until(() => p.proxy.balancer.snapshot().queue.length === 1);
    req.destroy();
    await until(() => p.proxy.balancer.snapshot().queue.length === 0);
    held[0]!();
    expect((await first).status).toBe(200);
    await until(() => p.proxy.inFlight === 0);
    expect(counts(p.proxy)).toEqual([0]);
    expect(b.hits).toBe(1);
  });

  it("consecutive 5xx eject a backend; traffic goes to the other", async () => {
    const bad = await backend((_req, res) => {
      res.statusCode = 500;
      res.end("bad");
    });
    const good = await backend((_req, res) => res.end("good"));
    open.push(bad, good);
    const p = await startProxy({ backends: [bad.url, good.url], ejection: { consecutiveFailures: 2, baseMs: 60_000, maxPercent: 50 } });
    open.push(p);
    // Sequential requests on idle backends go to the first (ties to the earliest) until it is ejected.
    expect((await get(p.port)).status).toBe(500);
    expect((await get(p.port)).status).toBe(500);
    expect(p.proxy.balancer.snapshot().map((s) => s.state)).toEqual(["ejected", "up"]);
    for (let i = 0; i < 3; i++) expect((await get(p.port)).body.toString()).toBe("good");
    expect(bad.hits).toBe(2);
    expect(counts(p.proxy)).toEqual([0, 0]);
  });
});
