// Forwarding through createProxy: headers both ways, methods and statuses
// whose bodies are special, chunked bodies and trailers, 100-continue,
// large headers, streaming, and the counts after each exchange.

import { request as httpRequest } from "node:http";
import { afterEach, describe, expect, it } from "vitest";
import { backend, counts, get, startProxy, type TestBackend, type TestProxy } from "./helpers.js";

let open: Array<TestBackend | TestProxy> = [];
afterEach(async () => {
  for (const x of open.reverse()) await x.close();
  open = [];
});

async function echoPair(): Promise<[TestBackend, TestBackend]> {
  const a = await backend((req, res) => {
    res.setHeader("x-backend", "a");
    res.end(JSON.stringify({ url: req.url, method: req.method, headers: req.headers }));
  });
  const b = await backend((req, res) => {
    res.setHeader("x-backend", "b");
    res.end(JSON.stringify({ url: req.url, method: req.method, headers: req.headers }));
  });
  open.push(a, b);
  return [a, b];
}

describe("forwarding", () => {
  it("spreads requests, keeps Host, drops hop-by-hop and Connection-named fields, appends X-Forwarded-*", async () => {
    const [a, b] = await echoPair();
    const p = await startProxy({ backends: [a.url, b.url] });
    open.push(p);
    const r = await get(p.port, "/path?q=1", {
      headers: {
        connection: "keep-alive, x-secret",
        "x-secret": "s",
        "keep-alive": "timeout=5",
        te: "trailers",
        "x-forwarded-for": "10.0.0.1",
        "x-keep": "k",
        host: "example.test",
      },
    });
    expect(r.status).toBe(200);
    const seen = JSON.parse(r.body.toString());
    expect(seen.url).toBe("/path?q=1");
    expect(seen.headers.host).toBe("example.test");
    expect(seen.headers["x-keep"]).toBe("k");
    expect(seen.headers["x-secret"]).toBeUndefined();
    expect(seen.headers["keep-alive"]).toBeUndefined();
    expect(seen.headers.te).toBeUndefined();
    expect(seen.headers["x-forwarded-for"]).toBe("10.0.0.1, 127.0.0.1");
    expect(seen.headers["x-forwarded-proto"]).toBe("http");
    expect(seen.headers["x-forwarded-host"]).toBe("example.test");
    // A client's own X-Forwarded-Proto and -Host are replaced (it cannot make
    // a backend believe another scheme or host), unless trustForwarded.
    const spoof = { "x-forwarded-proto": "https", "x-forwarded-host": "evil.example", host: "shop.example" };
    const replaced = JSON.parse((await get(p.port, "/", { headers: spoof })).body.toString()).headers;
    expect([replaced["x-forwarded-proto"], replaced["x-forwarded-host"]]).toEqual(["http", "shop.example"]);
    const trusting = await startProxy({ backends: [a.url], trustForwarded: true });
    open.push(trusting);
    const kept = JSON.parse((await get(trusting.port, "/", { headers: spoof })).body.toString()).headers;
    expect([kept["x-forwarded-proto"], kept["x-forwarded-host"]]).toEqual(["https, http", "evil.example, shop.example"]);
    const backends = [r.headers["x-backend"]];
    for (let i = 0; i < 3; i++) backends.push((await get(p.port)).headers["x-backend"]);
    // Sequential requests on idle backends: least-connections ties go to the first.
    expect(backends).toEqual(["a", "a", "a", "a"]);
    expect(counts(p.proxy)).toEqual([0, 0]);
    expect(p.proxy.balancer.snapshot().map((s) => s.total)).toEqual([5, 0]);
  });

  it("sends concurrent requests to the least loaded backend", async () => {
    const held: Array<() => void> = [];
    const slow = await backend((_req, res) => held.push(() => res.end("slow")));
    const fast = await backend((_req, res) => res.end("fast"));
    open.push(slow, fast);
    const p = await startProxy({ backends: [slow.url, fast.url] });
    open.push(p);
    const first = get(p.port);
    await new Promise((r) => setTimeout(r, 50));
    expect(counts(p.proxy)).toEqual([1, 0]);
    const rest = [];
    for (let i = 0; i < 3; i++) rest.push((await get(p.port)).body.toString());
    expect(rest).toEqual(["fast", "fast", "fast"]);
    held[0]!();
    expect((await first).body.toString()).toBe("slow");
    expect(counts(p.proxy)).toEqual([0, 0]);
  });

  it("drops hop-by-hop response fields and the ones its Connection names", async () => {
    const b = await backend((_req, res) => {
      res.setHeader("connection", "x-hop");
      res.setHeader("x-hop", "1");
      res.setHeader("keep-alive", "timeout=1");
      res.setHeader("x-end", "e");
      res.end("ok");
    });
    open.push(b);
    const p = await startProxy({ backends: [b.url] });
    open.push(p);
    const r = await get(p.port);
    expect(r.headers["x-hop"]).toBeUndefined();
    expect(r.headers["x-end"]).toBe("e");
    expect(r.body.toString()).toBe("ok");
  });

  it("HEAD, 204 and 304 carry no body; their length fields pass through", async () => {
    const b = await backend((req, res) => {
      if (req.url === "/204") {
        res.writeHead(204);
        res.end();
      } else if (req.url === "/304") {
        res.writeHead(304, { etag: '"x"' });
        res.end();
      } else {
        res.writeHead(200, { "content-length": "5" });
        res.end(req.method === "HEAD" ? undefined : "hello");
      }
    });
    open.push(b);
    const p = await startProxy({ backends: [b.url] });
    open.push(p);
    const head = await get(p.port, "/", { method: "HEAD" });
    expect([head.status, head.headers["content-length"], head.body.length]).toEqual([200, "5", 0]);
    const nc = await get(p.port, "/204");
    expect([nc.status, nc.body.length]).toEqual([204, 0]);
    const nm = await get(p.port, "/304");
    expect([nm.status, nm.headers.etag, nm.body.length]).toEqual([304, '"x"', 0]);
    expect(counts(p.proxy)).toEqual([0]);
  });

  it("streams a chunked request body and a chunked response with trailers", async () => {
    const b = await backend((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        res.writeHead(200, { trailer: "x-sum" });
        res.write("got:");
        res.write(Buffer.concat(chunks));
        res.addTrailers({ "x-sum": String(Buffer.concat(chunks).length) });
        res.end();
      });
    });
    open.push(b);
    const p = await startProxy({ backends: [b.url] });
    open.push(p);
    const reply = await new Promise<{ body: string; trailers: Record<string, string | undefined>; te: string | undefined }>(
      (resolve, reject) => {
        const req = httpRequest({ host: "127.0.0.1", port: p.port, method: "POST", path: "/", agent: false }, (res) => {
          let body = "";
          res.on("data", (c: Buffer) => {
            body += c.toString();
          });
          res.on("end", () => resolve({ body, trailers: res.trailers, te: res.headers["transfer-encoding"] }));
        });
        req.on("error", reject);
        req.write("part1-");
        setTimeout(() => req.end("part2"), 20);
      },
    );
    expect(reply).toEqual({ body: "got:part1-part2", trailers: { "x-sum": "11" }, te: "chunked" });
  });

  it("answers Expect: 100-continue itself and forwards the body", async () => {
    const b = await backend((req, res) => {
      let n = 0;
      req.on("data", (c: Buffer) => {
        n += c.length;
      });
      req.on("end", () => res.end(`len=${n} expect=${req.headers.expect ?? "none"}`));
    });
    open.push(b);
    const p = await startProxy({ backends: [b.url] });
    open.push(p);
    const body = await new Promise<string>((resolve, reject) => {
      const req = httpRequest(
        {
          host: "127.0.0.1",
          port: p.port,
          method: "PUT",
          path: "/",
          agent: false,
          headers: { expect: "100-continue", "content-length": "4" },
        },
        (res) => {
          let s = "";
          res.on("data", (c: Buffer) => {
            s += c.toString();
          });
          res.on("end", () => resolve(s));
        },
      );
      req.on("continue", () => req.end("abcd"));
      req.on("error", reject);
    });
    expect(body).toBe("len=4 expect=none");
  });

  it("passes large headers within the limit both ways; refuses an oversized request with 431", async () => {
    const b = await backend((req, res) => {
      res.setHeader("x-big-back", "y".repeat(12_000));
      res.end(String(req.headers["x-big"]?.length));
    });
    open.push(b);
    const p = await startProxy({ backends: [b.url] }, { maxHeaderSize: 16_384 });
    open.push(p);
    const r = await get(p.port, "/", { headers: { "x-big": "x".repeat(12_000) } });
    expect([r.status, r.body.toString(), r.headers["x-big-back"]?.length]).toEqual([200, "12000", 12_000]);
    const big = await get(p.port, "/", { headers: { "x-big": "x".repeat(20_000) } });
    expect(big.status).toBe(431);
    expect(b.hits).toBe(1);
  });
});
