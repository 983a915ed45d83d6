// The useChat hook, driven by a minimal stand-in for React's hooks that records every update.
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { createUseChat } from "../../src/streamwire/static/react.js";

/** Hooks by call order, like React; setters record whether they were given a function. */
function fakeReact() {
  const slots = [];
  const updates = [];
  let index = 0;
  const cleanups = [];
  const React = {
    useState(initial) {
      const i = index++;
      if (!(i in slots)) slots[i] = initial;
      const set = (update) => {
        updates.push({ slot: i, functional: typeof update === "function" });
        slots[i] = typeof update === "function" ? update(slots[i]) : update;
      };
      return [slots[i], set];
    },
    useRef(initial) {
      const i = index++;
      if (!(i in slots)) slots[i] = { current: initial };
      return slots[i];
    },
    useCallback(fn) {
      const i = index++;
      if (!(i in slots)) slots[i] = fn;
      return slots[i];
    },
    useEffect(effect) {
      const i = index++;
      if (!(i in slots)) {
        slots[i] = true;
        const cleanup = effect();
        if (cleanup) cleanups.push(cleanup);
      }
    },
  };
  return {
    React,
    updates,
    render(hook, options) {
      index = 0;
      return hook(options);
    },
    unmount() {
      for (const cleanup of cleanups) cleanup();
    },
  };
}

const sse = (chunks) =>
  chunks.map((c) => (c.type === "done" ? `event: done\ndata: ${JSON.stringify(c)}\n\n` : `data: ${JSON.stringify(c)}\n\n`)).join("");

function fetchReturning(text, calls = []) {
  return async (url, init) => {
    calls.push(JSON.parse(init.body));
    return new Response(text, { headers: { "content-type": "text/event-stream" } });
  };
}

describe("useChat", () => {
  test("streams into current, then moves the answer to messages; updates are functional", async () => {
    const harness = fakeReact();
    const useChat = createUseChat(harness.React);
    const calls = [];
    const chunks = [
      { type: "start", messageId: "m" },
      { type: "text-delta", delta: "Hel" },
      { type: "text-delta", delta: "lo" },
      { type: "structured-data", streamId: "draft", kind: "set", path: "title", value: "T" },
      { type: "tool-call-start", toolCallId: "c", tool: "w" },
      { type: "tool-call-end", toolCallId: "c", input: {} },
      { type: "tool-call-result", toolCallId: "c", tool: "w", content: 1 },
      { type: "progress", value: 1, total: 2 },
      { type: "done", finishReason: "stop" },
    ];
    const finished = [];
    const options = { fetch: fetchReturning(sse(chunks), calls), onFinish: (m) => finished.push(m) };
    let chat = harness.render(useChat, options);
    assert.equal(chat.status, "ready");
    await chat.send("hi");
    chat = harness.render(useChat, options);
    assert.equal(chat.current, null);
    assert.equal(chat.status, "ready");
    assert.deepEqual(chat.messages.map((m) => [m.role, m.content]), [["user", "hi"], ["assistant", "Hello"]]);
    const answer = chat.messages[1];
    assert.deepEqual(answer.structured.draft.data, { title: "T" });
    assert.equal(answer.toolCalls[0].status, "done");
    assert.equal(answer.progress.value, 1);
    assert.equal(answer.finishReason, "stop");
    assert.equal(finished[0], answer);
    assert.deepEqual(calls[0], { messages: [{ role: "user", content: "hi" }] });
    assert.ok(harness.updates.length > 5);
    assert.ok(harness.updates.every((u) => u.functional), "every state update must be functional");

    // The next request sends the whole conversation.
    await chat.send("again");
    assert.deepEqual(calls[1].messages.map((m) => m.content), ["hi", "Hello", "again"]);
  });

  test("an error chunk sets error; retry drops the failed answer and asks again", async () => {
    const harness = fakeReact();
    const useChat = createUseChat(harness.React);
    const calls = [];
    const failing = sse([{ type: "error", message: "boom", code: "demo_error", retryable: true }, { type: "done", finishReason: "error" }]);
    const options = { fetch: fetchReturning(failing, calls) };
    let chat = harness.render(useChat, options);
    await chat.send("fail please");
    chat = harness.render(useChat, options);
    assert.equal(chat.status, "error");
    assert.equal(chat.error.message, "boom");
    assert.equal(chat.messages.at(-1).error.code, "demo_error");
    await chat.retry();
    chat = harness.render(useChat, options);
    assert.equal(chat.messages.length, 2);
    assert.deepEqual(calls[1].messages, [{ role: "user", content: "fail please" }]);
  });

  test("stop aborts the request and keeps the partial answer, marked stopped", async () => {
    const harness = fakeReact();
    const useChat = createUseChat(harness.React);
    const encoder = new TextEncoder();
    const slowFetch = async (_url, init) => {
      const body = new ReadableStream({
        start(controller) {
          controller.enqueue(encoder.encode(sse([{ type: "text-delta", delta: "part" }])));
          init.signal.addEventListener("abort", () => controller.error(new DOMException("aborted", "AbortError")));
        },
      });
      return new Response(body, { headers: { "content-type": "text/event-stream" } });
    };
    const options = { fetch: slowFetch };
    let chat = harness.render(useChat, options);
    const pending = chat.send("long");
    for (let i = 0; i < 100 && !harness.render(useChat, options).current?.content; i++) {
      await new Promise((r) => setTimeout(r, 5));
    }
    chat = harness.render(useChat, options);
    assert.equal(chat.current.content, "part");
    assert.equal(chat.status, "streaming");
    chat.stop();
    await pending;
    chat = harness.render(useChat, options);
    assert.equal(chat.current, null);
    assert.equal(chat.messages.at(-1).content, "part");
    assert.equal(chat.messages.at(-1).stopped, true);
    assert.equal(chat.status, "ready");
    harness.unmount();
  });
});
