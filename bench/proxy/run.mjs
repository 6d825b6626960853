#!/usr/bin/env node
import { spawnSync } from "node:child_process";
// proxybench: HTTP load balancers side by side on one machine.
//
//   node bench/proxy/run.mjs [--duration 10] [--conns 64] [--subjects nginx-lc-1w,haproxy-lc-t1,...]
//                                 [--profiles fast,slow1,mixed] [--open-profiles slow1,mixed] [--rate 2000]
//                                 [--repeat 1] [--leastconn-cmd 'node my-proxy.mjs --port {port} --backends {backends}']
//
// See README.md beside this file. Every process it starts is stopped by PID at the end.
import fs from "node:fs";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { runOpenLoop, runWrk, WRK } from "./lib/load.mjs";
import {
  freePorts,
  killAllManagedSync,
  logTail,
  machineCpu,
  reapedChildrenCpuSeconds,
  sleep,
  startProcess,
  stopProcess,
  treeCpuSeconds,
  waitReady,
} from "./lib/proc.mjs";
import { describeBackend, PROFILES } from "./lib/profiles.mjs";
import { renderMarkdown } from "./lib/report.mjs";
import { catalog, HAPROXY, NGINX } from "./lib/subjects.mjs";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const BODY_BYTES = 1024;

const { values: opt } = parseArgs({
  options: {
    duration: { type: "string", default: "10" },
    warmup: { type: "string", default: "1" },
    conns: { type: "string", default: "64" },
    threads: { type: "string", default: "1" },
    backends: { type: "string", default: "4" },
    subjects: { type: "string" },
    profiles: { type: "string", default: "fast,slow1,mixed" },
    "open-profiles": { type: "string", default: "slow1,mixed" },
    rate: { type: "string", default: "1000" },
    "open-duration": { type: "string" },
    "open-conns": { type: "string", default: "512" },
    repeat: { type: "string", default: "1" },
    baseline: { type: "string", default: "nginx-lc-1w" },
    "leastconn-cmd": { type: "string" },
    "base-port": { type: "string", default: "24700" },
    out: { type: "string" },
    json: { type: "string" },
    append: { type: "boolean", default: false },
    render: { type: "string" },
    "keep-tmp": { type: "boolean", default: false },
    list: { type: "boolean", default: false },
    help: { type: "boolean", short: "h", default: false },
  },
  allowPositionals: false,
});

// In this repository the `leastconn` slot defaults to our own proxy (bench/proxy/subjects/leastconn.mjs).
const defaultLeastconnCmd = `node ${path.join(HERE, "subjects", "leastconn.mjs")} {port} {backends}`;
const subjectsAll = catalog({ leastconnCmd: opt["leastconn-cmd"] ?? defaultLeastconnCmd });

if (opt.help || opt.list) {
  console.log(`usage: node ${path.relative(process.cwd(), path.join(HERE, "run.mjs"))} [options]

  --duration S        seconds per measured closed-loop run (default 10)
  --warmup S          unmeasured warm-up per subject before each run (default 1)
  --conns N           wrk connections (default 64); --threads N wrk threads (default 1)
  --backends N        number of backends (default 4)
  --subjects a,b,...  subjects to run (default: all marked *); 'all' runs every one;
                      '+a,+b' runs the default set plus a and b
  --profiles a,b      closed-loop profiles (default fast,slow1,mixed)
  --open-profiles a,b open-loop profiles (default slow1,mixed; 'none' to skip)
  --rate R            open-loop target requests/s (default 1000); --open-duration S (default --duration)
  --open-conns N      open-loop connection cap (default 512)
  --repeat N          full rounds; ratios are always taken within one round (default 1)
  --baseline NAME     subject the req/s ratio is taken against (default nginx-lc-1w)
  --leastconn-cmd CMD start CMD (sh -c) as subject 'leastconn'; {port}, {host}, {backends} are
                      replaced (backends = 127.0.0.1:p1,127.0.0.1:p2,...)
  --out FILE          markdown report (default bench/proxy/RESULTS.md); --json FILE raw results
  --append            append the report to --out instead of replacing it
  --render FILE.json  only re-render the markdown of an earlier run's raw results
  --base-port P       first port to probe for free ones (default 24700)

subjects:`);
  for (const s of subjectsAll) console.log(`  ${s.isDefault ? "*" : " "} ${s.name.padEnd(20)} ${s.desc}`);
  console.log("\nprofiles:");
  for (const [k, p] of Object.entries(PROFILES)) console.log(`    ${k.padEnd(20)} ${p.desc}`);
  process.exit(0);
}

