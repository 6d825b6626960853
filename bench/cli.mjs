// Times the node (dist/cli.js) against a floor in the same run, and its
// start-up against bare `node -e 0`, then rewrites the bench:cli section of
// docs/BENCHMARKS.md. A benchmark, not a test: run it with `npm run bench:cli`.
//
// Workload: an init, then http_requests, each completed by a request_complete
// naming its request_id three messages later (400,000 messages in all). The
// floor is the least a line-per-message Node program can do: read lines,
// JSON.parse each, write one fixed reply per line. Both write into a pipe
// that this process drains, so output costs the same for both.

import { spawn } from "node:child_process";
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { writeSection } from "./section.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 400_000);
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const STARTUP_RUNS = Number(process.env.BENCH_STARTUP_RUNS ?? 20);

const FLOOR = `
import { createInterface } from "node:readline";
const reply = '{"src": "lb", "dest": "client", "body": {"type": "http_response", "in_reply_to": 1, "status": 200, "backend": "api-1", "active_connections": {"api-1": 1, "api-2": 0, "api-3": 0}}}\\n';
const rl = createInterface({ input: process.stdin, crlfDelay: Infinity });
rl.on("line", (line) => { JSON.parse(line); process.stdout.write(reply); });
`;

function workload(total) {
  const lines = [
    '{"src":"client","dest":"lb","body":{"type":"init","msg_id":0,"backends":["api-1","api-2","api-3"],"algorithm":"least-connections"}}',
  ];
  const due = new Map(); // position → request id to complete there
  let next = 1;
  while (lines.length < total) {
    const pos = lines.length;
    const id = due.get(pos);
    if (id !== undefined) {
      due.delete(pos);
      lines.push(`{"src":"client","dest":"lb","body":{"type":"request_complete","msg_id":${next++},"request_id":${id}}}`);
    } else {
      const rid = next++;
      lines.push(`{"src":"client","dest":"lb","body":{"type":"http_request","msg_id":${rid},"method":"GET","path":"/api/data"}}`);
      due.set(pos + 3, rid);
    }
  }
  return lines.join("\n") + "\n";
}

// Runs a command with the file `input` as stdin; resolves with wall time
// (ms), the time to the first stdout byte, and the output's line count.
function run(cmd, args, input) {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    let first = -1;
    let lines = 0;
    let bytes = 0;
    const fd = openSync(input, "r");
    const child = spawn(cmd, args, { stdio: [fd, "pipe", "inherit"], cwd: root });
    closeSync(fd);
    child.stdout.on("data", (chunk) => {
      if (first < 0) first = Number(process.hrtime.bigint() - t0) / 1e6;
      bytes += chunk.length;
      for (let i = chunk.indexOf(10); i >= 0; i = chunk.indexOf(10, i + 1)) lines++;
    });
    child.on("error", reject);
    child.on("close", (code) => {
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      if (code !== 0) reject(new Error(`${cmd} ${args.join(" ")} exited ${code}`));
      else resolve({ ms, first, lines, bytes });
    });
  });
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const dir = mkdtempSync(join(tmpdir(), "leastconn-bench-"));
const loadBefore = loadavg()[0];
try {
  const floorPath = join(dir, "floor.mjs");
  writeFileSync(floorPath, FLOOR);
  const text = workload(MESSAGES);
  const input = join(dir, "workload.jsonl");
  writeFileSync(input, text);
  const cli = join(root, "dist", "cli.js");

  // Interleaved, so drift in machine load hits both alike.
  const node = [];
  const floor = [];
  for (let r = 0; r < RUNS; r++) {
    const a = await run(process.execPath, [cli], input);
    const b = await run(process.execPath, [floorPath], input);
    if (a.lines !== MESSAGES || b.lines !== MESSAGES) {
      throw new Error(`expected ${MESSAGES} replies, node wrote ${a.lines}, floor ${b.lines}`);
    }
    node.push(a.ms);
    floor.push(b.ms);
  }

  const referenceCase = join(root, "test", "transcripts", "reference", "route-to-fewest.in.jsonl");
  const firstReply = [];
  const bare = [];
  for (let r = 0; r < STARTUP_RUNS; r++) {
    firstReply.push((await run(process.execPath, [cli], referenceCase)).first);
    bare.push((await run(process.execPath, ["-e", "0"], referenceCase)).ms);
  }

  const nodeMs = median(node);
  const floorMs = median(floor);
  const firstMs = median(firstReply);
  const bareMs = median(bare);
  const cpu = cpus()[0]?.model ?? "unknown CPU";
  const table = [
    `Machine: ${cpu}, ${cpus().length} cores, Node ${process.version}; ${new Date().toISOString().slice(0, 10)}.`,
    `Workload: ${MESSAGES.toLocaleString("en-US")} messages (${(text.length / 1e6).toFixed(1)} MB, read from a file, replies into a pipe), median of ${RUNS} runs;`,
    `start-up: median of ${STARTUP_RUNS} runs. 1-minute load average ${loadBefore.toFixed(1)} before, ${loadavg()[0].toFixed(1)} after (on a busy machine the ratios, measured in the same run, hold better than the times).`,
    "",
    "| measure | time | ratio | target |",
    "|---|---|---|---|",
    `| node on the workload | ${nodeMs.toFixed(0)} ms | ${(nodeMs / floorMs).toFixed(2)}x the floor | <= 0.7x |`,
    `| floor (readline + JSON.parse + a fixed reply per line) | ${floorMs.toFixed(0)} ms | 1.00x | |`,
    `| node: start to first reply, reference case route-to-fewest | ${firstMs.toFixed(1)} ms | ${(firstMs / bareMs).toFixed(2)}x \`node -e 0\` | <= 1.3x |`,
    `| \`node -e 0\` | ${bareMs.toFixed(1)} ms | 1.00x | |`,
    "",
    `Throughput: ${((MESSAGES / nodeMs) * 1000).toFixed(0)} messages/s (node), ${((MESSAGES / floorMs) * 1000).toFixed(0)} messages/s (floor).`,
  ].join("\n");
  console.log(table);

  writeSection(join(root, "docs", "BENCHMARKS.md"), "cli", `\`npm run bench:cli\` (bench/cli.mjs).\n\n${table}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
