// The node's side of limits, the queue, outcomes, ejection and slow start
// (docs/PROTOCOL.md): every new field's bad values with their exact code and
// text (and no state changed), the order of init's errors, --max-open with
// queued requests. The storms of queued requests, timeouts, completions and
// resets, and the fuzz, are in resilience-storms.test.ts (slow project).
// Exact timelines are in the golden transcripts (limits, queue, ejection,
// slow-start, outcomes).

import { describe, expect, it } from "vitest";
import { Handler } from "../../cli/handler.js";
import { fingerprint, formatReply, send } from "./helpers.js";

const MAX = "an integer from 1 to 2147483647";
const LIMIT = `backends[0].max_connections: a connection limit must be ${MAX}`;

// [body fields of init, code, text]
const INIT_ERRORS: Array<[string, number, string]> = [
  ['"backends":[{"name":"a","max_connections":0}]', 12, `${LIMIT}, got 0`],
  ['"backends":[{"name":"a","max_connections":-1}]', 12, `${LIMIT}, got -1`],
  ['"backends":[{"name":"a","max_connections":1.5}]', 12, `${LIMIT}, got 1.5`],
  ['"backends":[{"name":"a","max_connections":"2"}]', 12, `${LIMIT}, got \\"2\\"`],
  ['"backends":[{"name":"a","max_connections":2147483648}]', 12, `${LIMIT}, got 2147483648`],
  ['"backends":[{"name":"a","max_connections":null}]', 12, `${LIMIT}, got null`],
  ['"queue":5', 12, "queue must be an object, got 5"],
  ['"queue":null', 12, "queue must be an object, got null"],
  ['"queue":[1]', 12, "queue must be an object, got an array"],
  ['"queue":{"limit":-1}', 12, "queue.limit must be an integer from 0 to 2147483647, got -1"],
  ['"queue":{"limit":2147483648}', 12, "queue.limit must be an integer from 0 to 2147483647, got 2147483648"],
  ['"queue":{"timeout_ms":1.5}', 12, "queue.timeout_ms must be an integer from 0 to 2147483647, got 1.5"],
  ['"queue":{"limt":1}', 12, 'queue has no field \\"limt\\"; its fields are limit, timeout_ms'],
  ['"queue":{"timeoutMs":1}', 12, 'queue has no field \\"timeoutMs\\"; its fields are limit, timeout_ms'],
  ['"ejection":true', 12, "ejection must be an object, got true"],
  ['"ejection":{"consecutive_failures":0}', 12, "ejection.consecutive_failures must be an integer from 1 to 2147483647, got 0"],
  ['"ejection":{"base_ms":0}', 12, "ejection.base_ms must be an integer from 1 to 2147483647, got 0"],
  // Within an object, fields are checked in the order listed: consecutive_failures before base_ms.
  ['"ejection":{"base_ms":0,"consecutive_failures":0}', 12, "ejection.consecutive_failures must be an integer from 1 to 2147483647, got 0"],
  ['"ejection":{"base_ms":100,"max_ms":50}', 12, "ejection.max_ms must be an integer from 100 to 2147483647, got 50"],
  ['"ejection":{"max_percent":101}', 12, "ejection.max_percent must be an integer from 0 to 100, got 101"],
  ['"ejection":{"max_percent":"10"}', 12, 'ejection.max_percent must be an integer from 0 to 100, got \\"10\\"'],
  [
    '"ejection":{"__proto__":1}',
    12,
    'ejection has no field \\"__proto__\\"; its fields are consecutive_failures, base_ms, max_ms, max_percent',
  ],
  ['"slow_start":{}', 12, "slow_start.window_ms must be an integer from 1 to 2147483647, got nothing"],
  ['"slow_start":"fast"', 12, 'slow_start must be an object, got \\"fast\\"'],
  ['"slow_start":{"window_ms":0}', 12, "slow_start.window_ms must be an integer from 1 to 2147483647, got 0"],
  ['"slow_start":{"window_ms":10,"min_percent":0}', 12, "slow_start.min_percent must be an integer from 1 to 100, got 0"],
  ['"slow_start":{"window_ms":10,"ramp":"linear"}', 12, 'slow_start has no field \\"ramp\\"; its fields are window_ms, min_percent'],
  ['"decay_ms":0', 12, "decay_ms must be a number of milliseconds above 0, got 0"],
  ['"decay_ms":"1s"', 12, 'decay_ms must be a number of milliseconds above 0, got \\"1s\\"'],
  // The order of the fields: backends, algorithm, seed, queue, ejection, slow_start, decay_ms, tie_break, node_id, node_ids.
  ['"backends":[{"name":"a","max_connections":0}],"algorithm":"nope"', 12, `${LIMIT}, got 0`],
  ['"algorithm":"nope","queue":{"x":1}', 10, 'unknown algorithm \\"nope\\"'],
  ['"seed":-1,"queue":{"limit":-1}', 12, "seed: must be an integer from 0 to 2^53-1, got -1"],
  ['"queue":{"x":1},"ejection":{"base_ms":0}', 12, 'queue has no field \\"x\\"; its fields are limit, timeout_ms'],
  ['"queue":{"limit":-1},"ejection":{"x":1}', 12, "queue.limit must be an integer from 0 to 2147483647, got -1"],
  [
    '"ejection":{"x":1},"slow_start":{}',
    12,
    'ejection has no field \\"x\\"; its fields are consecutive_failures, base_ms, max_ms, max_percent',
  ],
  ['"slow_start":{},"decay_ms":0', 12, "slow_start.window_ms must be an integer from 1 to 2147483647, got nothing"],
  ['"decay_ms":0,"tie_break":"last"', 12, "decay_ms must be a number of milliseconds above 0, got 0"],
  ['"tie_break":"last","queue":{}', 12, 'tie_break must be \\"first\\" or \\"rotate\\", got \\"last\\"'],
];