const num = (k) => {
  const v = Number(opt[k]);
  if (!Number.isFinite(v) || v < 0) throw new Error(`--${k} must be a number, got ${opt[k]}`);
  return v;
};
const cfg = {
  duration: num("duration"),
  warmup: num("warmup"),
  conns: num("conns"),
  threads: num("threads"),
  nBackends: num("backends"),
  rate: num("rate"),
  openDuration: opt["open-duration"] ? num("open-duration") : num("duration"),
  openConns: num("open-conns"),
  repeat: Math.max(1, num("repeat")),
  baseline: opt.baseline,
  basePort: num("base-port"),
};
const splitList = (s) =>
  (s || "")
    .split(",")
    .map((x) => x.trim())
    .filter((x) => x && x !== "none");
const profileNames = splitList(opt.profiles);
const openProfileNames = splitList(opt["open-profiles"]);
for (const p of [...profileNames, ...openProfileNames])
  if (!PROFILES[p]) throw new Error(`unknown profile ${p} (have: ${Object.keys(PROFILES).join(", ")})`);

let wanted;
if (!opt.subjects) wanted = subjectsAll.filter((s) => s.isDefault);
else if (opt.subjects === "all") wanted = subjectsAll;
else {
  let names = splitList(opt.subjects);
  // '+name' entries add to the default set: --subjects +node-lc-naive,+nginx-rr-auto
  if (names.every((n) => n.startsWith("+")))
    names = [...subjectsAll.filter((s) => s.isDefault).map((s) => s.name), ...names.map((n) => n.slice(1))];
  wanted = names.map((n) => {
    const s = subjectsAll.find((x) => x.name === n);
    if (!s) throw new Error(`unknown subject ${n}${n === "leastconn" ? " (give --leastconn-cmd)" : ""}; --list shows them`);
    return s;
  });
}

// Skip, with a note, subjects whose binary or npm module is missing.
const skipped = [];
const require = createRequire(path.join(HERE, "package.json"));
wanted = wanted.filter((s) => {
  for (const bin of s.needs || []) {
    if (!fs.existsSync(bin)) {
      skipped.push({ name: s.name, why: `${bin} not found` });
      return false;
    }
  }
  if (s.needsModule) {
    try {
      require.resolve(s.needsModule);
    } catch {
      skipped.push({ name: s.name, why: `npm module ${s.needsModule} missing: run \`npm install --prefix bench/proxy\`` });
      return false;
    }
  }
  return true;
});
if (!fs.existsSync(WRK)) throw new Error(`${WRK} not found (apt-get install wrk)`);

const outFile = opt.out || path.join(HERE, "RESULTS.md");

function writeReport(md) {
  if (opt.append && fs.existsSync(outFile)) fs.appendFileSync(outFile, `\n---\n\n${md}`);
  else fs.writeFileSync(outFile, md);
}

if (opt.render) {
  const { env: e, results } = JSON.parse(fs.readFileSync(opt.render, "utf8"));
  const pn = [...new Set(results.filter((r) => r.mode === "closed").map((r) => r.profile))];
  const on = [...new Set(results.filter((r) => r.mode === "open").map((r) => r.profile))];
  writeReport(renderMarkdown({ env: e, results, cfg: e.cfg, profileNames: pn, openProfileNames: on }));
  console.log(`rendered ${opt.render} into ${outFile}`);
  process.exit(0);
}
const stamp = new Date().toISOString().replace(/[:.]/g, "-").slice(0, 19);
const jsonFile = opt.json || path.join(HERE, "results", `run-${stamp}.json`);
const workDir = fs.mkdtempSync(path.join(os.tmpdir(), "proxybench-"));
fs.chmodSync(workDir, 0o755);
const logDir = path.join(workDir, "logs");
fs.mkdirSync(logDir);

