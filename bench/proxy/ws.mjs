// The WebSocket profile of bench:proxy: long-lived Upgrade tunnels of uneven
// length, where least-connections should count open tunnels, not requests.
// 4 backends (one child process) answer 101, echo every message, and close
// a tunnel after its lifetime: U(0.5,1.5) s on backends 0..2, 5× longer on
// backend 3. Clients open tunnels open-loop at --rate per second for
// --duration seconds; each tunnel sends a 32-byte message every 100 ms and
// times the echo (raw bytes after a real handshake, not framed: the
// proxies tunnel bytes). Per subject: tunnels opened, share per backend, peak open
// tunnels per backend, echo RTT p50/p99, errors, proxy CPU (ms).
//   node bench/proxy/ws.mjs [--duration 8] [--rate 200] [--subjects leastconn,haproxy-lc-t1,nginx-lc-1w]
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const { values: opt } = parseArgs({
  options: {
    duration: { type: "string", default: "8" },
    rate: { type: "string", default: "200" },
    subjects: { type: "string", default: "leastconn,haproxy-lc-t1,nginx-lc-1w" },
  },
});
const DURATION = Number(opt.duration);
const RATE = Number(opt.rate);
const BASE = 25700;
const BACKENDS = [BASE + 1, BASE + 2, BASE + 3, BASE + 4];
const PROXY = BASE;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const backendSrc = `
const http = require("http");
const ports = ${JSON.stringify(BACKENDS)};
ports.forEach((port, i) => {
  const stats = { opened: 0, open: 0, peak: 0 };
  const s = http.createServer((q, r) => r.end("ok"));
  s.on("upgrade", (req, sock) => {
    stats.opened++; stats.open++; if (stats.open > stats.peak) stats.peak = stats.open;
    const accept = require("crypto").createHash("sha1").update(req.headers["sec-websocket-key"] + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest("base64");
    sock.write("HTTP/1.1 101 Switching Protocols\\r\\nUpgrade: websocket\\r\\nConnection: Upgrade\\r\\nSec-WebSocket-Accept: " + accept + "\\r\\n\\r\\n");
    sock.on("data", (d) => sock.write(d));
    sock.on("error", () => {});
    let closed = false;
    const done = () => { if (!closed) { closed = true; stats.open--; } };
    sock.on("close", done);
    const life = (500 + Math.random() * 1000) * (i === ports.length - 1 ? 5 : 1);
    setTimeout(() => sock.end(), life);
  });
  s.listen(port, "127.0.0.1");
  process.on("message", (m) => { if (m === "reset") { stats.opened = 0; stats.peak = stats.open; } else if (m === "stats") process.send({ i, ...stats }); });
});
`;

function cpuOf(pids) {
  let ticks = 0;
  for (const pid of pids) {
    try {
      const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
      ticks += Number(f[11]) + Number(f[12]);
    } catch {}
  }
  return ticks * 10; // ms at 100 Hz
}

function childPids(pid) {
  try {
    return [
      pid,
      ...execFileSync("pgrep", ["-P", String(pid)], { encoding: "utf8" })
        .split("\n")
        .filter(Boolean)
        .map(Number)
        .flatMap(childPids),
    ];
  } catch {
    return [pid];
  }
}

