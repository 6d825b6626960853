// Shared pieces of the proxy suites: backends and a proxy on 127.0.0.1
// with ports from the OS, a raw HTTP client, and waiting helpers.

import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { pino } from "pino";
import { type ClientLimits, createProxy, createProxyServer, type LeastconnProxy, type ProxyOptions } from "../../cli/proxy/proxy.js";

export const silent = pino({ level: "silent" });

export async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return (server.address() as AddressInfo).port;
}

export interface TestBackend {
  server: Server;
  port: number;
  url: string;
  hits: number;
  close(): Promise<void>;
}

export async function backend(fn: (req: IncomingMessage, res: ServerResponse) => void): Promise<TestBackend> {
  const b = { hits: 0 } as TestBackend;
  b.server = createServer((req, res) => {
    b.hits++;
    fn(req, res);
  });
  b.port = await listen(b.server);
  b.url = `http://127.0.0.1:${b.port}`;
  b.close = () =>
    new Promise<void>((resolve) => {
      b.server.closeAllConnections();
      b.server.close(() => resolve());
    });
  return b;
}

export interface TestProxy {
  proxy: LeastconnProxy;
  server: Server;
  port: number;
  close(): Promise<void>;
}

export async function startProxy(options: ProxyOptions, limits: ClientLimits = {}): Promise<TestProxy> {
  const proxy = createProxy({ logger: silent, ...options });
  const server = createProxyServer(proxy, limits);
  const port = await listen(server);
  return {
    proxy,
    server,
    port,
    async close() {
      // Tunnels first: node:http no longer tracks an upgraded socket, so
      // server.close() would wait for it.
      await proxy.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export interface Reply {
  status: number;
  headers: IncomingMessage["headers"];
  rawHeaders: string[];
  trailers: IncomingMessage["trailers"];
  body: Buffer;
}

export function get(
  port: number,
  path = "/",
  options: { method?: string; headers?: Record<string, string>; body?: string | Buffer } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: "127.0.0.1", port, path, method: options.method ?? "GET", headers: options.headers, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({
            status: res.statusCode!,
            headers: res.headers,
            rawHeaders: res.rawHeaders,
            trailers: res.trailers,
            body: Buffer.concat(chunks),
          }),
        );
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(options.body);
  });
}

export async function until(cond: () => boolean, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 10));
  }
}

export function counts(proxy: LeastconnProxy): number[] {
  return proxy.balancer.snapshot().map((b) => b.active);
}
