// The memory the core declares (asconfig.json: maximumMemory) must fit the
// largest table it accepts (MAX_CAP = 2^24 slots, trees and all), and no
// more than a page beyond it; and the bindings turn every unexpected return
// code of the calls they do not validate twice into a CoreCallError.

import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { CoreCallError, type CoreExports, CoreTable, ERR_NO_MEMORY, ERR_RANGE, STATE_DOWN } from "../../bindings/core.js";

const MAX_CAP = 2 ** 24;

for (const file of ["core.wasm", "core.debug.wasm"]) {
  describe(`build/${file}`, () => {
    const module = new WebAssembly.Module(readFileSync(new URL(`../../build/${file}`, import.meta.url)));
    const abort = () => {
      throw new Error("abort");
    };
    const fresh = () => new WebAssembly.Instance(module, { env: { abort } }).exports as unknown as CoreExports;

    it("holds a table of MAX_CAP slots within its declared maximum, which it then reaches", () => {
      const e = fresh();
      expect(e.reset(MAX_CAP, 0, 0)).toBe(0);
      expect(e.capacity()).toBe(MAX_CAP);
      const pages = e.memory.buffer.byteLength / 65536;
      // Not one page more can be had: the maximum is exactly what the table needs.
      expect(e.memory.grow.bind(e.memory, 1)).toThrow(RangeError);
      expect(e.memory.buffer.byteLength / 65536).toBe(pages);
    });

    // Filling writes ~600 MB, so only the release build does it.
    it.skipIf(file !== "core.wasm")(
      "refuses more than MAX_CAP backends with ERR_NO_MEMORY",
      () => {
        const e = fresh();
        expect(e.reset(MAX_CAP, 0, 0)).toBe(0);
        // Fill cheaply: add() only writes its own slot once the layout fits.
        for (let i = 0; i < MAX_CAP; i++) e.add(1);
        expect(e.size()).toBe(MAX_CAP);
        expect(e.add(1)).toBe(ERR_NO_MEMORY);
      },
      60_000,
    );
  });
}

describe("checked core calls", () => {
  it("a non-zero return code becomes a CoreCallError naming the call and the code", () => {
    const core = CoreTable.instantiate();
    expect(core.exports.reset(4, 0, 0)).toBe(0);
    expect(core.exports.add(1)).toBe(0);
    core.refresh();
    core.setState(0, STATE_DOWN);
    expect(core.state(0)).toBe(STATE_DOWN);
    const calls: Array<[string, () => void]> = [
      ["setState", () => core.setState(1, STATE_DOWN)],
      ["setState", () => core.setState(0, 4)],
      ["setWeight", () => core.setWeight(1, 1)],
      ["setActive", () => core.setActive(1, 1)],
      ["removeAt", () => core.removeAt(1)],
    ];
    for (const [call, fn] of calls) {
      let caught: unknown;
      try {
        fn();
      } catch (err) {
        caught = err;
      }
      expect(caught, call).toBeInstanceOf(CoreCallError);
      expect(caught).toMatchObject({ call, rc: ERR_RANGE });
    }
    expect(core.exports.size()).toBe(1);
  });
});
