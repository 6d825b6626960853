// The node's memory of completed request ids (cli/requests.ts, through the
// handler): the last COMPLETED_IDS_KEPT are remembered (22), older ones are
// unknown (20), and an id completed again counts from its second
// completion. In the slow project: each test sends ~130,000 messages.

import { describe, expect, it } from "vitest";
import { Handler } from "../../cli/handler.js";
import { COMPLETED_IDS_KEPT } from "../../cli/requests.js";
import { send } from "./helpers.js";

describe("completed ids", () => {
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

  it("an id completed, reused and completed again is remembered from its second completion (defect 6.10)", () => {
    const h = new Handler({ manualClock: true });
    send(h, '{"type":"init","msg_id":0,"backends":["a"]}');
    const complete = (id: number): void => {
      send(h, `{"type":"http_request","msg_id":${id}}`);
      send(h, `{"type":"request_complete","request_id":${id}}`);
    };
    complete(1);
    for (let id = 2; id <= COMPLETED_IDS_KEPT / 2; id++) complete(id);
    complete(1); // reused, completed again
    // More completions than the memory holds since 1's first completion, fewer since its second.
    for (let id = COMPLETED_IDS_KEPT / 2 + 1; id <= COMPLETED_IDS_KEPT + 10; id++) complete(id);
    expect(send(h, '{"type":"request_complete","msg_id":9,"request_id":1}')).toContain(
      '"code": 22, "text": "request 1 is already completed"',
    );
    expect(send(h, '{"type":"request_complete","msg_id":9,"request_id":2}')).toContain('"code": 20, "text": "unknown request_id 2"');
  });
});
