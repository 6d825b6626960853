// The built binary (dist/cli.js) as a user runs it: flags, exit codes, the
// issue's done-criterion command, replies sent before input ends, and input
// that must not stop it.

import { spawn, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const root = join(import.meta.dirname, "..", "..");
const cli = join(root, "dist", "cli.js");
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { version: string; bin: Record<string, string> };

function node(args: string[], input: string | Uint8Array = "") {
  return spawnSync(process.execPath, [cli, ...args], { input, encoding: "latin1" });
}

describe("leastconn binary", () => {
  it("is the package's bin", () => {
    expect(pkg.bin.leastconn).toBe("dist/cli.js");
    expect(readFileSync(cli, "utf8").startsWith("#!/usr/bin/env node\n")).toBe(true);
  });

  it("prints exactly the seed's init_ok for the issue's example", () => {
    const r = node(
      [],
      '{"src":"client","dest":"lb","body":{"type":"init","msg_id":1,"backends":["api-1","api-2","api-3"],"algorithm":"least-connections"}}\n',
    );
    expect(r.stdout).toBe('{"src": "lb", "dest": "client", "body": {"type": "init_ok", "in_reply_to": 1}}\n');
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
  });

  it("--help prints usage, --version the version", () => {
    const help = node(["--help"]);
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/^Usage: leastconn \[options\]/);
    expect(help.stdout).toContain("--clock real|manual");
    expect(help.stdout).toContain("leastconn proxy|simulate");
    const version = node(["--version"]);
    expect(version.stdout).toBe(`${pkg.version}\n`);
    expect(node(["-v"]).stdout).toBe(`${pkg.version}\n`);
  });

  it("an unknown flag or a bad --clock exits 2 with a message", () => {
    const r = node(["--frobnicate"]);
    expect(r.status).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(/^leastconn: Unknown option '--frobnicate'/);
    const c = node(["--clock", "sundial"]);
    expect(c.status).toBe(2);
    expect(c.stderr).toContain('--clock must be "real" or "manual", got "sundial"');
    expect(node(["extra"]).status).toBe(2);
  });

  it("--demo replays the bundled example session", () => {
    const r = node(["--demo"]);
    expect(r.status).toBe(0);
    const lines = r.stdout.trim().split("\n");
    expect(lines[0]).toMatch(/^> \{/);
    expect(lines.filter((l) => l.startsWith("< ")).length).toBeGreaterThanOrEqual(8);
    expect(r.stderr).toContain("leastconn demo");
  });

  it("answers each message before the input ends", async () => {
    const child = spawn(process.execPath, [cli], { stdio: ["pipe", "pipe", "pipe"] });
    const first = new Promise<string>((resolve) => child.stdout.once("data", (d: Buffer) => resolve(d.toString())));
    child.stdin.write('{"src":"c","dest":"lb","body":{"type":"stats","msg_id":1}}\n');
    const reply = await first; // stdin is still open here
    expect(reply).toBe(
      '{"src": "lb", "dest": "c", "body": {"type": "stats_ok", "in_reply_to": 1, "algorithm": "least-connections", "backends": {}}}\n',
    );
    child.stdin.end();
    const code = await new Promise((resolve) => child.on("close", resolve));
    expect(code).toBe(0);
  });

  it("refuses a 3 MiB message, says so on stderr, and answers the next", () => {
    const big = `{"src":"c","dest":"lb","body":{"type":"stats","msg_id":1,"pad":"${"x".repeat(3 << 20)}"}}\n`;
    const r = node([], big + '{"src":"c","dest":"lb","body":{"type":"stats","msg_id":2}}\n');
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(
      '{"src": "lb", "dest": "c", "body": {"type": "stats_ok", "in_reply_to": 2, "algorithm": "least-connections", "backends": {}}}\n',
    );
    expect(r.stderr).toBe("leastconn: line 1: message over 1048576 bytes refused\n");
  });

  it("survives binary garbage, deep nesting and a cut-off end, exiting 0", () => {
    const junk = new Uint8Array([0xff, 0x00, 0x7b, 0x22, 0xc3, 0x28, 0x0a, ...Buffer.from("[".repeat(100000)), 0x0a]);
    const input = Buffer.concat([
      junk,
      Buffer.from('{"src":"c","dest":"lb","body":{"type":"stats","msg_id":3}}\n{"src":"c","dest":"lb","body":{"type":"stats"'),
    ]);
    const r = node([], input);
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(
      '{"src": "lb", "dest": "c", "body": {"type": "stats_ok", "in_reply_to": 3, "algorithm": "least-connections", "backends": {}}}\n',
    );
    expect(r.stderr.trim().split("\n")).toEqual([
      "leastconn: line 1: skipped input that is not a JSON object (starts with byte 0xff)",
      "leastconn: line 4: input ended inside a message; dropped it",
    ]);
  });
});
