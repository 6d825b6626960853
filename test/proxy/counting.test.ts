// Exact counting under faults: 20,000 requests through three backends with
// random client aborts (before the pick, while waiting, mid-body), upstream
// resets (before and after the headers) and header timeouts. Afterwards
// every count is 0, nothing is in flight, and every request ended in a
// response or a closed socket.

import { Agent, request as httpRequest } from "node:http";
import { afterAll, describe, expect, it } from "vitest";
import { backend, counts, startProxy, type TestBackend, type TestProxy, until } from "./helpers.js";

const TOTAL = 20_000;
const CONCURRENCY = 128;
const open: Array<TestBackend | TestProxy> = [];
afterAll(async () => {
  for (const x of open.reverse()) await x.close();
});

// A tiny deterministic generator, so a failure can be replayed.
let seed = 12345;
function rand(): number {
  seed = (seed * 1103515245 + 12345) >>> 0;
  return seed / 2 ** 32;
}

describe("exact counting", () => {
  it(`${TOTAL} requests with aborts, resets and timeouts leave every count at 0`, { timeout: 60_000 }, async () => {
    const behave = (req: import("node:http").IncomingMessage, res: import("node:http").ServerResponse): void => {
      const kind = req.url!.slice(1, 2);
      if (kind === "r")
        req.socket.destroy(); // reset before the response
      else if (kind === "m") {
        res.writeHead(200, { "content-length": "100" });
        res.write("partial");
        setTimeout(() => req.socket.destroy(), 2); // reset mid-body
      } else if (kind === "h") {
        // hang: the proxy's header timeout answers 504
      } else if (kind === "s") setTimeout(() => res.end("slow"), 1 + Math.floor(rand() * 10));
      else res.end("ok");
    };
    const bs = [await backend(behave), await backend(behave), await backend(behave)];
    open.push(...bs);
    const p = await startProxy({ backends: bs.map((b) => b.url), timeouts: { headersMs: 100, idleMs: 500 }, retries: 1 });
    open.push(p);
    const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
    const outcomes = { response: 0, closed: 0 };
    const statuses = new Map<number, number>();
    let peak = 0;
    const one = (): Promise<void> =>
      new Promise((resolve) => {
        const r = rand();
        const kind = r < 0.6 ? "o" : r < 0.8 ? "s" : r < 0.88 ? "r" : r < 0.95 ? "m" : r < 0.96 ? "h" : "o";
        const abortAfter = rand() < 0.1 ? Math.floor(rand() * 8) : -1;
        let settled = false;
        const settle = (how: "response" | "closed"): void => {
          if (settled) return;
          settled = true;
          outcomes[how]++;
          resolve();
        };
        const req = httpRequest({ host: "127.0.0.1", port: p.port, path: `/${kind}`, agent }, (res) => {
          statuses.set(res.statusCode!, (statuses.get(res.statusCode!) ?? 0) + 1);
          res.on("data", () => {});
          res.on("end", () => settle("response"));
          res.on("error", () => settle("closed"));
          res.on("close", () => settle("closed"));
        });
        req.on("error", () => settle("closed"));
        req.on("close", () => setImmediate(() => settle("closed")));
        if (abortAfter >= 0) setTimeout(() => req.destroy(), abortAfter);
        req.end();
        const active = counts(p.proxy).reduce((a, b) => a + b, 0);
        if (active > peak) peak = active;
      });
    let next = 0;
    const lane = async (): Promise<void> => {
      while (next < TOTAL) {
        next++;
        await one();
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, lane));
    agent.destroy();
    expect(outcomes.response + outcomes.closed).toBe(TOTAL);
    await until(() => p.proxy.inFlight === 0 && counts(p.proxy).every((c) => c === 0), 5_000);
    expect(counts(p.proxy)).toEqual([0, 0, 0]);
    // The counts never ran past the requests that can be open at once (each
    // client lane has one; a retry holds its failed lease too).
    expect(peak).toBeLessThanOrEqual(2 * CONCURRENCY);
    // Every kind of ending happened.
    expect(statuses.get(200)).toBeGreaterThan(TOTAL / 2);
    expect(statuses.get(502)).toBeGreaterThan(0);
    expect(statuses.get(504)).toBeGreaterThan(0);
    expect(outcomes.closed).toBeGreaterThan(TOTAL / 20);
  });
});
