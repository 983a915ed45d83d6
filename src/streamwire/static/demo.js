// The streamwire demo chat page: plain DOM, no framework, no build step.
//
// It POSTs the conversation to /api/chat and reads the native SSE stream with streamwire.js
// (or, with the EventSource transport, opens GET /api/chat/stream?q=...), and shows every chunk
// type as it arrives: text with a cursor, reasoning, tool calls, progress, a structured draft,
// errors with a retry button, and the connection state.

import { consumeStream, openEventSource, streamChat } from "./streamwire.js";

const $ = (/** @type {string} */ selector) => /** @type {HTMLElement} */ (document.querySelector(selector));

const els = {
  conversation: $("#conversation"),
  empty: $("#empty-state"),
  form: /** @type {HTMLFormElement} */ ($("#composer")),
  prompt: /** @type {HTMLTextAreaElement} */ ($("#prompt")),
  send: /** @type {HTMLButtonElement} */ ($("#send")),
  stop: /** @type {HTMLButtonElement} */ ($("#stop")),
  transport: /** @type {HTMLSelectElement} */ ($("#transport")),
  connection: $("#connection"),
  connectionText: $("#connection-text"),
  template: /** @type {HTMLTemplateElement} */ ($("#assistant-template")),
  draft: $("#draft"),
  draftEmpty: $("#draft-empty"),
  draftStatus: $("#draft-status"),
  draftTitle: $("#draft-title"),
  draftBody: $("#draft-body"),
  draftBullets: $("#draft-bullets"),
  draftJSON: $("#draft-json"),
  stats: {
    ttft: $("#stat-ttft"),
    duration: $("#stat-duration"),
    tokens: $("#stat-tokens"),
    chunks: $("#stat-chunks"),
    finish: $("#stat-finish"),
  },
};

/** @type {{role: string, content: string}[]} the conversation sent with each request */
const history = [];
/** @type {null | (() => void)} stops the stream in flight */
let stopCurrent = null;

const CONNECTION_TEXT = {
  idle: "Ready",
  connecting: "Connecting…",
  streaming: "Streaming",
  done: "Done",
  stopped: "Stopped",
  error: "Error",
  offline: "Offline",
};

/** @param {keyof typeof CONNECTION_TEXT} state */
function setConnection(state) {
  els.connection.dataset.state = state;
  els.connectionText.textContent = CONNECTION_TEXT[state];
}

function setBusy(/** @type {boolean} */ busy) {
  els.send.disabled = busy;
  els.stop.disabled = !busy;
  document.body.dataset.busy = String(busy);
}

/** Keep the conversation scrolled to the end, unless the person scrolled up to read. */
function follow(/** @type {() => void} */ update) {
  const list = els.conversation;
  const atEnd = list.scrollHeight - list.scrollTop - list.clientHeight < 80;
  update();
  if (atEnd) list.scrollTop = list.scrollHeight;
}

function addUserMessage(/** @type {string} */ text) {
  els.empty.hidden = true;
  const item = document.createElement("li");
  item.className = "message user";
  const bubble = document.createElement("div");
  bubble.className = "bubble";
  const p = document.createElement("p");
  p.className = "user-text";
  p.textContent = text;
  bubble.append(p);
  item.append(bubble);
  follow(() => els.conversation.append(item));
}

/** @param {number} ms */
const seconds = (ms) => `${(ms / 1000).toFixed(2)} s`;

