// The message handler directly: the memory of completed request ids, reused
// ids, and replies of the formatter against hand-written bytes.

import { describe, expect, it } from "vitest";
import { formatReply, quote } from "../../cli/format.js";
import { COMPLETED_IDS_KEPT, Handler } from "../../cli/handler.js";
import { Parser, type Json } from "../../cli/json.js";

const parser = new Parser();
function msg(text: string): Json {
  const bytes = new TextEncoder().encode(text);
  return parser.parse(bytes, 0, bytes.length);
}

function send(h: Handler, body: string): string {
  const reply = h.handle(msg(`{"src":"c","dest":"lb","body":${body}}`));
  return reply === null ? "" : formatReply(reply);
}

describe("handler", () => {
  it(`remembers the last ${COMPLETED_IDS_KEPT} completed ids: older ones are unknown (20), newer already completed (22)`, () => {
    const h = new Handler({ manualClock: true });
    send(h, '{"type":"init","msg_id":0,"backends":["a"]}');
    for (let id = 1; id <= COMPLETED_IDS_KEPT + 1; id++) {
      send(h, `{"type":"http_request","msg_id":${id}}`);
      send(h, `{"type":"request_complete","request_id":${id}}`);
    }
    expect(send(h, '{"type":"request_complete","request_id":1}')).toContain('"code": 20, "text": "unknown request_id 1"');
    expect(send(h, '{"type":"request_complete","request_id":2}')).toContain('"code": 22, "text": "request 2 is already completed"');
    expect(send(h, `{"type":"request_complete","request_id":${COMPLETED_IDS_KEPT + 1}}`)).toContain('"code": 22');
  });

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
    const before = h.fingerprint();
    expect(send(h, '{"type":"http_request","msg_id":1,"active_connections":{"a":7,"new":1,"b":-1}}')).toContain('"code": 12');
    expect(send(h, '{"type":"http_request","msg_id":2,"algorithm":"nope","active_connections":{"a":7}}')).toContain('"code": 10');
    expect(send(h, '{"type":"init","msg_id":3,"backends":["x","x"]}')).toContain('"code": 12');
    expect(h.fingerprint()).toBe(before);
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