const shq = (a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replaceAll("'", `'\\''`)}'`);
const command = ["node", path.relative(process.cwd(), process.argv[1]) || process.argv[1], ...process.argv.slice(2)].map(shq).join(" ");

function version(cmd, args, re) {
  // Some tools print their version on stderr (nginx -v), some exit non-zero (wrk --version).
  const r = spawnSync(cmd, args, { encoding: "utf8" });
  const m = `${r.stdout || ""}${r.stderr || ""}`.match(re);
  return m ? m[1] : "unknown";
}

const env = {
  date: new Date().toISOString(),
  command,
  cwd: process.cwd(),
  host: `${os.cpus()[0]?.model || "?"}, ${os.cpus().length} CPUs (nproc ${os.availableParallelism?.() ?? "?"}), ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Linux ${os.release()}`,
  versions: {
    node: process.version,
    nginx: version(NGINX, ["-v"], /nginx\/(\S+)/),
    haproxy: version(HAPROXY, ["-v"], /HAProxy version (\S+)/),
    wrk: version(WRK, ["--version"], /wrk (\S+)/),
    "http-proxy": (() => {
      try {
        return JSON.parse(fs.readFileSync(require.resolve("http-proxy/package.json"), "utf8")).version;
      } catch {
        return "not installed";
      }
    })(),
  },
  loadavgStart: os
    .loadavg()
    .map((x) => x.toFixed(2))
    .join(" "),
  cfg,
  skipped,
  wrk2: "wrk2 is not packaged for Debian 12 (`apt-cache policy wrk2` finds nothing); open-loop runs use lib/openloop.mjs",
};

// ---------------------------------------------------------------- cleanup
let cleaning = false;
function emergencyCleanup(sig) {
  if (cleaning) return;
  cleaning = true;
  killAllManagedSync();
  if (!opt["keep-tmp"]) fs.rmSync(workDir, { recursive: true, force: true });
  if (sig) {
    console.error(`\nproxybench: ${sig}, stopped all children`);
    process.exit(130);
  }
}
process.on("SIGINT", () => emergencyCleanup("SIGINT"));
process.on("SIGTERM", () => emergencyCleanup("SIGTERM"));
process.on("exit", () => emergencyCleanup());

// ---------------------------------------------------------------- backends
let ipcSeq = 0;
function ipc(entry, msg, timeoutMs = 5000) {
  return new Promise((resolve, reject) => {
    const id = ++ipcSeq;
    const onMsg = (m) => {
      if (m && m.id === id) {
        clearTimeout(timer);
        entry.child.off("message", onMsg);
        resolve(m);
      }
    };
    const timer = setTimeout(() => {
      entry.child.off("message", onMsg);
      reject(new Error(`backend ${entry.name} did not answer ${msg.cmd}`));
    }, timeoutMs);
    entry.child.on("message", onMsg);
    entry.child.send({ ...msg, id });
  });
}

async function startBackends(ports) {
  const list = [];
  for (let i = 0; i < ports.length; i++) {
    const logFile = path.join(logDir, `backend${i}.log`);
    const entry = startProcess(`backend${i}`, process.execPath, [path.join(HERE, "lib", "backend.mjs"), String(i), String(ports[i])], {
      logFile,
      ipc: true,
    });
    const ready = new Promise((resolve, reject) => {
      entry.child.once("message", (m) => (m && m.ready ? resolve() : reject(new Error("bad hello"))));
      entry.exitPromise.then((x) => reject(new Error(`backend${i} exited (${x}): ${logTail(logFile)}`)));
    });
    await ready;
    list.push({ index: i, host: "127.0.0.1", port: ports[i], entry });
  }
  return list;
}

const backendsCpu = (bs) => bs.reduce((a, b) => a + treeCpuSeconds(b.entry.pid), 0);

