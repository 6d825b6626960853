// `npm run sim:page`: serves the simulator page (examples/simulator/) and the
// built files it loads (dist/) on 127.0.0.1, and prints the URL. Port 8123,
// or one the OS picks when that is taken; `--port N` chooses. Read-only:
// only files under dist/ and examples/ are served.
import { existsSync, readFileSync, statSync } from "node:fs";
import { createServer } from "node:http";
import { dirname, extname, join, normalize } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const TYPES = { ".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8" };
const PAGE = "/examples/simulator/index.html";

const portArg = process.argv.indexOf("--port");
const wanted = portArg > 0 ? Number(process.argv[portArg + 1]) : 8123;
if (!Number.isInteger(wanted) || wanted < 0 || wanted > 65535) {
  process.stderr.write(`sim-page: --port must be 0..65535, got ${process.argv[portArg + 1]}\n`);
  process.exit(2);
}

const server = createServer((req, res) => {
  const path = normalize(decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname));
  if (path === "/") {
    res.writeHead(302, { Location: PAGE }).end();
    return;
  }
  const file = join(ROOT, path);
  const allowed = (path.startsWith("/dist/") || path.startsWith("/examples/")) && !path.includes("..");
  if (!allowed || !existsSync(file) || !statSync(file).isFile()) {
    res.writeHead(404, { "Content-Type": "text/plain" }).end(`not found: ${path}\n`);
    return;
  }
  res.writeHead(200, { "Content-Type": TYPES[extname(file)] ?? "application/octet-stream", "Cache-Control": "no-store" });
  res.end(readFileSync(file));
});

function listen(port) {
  server.once("error", (err) => {
    if (err.code === "EADDRINUSE" && port !== 0) listen(0);
    else throw err;
  });
  server.listen(port, "127.0.0.1", () => {
    const { port: actual } = server.address();
    process.stdout.write(`simulator page: http://127.0.0.1:${actual}${PAGE}\n(Ctrl-C stops the server)\n`);
  });
}
if (!existsSync(join(ROOT, "dist", "sim-page.js"))) {
  process.stderr.write("sim-page: dist/sim-page.js is missing; run `npm run build` first\n");
  process.exit(1);
}
listen(wanted);
