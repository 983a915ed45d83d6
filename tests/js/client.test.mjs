// Chunks, readStream, consumeStream, streamChat and openEventSource (no network: Response
// objects and fake EventSources).
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import {
  ChunkDecodeError,
  InvalidArgumentError,
  MalformedStreamError,
  StructuredStreamError,
  TruncatedStreamError,
  consumeStream,
  decodeChunk,
  openEventSource,
  readStream,
  streamChat,
} from "../../src/streamwire/static/streamwire.js";

const encoder = new TextEncoder();

/** The native SSE bytes of some chunks (done as an event named "done"). */
function native(chunks) {
  return chunks
    .map((c) => (c.type === "done" ? `event: done\ndata: ${JSON.stringify(c)}\n\n` : `data: ${JSON.stringify(c)}\n\n`))
    .join("");
}

/** A ReadableStream of the bytes of `text`, cut into the given pieces, that records cancel. */
function byteStream(text, { pieceSize = Infinity, endless = false } = {}) {
  const bytes = encoder.encode(text);
  let at = 0;
  const state = { cancelled: false };
  const stream = new ReadableStream({
    pull(controller) {
      if (at >= bytes.length) {
        if (!endless) controller.close();
        return new Promise(() => {}); // endless: never answer again
      }
      const end = Math.min(bytes.length, at + pieceSize);
      controller.enqueue(bytes.slice(at, end));
      at = end;
    },
    cancel() {
      state.cancelled = true;
    },
  });
  return { stream, state };
}

async function collect(iterable) {
  const out = [];
  for await (const item of iterable) out.push(item);
  return out;
}

const CHAT = [
  { type: "start", messageId: "m1" },
  { type: "text-delta", delta: "Hé" },
  { type: "text-delta", delta: "llo 😀" },
  { type: "structured-data", streamId: "draft", kind: "set", path: "title", value: "T" },
  { type: "structured-data", streamId: "draft", kind: "text-delta", path: "body", delta: "B" },
  { type: "tool-call-start", toolCallId: "c1", tool: "weather" },
  { type: "tool-call-delta", toolCallId: "c1", inputDelta: '{"city":' },
  { type: "tool-call-delta", toolCallId: "c1", inputDelta: '"Oslo"}' },
  { type: "tool-call-end", toolCallId: "c1", input: { city: "Oslo" } },
  { type: "tool-call-result", toolCallId: "c1", tool: "weather", content: { c: 3 } },
  { type: "progress", value: 1, total: 2, message: "half" },
  { type: "usage", inputTokens: 3, outputTokens: 4 },
  { type: "done", finishReason: "stop" },
];

