// The SSE decoder: the WHATWG rules, fed whole, byte by byte and split at every position.
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import {
  InvalidArgumentError,
  SSEDecoder,
  SSEProtocolError,
  readEvents,
  utf8Length,
} from "../../src/streamwire/static/streamwire.js";

const encoder = new TextEncoder();

/** Decode `bytes` fed as the given pieces through readEvents (TextDecoder + SSEDecoder). */
async function decodePieces(pieces, options) {
  const events = [];
  for await (const event of readEvents(pieces, options)) events.push(event);
  return events;
}

/** Every way of feeding `bytes` the tests use: whole, byte by byte, split at each position. */
function feedings(bytes) {
  const out = [["whole", [bytes]]];
  out.push(["byte by byte", Array.from(bytes, (_, i) => bytes.subarray(i, i + 1))]);
  for (let i = 1; i < bytes.length; i++) {
    out.push([`split at ${i}`, [bytes.subarray(0, i), bytes.subarray(i)]]);
  }
  return out;
}

/** Assert that every feeding of `input` gives `expected`. */
async function assertDecodes(input, expected, options) {
  const bytes = typeof input === "string" ? encoder.encode(input) : input;
  for (const [how, pieces] of feedings(bytes)) {
    assert.deepEqual(await decodePieces(pieces, options), expected, how);
  }
}

const ev = (data, event = "message", id = null) => ({ data, event, id });

const CASES = [
  ["a data line and a blank line dispatch one event", "data: hello\n\n", [ev("hello")]],
  ["several data lines are joined by LF", "data: a\ndata: b\n\n", [ev("a\nb")]],
  ["CR ends a line", "data: a\rdata: b\r\r", [ev("a\nb")]],
  ["CRLF ends a line", "data: a\r\ndata: b\r\n\r\n", [ev("a\nb")]],
  ["mixed line ends", "data: a\r\ndata: b\rdata: c\n\r\n", [ev("a\nb\nc")]],
  ["one leading BOM is ignored", "\uFEFFdata: a\n\n", [ev("a")]],
  ["a second BOM is part of the field name", "\uFEFF\uFEFFdata: a\n\n", []],
  ["a BOM after the start is not stripped", "data: \uFEFFa\n\n", [ev("\uFEFFa")]],
  ["a comment is ignored", ": ping\ndata: a\n:\n\n", [ev("a")]],
  ["a line without colon is a field with empty value", "data\n\n", [ev("")]],
  ["two data lines without colon", "data\ndata\n\n", [ev("\n")]],
  ["only one leading space is removed", "data:  two\n\n", [ev(" two")]],
  ["no space is fine", "data:none\n\n", [ev("none")]],
  ["a colon in the value stays", "data: a:b: c\n\n", [ev("a:b: c")]],
  ["field names are case-sensitive", "Data: a\nDATA: b\n\n", []],
  ["unknown fields are ignored", "foo: bar\ndata: a\n\n", [ev("a")]],
  ["empty data dispatches nothing and resets the type", "event: x\n\ndata: y\n\n", [ev("y")]],
  ["the event type names the event", "event: done\ndata: {}\n\n", [ev("{}", "done")]],
  ["an empty event type is message", "event:\ndata: a\n\n", [ev("a")]],
  ["the id persists across events", "id: 7\ndata: a\n\ndata: b\n\n", [ev("a", "message", "7"), ev("b", "message", "7")]],
  ["an empty id resets the last id", "id: 7\ndata: a\n\nid\ndata: b\n\n", [ev("a", "message", "7"), ev("b")]],
  ["an id with NUL is ignored", "id: 1\ndata: a\n\nid: 2\0x\ndata: b\n\n", [ev("a", "message", "1"), ev("b", "message", "1")]],
  ["an incomplete event at the end is dropped", "data: a\n\ndata: b\n", [ev("a")]],
  ["an unterminated line at the end is dropped", "data: a\n\ndata: b", [ev("a")]],
  ["multi-byte characters", "data: héllo 😀 世界\n\n", [ev("héllo 😀 世界")]],
  ["a blank first line dispatches nothing", "\n\ndata: a\n\n", [ev("a")]],
];

describe("SSE decoding, every feeding", () => {
  for (const [name, input, expected] of CASES) {
    test(name, async () => {
      await assertDecodes(input, expected);
    });
  }

  test("invalid UTF-8 becomes U+FFFD", async () => {
    const bytes = new Uint8Array([...encoder.encode("data: a"), 0xff, 0xc3, ...encoder.encode("\n\n")]);
    await assertDecodes(bytes, [ev("a\uFFFD\uFFFD")]);
  });

  test("a character cut by a line end becomes U+FFFD", async () => {
    // the first two bytes of "€" (e2 82 ac), then LF
    const bytes = new Uint8Array([...encoder.encode("data: "), 0xe2, 0x82, 0x0a, 0x0a]);
    await assertDecodes(bytes, [ev("\uFFFD")]);
  });

  test("a BOM split across reads is still one BOM", async () => {
    const bytes = encoder.encode("\uFEFFdata: x\n\n");
    assert.deepEqual(await decodePieces([bytes.subarray(0, 1), bytes.subarray(1, 2), bytes.subarray(2)]), [ev("x")]);
  });
});

