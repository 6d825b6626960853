// leastconn/undici on real sockets: leases end with the response (read,
// aborted, errored), exactly once; failures before any byte are retried on
// another origin; picks follow least connections; undici.request,
// undici.fetch and setGlobalDispatcher; membership; health checks; a storm
// of 10,000 requests with aborts and failures that ends with every count 0.
// Then the fault hunt's regressions ("faults"), each a test that failed
// before its fix.

import { spawnSync } from "node:child_process";
import { getGlobalDispatcher, request, setGlobalDispatcher, fetch as undiciFetch } from "undici";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { Lease } from "../../bindings/balancer.js";
import { LeastConnDispatcher } from "../../bindings/undici.js";
import { ROOT } from "../runtimes/harness.js";
import { countProbes, type Origin, startOrigins, until } from "./origins.js";

let origins: Origin[] = [];
let dispatcher: LeastConnDispatcher | undefined;

const actives = (d: LeastConnDispatcher): number[] => d.balancer.snapshot().map((b) => b.active);
const totals = (d: LeastConnDispatcher): number[] => d.balancer.snapshot().map((b) => b.total);
const failures = (d: LeastConnDispatcher): number[] => d.balancer.snapshot().map((b) => b.failures);
const states = (d: LeastConnDispatcher): string[] => d.balancer.snapshot().map((b) => b.state);

beforeEach(async () => {
  origins = await startOrigins(3);
});

afterEach(async () => {
  await dispatcher?.destroy();
  dispatcher = undefined;
  await Promise.all(origins.map((o) => o.close()));
});

function make(options: ConstructorParameters<typeof LeastConnDispatcher>[1] = {}, n = 3): LeastConnDispatcher {
  dispatcher = new LeastConnDispatcher(
    origins.slice(0, n).map((o) => o.url),
    options,
  );
  return dispatcher;
}

describe("leases", () => {
  it("holds the lease until the body is read, then releases it once", async () => {
    const d = make();
    const release = vi.spyOn(Lease.prototype, "release");
    const res = await d.request({ path: "/a?chunks=3&gap=5", method: "GET" });
    expect(res.statusCode).toBe(200);
    expect(actives(d)).toEqual([1, 0, 0]);
    expect(await res.body.text()).toBe("o0:0\no0:1\no0:2\n");
    expect(actives(d)).toEqual([0, 0, 0]);
    expect(totals(d)).toEqual([1, 0, 0]);
    expect(release.mock.results.map((r) => r.value)).toEqual([true]);
    release.mockRestore();
  });

  it("releases when the request is aborted before the response and mid-body", async () => {
    const d = make();
    const before = new AbortController();
    const pending = d.request({ path: "/a?delay=2000", method: "GET", signal: before.signal });
    await until(() => origins[0]!.inFlight === 1, 5_000, "the request to arrive");
    expect(actives(d)).toEqual([1, 0, 0]);
    before.abort();
    await expect(pending).rejects.toMatchObject({ name: "AbortError" });
    expect(actives(d)).toEqual([0, 0, 0]);

    const during = new AbortController();
    const res = await d.request({ path: "/a?chunks=50&gap=20", method: "GET", signal: during.signal });
    expect(actives(d)).toEqual([1, 0, 0]);
    const reading = res.body.text();
    during.abort();
    await expect(reading).rejects.toMatchObject({ name: "AbortError" });
    expect(actives(d)).toEqual([0, 0, 0]);
  });

  it("releases on 5xx and on a connection lost mid-body, once each", async () => {
    const d = make({}, 1);
    const release = vi.spyOn(Lease.prototype, "release");
    const res = await d.request({ path: "/a?status=503", method: "GET" });
    expect(res.statusCode).toBe(503);
    await res.body.dump();
    const lost = await d.request({ path: "/a?chunks=100&gap=20", method: "GET" });
    const reading = lost.body.text();
    await until(() => origins[0]!.inFlight === 1);
    await origins[0]!.close();
    await expect(reading).rejects.toMatchObject({ code: "UND_ERR_SOCKET" });
    expect(actives(d)).toEqual([0]);
    expect(release.mock.results.map((r) => r.value)).toEqual([true, true]);
    release.mockRestore();
  });
});