describe("decodeChunk", () => {
  test("decodes every chunk type", () => {
    for (const chunk of [
      ...CHAT,
      { type: "reasoning-delta", delta: "hm" },
      { type: "interrupt", requestId: "r", resumeToken: "t", input: { kind: "choice", options: ["a"] } },
      { type: "error", message: "m", code: "c", retryable: false },
      { type: "structured-data", streamId: "s", kind: "final", data: null },
    ]) {
      assert.deepEqual(decodeChunk(JSON.stringify(chunk)), chunk);
    }
  });

  test("keeps unknown keys and accepts null optional fields", () => {
    assert.deepEqual(decodeChunk('{"type":"done","finishReason":null,"x":1}'), {
      type: "done",
      finishReason: null,
      x: 1,
    });
  });

  const bad = [
    ["not JSON", "{", ""],
    ["not an object", "[1]", ""],
    ["missing type", "{}", "type"],
    ["unknown type", '{"type":"nope"}', "type"],
    ["missing field", '{"type":"text-delta"}', "delta"],
    ["mistyped field", '{"type":"text-delta","delta":1}', "delta"],
    ["mistyped optional", '{"type":"progress","value":1,"total":"x"}', "total"],
    ["integer expected", '{"type":"usage","inputTokens":1.5,"outputTokens":1}', "inputTokens"],
    ["bad kind", '{"type":"structured-data","streamId":"s","kind":"zap","path":"a"}', "kind"],
    ["path on final", '{"type":"structured-data","streamId":"s","kind":"final","path":"a","data":1}', "path"],
    ["no data on final", '{"type":"structured-data","streamId":"s","kind":"final"}', "data"],
    ["no path", '{"type":"structured-data","streamId":"s","kind":"set","value":1}', "path"],
    ["no value on set", '{"type":"structured-data","streamId":"s","kind":"set","path":"a"}', "value"],
    ["no items on append", '{"type":"structured-data","streamId":"s","kind":"append","path":"a"}', "items"],
    ["no delta on text-delta", '{"type":"structured-data","streamId":"s","kind":"text-delta","path":"a"}', "delta"],
    ["interrupt kind", '{"type":"interrupt","requestId":"r","resumeToken":"t","input":{"kind":"x"}}', "input.kind"],
    ["interrupt no kind", '{"type":"interrupt","requestId":"r","resumeToken":"t","input":{}}', "input.kind"],
    ["interrupt question", '{"type":"interrupt","requestId":"r","resumeToken":"t","input":{"kind":"text","question":1}}', "input.question"],
    ["interrupt options", '{"type":"interrupt","requestId":"r","resumeToken":"t","input":{"kind":"choice","options":"a"}}', "input.options"],
    ["interrupt option", '{"type":"interrupt","requestId":"r","resumeToken":"t","input":{"kind":"choice","options":["a",2]}}', "input.options.1"],
  ];
  for (const [name, text, field] of bad) {
    test(`rejects ${name}, naming the field`, () => {
      assert.throws(
        () => decodeChunk(text),
        (e) => e instanceof ChunkDecodeError && e.field === field && e.data === text,
      );
    });
  }
});

