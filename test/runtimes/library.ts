// Loads the shipped bundles (dist/index.js, dist/shared.js) by URL in any
// runtime. The specifier is computed, so type checkers take the types from
// bindings/ (the source of those bundles) and bundlers leave the import for
// the runtime: every runtime runs the very files the package ships.

import type { ScenarioLibrary } from "./scenario.js";

export type Leastconn = typeof import("../../bindings/index.js");
export type LeastconnShared = typeof import("../../bindings/shared.js");

export interface Library extends ScenarioLibrary {
  index: Leastconn;
  shared: LeastconnShared;
}

/** `dist` is the URL of the dist/ folder, with a trailing slash. */
export async function loadLibrary(dist: string | URL): Promise<Library> {
  const index: Leastconn = await import(new URL("index.js", dist).href);
  const shared: LeastconnShared = await import(new URL("shared.js", dist).href);
  return {
    index,
    shared,
    Balancer: index.Balancer,
    ALGORITHMS: index.ALGORITHMS,
    algorithmId: index.algorithmId,
    createShared: shared.createShared,
  };
}
