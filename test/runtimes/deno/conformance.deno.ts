// Deno's run of the conformance scenario (node:test, which `deno test`
// runs natively). It checks the golden report itself and also prints the
// report between markers, so test/runtimes/deno.test.ts can compare it with
// Node's byte for byte.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { loadLibrary } from "../library.js";
import { runScenario } from "../scenario.js";

test("conformance scenario in Deno matches the golden report", async () => {
  const result = runScenario(await loadLibrary(new URL("../../../dist/", import.meta.url)));
  console.log(`@@scenario-begin@@\n${result.text}@@scenario-end@@`);
  assert.equal(result.text, readFileSync(new URL("../scenario.golden.txt", import.meta.url), "utf8"));
});