describe("readStream", () => {
  test("reads native chunks split at every byte offset", async () => {
    const text = native(CHAT);
    const bytes = encoder.encode(text);
    for (let i = 1; i < bytes.length; i += 3) {
      const pieces = [bytes.subarray(0, i), bytes.subarray(i)];
      assert.deepEqual(await collect(readStream(pieces)), CHAT, `split at ${i}`);
    }
    assert.deepEqual(await collect(readStream(byteStream(text, { pieceSize: 1 }).stream)), CHAT);
  });

  test("reads CRLF streams with comments and a BOM", async () => {
    const text = `\uFEFF: hi\r\n${native(CHAT).replaceAll("\n", "\r\n")}`;
    assert.deepEqual(await collect(readStream(byteStream(text, { pieceSize: 7 }).stream)), CHAT);
  });

  test("stops at done and cancels the body", async () => {
    const { stream, state } = byteStream(native(CHAT), { endless: true });
    assert.deepEqual(await collect(readStream(stream)), CHAT);
    assert.ok(state.cancelled);
  });

  test("leaving the loop early cancels the body", async () => {
    const { stream, state } = byteStream(native(CHAT), { endless: true, pieceSize: 5 });
    for await (const chunk of readStream(stream)) {
      if (chunk.type === "text-delta") break;
    }
    assert.ok(state.cancelled);
  });

  test("an end without done is a TruncatedStreamError counting the chunks", async () => {
    const { stream } = byteStream(native(CHAT.slice(0, 3)));
    await assert.rejects(collect(readStream(stream)), (e) => e instanceof TruncatedStreamError && e.received === 3);
  });

  test("a bad event is a MalformedStreamError with its index", async () => {
    const text = `${native(CHAT.slice(0, 2))}data: {"type":"zap"}\n\n`;
    await assert.rejects(
      collect(readStream([text])),
      (e) => e instanceof MalformedStreamError && e.index === 2 && e.event === '{"type":"zap"}',
    );
  });

  test("reads a Response and detects the AI SDK dialect from its headers", async () => {
    const parts = [
      { type: "start", messageId: "m" },
      { type: "text-start", id: "t" },
      { type: "text-delta", id: "t", delta: "Hi" },
      { type: "text-end", id: "t" },
      { type: "tool-input-start", toolCallId: "c", toolName: "w" },
      { type: "tool-input-delta", toolCallId: "c", inputTextDelta: "{}" },
      { type: "tool-input-available", toolCallId: "c", toolName: "w", input: {} },
      { type: "tool-output-available", toolCallId: "c", output: 1 },
      { type: "error", errorText: "bad" },
      { type: "finish", finishReason: "stop" },
    ];
    const body = `${parts.map((p) => `data: ${JSON.stringify(p)}\n\n`).join("")}data: [DONE]\n\n`;
    const response = new Response(body, { headers: { "x-vercel-ai-ui-message-stream": "v1" } });
    assert.deepEqual(await collect(readStream(response)), [
      { type: "start", messageId: "m" },
      { type: "text-delta", delta: "Hi", id: "t" },
      { type: "tool-call-start", toolCallId: "c", tool: "w" },
      { type: "tool-call-delta", toolCallId: "c", inputDelta: "{}" },
      { type: "tool-call-end", toolCallId: "c", input: {} },
      { type: "tool-call-result", toolCallId: "c", tool: "w", content: 1, isError: false },
      { type: "error", message: "bad", code: "stream_error", retryable: false },
      { type: "done", finishReason: "stop" },
    ]);
  });

  test("reads the OpenAI dialect", async () => {
    const events = [
      { id: "x", choices: [{ index: 0, delta: { role: "assistant", content: "" } }] },
      { id: "x", choices: [{ index: 0, delta: { content: "Hel" } }] },
      { id: "x", choices: [{ index: 0, delta: { content: "lo" } }] },
      { id: "x", choices: [{ index: 0, delta: { tool_calls: [{ index: 0, id: "c", function: { name: "w", arguments: '{"a"' } }] } }] },
      { id: "x", choices: [{ index: 0, delta: { tool_calls: [{ index: 0, function: { arguments: ":1}" } }] } }] },
      { id: "x", choices: [{ index: 0, delta: {}, finish_reason: "tool_calls" }] },
      { id: "x", choices: [], usage: { prompt_tokens: 2, completion_tokens: 5 } },
    ];
    const body = `${events.map((e) => `data: ${JSON.stringify(e)}\n\n`).join("")}data: [DONE]\n\n`;
    assert.deepEqual(await collect(readStream([body], { dialect: "openai" })), [
      { type: "start", messageId: "x" },
      { type: "text-delta", delta: "Hel" },
      { type: "text-delta", delta: "lo" },
      { type: "tool-call-start", toolCallId: "c", tool: "w" },
      { type: "tool-call-delta", toolCallId: "c", inputDelta: '{"a"' },
      { type: "tool-call-delta", toolCallId: "c", inputDelta: ":1}" },
      { type: "tool-call-end", toolCallId: "c", input: { a: 1 } },
      { type: "usage", inputTokens: 2, outputTokens: 5 },
      { type: "done", finishReason: "tool_calls" },
    ]);
  });

  test("an OpenAI error object becomes an error chunk", async () => {
    const body = `data: {"error":{"message":"overloaded","type":"server_error"}}\n\ndata: [DONE]\n\n`;
    const chunks = await collect(readStream([body], { dialect: "openai" }));
    assert.deepEqual(chunks[0], { type: "error", message: "overloaded", code: "server_error", retryable: false });
  });

  test("rejects an unknown dialect and a body that is not a stream", async () => {
    await assert.rejects(collect(readStream([""], { dialect: "x" })), InvalidArgumentError);
    await assert.rejects(collect(readStream(42)), InvalidArgumentError);
  });
});

