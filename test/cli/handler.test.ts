// The message handler directly: reused ids, error mapping, open tracked
// requests, and replies of the formatter against hand-written bytes. The
// memory of completed ids, which takes 65,536 requests to fill, is in
// completed-ids.test.ts (slow project).

import { describe, expect, it } from "vitest";
import {
  CapacityError,
  DuplicateBackendError,
  InvalidArgumentError,
  type LeastconnError,
  UnderflowError,
  UnknownAlgorithmError,
  UnknownBackendError,
  UnsupportedError,
} from "../../bindings/index.js";
import { quote } from "../../cli/format.js";
import { Handler } from "../../cli/handler.js";
import { fingerprint, send } from "./helpers.js";

describe("handler", () => {
  it("a reused msg_id names the newest open request; the older one still completes by backend", () => {
    const h = new Handler({ manualClock: true });
    send(h, '{"type":"init","backends":["a","b"]}');
    expect(send(h, '{"type":"http_request","msg_id":5}')).toContain('"backend": "a"');
    expect(send(h, '{"type":"http_request","msg_id":5}')).toContain('"backend": "b"');
    expect(send(h, '{"type":"request_complete","request_id":5}')).toContain('"backend": "b", "active_connections": {"a": 1, "b": 0}');
    expect(send(h, '{"type":"request_complete","request_id":5}')).toContain('"code": 22');
    expect(send(h, '{"type":"request_complete","backend":"a"}')).toContain('"active_connections": {"a": 0, "b": 0}');
  });

  it("an erring request changes nothing, e.g. a snapshot with one bad count", () => {
    const h = new Handler({ manualClock: true });
    send(h, '{"type":"init","backends":["a","b"]}');
    const before = fingerprint(h);
    expect(send(h, '{"type":"http_request","msg_id":1,"active_connections":{"a":7,"new":1,"b":-1}}')).toContain('"code": 12');
    expect(send(h, '{"type":"http_request","msg_id":2,"algorithm":"nope","active_connections":{"a":7}}')).toContain('"code": 10');
    expect(send(h, '{"type":"init","msg_id":3,"backends":["x","x"]}')).toContain('"code": 12');
    expect(fingerprint(h)).toBe(before);
  });
});

// docs/PROTOCOL.md 4.1: problems are reported in the order of the fields
// (backends, algorithm, seed, tie_break, node_id, node_ids).
const INIT_ORDER: Array<[fields: string, code: number, text: string]> = [
  ['"backends":"x","algorithm":"nope"', 12, 'backends must be an array of names or {name, weight, connections} objects, got \\"x\\"'],
  ['"backends":[""],"algorithm":5', 12, 'backends[0]: a backend name must be a non-empty string, got \\"\\"'],
  ['"backends":["a","a"],"algorithm":"nope"', 12, 'backend \\"a\\" already exists'],
  ['"algorithm":"nope","seed":-1', 10, 'unknown algorithm \\"nope\\"'],
  ['"algorithm":"nope","tie_break":"last"', 10, 'unknown algorithm \\"nope\\"'],
  ['"algorithm":5,"seed":-1', 12, "algorithm must be a string, got 5"],
  ['"seed":-1,"tie_break":"last"', 12, "seed: must be an integer from 0 to 2^53-1, got -1"],
  ['"seed":1.5,"node_id":7', 12, "seed: must be an integer from 0 to 2^53-1, got 1.5"],
  ['"tie_break":"last","node_id":7', 12, 'tie_break must be \\"first\\" or \\"rotate\\", got \\"last\\"'],
  ['"node_id":7,"node_ids":"x"', 12, "node_id must be a string, got 7"],
  ['"node_ids":["a",1]', 12, "node_ids must be an array of strings, got an array"],
];

describe("send_requests that errs changes nothing", () => {
  for (const algorithm of ["random", "power-of-two-choices", "peak-ewma"]) {
    it(`${algorithm}: a send_requests refused with 22 (every backend full or down) leaves the seeded generator as it was`, () => {
      const run = (withRefusal: boolean): string[] => {
        const h = new Handler({ manualClock: true });
        const out = [
          `{"type":"init","msg_id":1,"backends":[{"name":"a","max_connections":1},{"name":"b","max_connections":1},"c"],"algorithm":"${algorithm}","seed":2}`,
          `{"type":"backend_down","msg_id":2,"backend":"c"}`,
          `{"type":"http_request","msg_id":3}`,
          `{"type":"http_request","msg_id":4}`,
          ...(withRefusal ? [`{"type":"send_requests","msg_id":5,"count":1}`] : []),
          `{"type":"request_complete","msg_id":6,"request_id":3}`,
          `{"type":"request_complete","msg_id":7,"request_id":4}`,
          `{"type":"backend_up","msg_id":8,"backend":"c"}`,
          `{"type":"send_requests","msg_id":9,"count":12}`,
        ].map((m) => send(h, m));
        return withRefusal ? out : [...out.slice(0, 4), "", ...out.slice(4)];
      };
      const refused = run(true);
      expect(refused[4]).toContain('"code": 22');
      expect(refused[4]).toContain("every backend that is up is at its max_connections");
      expect(refused.slice(5)).toEqual(run(false).slice(5));
    });
  }
});

