// Streaming with backpressure: 1 GiB down and 1 GiB up through the proxy,
// with the process's RSS sampled throughout (client, proxy and backend all
// live in this process, so any buffering anywhere would show).

import { request as httpRequest } from "node:http";
import { afterEach, describe, expect, it } from "vitest";
import { backend, startProxy, type TestBackend, type TestProxy } from "./helpers.js";

const MIB = 1024;
let open: Array<TestBackend | TestProxy> = [];
afterEach(async () => {
  for (const x of open.reverse()) await x.close();
  open = [];
});

describe("streaming", () => {
  it(`streams a ${MIB} MiB download and a ${MIB} MiB upload with bounded memory`, { timeout: 90_000 }, async () => {
    const chunk = Buffer.alloc(1 << 20, 7);
    const b = await backend((req, res) => {
      if (req.method === "GET") {
        let left = MIB;
        const pump = (): void => {
          while (left > 0) {
            left--;
            if (!res.write(chunk)) {
              res.once("drain", pump);
              return;
            }
          }
          res.end();
        };
        pump();
      } else {
        let n = 0;
        req.on("data", (c: Buffer) => {
          n += c.length;
        });
        req.on("end", () => res.end(String(n)));
      }
    });
    open.push(b);
    const p = await startProxy({ backends: [b.url] });
    open.push(p);
    const rss0 = process.memoryUsage().rss;
    let peak = rss0;
    const sampler = setInterval(() => {
      peak = Math.max(peak, process.memoryUsage().rss);
    }, 5);
    const got = await new Promise<number>((resolve, reject) => {
      httpRequest({ host: "127.0.0.1", port: p.port, path: "/", agent: false }, (res) => {
        let n = 0;
        res.on("data", (c: Buffer) => {
          n += c.length;
        });
        res.on("end", () => resolve(n));
      })
        .on("error", reject)
        .end();
    });
    const sent = await new Promise<string>((resolve, reject) => {
      const req = httpRequest({ host: "127.0.0.1", port: p.port, method: "POST", path: "/", agent: false }, (res) => {
        let s = "";
        res.on("data", (c: Buffer) => {
          s += c.toString();
        });
        res.on("end", () => resolve(s));
      });
      req.on("error", reject);
      let left = MIB;
      const pump = (): void => {
        while (left > 0) {
          left--;
          if (!req.write(chunk)) {
            req.once("drain", pump);
            return;
          }
        }
        req.end();
      };
      pump();
    });
    clearInterval(sampler);
    expect(got).toBe(MIB << 20);
    expect(sent).toBe(String(MIB << 20));
    // Client, proxy and backend share this process: 1 GiB each way went
    // through while it grew by at most 128 MiB (1 MiB chunks waiting for the
    // garbage collector; one unbounded buffer anywhere would hold 1 GiB).
    expect(peak - rss0).toBeLessThan(128 << 20);
  });
});
