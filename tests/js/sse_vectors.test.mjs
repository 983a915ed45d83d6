// The SSE decoder against the shared vector file, tests/vectors/sse.json (the Python decoder's
// cases): each stream fed whole, byte by byte and split in two at every position.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";

import { SSEDecoder, readEvents } from "../../src/streamwire/static/streamwire.js";

const vectors = JSON.parse(readFileSync(new URL("../vectors/sse.json", import.meta.url), "utf8"));

/** @param {{input?: string, input_b64?: string}} vector */
function bytesOf(vector) {
  return vector.input_b64 !== undefined
    ? new Uint8Array(Buffer.from(vector.input_b64, "base64"))
    : new TextEncoder().encode(vector.input);
}

function feedings(bytes) {
  const out = [["whole", [bytes]]];
  out.push(["byte by byte", Array.from(bytes, (_, i) => bytes.subarray(i, i + 1))]);
  for (let i = 1; i < bytes.length; i++) out.push([`split at ${i}`, [bytes.subarray(0, i), bytes.subarray(i)]]);
  return out;
}

/** Decode like readEvents does, keeping the decoder to read lastEventId and retry. */
function decodeKeepingState(pieces) {
  const text = new TextDecoder("utf-8", { ignoreBOM: true });
  const decoder = new SSEDecoder();
  const events = [];
  for (const piece of pieces) events.push(...decoder.feed(text.decode(piece, { stream: true })));
  events.push(...decoder.feed(text.decode()));
  decoder.close();
  return { events, decoder };
}

// The vectors spell "no id" as "" (like MessageEvent.lastEventId); our events carry null.
const asVector = (events) => events.map((e) => ({ data: e.data, event: e.event, id: e.id ?? "" }));

describe("SSE vectors (tests/vectors/sse.json)", () => {
  test("the file has cases", () => {
    assert.ok(vectors.cases.length > 50);
  });
  for (const vector of vectors.cases) {
    test(`${vector.id} [${vector.spec}]`, async () => {
      const bytes = bytesOf(vector);
      for (const [how, pieces] of feedings(bytes)) {
        const { events, decoder } = decodeKeepingState(pieces);
        assert.deepEqual(asVector(events), vector.events, how);
        if (vector.last_event_id !== undefined) assert.equal(decoder.lastEventId, vector.last_event_id, how);
        if (vector.retry !== undefined) assert.equal(decoder.retry, vector.retry, how);
      }
      // and through readEvents (the path readStream takes), in two feedings
      for (const pieces of [[bytes], Array.from(bytes, (_, i) => bytes.subarray(i, i + 1))]) {
        const events = [];
        for await (const event of readEvents(pieces)) events.push(event);
        assert.deepEqual(asVector(events), vector.events);
      }
    });
  }
});