describe("retries", () => {
  it("retries an idempotent request that failed before any byte on another origin", async () => {
    const d = make();
    origins[0]!.resetRate = 1;
    const res = await d.request({ path: "/r", method: "GET" });
    expect(await res.body.text()).toBe("o1/r");
    expect([origins[0]!.resets, origins[1]!.seen, origins[2]!.seen]).toEqual([1, 1, 0]);
    expect(actives(d)).toEqual([0, 0, 0]);
    expect(totals(d)).toEqual([1, 1, 0]);
  });

  it("retries on another origin even when the failed one still looks less loaded", async () => {
    const d = make({}, 2);
    d.balancer.markDown(d.balancer.names[0]!); // the three held requests all go to o1
    // Three held on o1: the first pick is o0 (0 < 3), and after it fails it
    // still counts less (1 < 3); the retry leaves it out all the same.
    const held = [0, 1, 2].map(() => d.request({ path: "/h?hold=1", method: "GET" }));
    await until(() => origins[1]!.held() === 3);
    d.balancer.markUp(d.balancer.names[0]!);
    origins[0]!.resetRate = 1;
    const res = await d.request({ path: "/r", method: "GET" });
    expect([res.statusCode, await res.body.text()]).toEqual([200, "o1/r"]);
    origins[1]!.release();
    for (const r of await Promise.all(held)) await r.body.text();
    expect([origins[0]!.resets, actives(d)]).toEqual([1, [0, 0]]);
  });

  it("does not retry a POST, nor anything with retries: 0", async () => {
    const d = make();
    origins[0]!.resetRate = 1;
    await expect(d.request({ path: "/p", method: "POST", body: "x" })).rejects.toMatchObject({ code: "UND_ERR_SOCKET" });
    await d.destroy();
    const none = make({ retries: 0 });
    await expect(none.request({ path: "/g", method: "GET" })).rejects.toMatchObject({ code: "UND_ERR_SOCKET" });
    expect(origins[0]!.resets).toBe(2);
    expect(origins[1]!.seen + origins[2]!.seen).toBe(0);
    expect(actives(none)).toEqual([0, 0, 0]);
  });

  it("gives up after `retries` and reports the last failure", async () => {
    const d = make({ retries: 2 });
    for (const o of origins) o.resetRate = 1;
    await expect(d.request({ path: "/g", method: "GET" })).rejects.toMatchObject({ code: "UND_ERR_SOCKET" });
    // Three attempts, each away from the one that just failed: o0, o1, then o0
    // again (o1 still counted its failure while the retry picked).
    expect(origins.map((o) => o.resets)).toEqual([2, 1, 0]);
    expect(actives(d)).toEqual([0, 0, 0]);
  });
});

describe("least connections on the wire", () => {
  it("sends each request to the origin with the fewest in flight", async () => {
    const d = make();
    const pending = Array.from({ length: 6 }, (_, i) => d.request({ path: `/h${i}?hold=1`, method: "GET" }));
    await until(() => origins.every((o) => o.held() === 2), 5_000, "two held per origin");
    expect(actives(d)).toEqual([2, 2, 2]);
    // Two end on o1: the next two go there, then ties resume at o0.
    origins[1]!.release();
    const ended = await Promise.all([pending[1]!, pending[4]!]);
    for (const r of ended) await r.body.dump();
    expect(actives(d)).toEqual([2, 0, 2]);
    const more = [d.request({ path: "/m1?hold=1", method: "GET" }), d.request({ path: "/m2?hold=1", method: "GET" })];
    await until(() => origins[1]!.held() === 2);
    const third = d.request({ path: "/m3?hold=1", method: "GET" });
    await until(() => origins[0]!.held() === 3);
    expect(actives(d)).toEqual([3, 2, 2]);
    for (const o of origins) o.release();
    for (const r of await Promise.all([...pending, ...more, third])) await r.body.dump();
    expect(actives(d)).toEqual([0, 0, 0]);
  });
});