describe("consumeStream", () => {
  test("calls the handlers and returns the result; onDone once", async () => {
    const texts = [];
    const structured = [];
    const done = [];
    const result = await consumeStream(readStream([native(CHAT)]), {
      onText: (delta, text) => texts.push([delta, text]),
      onStructured: (state) => structured.push(state.data),
      onDone: (r) => done.push(r),
    });
    assert.deepEqual(texts, [
      ["Hé", "Hé"],
      ["llo 😀", "Héllo 😀"],
    ]);
    assert.deepEqual(structured, [{ title: "T" }, { title: "T", body: "B" }]);
    assert.equal(done.length, 1);
    assert.equal(done[0], result);
    assert.equal(result.text, "Héllo 😀");
    assert.equal(result.messageId, "m1");
    assert.equal(result.finishReason, "stop");
    assert.deepEqual(result.structured.draft.data, { title: "T", body: "B" });
    assert.deepEqual(result.toolCalls, [
      { toolCallId: "c1", tool: "weather", inputText: '{"city":"Oslo"}', input: { city: "Oslo" }, status: "done", result: { c: 3 }, isError: false },
    ]);
    assert.deepEqual(result.progress, CHAT[10]);
    assert.deepEqual(result.usage, CHAT[11]);
  });

  test("returning false from onChunk stops and cancels", async () => {
    const { stream, state } = byteStream(native(CHAT), { endless: true, pieceSize: 9 });
    let done = 0;
    const result = await consumeStream(stream, {
      onChunk: (chunk) => chunk.type !== "structured-data",
      onDone: () => done++,
    });
    assert.equal(result.text, "Héllo 😀");
    assert.equal(result.done, false);
    assert.equal(done, 1);
    assert.ok(state.cancelled);
  });

  test("an error chunk goes to onError", async () => {
    const errors = [];
    const chunks = [{ type: "error", message: "boom", code: "x", retryable: true }, { type: "done" }];
    const result = await consumeStream(readStream([native(chunks)]), { onError: (c) => errors.push(c) });
    assert.deepEqual(errors, [chunks[0]]);
    assert.deepEqual(result.error, chunks[0]);
  });

  test("a structured error propagates after onDone", async () => {
    const chunks = [
      { type: "structured-data", streamId: "s", kind: "set", path: "a", value: 1 },
      { type: "structured-data", streamId: "s", kind: "append", path: "a", items: [] },
      { type: "done" },
    ];
    let done = 0;
    await assert.rejects(
      consumeStream(readStream([native(chunks)]), { onDone: () => done++ }),
      (e) => e instanceof StructuredStreamError && e.path === "a",
    );
    assert.equal(done, 1);
  });

  test("a truncated stream propagates after onDone", async () => {
    let done = 0;
    await assert.rejects(
      consumeStream(byteStream(native(CHAT.slice(0, 2))).stream, { onDone: () => done++ }),
      TruncatedStreamError,
    );
    assert.equal(done, 1);
  });
});

describe("streamChat", () => {
  function fakeFetch(respond) {
    const calls = [];
    const fetchImpl = async (url, init) => {
      calls.push({ url, init, body: JSON.parse(init.body) });
      return respond(url, init);
    };
    return { fetchImpl, calls };
  }

  test("POSTs the messages and extras and reads the stream", async () => {
    const { fetchImpl, calls } = fakeFetch(
      () => new Response(native(CHAT), { headers: { "content-type": "text/event-stream; charset=utf-8" } }),
    );
    const chunks = await collect(
      streamChat({
        endpoint: "/api/chat",
        messages: [{ role: "user", content: "hi" }],
        headers: { authorization: "Bearer t" },
        body: { sessionId: "s1" },
        fetch: fetchImpl,
      }),
    );
    assert.deepEqual(chunks, CHAT);
    assert.equal(calls[0].url, "/api/chat");
    assert.equal(calls[0].init.method, "POST");
    assert.equal(calls[0].init.headers.authorization, "Bearer t");
    assert.equal(calls[0].init.headers.accept, "text/event-stream");
    assert.deepEqual(calls[0].body, { sessionId: "s1", messages: [{ role: "user", content: "hi" }] });
  });

  test("an HTTP error becomes an error chunk then done, with the body's message", async () => {
    const { fetchImpl } = fakeFetch(
      () => new Response(JSON.stringify({ error: { message: "messages.0.role is bad", field: "messages.0.role" } }), { status: 400 }),
    );
    assert.deepEqual(await collect(streamChat({ messages: [], fetch: fetchImpl })), [
      { type: "error", message: "messages.0.role is bad", code: "http_400", retryable: false },
      { type: "done", finishReason: "error" },
    ]);
  });

  test("a failure without a JSON body says the status; 503 is retryable", async () => {
    const { fetchImpl } = fakeFetch(() => new Response("oops", { status: 503 }));
    const [error] = await collect(streamChat({ messages: [], fetch: fetchImpl }));
    assert.deepEqual(error, { type: "error", message: "Request failed (503)", code: "http_503", retryable: true });
  });

  test("a body that is not an event stream is an error", async () => {
    const { fetchImpl } = fakeFetch(() => new Response("{}", { headers: { "content-type": "application/json" } }));
    const [error] = await collect(streamChat({ messages: [], fetch: fetchImpl }));
    assert.equal(error.code, "bad_content_type");
  });

  test("a failed connection is an error chunk; an abort is thrown", async () => {
    const [error, done] = await collect(
      streamChat({ messages: [], fetch: async () => { throw new TypeError("fetch failed"); } }),
    );
    assert.equal(error.code, "connection_error");
    assert.match(error.message, /fetch failed/);
    assert.equal(done.type, "done");
    const controller = new AbortController();
    controller.abort();
    await assert.rejects(
      collect(
        streamChat({
          messages: [],
          signal: controller.signal,
          fetch: async () => { throw new DOMException("aborted", "AbortError"); },
        }),
      ),
      { name: "AbortError" },
    );
  });

  test("messages must be an array", async () => {
    await assert.rejects(collect(streamChat({ messages: "hi" })), /messages must be an array, not a string/);
  });
});

