// Messages refused for bytes that are not UTF-8: error 12 goes back to the
// sender when its address is intact, and nowhere when the bad bytes are in
// the address itself (replying to the decoded name would reach nobody).

import { describe, expect, it } from "vitest";
import { runSession } from "../../cli/session.js";

const bytes = (...parts: Array<string | number[]>): Uint8Array =>
  new Uint8Array(parts.flatMap((p) => (typeof p === "string" ? [...new TextEncoder().encode(p)] : p)));

describe("invalid UTF-8", () => {
  it("in a backend name: error 12 to the sender, state unchanged", () => {
    let err = "";
    const out = runSession(
      bytes(
        '{"src":"c","dest":"lb","body":{"type":"init","msg_id":1,"backends":["a',
        [0xff],
        '"]}}\n',
        '{"src":"c","dest":"lb","body":{"type":"stats","msg_id":2}}\n',
      ),
      { onDiagnostic: (t) => (err += t + "\n") },
    );
    expect(out).toBe(
      '{"src": "lb", "dest": "c", "body": {"type": "error", "in_reply_to": 1, "code": 12, "text": "message is not valid UTF-8"}}\n' +
        '{"src": "lb", "dest": "c", "body": {"type": "stats_ok", "in_reply_to": 2, "algorithm": "least-connections", "backends": {}}}\n',
    );
    expect(err).toBe("line 1: message is not valid UTF-8; refused it\n");
  });

  it("in the sender's address: no reply, one stderr line, and the node goes on", () => {
    let err = "";
    const out = runSession(
      bytes(
        '{"src":"c',
        [0xc0, 0xaf],
        '","dest":"lb","body":{"type":"stats","msg_id":1}}\n',
        '{"src":"c","dest":"lb","body":{"type":"stats","msg_id":2}}\n',
      ),
      { onDiagnostic: (t) => (err += t + "\n") },
    );
    expect(out).toBe(
      '{"src": "lb", "dest": "c", "body": {"type": "stats_ok", "in_reply_to": 2, "algorithm": "least-connections", "backends": {}}}\n',
    );
    expect(err).toBe("line 1: message is not valid UTF-8; refused it\n");
  });
});
