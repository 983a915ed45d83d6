// The structured reducer against the shared vector file (the Python reducer's own cases).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";

import {
  StructuredAccumulator,
  StructuredStreamError,
  applyStructuredChunk,
  splitPath,
} from "../../src/streamwire/static/streamwire.js";

const vectors = JSON.parse(
  readFileSync(new URL("../vectors/structured.json", import.meta.url), "utf8"),
);

/** Deep-freeze a value so that any mutation by the reducer throws. */
function freeze(value) {
  if (value && typeof value === "object") {
    Object.values(value).forEach(freeze);
    Object.freeze(value);
  }
  return value;
}

describe("structured vectors (tests/vectors/structured.json)", () => {
  for (const vector of vectors.cases) {
    test(`${vector.rule}: ${vector.id}`, () => {
      const chunks = freeze(structuredClone(vector.chunks));
      let state = null;
      const last = chunks.length - 1;
      for (const [i, chunk] of chunks.entries()) {
        if (vector.error && i === last) {
          const before = JSON.stringify(state);
          assert.throws(
            () => applyStructuredChunk(state, chunk),
            (error) => {
              assert.ok(error instanceof StructuredStreamError, String(error));
              assert.equal(error.path, vector.error.path);
              assert.ok(
                error.message.includes(vector.error.contains),
                `${JSON.stringify(error.message)} should contain ${JSON.stringify(vector.error.contains)}`,
              );
              return true;
            },
          );
          assert.equal(JSON.stringify(state), before, "the state must be untouched");
          return;
        }
        state = freeze(applyStructuredChunk(state, chunk));
      }
      assert.ok(!vector.error, "the last chunk should have thrown");
      assert.deepEqual(state.data, vector.expect.data);
      assert.equal(state.status, vector.expect.status);
      assert.equal(state.dataType, vector.expect.dataType ?? null);
      assert.equal(state.streamId, chunks[0].streamId);
    });
  }
});

describe("applyStructuredChunk", () => {
  test("shares untouched containers with the previous state", () => {
    const chunk = (path, value) => ({ type: "structured-data", streamId: "s", kind: "set", path, value });
    const a = applyStructuredChunk(applyStructuredChunk(null, chunk("x.y", 1)), chunk("z", 2));
    const b = applyStructuredChunk(a, chunk("z", 3));
    assert.equal(b.data.x, a.data.x);
    assert.notEqual(b.data, a.data);
    assert.equal(a.data.z, 2);
  });

  test("rejects a chunk that is not structured-data", () => {
    assert.throws(
      () => applyStructuredChunk(null, { type: "text-delta", delta: "x" }),
      /expected a structured-data chunk, found "text-delta"/,
    );
  });

  test("splitPath returns keys and numeric indices", () => {
    assert.deepEqual(splitPath("sections.2.body"), ["sections", 2, "body"]);
    assert.throws(() => splitPath("a.00"), /index '00' \(segment 1\) has a leading zero/);
  });
});

describe("StructuredAccumulator", () => {
  test("keeps one state per streamId and the old state after an error", () => {
    const acc = new StructuredAccumulator();
    acc.apply({ type: "structured-data", streamId: "a", kind: "text-delta", path: "body", delta: "He" });
    acc.apply({ type: "structured-data", streamId: "b", kind: "append", path: "xs", items: [1] });
    acc.apply({ type: "structured-data", streamId: "a", kind: "text-delta", path: "body", delta: "y" });
    assert.throws(() =>
      acc.apply({ type: "structured-data", streamId: "a", kind: "append", path: "body", items: [] }),
    );
    assert.deepEqual(acc.get("a").data, { body: "Hey" });
    assert.deepEqual(acc.get("b").data, { xs: [1] });
    assert.equal(acc.size, 2);
    assert.deepEqual(Object.keys(acc.toJSON()), ["a", "b"]);
    assert.deepEqual([...acc].map(([id]) => id), ["a", "b"]);
  });
});