/** An assistant message being streamed: its element and the ways to update it. */
function createAssistantView() {
  const fragment = /** @type {DocumentFragment} */ (els.template.content.cloneNode(true));
  const item = /** @type {HTMLLIElement} */ (fragment.querySelector(".message"));
  const q = (/** @type {string} */ s) => /** @type {HTMLElement} */ (item.querySelector(s));
  const parts = {
    replyText: q(".reply-text"),
    reply: q(".reply"),
    reasoning: /** @type {HTMLDetailsElement} */ (q(".reasoning")),
    reasoningText: q(".reasoning-text"),
    progressBlock: q(".progress-block"),
    progressBar: /** @type {HTMLProgressElement} */ (q(".progress-bar")),
    progressMessage: q(".progress-message"),
    progressCount: q(".progress-count"),
    tools: q(".tools"),
    errorBox: q(".error-box"),
    errorMessage: q(".error-message"),
    errorCode: q(".error-code"),
    retry: /** @type {HTMLButtonElement} */ (q(".retry")),
    meta: q(".meta"),
  };
  item.dataset.state = "connecting";
  follow(() => els.conversation.append(item));

  /** @type {Map<string, HTMLLIElement>} */
  const tools = new Map();

  return {
    item,
    parts,
    /** @param {string} state */
    setState(state) {
      item.dataset.state = state;
      parts.reply.setAttribute("aria-busy", String(state === "streaming" || state === "connecting"));
    },
    /** @param {string} text */
    setText(text) {
      follow(() => {
        parts.replyText.textContent = text;
      });
    },
    /** @param {string} text */
    setReasoning(text) {
      parts.reasoning.hidden = false;
      if (!parts.reasoningText.textContent) parts.reasoning.open = true;
      parts.reasoningText.textContent = text;
    },
    /** @param {import("./streamwire").ProgressChunk} chunk */
    setProgress(chunk) {
      parts.progressBlock.hidden = false;
      parts.progressMessage.textContent = chunk.message ?? "Working…";
      if (chunk.total) {
        parts.progressBar.max = chunk.total;
        parts.progressBar.value = chunk.value;
        parts.progressCount.textContent = `${chunk.value} / ${chunk.total}`;
      } else {
        parts.progressBar.removeAttribute("value"); // indeterminate
        parts.progressCount.textContent = String(chunk.value);
      }
      parts.progressBar.setAttribute("aria-label", parts.progressMessage.textContent);
    },
    /** @param {import("./streamwire").ToolCallState} call */
    setTool(call) {
      let li = tools.get(call.toolCallId);
      if (!li) {
        li = document.createElement("li");
        li.className = "tool";
        li.innerHTML =
          '<div class="tool-head"><span class="tool-kind">tool call</span><code class="tool-name"></code>' +
          '<span class="tool-status"></span></div><pre class="tool-input"></pre><pre class="tool-result" hidden></pre>';
        tools.set(call.toolCallId, li);
        parts.tools.hidden = false;
        follow(() => parts.tools.append(/** @type {HTMLLIElement} */ (li)));
      }
      const get = (/** @type {string} */ s) => /** @type {HTMLElement} */ (li?.querySelector(s));
      li.dataset.status = call.status;
      get(".tool-name").textContent = call.tool;
      get(".tool-status").textContent =
        call.status === "streaming" ? "writing input…" : call.status === "called" ? "running…" : call.isError ? "failed" : "done";
      get(".tool-input").textContent =
        call.input === undefined ? call.inputText : `input: ${JSON.stringify(call.input)}`;
      if (call.result !== undefined) {
        const result = get(".tool-result");
        result.hidden = false;
        result.textContent = `result: ${JSON.stringify(call.result, null, 1)}`;
      }
    },
    /** @param {{message: string, code: string, retryable: boolean}} error @param {() => void} retry */
    showError(error, retry) {
      parts.errorBox.hidden = false;
      parts.errorMessage.textContent = error.message;
      parts.errorCode.textContent = `code: ${error.code}${error.retryable ? " · retryable" : ""}`;
      parts.retry.onclick = retry;
    },
    /** @param {string} html */
    setMeta(html) {
      parts.meta.innerHTML = html;
    },
  };
}

/** @param {import("./streamwire").StructuredState} state */
function renderDraft(state) {
  const data = /** @type {{title?: unknown, body?: unknown, bullets?: unknown}} */ (
    state.data && typeof state.data === "object" && !Array.isArray(state.data) ? state.data : {}
  );
  els.draftEmpty.hidden = true;
  els.draft.hidden = false;
  els.draft.setAttribute("aria-busy", String(state.status !== "done"));
  els.draftStatus.dataset.state = state.status;
  els.draftStatus.textContent = state.status === "done" ? "complete" : "filling in…";
  els.draftTitle.textContent = typeof data.title === "string" ? data.title : "";
  els.draftBody.textContent = typeof data.body === "string" ? data.body : "";
  const bullets = Array.isArray(data.bullets) ? data.bullets : [];
  const list = els.draftBullets;
  while (list.children.length > bullets.length) list.lastElementChild?.remove();
  bullets.forEach((bullet, i) => {
    let li = list.children[i];
    if (!li) {
      li = document.createElement("li");
      list.append(li);
    }
    const text = typeof bullet === "string" ? bullet : JSON.stringify(bullet);
    if (li.textContent !== text) li.textContent = text;
  });
  els.draftJSON.textContent = JSON.stringify(state.data, null, 2);
}

function resetDraft() {
  els.draft.hidden = true;
  els.draftEmpty.hidden = false;
  els.draftStatus.dataset.state = "empty";
  els.draftStatus.textContent = "waiting";
  els.draftTitle.textContent = "";
  els.draftBody.textContent = "";
  els.draftBullets.replaceChildren();
  els.draftJSON.textContent = "";
}

/** @param {string} text */
const escapeHTML = (text) =>
  text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** Prompts that ask for an email draft get the `email_draft` structured-output schema. */
const DRAFT_PROMPT = /\b(draft|e-?mail)/i;

/**
 * Stream one answer to the conversation in `history` (whose last message is the user's).
 * @param {string} prompt the last user message (the EventSource route takes only it)
 */
