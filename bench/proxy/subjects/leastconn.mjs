// The `leastconn` subject: `leastconn proxy` from this checkout's dist/, in
// this process (so the harness counts its CPU), in front of the harness's
// backends. Extra arguments go to the proxy (e.g. --algorithm p2c).
//   node leastconn.mjs <port> <host:port,host:port,...> [proxy flags...]
const [port, backends, ...extra] = process.argv.slice(2);
const { main } = await import(new URL("../../../dist/proxy-cli.js", import.meta.url).href);
await main([
  "--listen",
  `127.0.0.1:${port}`,
  ...backends.split(",").flatMap((b) => ["--backend", `http://${b}`]),
  "--log-level",
  "warn",
  "--drain-timeout",
  "0",
  ...extra,
]);