// [message type and fields, code, text] against backends a, b (b limit 1)
const OTHER_ERRORS: Array<[string, number, string]> = [
  ['"type":"add_backend","backend":"c","max_connections":0', 12, `max_connections must be ${MAX}, got 0`],
  ['"type":"add_backend","backend":"c","max_connections":"1"', 12, `max_connections must be ${MAX}, got \\"1\\"`],
  ['"type":"add_backend","backend":"a","max_connections":0', 12, `max_connections must be ${MAX}, got 0`],
  ['"type":"add_backend","backend":"a","max_connections":1', 21, 'backend \\"a\\" already exists'],
  ['"type":"set_max_connections","max_connections":1', 12, "backend must be a non-empty string, got nothing"],
  ['"type":"set_max_connections","backend":"a"', 12, "set_max_connections needs a max_connections"],
  ['"type":"set_max_connections","backend":"zz","max_connections":0', 12, `max_connections must be ${MAX}, got 0`],
  ['"type":"set_max_connections","backend":"a","max_connections":2147483648', 12, `max_connections must be ${MAX}, got 2147483648`],
  ['"type":"set_max_connections","backend":"a","max_connections":[]', 12, `max_connections must be ${MAX}, got an array`],
  ['"type":"set_max_connections","backend":"zz","max_connections":null', 20, 'unknown backend \\"zz\\"'],
  ['"type":"request_complete","backend":"a","ok":"no"', 12, 'ok must be a boolean, got \\"no\\"'],
  ['"type":"request_complete","backend":"a","ok":null', 12, "ok must be a boolean, got null"],
  ['"type":"request_complete","backend":"a","status":99', 12, "status must be an integer from 100 to 599, got 99"],
  ['"type":"request_complete","backend":"a","status":600', 12, "status must be an integer from 100 to 599, got 600"],
  ['"type":"request_complete","backend":"a","status":200.5', 12, "status must be an integer from 100 to 599, got 200.5"],
  ['"type":"release","backend":"a","ok":0,"status":"x"', 12, "ok must be a boolean, got 0"],
  ['"type":"request_done","ok":true,"status":"x"', 12, 'status must be an integer from 100 to 599, got \\"x\\"'],
  ['"type":"request_complete","ok":false', 12, "request_complete needs a backend or a request_id"],
  ['"type":"request_complete","backend":"","ok":false', 12, 'backend must be a non-empty string, got \\"\\"'],
  ['"type":"request_complete","request_id":-1,"status":500', 12, "request_id must be an integer from 0 to 2^53-1, got -1"],
  ['"type":"request_complete","backend":"zz","ok":false', 20, 'unknown backend \\"zz\\"'],
  ['"type":"request_complete","backend":"b","status":500', 22, 'backend \\"b\\" has no active connection to release'],
];

function errorLine(id: number, code: number, text: string): string {
  return `{"src": "lb", "dest": "c", "body": {"type": "error", "in_reply_to": ${id}, "code": ${code}, "text": "${text}"}}`;
}