describe("undici entry points", () => {
  it("works with undici.request, undici.fetch, setGlobalDispatcher and Node's global fetch", async () => {
    const d = make();
    const a = await request("http://ignored.invalid/req", { dispatcher: d });
    expect(await a.body.text()).toBe("o0/req");
    const b = await undiciFetch("http://ignored.invalid/fetch?x=1", { dispatcher: d });
    expect(await b.text()).toBe("o0/fetch?x=1");
    const previous = getGlobalDispatcher();
    setGlobalDispatcher(d);
    try {
      const c = await undiciFetch("http://ignored.invalid/global");
      expect(await c.text()).toBe("o0/global");
      // Node's own global fetch (its bundled undici) reads the same global dispatcher.
      const g = await globalThis.fetch("http://ignored.invalid/node-fetch");
      expect(await g.text()).toBe("o0/node-fetch");
    } finally {
      setGlobalDispatcher(previous);
    }
    expect(totals(d)).toEqual([4, 0, 0]);
    expect(actives(d)).toEqual([0, 0, 0]);
  });

  it("accepts new-style handlers (onRequestStart, onResponseStart, ...)", async () => {
    const d = make();
    const events: string[] = [];
    await new Promise<void>((ok, fail) => {
      d.dispatch(
        { path: "/new", method: "GET" },
        {
          onRequestStart: () => events.push("start"),
          onResponseStart: (_c, status, headers) => events.push(`status ${status} ${headers["x-origin"]}`),
          onResponseData: (_c, chunk) => events.push(`data ${chunk.toString()}`),
          onResponseEnd: () => ok(),
          onResponseError: (_c, err) => fail(err),
        },
      );
    });
    expect(events).toEqual(["start", "status 200 o0", "data o0/new"]);
    expect(actives(d)).toEqual([0, 0, 0]);
  });
});

describe("membership", () => {
  it("addUpstream and removeUpstream: a removed origin drains, then its Pool closes", async () => {
    const d = make({ tieBreak: "rotate" }, 2);
    const held = d.request({ path: "/x?hold=1", method: "GET" });
    await until(() => origins[0]!.held() === 1);
    d.removeUpstream(origins[0]!.url);
    const pool = d.getUpstream(origins[0]!.url)!;
    expect(d.upstreams).toEqual([origins[0]!.url, origins[1]!.url]);
    d.addUpstream(origins[2]!.url);
    for (let i = 0; i < 4; i++) await (await d.request({ path: "/y", method: "GET" })).body.dump();
    expect(origins.map((o) => o.seen)).toEqual([1, 2, 2]);
    origins[0]!.release();
    await (await held).body.dump();
    await until(() => d.upstreams.length === 2, 5_000, "o0 to drain");
    expect(d.upstreams).toEqual([origins[1]!.url, origins[2]!.url]);
    await until(() => pool.closed, 5_000, "the pool to close");
    expect(d.getUpstream(origins[0]!.url)).toBeUndefined();
  });

  it("rejects what is not an origin, with the field named", () => {
    expect(() => new LeastConnDispatcher(["http://127.0.0.1:1/path"])).toThrow(
      expect.objectContaining({ code: "LC_ERR_INVALID_ARGUMENT", field: "origins[0]" }),
    );
    expect(() => new LeastConnDispatcher(["ftp://127.0.0.1:1"])).toThrow(expect.objectContaining({ code: "LC_ERR_INVALID_ARGUMENT" }));
    expect(() => new LeastConnDispatcher(["http://127.0.0.1:1"], { retries: -1 })).toThrow(
      expect.objectContaining({ code: "LC_ERR_INVALID_ARGUMENT", field: "retries" }),
    );
  });
});