describe("openEventSource", () => {
  class FakeEventSource {
    static instances = [];
    constructor(url, init) {
      this.url = url;
      this.init = init;
      this.readyState = 0;
      this.listeners = {};
      this.closed = false;
      FakeEventSource.instances.push(this);
    }
    addEventListener(type, fn) {
      (this.listeners[type] ??= []).push(fn);
    }
    emit(type, data) {
      for (const fn of this.listeners[type] ?? []) fn({ type, data });
    }
    close() {
      this.readyState = 2;
      this.closed = true;
    }
  }

  test("closes on the done event and resolves with the result", async () => {
    const texts = [];
    let opened = false;
    const handle = openEventSource("/api/chat/stream?q=hi", {
      EventSource: FakeEventSource,
      onText: (_, text) => texts.push(text),
      onOpen: () => { opened = true; },
    });
    const es = FakeEventSource.instances.at(-1);
    assert.equal(es.url, "/api/chat/stream?q=hi");
    es.readyState = 1;
    es.emit("open");
    for (const chunk of CHAT.slice(0, -1)) es.emit("message", JSON.stringify(chunk));
    es.emit("done", JSON.stringify(CHAT.at(-1)));
    const result = await handle.done;
    assert.ok(opened);
    assert.ok(es.closed);
    assert.equal(result.text, "Héllo 😀");
    assert.equal(result.finishReason, "stop");
    assert.deepEqual(texts, ["Hé", "Héllo 😀"]);
    es.emit("error"); // a late error after done changes nothing
    assert.equal(result.error, null);
  });

  test("a connection error before done closes instead of reconnecting", async () => {
    const errors = [];
    const handle = openEventSource("/s", { EventSource: FakeEventSource, onError: (c) => errors.push(c) });
    const es = FakeEventSource.instances.at(-1);
    es.emit("message", JSON.stringify({ type: "text-delta", delta: "a" }));
    es.readyState = 0; // the browser would reconnect
    es.emit("error");
    const result = await handle.done;
    assert.ok(es.closed);
    assert.equal(errors[0].code, "connection_lost");
    assert.equal(result.text, "a");
  });

  test("maxReconnects lets the browser retry", async () => {
    const handle = openEventSource("/s", { EventSource: FakeEventSource, maxReconnects: 1 });
    const es = FakeEventSource.instances.at(-1);
    es.emit("error");
    assert.equal(es.closed, false);
    es.emit("done", '{"type":"done"}');
    assert.equal((await handle.done).done, true);
  });

  test("a bad event and close() finish once", async () => {
    let doneCalls = 0;
    const handle = openEventSource("/s", { EventSource: FakeEventSource, onDone: () => doneCalls++ });
    const es = FakeEventSource.instances.at(-1);
    es.emit("message", "{nope");
    handle.close();
    const result = await handle.done;
    assert.equal(result.error.code, "bad_stream");
    assert.equal(doneCalls, 1);
  });
});
