// `leastconn simulate`: the command-line face of the simulator
// (bindings/sim). Parses the flags, runs the model in this process, prints
// the table (or --json) on stdout and a progress line on stderr for long
// runs. Built as its own file (dist/simulate.js) and loaded by cli/main.ts
// only for this subcommand, so the protocol node never loads it.

import { parseArgs } from "node:util";
import {
  configFromFlags,
  FLAGS,
  type FlagValues,
  formatJson,
  formatTable,
  normalize,
  type SimConfig,
  simulate,
} from "../bindings/sim/index.js";

const USAGE = `Usage: leastconn simulate [options]

Runs the real core in a deterministic discrete-event simulation and prints one
row per algorithm, sorted by p99 (docs/SIMULATOR.md).

Options:
  --backends N          backends (default 8)
  --servers C           servers per backend (default 1)
  --discipline fifo|ps  FIFO queue (default) or processor sharing
  --service SPEC        exp:1ms | fixed:5ms | lognormal:20ms:1.0 (mean, sigma)
                        | bimodal:1ms:100ms:0.1 (fast, slow, slow fraction); default exp:1ms
  --slow INDEX:Kx       backend INDEX (0-based) is K times slower (repeatable)
  --fail INDEX:A-B      backend INDEX fails every request from A to B ms (repeatable)
  --utilization U       Poisson arrivals at U of the total capacity (default 0.7)
  --clients N           closed loop instead: N clients, each waits for its reply
  --think MS            closed loop: mean think time in ms (exponential; default 0)
  --balancers K         K independent balancers, each seeing only its own counts (default 1)
  --stale MS            balancers see counts as they were MS ms ago (default 0)
  --tie-break first|rotate  the Balancer's tieBreak (default first)
  --max-connections N   every backend's maxConnections in the Balancer
  --queue LIMIT:Tms     full backends: wait in the Balancer's queue (at most LIMIT
                        waiting, each at most T simulated ms), else shed (503)
  --ejection on|F:Bms[:Mms[:P%]]  passive ejection after F failures in a row for
                        B ms, at most M ms, at most P% ejected ("on": 5:30000ms:300000ms:10%)
  --slow-start Wms[:MIN%]  ramp a backend back over W ms after its ejection
  --decay MS            peak-ewma's decayMs
  --algorithms a,b,...  core algorithm names (default: all seven)
  --requests N          requests per algorithm (default 100000)
  --seed S              seed of every generator (default 1)
  --json                print {"results": [...]} instead of the table
  -h, --help            print this help
`;

function fail(message: string): number {
  process.stderr.write(`leastconn simulate: ${message}\nTry 'leastconn simulate --help'.\n`);
  return 2;
}

/** Builds the model's configuration from the command-line arguments. */
export function configFromArgs(argv: string[]): { config: SimConfig; json: boolean } | "help" {
  const options: Record<string, { type: "string" | "boolean"; multiple?: boolean; short?: string }> = {
    json: { type: "boolean" },
    help: { type: "boolean", short: "h" },
  };
  for (const flag of FLAGS) options[flag] = { type: "string", multiple: flag === "slow" || flag === "fail" };
  const { values } = parseArgs({ args: argv, options, strict: true, allowPositionals: false });
  if (values.help === true) return "help";
  const { json, help: _help, ...flags } = values;
  return { config: configFromFlags(flags as FlagValues), json: json === true };
}

/** Runs the subcommand; returns the exit code. */
export function main(argv: string[]): number {
  let parsed: ReturnType<typeof configFromArgs>;
  let model: ReturnType<typeof normalize>;
  try {
    parsed = configFromArgs(argv);
    if (parsed === "help") {
      process.stdout.write(USAGE);
      return 0;
    }
    model = normalize(parsed.config);
  } catch (err) {
    return fail(err instanceof Error ? err.message : String(err));
  }
  const tty = process.stderr.isTTY === true;
  const started = Date.now();
  let shown = started;
  let printed = false;
  const total = model.algorithms.length * model.requests;
  const results = simulate(model, {
    onProgress: (p) => {
      const wall = Date.now();
      if (wall - shown < 500) return;
      shown = wall;
      printed = true;
      const done = p.index * model.requests + p.sent;
      const line = `simulating ${p.algorithm}: ${p.sent}/${model.requests} requests, ${((100 * done) / total).toFixed(0)}% of the run, ${((wall - started) / 1000).toFixed(1)} s`;
      process.stderr.write(tty ? `\r${line}\x1b[K` : `${line}\n`);
    },
  });
  if (printed) {
    const seconds = (Date.now() - started) / 1000;
    const line = `simulated ${total} requests in ${seconds.toFixed(1)} s (${Math.round(total / seconds)} requests/s)`;
    process.stderr.write(tty ? `\r${line}\x1b[K\n` : `${line}\n`);
  }
  process.stdout.write(parsed.json ? formatJson(results) : formatTable(model, results));
  return 0;
}