describe("health checks", () => {
  it("marks an origin down after `fall` failed probes and up after `rise` good ones", async () => {
    origins[1]!.healthStatus = 503;
    const d = make({ healthCheck: { path: "/health", intervalMs: 10, fall: 2, rise: 3 } });
    await until(() => d.balancer.get(origins[1]!.url).state === "down", 5_000, "o1 down");
    for (let i = 0; i < 4; i++) await (await d.request({ path: "/z", method: "GET", headers: { i: String(i) } })).body.dump();
    expect(origins[1]!.seen).toBe(0);
    origins[1]!.healthStatus = 200;
    await until(() => d.balancer.get(origins[1]!.url).state === "up", 5_000, "o1 up");
    expect(d.balancer.snapshot().map((b) => b.state)).toEqual(["up", "up", "up"]);
  });

  it("never keeps the process alive", () => {
    const code = `
      import { LeastConnDispatcher } from "./dist/undici.js";
      new LeastConnDispatcher(["http://127.0.0.1:9"], { healthCheck: { path: "/health", intervalMs: 60000 } });
      console.log("ok");`;
    const started = Date.now();
    const run = spawnSync(process.execPath, ["--input-type=module", "-e", code], { cwd: ROOT, encoding: "utf8", timeout: 20_000 });
    expect([run.status, run.stdout]).toEqual([0, "ok\n"]);
    expect(Date.now() - started).toBeLessThan(15_000);
  });
});

describe("limits, queue and outcomes", () => {
  it("queues requests beyond maxConnections and hands each a freed slot; an abort leaves the queue", async () => {
    const d = make({ maxConnections: 1 }, 2);
    const a = d.request({ path: "/q1?hold=1", method: "GET" });
    const b = d.request({ path: "/q2?hold=1", method: "GET" });
    await until(() => origins[0]!.held() === 1 && origins[1]!.held() === 1);
    const c = d.request({ path: "/q3", method: "GET" });
    const gone = new AbortController();
    const aborted = d.request({ path: "/q4", method: "GET", signal: gone.signal });
    expect(d.balancer.snapshot().queue.length).toBe(2);
    gone.abort();
    await expect(aborted).rejects.toMatchObject({ name: "AbortError" });
    expect(d.balancer.snapshot().queue.length).toBe(1);
    origins[0]!.release();
    await (await a).body.dump();
    expect(await (await c).body.text()).toBe("o0/q3");
    origins[1]!.release();
    await (await b).body.dump();
    expect(actives(d)).toEqual([0, 0]);
    expect(d.balancer.snapshot().queue.length).toBe(0);
  });

  it("reports 5xx and errors as failures: a failing origin is ejected", async () => {
    const d = make({ ejection: { consecutiveFailures: 2, maxPercent: 50 }, retries: 0 }, 2);
    for (let i = 0; i < 2; i++) await (await d.request({ path: "/f?status=500", method: "GET" })).body.dump();
    expect(d.balancer.get(origins[0]!.url).state).toBe("ejected");
    expect(await (await d.request({ path: "/after", method: "GET" })).body.text()).toBe("o1/after");
    expect(actives(d)).toEqual([0, 0]);
  });

  it("fails with UnavailableError when no origin is up", async () => {
    const d = make({}, 1);
    d.balancer.markDown(origins[0]!.url);
    await expect(d.request({ path: "/x", method: "GET" })).rejects.toMatchObject({ code: "LC_ERR_UNAVAILABLE" });
  });
});

describe("examples/undici.mjs", () => {
  it("runs as written", () => {
    const run = spawnSync(process.execPath, ["examples/undici.mjs"], { cwd: ROOT, encoding: "utf8", timeout: 30_000 });
    expect([run.status, run.stdout, run.stderr]).toEqual([0, "slow origin got fewer than a tenth: true\nin flight after: 0 0 0\n", ""]);
  });
});