const subjects = {
  leastconn: () =>
    spawn(
      process.execPath,
      [path.join(HERE, "subjects", "leastconn.mjs"), String(PROXY), BACKENDS.map((p) => `127.0.0.1:${p}`).join(",")],
      {
        stdio: "ignore",
      },
    ),
  "haproxy-lc-t1": (dir) => {
    const cfg = `global\n  nbthread 1\n  maxconn 4096\ndefaults\n  mode http\n  timeout connect 5s\n  timeout client 30s\n  timeout server 30s\n  timeout tunnel 1h\nfrontend f\n  bind 127.0.0.1:${PROXY}\n  default_backend b\nbackend b\n  balance leastconn\n${BACKENDS.map((p, i) => `  server s${i} 127.0.0.1:${p}\n`).join("")}`;
    writeFileSync(path.join(dir, "haproxy.cfg"), cfg);
    return spawn("haproxy", ["-db", "-f", path.join(dir, "haproxy.cfg")], { stdio: "ignore" });
  },
  "nginx-lc-1w": (dir) => {
    const cfg = `worker_processes 1;\ndaemon off;\npid ${dir}/nginx.pid;\nerror_log ${dir}/error.log;\nevents { worker_connections 20000; }\nhttp {\n  access_log off;\n  client_body_temp_path ${dir}/cb; proxy_temp_path ${dir}/pt; fastcgi_temp_path ${dir}/ft; uwsgi_temp_path ${dir}/ut; scgi_temp_path ${dir}/st;\n  upstream b { least_conn;\n${BACKENDS.map((p) => `    server 127.0.0.1:${p} max_fails=0;\n`).join("")}  }\n  server { listen 127.0.0.1:${PROXY};\n    location / { proxy_pass http://b; proxy_http_version 1.1; proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection "upgrade"; proxy_read_timeout 1h; }\n  }\n}\n`;
    writeFileSync(path.join(dir, "nginx.conf"), cfg);
    return spawn("nginx", ["-c", path.join(dir, "nginx.conf"), "-p", dir, "-e", path.join(dir, "error.log")], { stdio: "ignore" });
  },
};

function tunnel(rtts, counters) {
  const s = connect(PROXY, "127.0.0.1");
  let head = "";
  let open = false;
  let sent = 0;
  let timer;
  s.setNoDelay(true);
  s.on("connect", () =>
    s.write(
      "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    ),
  );
  s.on("data", (d) => {
    if (!open) {
      head += d.toString("latin1");
      if (!head.includes("\r\n\r\n")) return;
      if (!head.startsWith("HTTP/1.1 101")) {
        counters.errors++;
        s.destroy();
        return;
      }
      open = true;
      counters.opened++;
      timer = setInterval(() => {
        sent = performance.now();
        s.write("x".repeat(32));
      }, 100);
      return;
    }
    if (sent > 0) rtts.push(performance.now() - sent);
    sent = 0;
  });
  s.on("error", () => {
    if (!open) counters.errors++;
  });
  s.on("close", () => clearInterval(timer));
}

function pct(a, p) {
  if (a.length === 0) return NaN;
  const s = [...a].sort((x, y) => x - y);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

const backends = spawn(process.execPath, ["-e", backendSrc], { stdio: ["ignore", "ignore", "inherit", "ipc"] });
await sleep(500);
const ask = () =>
  new Promise((resolve) => {
    const got = [];
    const on = (m) => {
      got.push(m);
      if (got.length === BACKENDS.length) {
        backends.off("message", on);
        resolve(got.sort((a, b) => a.i - b.i));
      }
    };
    backends.on("message", on);
    backends.send("stats");
  });
const rows = [];
for (const name of opt.subjects.split(",")) {
  const start = subjects[name];
  const dir = mkdtempSync(path.join(tmpdir(), "wsbench-"));
  const proc = start(dir);
  await sleep(1000);
  await sleep(8000); // earlier subject's long tunnels end (backend 3 lives up to 7.5 s)
  backends.send("reset");
  const rtts = [];
  const counters = { opened: 0, errors: 0 };
  const cpu0 = cpuOf(childPids(proc.pid));
  const t0 = Date.now();
  while (Date.now() - t0 < DURATION * 1000) {
    tunnel(rtts, counters);
    await sleep(1000 / RATE);
  }
  const cpu = cpuOf(childPids(proc.pid)) - cpu0;
  const stats = await ask();
  const total = stats.reduce((a, s) => a + s.opened, 0);
  rows.push(
    `| ${name} | ${counters.opened} | ${stats.map((s) => ((100 * s.opened) / total).toFixed(1)).join("/")} | ${stats.map((s) => s.peak).join("/")} | ${pct(rtts, 50).toFixed(2)} | ${pct(rtts, 99).toFixed(2)} | ${counters.errors} | ${cpu} |`,
  );
  console.log(rows.at(-1));
  proc.kill("SIGTERM");
  await sleep(500);
}
backends.kill();
console.log(`\nWebSocket profile: ${RATE} tunnels/s for ${DURATION} s\n`);
console.log("| subject | tunnels | share % per backend | peak open per backend | echo p50 ms | echo p99 ms | errors | proxy CPU ms |");
console.log("|---|---|---|---|---|---|---|---|");
for (const r of rows) console.log(r);
process.exit(0);