describe("SSEDecoder (text in)", () => {
  test("a CRLF split across two feeds is one line end", () => {
    const decoder = new SSEDecoder();
    assert.deepEqual(decoder.feed("data: a\r"), []);
    assert.deepEqual(decoder.feed("\ndata: b\r"), []);
    assert.deepEqual(decoder.feed("\n"), []);
    assert.deepEqual(decoder.feed("\r\n"), [ev("a\nb")]);
  });

  test("a lone CR then a blank line", () => {
    const decoder = new SSEDecoder();
    assert.deepEqual(decoder.feed("data: a\r"), []);
    assert.deepEqual(decoder.feed("\r"), [ev("a")]);
  });

  test("every split of the text gives the same events", () => {
    const text = "\uFEFFid: 1\r\nevent: e\rdata: x😀\r\n\r\n: c\ndata\r\rretry: 5\n";
    const expected = [ev("x😀", "e", "1"), ev("", "message", "1")];
    for (let i = 0; i <= text.length; i++) {
      for (let j = i; j <= text.length; j++) {
        const decoder = new SSEDecoder();
        const events = [
          ...decoder.feed(text.slice(0, i)),
          ...decoder.feed(text.slice(i, j)),
          ...decoder.feed(text.slice(j)),
        ];
        assert.deepEqual(events, expected, `split at ${i} and ${j}`);
        assert.equal(decoder.retry, 5);
      }
    }
  });

  test("retry takes ASCII digits only", () => {
    const decoder = new SSEDecoder();
    decoder.feed("retry: 1500\n");
    assert.equal(decoder.retry, 1500);
    for (const bad of ["retry: 10a\n", "retry:\n", "retry: -1\n", "retry: ١٢\n", "retry: 1.5\n", "retry:  7\n"]) {
      decoder.feed(bad);
      assert.equal(decoder.retry, 1500, bad);
    }
  });

  test("lastEventId changes at dispatch and is reset by an empty id", () => {
    const decoder = new SSEDecoder();
    decoder.feed("id: abc\n");
    assert.equal(decoder.lastEventId, "");
    decoder.feed("\n");
    assert.equal(decoder.lastEventId, "abc");
    decoder.feed("id:\n\n");
    assert.equal(decoder.lastEventId, "");
  });

  test("an id in an event cut off by the end of the stream does not count", () => {
    const decoder = new SSEDecoder();
    decoder.feed("id: 1\ndata: a\n\nid: 2\ndata: b\n");
    decoder.close();
    assert.equal(decoder.lastEventId, "1");
    assert.deepEqual(decoder.feed("data: c\n\n"), [ev("c", "message", "1")]);
  });

  test("close drops an incomplete event and starts a new stream (BOM again, id kept)", () => {
    const decoder = new SSEDecoder();
    decoder.feed("id: 3\n\ndata: half");
    assert.deepEqual(decoder.close(), []);
    assert.deepEqual(decoder.feed("\uFEFFdata: b\n\n"), [ev("b", "message", "3")]);
  });

  test("rejects text that is not a string", () => {
    assert.throws(() => new SSEDecoder().feed(new Uint8Array(1)), InvalidArgumentError);
  });

  test("maxEventBytes must be a positive integer", () => {
    assert.throws(() => new SSEDecoder({ maxEventBytes: 0 }), /maxEventBytes must be positive \(got 0\)/);
    assert.throws(() => new SSEDecoder({ maxEventBytes: 1.5 }), /maxEventBytes must be an integer/);
  });
});

describe("the event size limit", () => {
  test("a line past the limit fails at the first byte beyond it, for good", () => {
    const decoder = new SSEDecoder({ maxEventBytes: 20 });
    assert.deepEqual(decoder.feed("data: 12345678\n\n"), [ev("12345678")]);
    // The event starts at byte 16; "data: é23456789\n" is 17 bytes (é takes 2); the next line
    // takes it past 20 bytes: the first byte beyond the limit is 16 + 20.
    assert.deepEqual(decoder.feed("data: é23456789\n"), []);
    let error;
    assert.throws(
      () => decoder.feed("data: x\n"),
      (e) => {
        error = e;
        return e instanceof SSEProtocolError;
      },
    );
    assert.equal(error.offset, 36);
    assert.equal(error.limit, 20);
    assert.match(error.message, /maxEventBytes \(20 bytes\) \(at byte offset 36\)/);
    assert.throws(() => decoder.feed("\n"), (e) => e === error);
    assert.throws(() => decoder.close(), (e) => e === error);
  });

  test("comments count towards the event", () => {
    const decoder = new SSEDecoder({ maxEventBytes: 12 });
    decoder.feed(": 12345\n");
    assert.throws(() => decoder.feed("data: 1\n"), (e) => e.offset === 12);
  });

  test("an unterminated line past the limit fails", () => {
    const decoder = new SSEDecoder({ maxEventBytes: 8 });
    decoder.feed("data: 1");
    assert.throws(() => decoder.feed("234"), (e) => e instanceof SSEProtocolError && e.offset === 8);
  });

  test("lines of several events do not add up", () => {
    const decoder2 = new SSEDecoder({ maxEventBytes: 16 });
    const events = decoder2.feed("data: 1234567\n\n".repeat(50));
    assert.equal(events.length, 50);
  });

  test("readEvents reports the limit whatever the feeding", async () => {
    const bytes = encoder.encode("data: ok\n\ndata: 0123456789\n\n");
    for (const [how, pieces] of feedings(bytes)) {
      await assert.rejects(decodePieces(pieces, { maxEventBytes: 10 }), SSEProtocolError, how);
    }
  });

  test("utf8Length counts UTF-8 bytes", () => {
    assert.equal(utf8Length("aé€😀"), 1 + 2 + 3 + 4);
    assert.equal(utf8Length("\uD800"), 3);
  });
});
