// leastconn/undici in Node: a LeastConnDispatcher over three local origins,
// the third one slow. Least connections sends the slow origin far fewer
// requests than round-robin would (a third). Self-contained; run from the
// repository after `npm run build`: node examples/undici.mjs
// (with the package from npm: import { LeastConnDispatcher } from "leastconn/undici").
import { createServer } from "node:http";
import { request } from "undici";
import { LeastConnDispatcher } from "../dist/undici.js";

const servers = await Promise.all(
  ["fast-1", "fast-2", "slow"].map(
    (name) =>
      new Promise((ok) => {
        const server = createServer((_req, res) => setTimeout(() => res.end(name), name === "slow" ? 50 : 1));
        server.listen(0, "127.0.0.1", () => ok(server));
      }),
  ),
);
const origins = servers.map((s) => `http://127.0.0.1:${s.address().port}`);

const dispatcher = new LeastConnDispatcher(origins, { retries: 1 });
const counts = { "fast-1": 0, "fast-2": 0, slow: 0 };
// 300 requests, 12 in flight at a time; any URL's origin is replaced by the picked one.
let left = 300;
await Promise.all(
  Array.from({ length: 12 }, async () => {
    while (left-- > 0) {
      const res = await request("http://api.internal/hello", { dispatcher });
      counts[await res.body.text()]++;
    }
  }),
);
console.log(`slow origin got fewer than a tenth: ${counts.slow < 30}`);
console.log(
  `in flight after: ${dispatcher.balancer
    .snapshot()
    .map((b) => b.active)
    .join(" ")}`,
);
await dispatcher.close();
for (const s of servers) s.close();