describe("init errors come in the order of the fields", () => {
  for (const [fields, code, text] of INIT_ORDER) {
    it(fields, () => {
      const h = new Handler({ manualClock: true });
      send(h, '{"type":"init","backends":["keep"]}');
      const before = fingerprint(h);
      expect(send(h, `{"type":"init","msg_id":1,${fields}}`)).toBe(
        `{"src": "lb", "dest": "c", "body": {"type": "error", "in_reply_to": 1, "code": ${code}, "text": "${text}"}}`,
      );
      expect(fingerprint(h)).toBe(before);
    });
  }
});

describe("every error code of the Balancer maps to a protocol error on purpose", () => {
  const rows: Array<[error: LeastconnError, type: string, code: number]> = [
    [new InvalidArgumentError("weight", "weight must be an integer"), "set_weight", 12],
    [new UnknownAlgorithmError("x"), "set_weight", 10],
    [new UnsupportedError("add: a shared table has a fixed set of backends"), "add_backend", 10],
    [new UnknownBackendError("x"), "set_weight", 20],
    [new DuplicateBackendError("x"), "add_backend", 21],
    [new UnderflowError("x"), "set_weight", 22],
    [new CapacityError("cannot grow the table past 3 backends"), "add_backend", 11],
    [new CapacityError("cannot grow the table past 3 backends"), "set_weight", 11],
  ];
  for (const [error, type, code] of rows) {
    it(`${error.code} in ${type}: ${code}, its own message, no "internal error"`, () => {
      const diagnostics: string[] = [];
      const h = new Handler({ manualClock: true, diagnostic: (t) => diagnostics.push(t) });
      send(h, '{"type":"init","backends":["a"]}');
      const balancer = (h as unknown as { balancer: Record<string, unknown> }).balancer;
      balancer.add = balancer.setWeight = () => {
        throw error;
      };
      const reply = JSON.parse(send(h, `{"type":"${type}","msg_id":1,"backend":"b","weight":1}`));
      expect(reply.body).toEqual({ type: "error", in_reply_to: 1, code, text: error.message });
      expect(diagnostics).toEqual([]);
    });
  }
});

describe("open tracked requests", () => {
  it("past maxOpen a tracked request is error 11 and changes nothing; untracked ones still route", () => {
    const diagnostics: string[] = [];
    const h = new Handler({ manualClock: true, maxOpen: 2, diagnostic: (t) => diagnostics.push(t) });
    send(h, '{"type":"init","backends":["a","b"]}');
    send(h, '{"type":"http_request","msg_id":1}');
    send(h, '{"type":"http_request","duration_ms":50}');
    const before = fingerprint(h);
    const text = "too many open requests: 2 are tracked (the --max-open limit); complete some first";
    expect(send(h, '{"type":"http_request","msg_id":3,"active_connections":{"a":5}}')).toBe(
      `{"src": "lb", "dest": "c", "body": {"type": "error", "in_reply_to": 3, "code": 11, "text": "${text}"}}`,
    );
    expect(send(h, '{"type":"http_request","duration_ms":1}')).toContain('"code": 11');
    expect(fingerprint(h)).toBe(before);
    expect(diagnostics).toEqual([text]); // once, not per refusal
    expect(send(h, '{"type":"http_request"}')).toContain('"status": 200');
    send(h, '{"type":"request_complete","request_id":1}');
    expect(send(h, '{"type":"http_request","msg_id":3}')).toContain('"status": 200');
  });

  it("a backend that leaves the table takes its tracked requests along: their ids answer 22", () => {
    const h = new Handler({ manualClock: true });
    send(h, '{"type":"init","backends":["a","b"]}');
    send(h, '{"type":"http_request","msg_id":1}');
    send(h, '{"type":"http_request","msg_id":2,"duration_ms":10}');
    send(h, '{"type":"remove_backend","backend":"a"}');
    expect(send(h, '{"type":"request_complete","request_id":1}')).toContain('"backend": "a", "active_connections": {"b": 1}');
    send(h, '{"type":"http_request","msg_id":3,"active_connections":{"b":0}}'); // routed to b, which now has 1
    send(h, '{"type":"remove_backend","backend":"b"}');
    send(h, '{"type":"http_request","active_connections":{"b":0}}'); // the snapshot ends the drain
    expect(send(h, '{"type":"request_complete","request_id":2}')).toContain('"code": 22, "text": "request 2 is already completed"');
    expect(send(h, '{"type":"request_complete","request_id":3}')).toContain('"code": 22, "text": "request 3 is already completed"');
    expect(send(h, '{"type":"stats","now":100}')).toContain('"backends": {}');
  });
});

describe("quote (Python's json.dumps with ensure_ascii)", () => {
  const table: Array<[string, string]> = [
    ["plain", '"plain"'],
    ['q"b\\s/', '"q\\"b\\\\s/"'],
    ["\n\r\t\b\f", '"\\n\\r\\t\\b\\f"'],
    ["\u0000\u001f\u007f", '"\\u0000\\u001f\\u007f"'],
    ["é名", '"\\u00e9\\u540d"'],
    ["🚀", '"\\ud83d\\ude80"'],
    ["\ud800", '"\\ud800"'],
  ];
  for (const [input, expected] of table) {
    it(JSON.stringify(input), () => expect(quote(input)).toBe(expected));
  }
});
