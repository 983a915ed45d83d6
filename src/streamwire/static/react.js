// react.js: a small useChat-style React hook on top of streamwire.js (optional, no build step).
//
// React is a parameter, so this file imports nothing but streamwire.js and works with any copy
// of React (a bundler's, an import map's, a CDN's):
//
//   import * as React from "react";
//   import { createUseChat } from "./react.js";
//   const useChat = createUseChat(React);
//
//   function Chat() {
//     const { messages, current, status, error, send, stop, retry } = useChat({ endpoint: "/api/chat" });
//     ...
//   }
//
// Finished messages (`messages`) are kept apart from the one in flight (`current`), so a token
// re-renders only what shows the reply being written, and every state update is functional
// (setX(previous => next)): updates from a stream that arrive in the same tick never overwrite
// one another.

import { StructuredAccumulator, streamChat } from "./streamwire.js";

let nextId = 0;
const newId = (/** @type {string} */ prefix) => `${prefix}-${Date.now().toString(36)}-${++nextId}`;

/**
 * The in-flight assistant message, empty.
 * @param {string} id
 * @returns {import("./react").ChatUIMessage}
 */
function emptyAssistant(id) {
  return {
    id,
    role: "assistant",
    content: "",
    reasoning: "",
    structured: {},
    toolCalls: [],
    progress: null,
    usage: null,
    error: null,
    finishReason: null,
    stopped: false,
  };
}

/**
 * The message after one chunk (pure: returns a new message, or the same one when nothing changed).
 * @param {import("./react").ChatUIMessage} message
 * @param {import("./streamwire").Chunk} chunk
 * @param {StructuredAccumulator} structured
 * @returns {import("./react").ChatUIMessage}
 */
export function applyChunkToMessage(message, chunk, structured) {
  switch (chunk.type) {
    case "text-delta":
      return { ...message, content: message.content + chunk.delta };
    case "reasoning-delta":
      return { ...message, reasoning: message.reasoning + chunk.delta };
    case "structured-data":
      return { ...message, structured: { ...message.structured, [chunk.streamId]: structured.apply(chunk) } };
    case "tool-call-start":
      return {
        ...message,
        toolCalls: [
          ...message.toolCalls,
          { toolCallId: chunk.toolCallId, tool: chunk.tool, inputText: "", input: undefined, status: "streaming", result: undefined, isError: false },
        ],
      };
    case "tool-call-delta":
    case "tool-call-end":
    case "tool-call-result": {
      const known = message.toolCalls.some((call) => call.toolCallId === chunk.toolCallId);
      const calls = known
        ? message.toolCalls
        : [
            ...message.toolCalls,
            { toolCallId: chunk.toolCallId, tool: "tool" in chunk ? chunk.tool : "", inputText: "", input: undefined, status: "streaming", result: undefined, isError: false },
          ];
      return {
        ...message,
        toolCalls: calls.map((call) => {
          if (call.toolCallId !== chunk.toolCallId) return call;
          if (chunk.type === "tool-call-delta") return { ...call, inputText: call.inputText + chunk.inputDelta };
          if (chunk.type === "tool-call-end") return { ...call, input: chunk.input, status: "called" };
          return { ...call, result: chunk.content, isError: chunk.isError ?? false, status: "done" };
        }),
      };
    }
    case "progress":
      return { ...message, progress: chunk };
    case "usage":
      return { ...message, usage: chunk };
    case "error":
      return { ...message, error: chunk };
    case "done":
      return { ...message, finishReason: chunk.finishReason ?? null };
    default:
      return message;
  }
}

/**
 * Make the useChat hook for a given React.
 *
 * @param {{useState: Function, useRef: Function, useCallback: Function, useEffect: Function}} React
 * @returns {(options?: import("./react").UseChatOptions) => import("./react").UseChatResult}
 */
export function createUseChat(React) {
  const { useState, useRef, useCallback, useEffect } = React;

  return function useChat(options = {}) {
    const { endpoint = "/api/chat", initialMessages = [], headers, body, fetch, onFinish } = options;
    const [messages, setMessages] = useState(initialMessages);
    const [current, setCurrent] = useState(null);
    const [status, setStatus] = useState("ready");
    const [error, setError] = useState(null);
    const controllerRef = useRef(null);
    // The conversation as the next request must send it (state may not have re-rendered yet).
    const historyRef = useRef(initialMessages);
    const optionsRef = useRef(options);
    optionsRef.current = { endpoint, headers, body, fetch, onFinish };

    useEffect(() => () => controllerRef.current?.abort(), []);

    const run = useCallback(async (/** @type {any[]} */ history) => {
      controllerRef.current?.abort();
      const controller = new AbortController();
      controllerRef.current = controller;
      const { endpoint: url, headers: extraHeaders, body: extraBody, fetch: fetchImpl, onFinish: finished } = optionsRef.current;
      const structured = new StructuredAccumulator();
      let message = emptyAssistant(newId("assistant"));
      setError(() => null);
      setStatus(() => "submitted");
      setCurrent(() => message);
      try {
        for await (const chunk of streamChat({
          endpoint: url,
          messages: history.map(({ role, content }) => ({ role, content })),
          signal: controller.signal,
          headers: extraHeaders,
          body: extraBody,
          fetch: fetchImpl,
        })) {
          message = applyChunkToMessage(message, chunk, structured);
          if (chunk.type === "text-delta") {
            // Functional update: only the delta is applied to whatever the state holds now.
            const delta = chunk.delta;
            setCurrent((previous) => (previous ? { ...previous, content: previous.content + delta } : previous));
          } else {
            const snapshot = message;
            setCurrent((previous) => (previous ? { ...snapshot, content: previous.content } : previous));
          }
          if (chunk.type === "text-delta") setStatus((s) => (s === "streaming" ? s : "streaming"));
          if (chunk.type === "error") setError(() => chunk);
        }
      } catch (caught) {
        const aborted = controller.signal.aborted || /** @type {Error} */ (caught)?.name === "AbortError";
        if (aborted) message = { ...message, stopped: true };
        else {
          const problem = { type: "error", message: String(/** @type {Error} */ (caught)?.message ?? caught), code: "stream_failed", retryable: true };
          message = { ...message, error: /** @type {any} */ (problem) };
          setError(() => problem);
        }
      }
      if (controllerRef.current === controller) controllerRef.current = null;
      const done = message;
      historyRef.current = [...historyRef.current, done];
      setMessages((previous) => [...previous, done]);
      setCurrent(() => null);
      setStatus(() => (done.error ? "error" : "ready"));
      finished?.(done);
    }, []);

    const send = useCallback(
      (/** @type {string} */ text) => {
        const user = { id: newId("user"), role: "user", content: text };
        historyRef.current = [...historyRef.current, user];
        setMessages((previous) => [...previous, user]);
        return run(historyRef.current);
      },
      [run],
    );

    const stop = useCallback(() => controllerRef.current?.abort(), []);

    const retry = useCallback(() => {
      // Drop the last answer (failed or stopped) and ask again.
      const history = historyRef.current;
      const last = history.at(-1);
      if (!last) return Promise.resolve();
      const trimmed = last.role === "assistant" ? history.slice(0, -1) : history;
      historyRef.current = trimmed;
      setMessages((previous) => (previous.at(-1)?.role === "assistant" ? previous.slice(0, -1) : previous));
      return run(trimmed);
    }, [run]);

    return { messages, current, status, error, send, stop, retry, setMessages };
  };
}