describe("a storm of 10,000 requests", () => {
  it("ends with every count at 0 and sends fewer requests to the slow origin", async () => {
    const d = make({ connections: 64 });
    const [fastA, fastB, slow] = origins as [Origin, Origin, Origin];
    slow.slowMs = 60;
    for (const o of origins) o.resetRate = 0.02;
    const N = 10_000;
    const CONCURRENCY = 48;
    let next = 0;
    const outcome = { ok: 0, status5xx: 0, aborted: 0, failed: 0 };
    let rng = 12345;
    const random = (): number => {
      rng = (rng * 1103515245 + 12345) >>> 0;
      return rng / 2 ** 32;
    };
    const one = async (): Promise<void> => {
      const r = random();
      const controller = new AbortController();
      // 4% aborted before or during the response, 3% answered 500, some streamed.
      const query = r < 0.03 ? "status=500" : r < 0.08 ? "chunks=3&gap=1" : "";
      if (r > 0.96) setTimeout(() => controller.abort(), Math.floor(random() * 4));
      try {
        const res = await d.request({ path: `/s?${query}`, method: "GET", signal: controller.signal });
        await res.body.text();
        if (res.statusCode >= 500) outcome.status5xx++;
        else outcome.ok++;
      } catch (err) {
        if ((err as Error).name === "AbortError") outcome.aborted++;
        else outcome.failed++;
      }
    };
    const started = Date.now();
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < N && Date.now() - started < 40_000) {
          next++;
          await one();
        }
      }),
    );
    const seconds = (Date.now() - started) / 1000;
    const snap = d.balancer.snapshot();
    console.log(
      `storm: ${N} requests in ${seconds.toFixed(1)} s; totals ${snap.map((b) => b.total).join("/")}; ${JSON.stringify(outcome)}; resets ${origins.map((o) => o.resets).join("/")}`,
    );
    expect(next).toBe(N);
    expect(outcome.ok + outcome.status5xx + outcome.aborted + outcome.failed).toBe(N);
    expect(outcome.aborted).toBeGreaterThan(0);
    expect(outcome.status5xx).toBeGreaterThan(0);
    expect(snap.map((b) => b.active)).toEqual([0, 0, 0]);
    // Every attempt counted once: at least one per request, one more per retry at most.
    const attempts = snap.reduce((n, b) => n + b.total, 0);
    const resets = origins.reduce((n, o) => n + o.resets, 0);
    expect(attempts).toBeGreaterThanOrEqual(N);
    expect(attempts).toBeLessThanOrEqual(N + resets);
    // Least connections: the two fast origins share alike, the slow one gets far fewer.
    const [a, b, s] = snap.map((x) => x.total) as [number, number, number];
    expect(Math.abs(a - b) / Math.max(a, b)).toBeLessThan(0.25);
    expect(s).toBeLessThan(Math.min(a, b) / 2);
    // No origin ever held much more than its share of the concurrency.
    expect(Math.max(fastA.maxInFlight, fastB.maxInFlight)).toBeLessThanOrEqual(CONCURRENCY);
  });
});