// ---------------------------------------------------------------- one measurement
async function measure({ subject, profileName, mode, round, port, backends }) {
  const res = { subject: subject.name, profile: profileName, mode, round, port };
  const logFile = path.join(logDir, `${subject.name}.log`);
  let entry = null;
  let url;
  try {
    if (subject.direct) url = `http://127.0.0.1:${backends[0].port}/`;
    else {
      entry = subject.start({ port, backends, workDir, logFile });
      url = `http://127.0.0.1:${port}/`;
    }
    await waitReady(url, { entry, bodyBytes: BODY_BYTES, timeoutMs: 15000 });
    if (entry && entry.exited) throw new Error(`exited: ${entry.exit}`);

    if (cfg.warmup > 0) {
      if (mode === "closed") await runWrk({ url, conns: cfg.conns, threads: cfg.threads, durationS: cfg.warmup, logFile });
      else await runOpenLoop({ url, rate: cfg.rate, durationS: cfg.warmup, maxConns: cfg.openConns, graceS: 5, logFile });
      await sleep(300);
    }
    await Promise.all(backends.map((b) => ipc(b.entry, { cmd: "reset" })));

    const cpu0 = entry ? treeCpuSeconds(entry.pid) : null;
    const bcpu0 = backendsCpu(backends);
    const gen0 = reapedChildrenCpuSeconds();
    const self0 = process.cpuUsage();
    const m0 = machineCpu();
    const t0 = performance.now();

    let load;
    if (mode === "closed") load = await runWrk({ url, conns: cfg.conns, threads: cfg.threads, durationS: cfg.duration, logFile });
    else load = await runOpenLoop({ url, rate: cfg.rate, durationS: cfg.openDuration, maxConns: cfg.openConns, logFile });

    const wall = (performance.now() - t0) / 1000;
    const m1 = machineCpu();
    const selfD = process.cpuUsage(self0);
    const genCpu = reapedChildrenCpuSeconds() - gen0;
    const bcpu = backendsCpu(backends) - bcpu0;
    const cpu = entry ? treeCpuSeconds(entry.pid) - cpu0 : null;
    const stats = await Promise.all(backends.map((b) => ipc(b.entry, { cmd: "stats" })));
    if (entry && entry.exited) throw new Error(`exited during the run: ${entry.exit}`);

    const ours = (cpu || 0) + bcpu + genCpu + (selfD.user + selfD.system) / 1e6;
    const ncpu = os.availableParallelism?.() ?? os.cpus().length;
    res.wallS = wall;
    res.proxyCpuS = cpu;
    res.backendCpuS = bcpu;
    res.loadgenCpuS = genCpu;
    res.otherCpuPct = Math.max(0, ((m1.busy - m0.busy - ours) / (wall * ncpu)) * 100);
    res.stealPct = ((m1.steal - m0.steal) / (wall * ncpu)) * 100;
    res.backends = stats.map(({ index, count, peak, aborted, queued }) => ({ index, count, peak, aborted, queued }));
    if (mode === "closed") {
      const e = load.errors;
      res.requests = load.requests;
      res.rps = load.requests / (load.duration_us / 1e6);
      res.latMs = Object.fromEntries(Object.entries(load.latency_us).map(([k, v]) => [k, v / 1000]));
      res.errors = { ...e, total: e.connect + e.read + e.write + e.status + e.timeout };
      res.wrkText = load.text;
    } else {
      res.requests = load.ok_in_window;
      res.rps = load.ok_rate;
      res.target = load.target_rate;
      res.latMs = load.latency_ms;
      res.sendLagMs = load.send_lag_ms;
      res.maxInflight = load.max_inflight;
      res.errors = {
        failed: load.errors,
        status: load.non2xx,
        incomplete: load.incomplete,
        total: load.errors + load.non2xx + load.incomplete,
      };
    }
    res.cpuUsPerReq = cpu !== null && res.requests ? (cpu / res.requests) * 1e6 : null;
  } catch (e) {
    res.error = `${e.message}${entry ? `\n${logTail(logFile, 8)}` : ""}`;
  } finally {
    if (entry) await stopProcess(entry);
  }
  return res;
}

