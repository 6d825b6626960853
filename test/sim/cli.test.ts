// `leastconn simulate` as a user runs it: the protocol node's file does not
// carry the simulator (it imports dist/simulate.js only for the subcommand),
// --help, a small run's table with nothing on stderr, and flag errors.

import { execFileSync, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT } from "../runtimes/harness.js";

const CLI = join(ROOT, "dist", "cli.js");
const run = (args: string[]) => spawnSync(process.execPath, [CLI, "simulate", ...args], { encoding: "utf8", timeout: 30_000 });

describe("leastconn simulate", () => {
  it("lives in its own file, which the node's entry only imports for the subcommand", () => {
    const cli = readFileSync(CLI, "utf8");
    expect(cli).not.toContain("EventHeap");
    expect(readFileSync(join(ROOT, "dist", "simulate.js"), "utf8")).toContain("var EventHeap = class");
    expect(cli).toMatch(/"\.\/simulate\.js"/);
  });

  it("prints its usage with --help", () => {
    const out = execFileSync(process.execPath, [CLI, "simulate", "--help"], { encoding: "utf8" });
    expect(out).toMatch(/^Usage: leastconn simulate \[options\]\n/);
    for (const flag of ["--backends", "--service", "--slow", "--utilization", "--algorithms", "--requests", "--seed", "--json"])
      expect(out).toContain(flag);
  });

  it("prints a table sorted by p99 and says nothing on stderr for a short run", () => {
    const r = run([
      "--backends",
      "3",
      "--service",
      "fixed:1ms",
      "--utilization",
      "0.5",
      "--algorithms",
      "round-robin,least-connections",
      "--requests",
      "3000",
      "--seed",
      "2",
    ]);
    expect([r.status, r.stderr]).toEqual([0, ""]);
    const lines = r.stdout.split("\n");
    expect(lines[0]).toBe("3 backends x 1 FIFO server, fixed:1ms, utilization 0.5, 3000 requests, seed 2");
    expect(lines[2]).toMatch(/^algorithm\s+mean ms\s+p50 ms\s+p99 ms\s+p99\.9 ms\s+max ms\s+shed\s+failed\s+max queue\s+busiest %$/);
    // Fixed 1 ms at half load: round-robin's p99 (1.907) is below least-connections' (1.982),
    // whose ties go to b0 (46% of the requests).
    expect(lines[3]).toMatch(/^round-robin {10}1\.080 {3}1\.000 {3}1\.907 /);
    expect(lines[4]).toMatch(/^least-connections /);
    expect(r.stdout).toContain("\nround-robin        33.3  33.3  33.3\nleast-connections  46.0  33.4  20.6\n");
  });

  it("runs a closed loop with processor sharing", () => {
    const r = run([
      "--clients",
      "10",
      "--think",
      "5",
      "--requests",
      "1000",
      "--algorithms",
      "p2c",
      "--discipline",
      "ps",
      "--servers",
      "2",
      "--seed",
      "3",
    ]);
    expect([r.status, r.stderr]).toEqual([0, ""]);
    expect(r.stdout.split("\n")[0]).toBe(
      "8 backends x 2 processor-sharing servers, exp:1ms, 10 clients, think 5 ms, 1000 requests, seed 3",
    );
    expect(r.stdout).toMatch(/\npower-of-two-choices +\d+\.\d{3} /);
  });

  it.each([
    [["--backends", "x"], 'leastconn simulate: backends: must be a whole number, got "x"'],
    [["--algorithms", "fastest"], 'leastconn simulate: unknown algorithm "fastest"'],
    [["--slow", "9:5x", "--backends", "4"], "leastconn simulate: slow index: must be an integer 0..3, got 9"],
    [["--clients", "4", "--utilization", "0.5"], "leastconn simulate: clients: give clients or utilization, not both"],
    [["--bogus"], "leastconn simulate: Unknown option '--bogus'"],
    // The Balancer's own options are checked before the run (they used to throw from inside it).
    [["--decay", "0"], "leastconn simulate: decayMs must be a number of milliseconds above 0, got 0"],
    [["--ejection", "0:10ms"], "leastconn simulate: ejection.consecutiveFailures must be an integer from 1 to 2147483647, got 0"],
    [["--slow-start", "10ms:0%"], "leastconn simulate: slowStart.minPercent must be an integer from 1 to 100, got 0"],
    // An overloaded open loop that would hold millions of requests in memory is refused, not run out of memory.
    [
      ["--utilization", "1.5", "--requests", "100000000"],
      "leastconn simulate: requests: at utilization 1.5 would leave at least 33333334 requests waiting in memory (at most 2000000)",
    ],
  ])("rejects %j with exit code 2", (args, message) => {
    const r = run(args);
    expect([r.status, r.stdout]).toEqual([2, ""]);
    expect(r.stderr.split("\n")[0]).toContain(message);
    expect(r.stderr).toMatch(/Try 'leastconn simulate --help'\.\n$/);
  });
});