async function streamAnswer(prompt) {
  const view = createAssistantView();
  // Asking for a draft runs the real structured-output path: the server asks the model for the
  // email_draft JSON schema and its extractor turns the streamed JSON into structured chunks.
  const schema = DRAFT_PROMPT.test(prompt) ? "email_draft" : null;
  setBusy(true);
  setConnection("connecting");
  const started = performance.now();
  /** @type {number | null} */
  let firstContent = null;
  let chunks = 0;
  let stopped = false;
  /** @type {import("./streamwire").StreamResult | null} */
  let result = null;
  /** @type {{message: string, code: string, retryable: boolean} | null} */
  let failure = null;
  let sawDraft = false;

  /** @type {import("./streamwire").ConsumeHandlers} */
  const handlers = {
    onChunk(chunk, soFar) {
      chunks++;
      if (firstContent === null && chunk.type !== "start") {
        firstContent = performance.now() - started;
        setConnection("streaming");
        view.setState("streaming");
      }
      if (chunk.type === "reasoning-delta") view.setReasoning(soFar.reasoning + chunk.delta);
      else if (chunk.type === "progress") view.setProgress(chunk);
      else if (chunk.type.startsWith("tool-call")) {
        // onChunk runs before the chunk is folded into the result: render the tool calls
        // right after, from the folded result.
        queueMicrotask(() => soFar.toolCalls.forEach((call) => view.setTool(call)));
      }
      return true;
    },
    onText(_delta, text) {
      view.setText(text);
    },
    onStructured(state) {
      if (!sawDraft) {
        sawDraft = true;
        resetDraft();
        if (schema !== null) view.setText("The draft is in the Structured draft panel.");
      }
      renderDraft(state);
    },
    onError(chunk) {
      failure = chunk;
    },
  };

  try {
    if (els.transport.value === "eventsource") {
      const query = schema === null ? "" : `&schema=${schema}`;
      const url = `/api/chat/stream?q=${encodeURIComponent(prompt)}${query}`;
      const handle = openEventSource(url, { ...handlers });
      stopCurrent = () => {
        stopped = true;
        handle.close();
      };
      result = await handle.done;
      if (stopped) failure = null;
    } else {
      const controller = new AbortController();
      stopCurrent = () => {
        stopped = true;
        controller.abort();
      };
      result = await consumeStream(
        streamChat({
          endpoint: "/api/chat",
          messages: history,
          signal: controller.signal,
          body: schema === null ? {} : { schema },
        }),
        handlers,
      );
    }
  } catch (error) {
    const e = /** @type {Error} */ (error);
    if (!(stopped || e?.name === "AbortError")) {
      failure = {
        message: e?.message ?? String(error),
        code: e?.name ?? "Error",
        retryable: true,
      };
    }
  } finally {
    stopCurrent = null;
  }

  // Let queued tool renders run before the final state.
  await Promise.resolve();
  result?.toolCalls.forEach((call) => view.setTool(call));
  const elapsed = performance.now() - started;
  const text = result?.text ?? "";
  const tags = [];
  if (stopped) {
    view.setState("stopped");
    setConnection("stopped");
    tags.push('<span class="tag stopped">Stopped</span>');
  } else if (failure) {
    view.setState("error");
    setConnection("error");
    const problem = failure;
    view.showError(problem, () => retry(view.item, prompt));
  } else {
    view.setState("done");
    setConnection("done");
  }
  if (text) history.push({ role: "assistant", content: text });
  if (result?.usage) tags.push(`${result.usage.outputTokens} tokens`);
  tags.push(seconds(elapsed));
  if (result?.finishReason) tags.push(`finish: ${escapeHTML(result.finishReason)}`);
  view.setMeta(tags.join(" · "));
  if (view.parts.reasoning.open && !stopped) view.parts.reasoning.open = false;

  els.stats.ttft.textContent = firstContent === null ? "–" : `${Math.round(firstContent)} ms`;
  els.stats.duration.textContent = seconds(elapsed);
  els.stats.tokens.textContent = result?.usage ? String(result.usage.outputTokens) : "–";
  els.stats.chunks.textContent = String(chunks);
  els.stats.finish.textContent = stopped ? "stopped" : (result?.finishReason ?? (failure ? "error" : "–"));
  setBusy(false);
  els.prompt.focus();
}

/** Remove a failed answer and ask again with the same conversation. */
function retry(/** @type {HTMLElement} */ item, /** @type {string} */ prompt) {
  if (stopCurrent) return;
  item.remove();
  streamAnswer(prompt);
}

/** @param {string} raw */
function send(raw) {
  const prompt = raw.trim();
  if (!prompt || stopCurrent || els.send.disabled) return;
  els.prompt.value = "";
  addUserMessage(prompt);
  history.push({ role: "user", content: prompt });
  streamAnswer(prompt);
}

els.form.addEventListener("submit", (event) => {
  event.preventDefault();
  send(els.prompt.value);
});

els.prompt.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    send(els.prompt.value);
  }
});

document.addEventListener("keydown", (event) => {
  if (event.key === "Escape" && stopCurrent) stopCurrent();
});

els.stop.addEventListener("click", () => stopCurrent?.());

for (const chip of document.querySelectorAll(".chip")) {
  chip.addEventListener("click", () => send(/** @type {HTMLElement} */ (chip).dataset.prompt ?? ""));
}

window.addEventListener("offline", () => setConnection("offline"));
window.addEventListener("online", () => setConnection(stopCurrent ? "streaming" : "idle"));
if (!navigator.onLine) setConnection("offline");
document.body.dataset.ready = "true";