describe("new fields: bad values are error 12 (or their own code) with the Balancer's text in the protocol's names, and change nothing", () => {
  for (const [fields, code, text] of INIT_ERRORS) {
    it(`init ${fields}`, () => {
      const h = new Handler({ manualClock: true });
      send(h, '{"type":"init","backends":["keep"],"queue":{"limit":1}}');
      const before = fingerprint(h);
      expect(send(h, `{"type":"init","msg_id":1,${fields}}`)).toBe(errorLine(1, code, text));
      expect(fingerprint(h)).toBe(before);
    });
  }
  for (const [fields, code, text] of OTHER_ERRORS) {
    it(fields, () => {
      const h = new Handler({ manualClock: true });
      send(h, '{"type":"init","backends":["a",{"name":"b","max_connections":1}],"ejection":{"consecutive_failures":1}}');
      send(h, '{"type":"http_request","msg_id":1}');
      const before = fingerprint(h);
      expect(send(h, `{${fields},"msg_id":2}`)).toBe(errorLine(2, code, text));
      expect(fingerprint(h)).toBe(before);
    });
  }

  it("the values at the ends of each range are accepted", () => {
    const h = new Handler({ manualClock: true });
    const ok = '{"src": "lb", "dest": "c", "body": {"type": "init_ok", "in_reply_to": 1}}';
    expect(
      send(
        h,
        '{"type":"init","msg_id":1,"backends":[{"name":"a","max_connections":2147483647},{"name":"b","max_connections":1}],' +
          '"queue":{"limit":0,"timeout_ms":2147483647},"ejection":{"consecutive_failures":2147483647,"base_ms":1,"max_ms":1,"max_percent":0},' +
          '"slow_start":{"window_ms":2147483647,"min_percent":100},"decay_ms":0.5}',
      ),
    ).toBe(ok);
    expect(send(h, '{"type":"init","msg_id":1,"queue":{},"ejection":{},"slow_start":{"window_ms":1,"min_percent":1},"decay_ms":1e9}')).toBe(
      ok,
    );
    for (const status of [100, 499, 500, 599]) {
      send(h, '{"type":"init","backends":["a"]}');
      send(h, '{"type":"http_request"}');
      expect(send(h, `{"type":"request_complete","backend":"a","status":${status}}`)).toContain('"request_complete_ok"');
    }
  });
});

describe("outcomes", () => {
  // docs/PROTOCOL.md 4.3: a failure when ok is false or status >= 500, either one.
  const rows: Array<[string, number]> = [
    ["", 0],
    [',"ok":true', 0],
    [',"ok":false', 1],
    [',"status":499', 0],
    [',"status":500', 1],
    [',"ok":true,"status":503', 1],
    [',"ok":false,"status":200', 1],
    [',"ok":true,"status":200', 0],
  ];
  for (const [fields, failures] of rows) {
    it(`request_complete${fields || " (no outcome)"}: ${failures} failure`, () => {
      const h = new Handler({ manualClock: true });
      send(h, '{"type":"init","backends":["a"],"ejection":{"consecutive_failures":9}}');
      send(h, '{"type":"http_request"}');
      send(h, '{"type":"http_request"}');
      send(h, '{"type":"request_complete","backend":"a","ok":false}');
      send(h, `{"type":"request_complete","backend":"a"${fields}}`);
      expect(send(h, '{"type":"stats"}')).toContain(`"failures": ${failures ? 2 : 0}, "ejected_until": null`);
    });
  }
});

describe("queued requests and --max-open", () => {
  it("queued requests count as tracked: past --max-open a tracked one is error 11, an untracked one a 503 queue_full", () => {
    const h = new Handler({ manualClock: true, maxOpen: 3 });
    send(h, '{"type":"init","backends":[{"name":"a","max_connections":1}],"queue":{}}');
    expect(send(h, '{"type":"http_request","msg_id":1}')).toContain('"status": 200');
    expect(send(h, '{"type":"http_request","msg_id":2}')).toBe("");
    expect(send(h, '{"type":"http_request"}')).toBe("");
    const before = fingerprint(h);
    expect(send(h, '{"type":"http_request","msg_id":4}')).toBe(
      errorLine(4, 11, "too many open requests: 3 are tracked (the --max-open limit); complete some first"),
    );
    expect(fingerprint(h)).toBe(before);
    expect(send(h, '{"type":"http_request"}')).toBe(
      '{"src": "lb", "dest": "c", "body": {"type": "http_response", "status": 503, "backend": null, "active_connections": {"a": 1}, "reason": "queue_full"}}',
    );
    // Completing 1 hands a to 2 (its reply follows), and the untracked waiter stays queued.
    expect(send(h, '{"type":"request_complete","msg_id":5,"request_id":1}')).toContain('"active_connections": {"a": 1}');
    expect(h.extra.map(formatReply)).toEqual([
      '{"src": "lb", "dest": "c", "body": {"type": "http_response", "in_reply_to": 2, "status": 200, "backend": "a", "active_connections": {"a": 1}}}',
    ]);
  });
});
