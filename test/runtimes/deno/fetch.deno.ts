// balancedFetch in Deno (dist/fetch.js as shipped) against local Deno.serve
// origins that speak the query protocol of test/clients/origins.ts (delay,
// status, chunks&gap). A storm of 10,000 requests with aborts, cancelled and
// unread bodies and 5xx answers, at most 4 in flight per origin (the rest
// waiting in the queue), must end with every count at 0 and the queue empty, spread over
// the two fast origins alike, and send the slow one far fewer.
// Driven by test/clients/deno.test.ts.

import assert from "node:assert/strict";
import { test } from "node:test";
import { storm, stormProblems } from "../../clients/storm.js";

// dist/ as shipped, typed by the source it was built from.
const { balancedFetch } = (await import(
  new URL("../../../dist/fetch.js", import.meta.url).href
)) as typeof import("../../../bindings/fetch.js");

// The little of Deno's namespace used here, typed locally so the repository's
// tsc (which knows no Deno types) checks this file too.
interface HttpServer {
  addr: { port: number };
  shutdown(): Promise<void>;
}
type Handler = (req: Request) => Response | Promise<Response>;
const Deno = (globalThis as unknown as { Deno: { serve(options: object, handler: Handler): HttpServer } }).Deno;

const encoder = new TextEncoder();

function serveOrigin(name: string, slowMs: number): { url: string; server: HttpServer } {
  const sleep = (ms: number, signal: AbortSignal): Promise<void> =>
    new Promise((ok) => {
      if (ms <= 0) return ok();
      const t = setTimeout(ok, ms);
      signal.addEventListener("abort", () => {
        clearTimeout(t);
        ok();
      });
    });
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req: Request) => {
    const url = new URL(req.url);
    const q = url.searchParams;
    await sleep(slowMs + Number(q.get("delay") ?? 0), req.signal);
    const status = Number(q.get("status") ?? 200);
    const chunks = Number(q.get("chunks") ?? 0);
    if (chunks === 0) return new Response(`${name}${url.pathname}${url.search}`, { status });
    const gap = Number(q.get("gap") ?? 0);
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      async pull(c) {
        if (sent > 0) await sleep(gap, req.signal);
        c.enqueue(encoder.encode(`${name}:${sent}\n`));
        if (++sent === chunks) c.close();
      },
    });
    return new Response(body, { status });
  });
  return { url: `http://127.0.0.1:${server.addr.port}`, server };
}

test("balancedFetch in Deno: a storm of 10,000 requests ends with every count at 0", async () => {
  const origins = [serveOrigin("o0", 0), serveOrigin("o1", 0), serveOrigin("o2", 60)];
  try {
    // 4 per origin and 16 at a time: requests keep waiting in the queue.
    const fetch = balancedFetch({ origins: origins.map((o) => o.url), bodyIdleTimeoutMs: 100, maxConnections: 4 });
    // Relative paths go to the picked origin; the lease ends with the body.
    const first = await fetch("/hello?chunks=2&gap=1");
    assert.deepEqual(
      fetch.balancer.snapshot().map((b) => b.active),
      [1, 0, 0],
    );
    assert.equal(await first.text(), "o0:0\no0:1\n");
    assert.deepEqual(
      fetch.balancer.snapshot().map((b) => b.active),
      [0, 0, 0],
    );
    const report = await storm(fetch, { n: 10_000, concurrency: 16, seed: 11, deadlineMs: 40_000, settleMs: 2_000 });
    console.log(`@@deno-storm-begin@@\n${JSON.stringify(report)}\n@@deno-storm-end@@`);
    assert.deepEqual(stormProblems(report, 10_000, 2), []);
    assert.equal(fetch.balancer.snapshot().queue.length, 0);
    assert.ok(fetch.balancer.snapshot().every((b) => b.maxConnections === 4));
  } finally {
    await Promise.all(origins.map((o) => o.server.shutdown()));
  }
});