describe("faults", () => {
  it("fails a caller's mistake without a retry and without blaming the origin (no ejection)", async () => {
    const d = make({ ejection: { consecutiveFailures: 1, maxPercent: 50 } }, 2);
    const invalid = { code: "UND_ERR_INVALID_ARG" };
    await expect(d.request({ path: "/h", method: "GET", headers: { x: "a\nb" } })).rejects.toMatchObject(invalid);
    await expect(d.request({ path: "/m", method: "BAD METHOD" })).rejects.toMatchObject(invalid);
    expect(origins.map((o) => o.seen)).toEqual([0, 0, 0]);
    expect(totals(d)).toEqual([2, 0]);
    expect(failures(d)).toEqual([0, 0]);
    expect(states(d)).toEqual(["up", "up"]);
    expect(actives(d)).toEqual([0, 0]);
  });

  it("also when undici finds the mistake later, in a Pool's own queue (connections: 1, busy)", async () => {
    const d = make({ connections: 1, ejection: { consecutiveFailures: 1, maxPercent: 50 } }, 2);
    const held = [d.request({ path: "/h0?hold=1", method: "GET" }), d.request({ path: "/h1?hold=1", method: "GET" })];
    await until(() => origins[0]!.held() === 1 && origins[1]!.held() === 1);
    const bad = d.request({ path: "/bad", method: "GET", headers: { x: "a\nb" } });
    for (const o of origins) o.release();
    await expect(bad).rejects.toMatchObject({ code: "UND_ERR_INVALID_ARG" });
    for (const r of await Promise.all(held)) await r.body.dump();
    expect(totals(d)).toEqual([2, 1]);
    expect(failures(d)).toEqual([0, 0]);
    expect(states(d)).toEqual(["up", "up"]);
    expect(actives(d)).toEqual([0, 0]);
  });

  it("a status past 599 is an answer, not a failure", async () => {
    const d = make({ ejection: { consecutiveFailures: 1, maxPercent: 50 } }, 2);
    const res = await d.request({ path: "/s?status=600", method: "GET" });
    expect([res.statusCode, await res.body.text()]).toEqual([600, "o0/s?status=600"]);
    expect(failures(d)).toEqual([0, 0]);
    expect(states(d)).toEqual(["up", "up"]);
  });

  it("probes an origin again once taken back (removeUpstream, then addUpstream while it drains)", async () => {
    const probes = countProbes(origins[0]!);
    const d = make({ healthCheck: { path: "/health", intervalMs: 10 } }, 2);
    const held = d.request({ path: "/busy?hold=1", method: "GET" });
    await until(() => origins[0]!.held() === 1);
    d.removeUpstream(origins[0]!.url);
    await new Promise((ok) => setTimeout(ok, 100)); // a probe in flight at the removal lands
    const removed = probes.n;
    await new Promise((ok) => setTimeout(ok, 100));
    expect(probes.n).toBe(removed);
    d.addUpstream(origins[0]!.url);
    expect(states(d)).toEqual(["up", "up"]);
    await until(() => probes.n >= removed + 3, 5_000, "probes to resume");
    origins[0]!.release();
    await (await held).body.dump();
    expect(actives(d)).toEqual([0, 0]);
  });

  it("close() serves the requests waiting for a slot, then closes; new ones fail with UND_ERR_CLOSED", async () => {
    const d = make({ maxConnections: 1 }, 1);
    const first = d.request({ path: "/c1?hold=1", method: "GET" });
    await until(() => origins[0]!.held() === 1);
    const queued = d.request({ path: "/c2", method: "GET" });
    expect(d.balancer.snapshot().queue.length).toBe(1);
    const closed = d.close();
    const late = d.request({ path: "/c3", method: "GET" }).catch((err: unknown) => err);
    origins[0]!.release();
    expect(await (await first).body.text()).toBe("o0/c1?hold=1");
    expect(await (await queued).body.text()).toBe("o0/c2");
    await closed;
    expect(await late).toMatchObject({ code: "UND_ERR_CLOSED" });
    expect(d.getUpstream(origins[0]!.url)!.closed).toBe(true);
    expect([actives(d), totals(d), failures(d)]).toEqual([[0], [2], [0]]);
  });

  it("destroy() fails the requests waiting for a slot at once, with UND_ERR_DESTROYED", async () => {
    const d = make({ maxConnections: 1 }, 1);
    const caught = (p: Promise<unknown>): Promise<unknown> => p.catch((err: unknown) => err);
    const first = caught(d.request({ path: "/d1?hold=1", method: "GET" }));
    await until(() => origins[0]!.held() === 1);
    const queued = caught(d.request({ path: "/d2", method: "GET" }));
    await d.destroy();
    const destroyed = { code: "UND_ERR_DESTROYED" };
    expect(await queued).toMatchObject(destroyed);
    expect(await first).toMatchObject(destroyed);
    await expect(d.request({ path: "/d3", method: "GET" })).rejects.toMatchObject(destroyed);
    expect(origins[0]!.seen).toBe(1);
    expect([actives(d), totals(d), failures(d)]).toEqual([[0], [1], [0]]);
    expect(d.balancer.snapshot().queue.length).toBe(0);
  });
});
