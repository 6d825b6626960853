// Deno's side of the simulator conformance test (test/sim/conformance.test.ts):
// runs the shipped runtime-neutral module (dist/sim.js) on the settings given
// as a URL query in the first argument and prints the table, as the CLI does.
// (Imported by URL so Node's tsc, which checks this file too, leaves the
// bundle alone; its types are the sources'.)

declare const Deno: { args: string[] };

const sim = (await import(new URL("../../dist/sim.js", import.meta.url).href)) as typeof import("../../bindings/sim/index.js");
const model = sim.normalize(sim.configFromFlags(sim.flagsFromQuery(Deno.args[0] ?? "")));
console.log(sim.formatTable(model, sim.simulate(model)));
