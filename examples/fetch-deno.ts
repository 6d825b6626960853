// balancedFetch in Deno: three requests at once spread over three origins,
// each counted until its body is read. Run from the repository:
//   npm run build && npx deno run --allow-net=127.0.0.1 examples/fetch-deno.ts http://127.0.0.1:8081,http://127.0.0.1:8082,http://127.0.0.1:8083
// (with the package from npm: import from "npm:leastconn/fetch").
// @ts-types="../dist/types/bindings/fetch.d.ts"
import { balancedFetch } from "../dist/fetch.js";

const origins = (Deno.args[0] ?? "http://127.0.0.1:8081,http://127.0.0.1:8082,http://127.0.0.1:8083").split(",");
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
