// balancedFetch in Deno: three requests at once spread over three origins,
// each counted until its body is read. Run from the repository after
// `npm run build`:
//   npx deno run --allow-read --allow-net=127.0.0.1 examples/fetch-deno.ts
// which starts three local origins itself, or pass yours (comma-separated):
//   npx deno run --allow-read --allow-net=127.0.0.1 examples/fetch-deno.ts http://127.0.0.1:8081,http://127.0.0.1:8082
// (with the package from npm: import { balancedFetch } from "npm:leastconn/fetch").
// @ts-types="../dist/types/bindings/fetch.d.ts"
import { balancedFetch } from "../dist/fetch.js";

const servers: Deno.HttpServer<Deno.NetAddr>[] = [];
let origins = Deno.args[0]?.split(",");
if (origins === undefined) {
  for (const name of ["o0", "o1", "o2"]) {
    servers.push(
      Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => new Response(`${name}${new URL(req.url).pathname}`)),
    );
  }
  origins = servers.map((s) => `http://127.0.0.1:${s.addr.port}`);
}
const fetch = balancedFetch({ origins, algorithm: "least-connections" });

// Started together, so each finds the others in flight: one per origin.
const responses = await Promise.all([fetch("/hello"), fetch("/hello"), fetch("/hello")]);
console.log((await Promise.all(responses.map((r) => r.text()))).join(" "));
console.log(
  "in flight after:",
  fetch.balancer
    .snapshot()
    .map((b) => b.active)
    .join(" "),
);
await Promise.all(servers.map((s) => s.shutdown()));