function line(r) {
  if (r.error) return `  ${r.subject.padEnd(20)} FAILED: ${r.error.split("\n")[0]}`;
  const share = r.backends.map((b) => b.count).reduce((a, b) => a + b, 0) || 1;
  const sh = r.backends.map((b) => ((100 * b.count) / share).toFixed(0)).join("/");
  const p99 = r.latMs.p99 === null ? ">grace" : `${r.latMs.p99.toFixed(2)}ms`;
  return `  ${r.subject.padEnd(20)} ${r.rps.toFixed(0).padStart(7)} req/s  p50 ${r.latMs.p50?.toFixed(2)}ms  p99 ${p99}  err ${r.errors.total}  share ${sh}  cpu ${r.proxyCpuS?.toFixed(2) ?? "-"}s  other ${r.otherCpuPct.toFixed(0)}%`;
}

// ---------------------------------------------------------------- main
async function main() {
  const t0 = Date.now();
  const ports = await freePorts(cfg.nBackends + wanted.length, cfg.basePort);
  const backends = await startBackends(ports.slice(0, cfg.nBackends));
  const subjectPort = new Map(wanted.map((s, i) => [s.name, ports[cfg.nBackends + i]]));
  console.log(
    `proxybench: ${wanted.length} subjects, profiles [${profileNames}] closed-loop, [${openProfileNames}] open-loop at ${cfg.rate}/s, ${cfg.repeat} round(s)`,
  );
  console.log(`  backends on ports ${ports.slice(0, cfg.nBackends).join(", ")}; work dir ${workDir}`);
  for (const s of skipped) console.log(`  skipped ${s.name}: ${s.why}`);

  const results = [];
  const profileInfo = {};
  const phases = [
    ...profileNames.map((p) => ({ mode: "closed", profile: p })),
    ...openProfileNames.map((p) => ({ mode: "open", profile: p })),
  ];
  for (let round = 1; round <= cfg.repeat; round++) {
    for (const ph of phases) {
      const prof = PROFILES[ph.profile];
      const bcfg = backends.map((b) => prof.backend(b.index, backends.length));
      profileInfo[ph.profile] = { desc: prof.desc, backends: bcfg.map(describeBackend), slowBackend: prof.slowBackend(backends.length) };
      await Promise.all(backends.map((b, i) => ipc(b.entry, { cmd: "config", cfg: bcfg[i] })));
      // Open loop: the direct floor only where one backend can take the whole rate (no slots).
      let list = ph.mode === "open" && bcfg[0].slots > 0 ? wanted.filter((s) => !s.direct) : wanted;
      // Rotate the order each round so no subject always runs first or last.
      const k = (round - 1) % list.length;
      list = [...list.slice(k), ...list.slice(0, k)];
      console.log(`\nround ${round}/${cfg.repeat}  ${ph.mode}-loop  profile ${ph.profile}: ${prof.desc}`);
      for (const subject of list) {
        const r = await measure({ subject, profileName: ph.profile, mode: ph.mode, round, port: subjectPort.get(subject.name), backends });
        results.push(r);
        console.log(line(r));
      }
    }
  }

  for (const b of backends) await stopProcess(b.entry);
  env.loadavgEnd = os
    .loadavg()
    .map((x) => x.toFixed(2))
    .join(" ");
  env.wallMinutes = ((Date.now() - t0) / 60000).toFixed(1);
  env.subjects = wanted.map((s) => ({ name: s.name, desc: s.desc, algo: s.algo, family: s.family }));
  env.profiles = profileInfo;

  fs.mkdirSync(path.dirname(jsonFile), { recursive: true });
  fs.writeFileSync(jsonFile, JSON.stringify({ env, results }, null, 1));
  const md = renderMarkdown({ env, results, cfg, profileNames, openProfileNames });
  writeReport(md);
  console.log(`\nwrote ${path.relative(process.cwd(), outFile)} and ${path.relative(process.cwd(), jsonFile)} (${env.wallMinutes} min)`);
  if (opt["keep-tmp"]) console.log(`configs and logs kept in ${workDir}`);
}

main().catch((e) => {
  console.error(`proxybench: ${e.stack || e.message}`);
  process.exitCode = 1;
  emergencyCleanup();
});
