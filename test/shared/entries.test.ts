// The built entries as users import them: `leastconn/shared` must hand out
// the very classes `leastconn` exports (one chunk behind both), the minified
// browser entry must name its errors like the others, and attachShared must
// refuse anything that is not a createShared() handle with a coded error.

import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";

const dist = (file: string): string => new URL(`../../dist/${file}`, import.meta.url).href;
type Main = typeof import("../../bindings/index.js");
type Shared = typeof import("../../bindings/shared.js");

const main = (await import(dist("index.js"))) as Main;
const shared = (await import(dist("shared.js"))) as Shared;
const minified = (await import(dist("index.min.js"))) as Main;

describe("built entries", () => {
  it("a shared table's Balancer, leases and errors are the classes of the main entry", () => {
    const { balancer } = shared.createShared({ backends: ["a", "b"] });
    expect(balancer).toBeInstanceOf(main.Balancer);
    expect(shared.Balancer).toBe(main.Balancer);
    const lease = balancer.acquire();
    expect(lease).toBeInstanceOf(main.Lease);
    lease!.release();
    let caught: unknown;
    try {
      balancer.release("a");
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(main.UnderflowError);
    expect(caught).toBeInstanceOf(main.LeastconnError);
    expect((caught as Error).name).toBe("UnderflowError");
  });

  it("the minified entry names every error class as the others do", () => {
    const cases: Array<[() => unknown, string, string]> = [
      [() => new minified.Balancer({ algorithm: "nope" }), "UnknownAlgorithmError", "LC_ERR_UNKNOWN_ALGORITHM"],
      [() => new minified.Balancer({ backends: ["a", "a"] }), "DuplicateBackendError", "LC_ERR_DUPLICATE_BACKEND"],
      [() => new minified.Balancer({ seed: -1 }), "InvalidArgumentError", "LC_ERR_INVALID_ARGUMENT"],
      [() => new minified.Balancer().markDown("x"), "UnknownBackendError", "LC_ERR_UNKNOWN_BACKEND"],
      [() => new minified.Balancer({ backends: ["a"] }).release("a"), "UnderflowError", "LC_ERR_UNDERFLOW"],
    ];
    for (const [call, name, code] of cases) {
      expect(call).toThrow(expect.objectContaining({ name, code }));
      expect(call).toThrow(minified.LeastconnError);
    }
  });

  it("attachShared refuses what is not a createShared() handle", () => {
    const { handle } = shared.createShared({ backends: ["a"] });
    const privateModule = new WebAssembly.Module(readFileSync(new URL("../../build/core.wasm", import.meta.url)));
    const bad: Array<[unknown, unknown, string]> = [
      [null, undefined, "handle"],
      [{ ...handle, memory: new WebAssembly.Memory({ initial: 1 }) }, undefined, "handle"],
      [{ ...handle, module: privateModule }, undefined, "handle"],
      [handle, null, "options"],
    ];
    for (const [h, options, field] of bad) {
      expect(() => shared.attachShared(h as never, options as never)).toThrow(
        expect.objectContaining({ code: "LC_ERR_INVALID_ARGUMENT", field }),
      );
    }
    expect(shared.attachShared(handle).names).toEqual(["a"]);
  });

  it("a shared table refuses membership changes with a coded error and changes nothing", () => {
    const { balancer } = shared.createShared({ backends: ["a"] });
    expect(() => balancer.add("b")).toThrow(expect.objectContaining({ code: "LC_ERR_UNSUPPORTED" }));
    expect(() => balancer.remove("a")).toThrow(expect.objectContaining({ code: "LC_ERR_UNSUPPORTED" }));
    expect(balancer.snapshot()).toEqual([
      {
        name: "a",
        active: 0,
        total: 0,
        lastUsed: null,
        weight: 1,
        state: "up",
        maxConnections: null,
        effectiveWeight: 1,
        failures: 0,
        ejectedUntil: null,
      },
    ]);
  });
});
