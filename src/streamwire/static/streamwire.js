// streamwire.js: the browser (and Node) client of the streamwire protocol v1.
//
// One dependency-free ES module. Copy it into your app or import it from a `streamwire serve`
// server at `/streamwire.js`. Types: `streamwire.d.ts` beside this file.
//
// What is here:
//   SSEDecoder            the WHATWG Server-Sent Events parser, incremental: feed(text) / close()
//   decodeChunk           one chunk's JSON -> a checked chunk object (camelCase, as on the wire)
//   readStream            a fetch body (ReadableStream of bytes) -> async iterator of chunks
//   consumeStream         chunks -> callbacks (onChunk, onText, onStructured, onError, onDone)
//   streamChat            POST a conversation and read the streamed answer
//   applyStructuredChunk  the structured-data reducer (pure), and StructuredAccumulator
//   openEventSource       EventSource that closes on the `done` event instead of reconnecting
//
// The SSE decoder follows the WHATWG HTML Standard, 9.2 "Server-sent events": 9.2.5 "Parsing an
// event stream" and 9.2.6 "Interpreting an event stream"; rules are cited as [spec: ...] beside
// the lines that implement them. It behaves exactly like the Python decoder
// (streamwire.protocol.sse.SSEDecoder) and both are tested against tests/vectors/sse.json. The
// structured reducer matches streamwire.protocol.structured and tests/vectors/structured.json.
//
// Deliberate choices, explained here because they may surprise:
// * The decoder takes text, not bytes: readStream decodes UTF-8 with a TextDecoder in stream mode
//   (a character split across network reads is joined; invalid bytes become U+FFFD) and keeps a
//   leading BOM in the text so that the decoder strips exactly one, as the Python decoder does.
// * `maxEventBytes` bounds one event (its data lines since the last blank line, plus an
//   unterminated line), counted in UTF-8 bytes of the decoded text (the wire's bytes whenever the
//   stream is valid UTF-8). Crossing it throws SSEProtocolError; the decoder is then failed for
//   good. The standard has no limit; a hostile stream could otherwise grow memory without bound.

/** 4 MiB: far above any single chunk, small enough that a hostile stream cannot exhaust memory. */
export const DEFAULT_MAX_EVENT_BYTES = 4 * 1024 * 1024;

/** The chunk types of the streamwire protocol v1, by wire `type`. */
export const CHUNK_TYPES = Object.freeze([
  "start",
  "text-delta",
  "reasoning-delta",
  "structured-data",
  "tool-call-start",
  "tool-call-delta",
  "tool-call-end",
  "tool-call-result",
  "interrupt",
  "progress",
  "usage",
  "error",
  "done",
]);

/** The wire dialects readStream understands. */
export const DIALECT_NAMES = Object.freeze(["native", "openai", "ai-sdk"]);

// ---------------------------------------------------------------------------------------------
// Errors: one root; each error carries its data as properties and builds its message from them.

/** The root of every error streamwire throws on purpose. */
export class StreamwireError extends Error {
  constructor(message) {
    super(message);
    this.name = new.target.name;
  }
}

/** A bad argument, thrown at once. `field` names it. */
export class InvalidArgumentError extends StreamwireError {
  /** @param {string} field @param {string} reason */
  constructor(field, reason) {
    super(`${field} ${reason}`);
    this.field = field;
    this.reason = reason;
  }
}

/** The other side sent something that breaks the protocol. */
export class PeerProtocolError extends StreamwireError {}

/** A byte stream that cannot be decoded within our limits (only the size limit, in practice). */
export class SSEProtocolError extends PeerProtocolError {
  /** @param {string} reason @param {{offset: number, limit?: number | null}} info */
  constructor(reason, { offset, limit = null }) {
    super(`${reason} (at byte offset ${offset})`);
    this.reason = reason;
    this.offset = offset;
    this.limit = limit;
  }
}

/** A chunk that is not valid: bad JSON, an unknown type, a missing or mistyped field. */
export class ChunkDecodeError extends PeerProtocolError {
  /** @param {string} reason @param {{field?: string, data?: string}} [info] */
  constructor(reason, { field = "", data = "" } = {}) {
    const shown = data.slice(0, 200);
    const where = field ? ` at '${field}'` : "";
    super(`invalid chunk${where}: ${reason}${data ? ` in ${JSON.stringify(shown)}` : ""}`);
    this.reason = reason;
    this.field = field;
    this.data = shown;
  }
}

/** An event that is not what its dialect allows; `index` is the event's number in the stream. */
export class MalformedStreamError extends PeerProtocolError {
  /** @param {string} reason @param {{event?: string, index?: number | null}} [info] */
  constructor(reason, { event = "", index = null } = {}) {
    const shown = event.slice(0, 200);
    const where = index === null ? "" : ` (event ${index})`;
    super(`${reason}${where}${event ? `: ${JSON.stringify(shown)}` : ""}`);
    this.reason = reason;
    this.event = shown;
    this.index = index;
  }
}

/** A structured-data chunk that cannot be applied; `path` is the dotted path it addressed. */
export class StructuredStreamError extends PeerProtocolError {
  /** @param {string} reason @param {{path?: string}} [info] */
  constructor(reason, { path = "" } = {}) {
    super(path ? `at '${path}': ${reason}` : reason);
    this.reason = reason;
    this.path = path;
  }
}

/** The stream ended before its terminator (`done` / `[DONE]`); `received` chunks were read. */
export class TruncatedStreamError extends PeerProtocolError {
  /** @param {string} [reason] @param {{received?: number}} [info] */
  constructor(reason = "stream ended before its terminator", { received = 0 } = {}) {
    super(`${reason} (after ${received} chunks)`);
    this.reason = reason;
    this.received = received;
  }
}

// ---------------------------------------------------------------------------------------------
// SSE decoder

/**
 * The number of bytes `text` takes in UTF-8 (a lone surrogate counts 3: it is encoded as U+FFFD).
 * @param {string} text
 */
export function utf8Length(text) {
  let bytes = 0;
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < n) {
      const d = text.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        bytes += 4;
        i++;
      } else bytes += 3;
    } else bytes += 3;
  }
  return bytes;
}

const LINE_END = /\r\n|\r|\n/g;
const DIGITS = /^[0-9]+$/;

/**
 * An incremental Server-Sent Events decoder (WHATWG rules), usable alone.
 *
 * Feed it text as it arrives; it returns the events that text completes. The result does not
 * depend on how the stream is split into feeds.
 *
 * @example
 *   const decoder = new SSEDecoder();
 *   decoder.feed("data: hel");   // []
 *   decoder.feed("lo\n\n");      // [{data: "hello", event: "message", id: null}]
 */
export class SSEDecoder {
  /**
   * @param {{maxEventBytes?: number}} [options] maxEventBytes: the most bytes one event may
   *   span on the wire, from the start of its first line (comments included) to the end of its
   *   current line, the line ends between them included.
   * @throws {InvalidArgumentError} maxEventBytes is not a positive integer.
   */
  constructor({ maxEventBytes = DEFAULT_MAX_EVENT_BYTES } = {}) {
    if (!Number.isInteger(maxEventBytes)) {
      throw new InvalidArgumentError("maxEventBytes", `must be an integer, not ${describe(maxEventBytes)}`);
    }
    if (maxEventBytes <= 0) {
      throw new InvalidArgumentError("maxEventBytes", `must be positive (got ${maxEventBytes})`);
    }
    /** The most bytes one event may span. */
    this.maxEventBytes = maxEventBytes;
    /**
     * The last event ID string ("" when none or after a reset by an empty id), updated when an
     * event is dispatched [spec: 9.2.6 dispatch step 1].
     */
    this.lastEventId = "";
    /** The last valid reconnection time in milliseconds, or null. @type {number | null} */
    this.retry = null;
    /** @type {SSEProtocolError | null} */
    this._failed = null;
    this._reset();
  }

  _reset() {
    // The state of one stream [spec: 9.2.6: the buffers start empty; the last event ID buffer
    // starts from the last event ID string, as browsers do on a reconnect].
    this._idBuffer = this.lastEventId;
    /** @type {string[]} */
    this._data = []; // the data buffer, one item per data line
    this._eventType = "";
    this._buffer = ""; // an unterminated line
    this._held = 0; // bytes of the current event's complete lines, line ends included
    this._offset = 0; // stream offset (bytes) of the first character of the buffer
    this._pendingCR = false; // the last line ended with CR: a leading LF is its CRLF
    this._started = false; // the BOM check is done
  }

  /**
   * Decode more of the stream.
   * @param {string} text the next text, split anywhere (inside a line or between CR and LF).
   * @returns {import("./streamwire").ServerSentEvent[]} the events it completes, in order.
   * @throws {SSEProtocolError} an event grew past maxEventBytes; `offset` is the stream offset
   *   of the first byte beyond the limit. The decoder is failed for good and throws the same
   *   error on every later call.
   * @throws {InvalidArgumentError} text is not a string.
   */
  feed(text) {
    if (this._failed) throw this._failed;
    if (typeof text !== "string") {
      throw new InvalidArgumentError("text", `must be a string, not ${describe(text)}`);
    }
    if (!text) return [];
    if (this._pendingCR) {
      this._pendingCR = false;
      if (text.charCodeAt(0) === 10) {
        // [spec: 9.2.5] CRLF is one line end, even when split across two feeds.
        this._offset += 1;
        if (this._held) this._held += 1;
        text = text.slice(1);
        if (!text) return [];
      }
    }
    let buf = this._buffer ? this._buffer + text : text;
    if (!this._started) {
      this._started = true;
      if (buf.charCodeAt(0) === 0xfeff) {
        // [spec: 9.2.6] the UTF-8 decode algorithm strips one leading BOM; a later one is
        // content (it makes the field name unknown).
        buf = buf.slice(1);
        this._offset = 3;
      }
    }
    const limit = this.maxEventBytes;
    /** @type {import("./streamwire").ServerSentEvent[]} */
    const events = [];
    let start = 0;
    let position = this._offset;
    LINE_END.lastIndex = 0;
    for (let m = LINE_END.exec(buf); m !== null; m = LINE_END.exec(buf)) {
      const line = buf.slice(start, m.index);
      const size = (line ? utf8Length(line) : 0) + m[0].length;
      if (line) {
        if (this._held + size - m[0].length > limit) this._fail(position - this._held);
        this._held += size;
        this._line(line);
      } else {
        // [spec: 9.2.6] a blank line dispatches the event.
        this._held = 0;
        this._dispatch(events);
      }
      position += size;
      start = LINE_END.lastIndex;
    }
    const rest = start ? buf.slice(start) : buf;
    // A CR at the very end may be the first half of a CRLF: a LF starting the next feed is
    // then part of this line end, not a blank line.
    if (!rest && buf.charCodeAt(buf.length - 1) === 13) this._pendingCR = true;
    this._offset = position;
    this._buffer = rest;
    if (rest && this._held + utf8Length(rest) > limit) this._fail(position - this._held);
    return events;
  }

  /**
   * End the stream. An incomplete event is dropped [spec: 9.2.6, end of file]. The decoder may
   * be fed again afterwards as a new stream: the BOM rule applies again, lastEventId and retry
   * are kept, as on a reconnect.
   * @returns {never[]} always empty (the feed/close surface every protocol object shares).
   * @throws {SSEProtocolError} the decoder had failed; it stays failed.
   */
  close() {
    if (this._failed) throw this._failed;
    this._reset();
    return [];
  }

  /** @param {number} eventStart the stream offset where the event too large began */
  _fail(eventStart) {
    this._failed = new SSEProtocolError(
      `event larger than maxEventBytes (${this.maxEventBytes} bytes)`,
      { offset: eventStart + this.maxEventBytes, limit: this.maxEventBytes },
    );
    throw this._failed;
  }

  /** @param {import("./streamwire").ServerSentEvent[]} events */
  _dispatch(events) {
    // [spec: 9.2.6 dispatch step 1] the last event ID string takes the buffer's value; the
    // buffer is not reset.
    const id = (this.lastEventId = this._idBuffer);
    if (this._data.length) {
      events.push({
        // [spec: 9.2.6 dispatch step 3] joining the lines with LF is appending LF to each line
        // and removing exactly one trailing LF.
        data: this._data.length === 1 ? this._data[0] : this._data.join("\n"),
        // [spec: 9.2.6 dispatch steps 5-6] the type defaults to "message".
        event: this._eventType || "message",
        id: id || null,
      });
      this._data = [];
    }
    // [spec: 9.2.6 dispatch steps 2 and 7] an empty data buffer dispatches nothing, but the
    // event type buffer is reset all the same.
    this._eventType = "";
  }

  /** @param {string} line a non-empty line */
  _line(line) {
    const colon = line.indexOf(":");
    if (colon === 0) return; // [spec: 9.2.6] a line starting with a colon is a comment.
    let field;
    let value;
    if (colon < 0) {
      // [spec: 9.2.6] no colon: the whole line is the field name, the value is empty.
      field = line;
      value = "";
    } else {
      field = line.slice(0, colon);
      // [spec: 9.2.6] exactly one leading space is removed.
      value = line.charCodeAt(colon + 1) === 32 ? line.slice(colon + 2) : line.slice(colon + 1);
    }
    // [spec: 9.2.6] field names are compared literally (case-sensitively); unknown fields are
    // ignored.
    if (field === "data") {
      this._data.push(value);
    } else if (field === "event") {
      this._eventType = value;
    } else if (field === "id") {
      // [spec: 9.2.6] an id containing NUL is ignored; an empty id resets the buffer to "".
      if (!value.includes("\0")) this._idBuffer = value;
    } else if (field === "retry" && DIGITS.test(value)) {
      // [spec: 9.2.6] only a value of ASCII digits alone sets the reconnection time.
      this.retry = Number.parseInt(value, 10);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Chunks

/** @param {unknown} value */
function describe(value) {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "object") return "an object";
  if (typeof value === "string") return "a string";
  if (typeof value === "number") return Number.isInteger(value) ? "an integer" : "a number";
  if (typeof value === "boolean") return "a boolean";
  return typeof value;
}

/** @param {unknown} value */
function isObject(value) {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

// [name, expected, required]: expected is "string" | "boolean" | "integer" | "number" |
// "array" | "object" | "any". Optional fields also accept null (as the Python decoder does).
const FIELDS = {
  start: [
    ["messageId", "string", false],
    ["sessionId", "string", false],
  ],
  "text-delta": [
    ["delta", "string", true],
    ["id", "string", false],
  ],
  "reasoning-delta": [
    ["delta", "string", true],
    ["id", "string", false],
  ],
  "structured-data": [
    ["streamId", "string", true],
    ["kind", "string", true],
    ["path", "string", false],
    ["items", "array", false],
    ["delta", "string", false],
    ["dataType", "string", false],
  ],
  "tool-call-start": [
    ["toolCallId", "string", true],
    ["tool", "string", true],
  ],
  "tool-call-delta": [
    ["toolCallId", "string", true],
    ["inputDelta", "string", true],
  ],
  "tool-call-end": [
    ["toolCallId", "string", true],
    ["input", "any", true],
  ],
  "tool-call-result": [
    ["toolCallId", "string", true],
    ["tool", "string", true],
    ["content", "any", true],
    ["isError", "boolean", false],
  ],
  interrupt: [
    ["requestId", "string", true],
    ["resumeToken", "string", true],
    ["input", "object", true],
  ],
  progress: [
    ["value", "number", true],
    ["total", "number", false],
    ["message", "string", false],
  ],
  usage: [
    ["inputTokens", "integer", true],
    ["outputTokens", "integer", true],
  ],
  error: [
    ["message", "string", true],
    ["code", "string", true],
    ["retryable", "boolean", true],
  ],
  done: [["finishReason", "string", false]],
};

const STRUCTURED_KINDS = ["set", "append", "text-delta", "final"];
const INTERRUPT_KINDS = ["text", "choice", "multi-choice"];

/**
 * @param {unknown} value
 * @param {string} expected
 */
function hasType(value, expected) {
  switch (expected) {
    case "any":
      return true;
    case "array":
      return Array.isArray(value);
    case "object":
      return isObject(value);
    case "integer":
      return Number.isInteger(value);
    case "number":
      return typeof value === "number" && Number.isFinite(value);
    default:
      return typeof value === expected;
  }
}

/**
 * Check a parsed chunk object against the protocol; returns it unchanged.
 * @param {unknown} obj
 * @param {string} data the text it came from, for the error message
 */
function checkChunk(obj, data) {
  if (!isObject(obj)) {
    throw new ChunkDecodeError(`expected a JSON object, found ${describe(obj)}`, { data });
  }
  const record = /** @type {Record<string, unknown>} */ (obj);
  const type = record.type;
  if (type === undefined) {
    throw new ChunkDecodeError("missing required field 'type'", { field: "type", data });
  }
  if (typeof type !== "string" || !Object.hasOwn(FIELDS, type)) {
    throw new ChunkDecodeError(`unknown chunk type ${JSON.stringify(type)}`, {
      field: "type",
      data,
    });
  }
  for (const [name, expected, required] of FIELDS[/** @type {keyof typeof FIELDS} */ (type)]) {
    const value = record[name];
    if (value === undefined) {
      if (required) {
        throw new ChunkDecodeError(`missing required field '${name}'`, { field: name, data });
      }
      continue;
    }
    if (value === null && !required) continue;
    if (value === null && expected === "any") continue;
    if (!hasType(value, expected)) {
      const article = /^[aeiou]/.test(expected) ? "an" : "a";
      throw new ChunkDecodeError(`expected ${article} ${expected}, found ${describe(value)}`, {
        field: name,
        data,
      });
    }
  }
  if (type === "structured-data") checkStructured(record, data);
  if (type === "interrupt") checkInterruptInput(record, data);
  return record;
}

/** @param {Record<string, unknown>} c @param {string} data */
function checkStructured(c, data) {
  const kind = /** @type {string} */ (c.kind);
  if (!STRUCTURED_KINDS.includes(kind)) {
    throw new ChunkDecodeError(
      `expected one of ${STRUCTURED_KINDS.map((k) => `'${k}'`).join(", ")}, found ${JSON.stringify(kind)}`,
      { field: "kind", data },
    );
  }
  const need = (/** @type {string} */ name) => {
    throw new ChunkDecodeError(`\`${name}\` is required when kind is '${kind}'`, {
      field: name,
      data,
    });
  };
  if (kind === "final") {
    if (c.path !== undefined && c.path !== null) {
      throw new ChunkDecodeError("`path` must be absent when kind is 'final'", {
        field: "path",
        data,
      });
    }
    if (c.data === undefined) need("data");
    return;
  }
  if (c.path === undefined || c.path === null) need("path");
  if (kind === "set" && c.value === undefined) need("value");
  if (kind === "append" && (c.items === undefined || c.items === null)) need("items");
  if (kind === "text-delta" && (c.delta === undefined || c.delta === null)) need("delta");
}

/** @param {Record<string, unknown>} c @param {string} data */
function checkInterruptInput(c, data) {
  const input = /** @type {Record<string, unknown>} */ (c.input);
  if (input.kind === undefined) {
    throw new ChunkDecodeError("missing required field 'kind'", { field: "input.kind", data });
  }
  if (typeof input.kind !== "string" || !INTERRUPT_KINDS.includes(input.kind)) {
    throw new ChunkDecodeError(`unknown input kind ${JSON.stringify(input.kind)}`, {
      field: "input.kind",
      data,
    });
  }
  if (input.question != null && typeof input.question !== "string") {
    throw new ChunkDecodeError(`expected a string, found ${describe(input.question)}`, {
      field: "input.question",
      data,
    });
  }
  if (input.options != null) {
    if (!Array.isArray(input.options)) {
      throw new ChunkDecodeError(`expected an array, found ${describe(input.options)}`, {
        field: "input.options",
        data,
      });
    }
    input.options.forEach((option, i) => {
      if (typeof option !== "string") {
        throw new ChunkDecodeError(`expected a string, found ${describe(option)}`, {
          field: `input.options.${i}`,
          data,
        });
      }
    });
  }
}

/**
 * Decode one chunk from its JSON text (the data of one native event).
 *
 * Strict where it matters: an unknown `type`, a missing field or a field of the wrong type
 * throws; unknown keys are kept and ignored, so a newer server can add optional fields.
 *
 * @param {string} text
 * @returns {import("./streamwire").Chunk}
 * @throws {ChunkDecodeError} not JSON, unknown or missing type, missing or mistyped field;
 *   `field` names the bad field.
 */
export function decodeChunk(text) {
  let obj;
  try {
    obj = JSON.parse(text);
  } catch (error) {
    throw new ChunkDecodeError(`not valid JSON: ${/** @type {Error} */ (error).message}`, {
      data: text,
    });
  }
  return /** @type {any} */ (checkChunk(obj, text));
}

// ---------------------------------------------------------------------------------------------
// Dialects: SSE events -> chunks

class NativeDecoder {
  constructor() {
    this.finished = false;
    this._count = 0;
  }

  /** @param {{data: string, event: string}} event */
  decode(event) {
    const index = this._count++;
    let chunk;
    try {
      chunk = decodeChunk(event.data);
    } catch (error) {
      throw new MalformedStreamError(/** @type {Error} */ (error).message, {
        event: event.data,
        index,
      });
    }
    if (chunk.type === "done") this.finished = true;
    return [chunk];
  }
}

/** @param {string} data @param {number} index */
function parseJSONEvent(data, index) {
  let obj;
  try {
    obj = JSON.parse(data);
  } catch {
    throw new MalformedStreamError("event data is not JSON", { event: data, index });
  }
  if (!isObject(obj)) {
    throw new MalformedStreamError("event data is not a JSON object", { event: data, index });
  }
  return /** @type {Record<string, any>} */ (obj);
}

// OpenAI chat-completion chunks, ending with `data: [DONE]`.
class OpenAIDecoder {
  constructor() {
    this.finished = false;
    this._count = 0;
    this._started = false;
    /** @type {string | null} */
    this._finishReason = null;
    /** @type {Map<number, {id: string, args: string}>} tool calls by index */
    this._tools = new Map();
  }

  /** @param {{data: string}} event */
  decode(event) {
    const index = this._count++;
    /** @type {any[]} */
    const out = [];
    if (event.data.startsWith("[DONE]")) {
      this._endTools(out);
      this.finished = true;
      out.push({ type: "done", finishReason: this._finishReason });
      return out;
    }
    const obj = parseJSONEvent(event.data, index);
    if (isObject(obj.error)) {
      const error = obj.error;
      out.push({
        type: "error",
        message: typeof error.message === "string" ? error.message : "upstream error",
        code: String(error.code ?? error.type ?? "upstream_error"),
        retryable: false,
      });
      return out;
    }
    if (!this._started) {
      this._started = true;
      out.push(typeof obj.id === "string" ? { type: "start", messageId: obj.id } : { type: "start" });
    }
    const choice = Array.isArray(obj.choices) ? obj.choices[0] : undefined;
    const delta = isObject(choice?.delta) ? choice.delta : {};
    const reasoning = delta.reasoning_content ?? delta.reasoning;
    if (typeof reasoning === "string" && reasoning) {
      out.push({ type: "reasoning-delta", delta: reasoning });
    }
    if (typeof delta.content === "string" && delta.content) {
      out.push({ type: "text-delta", delta: delta.content });
    }
    for (const call of Array.isArray(delta.tool_calls) ? delta.tool_calls : []) {
      const key = Number.isInteger(call.index) ? call.index : 0;
      let tool = this._tools.get(key);
      if (!tool) {
        tool = { id: typeof call.id === "string" ? call.id : `call_${key}`, args: "" };
        this._tools.set(key, tool);
        out.push({ type: "tool-call-start", toolCallId: tool.id, tool: call.function?.name ?? "" });
      }
      const args = call.function?.arguments;
      if (typeof args === "string" && args) {
        tool.args += args;
        out.push({ type: "tool-call-delta", toolCallId: tool.id, inputDelta: args });
      }
    }
    if (typeof choice?.finish_reason === "string") {
      this._finishReason = choice.finish_reason;
      this._endTools(out);
    }
    if (isObject(obj.usage)) {
      out.push({
        type: "usage",
        inputTokens: obj.usage.prompt_tokens ?? 0,
        outputTokens: obj.usage.completion_tokens ?? 0,
      });
    }
    return out;
  }

  /** @param {any[]} out */
  _endTools(out) {
    for (const tool of this._tools.values()) {
      let input = null;
      try {
        input = tool.args ? JSON.parse(tool.args) : {};
      } catch {
        input = tool.args;
      }
      out.push({ type: "tool-call-end", toolCallId: tool.id, input });
    }
    this._tools.clear();
  }
}

// The Vercel AI SDK UI message stream v1, ending with `data: [DONE]`.
class AISDKDecoder {
  constructor() {
    this.finished = false;
    this._count = 0;
    /** @type {string | null} */
    this._finishReason = null;
    /** @type {Map<string, string>} tool names by call id */
    this._toolNames = new Map();
  }

  /** @param {{data: string}} event */
  decode(event) {
    const index = this._count++;
    if (event.data.startsWith("[DONE]")) {
      this.finished = true;
      return [{ type: "done", finishReason: this._finishReason }];
    }
    const part = parseJSONEvent(event.data, index);
    if (typeof part.type !== "string") {
      throw new MalformedStreamError("part has no type", { event: event.data, index });
    }
    switch (part.type) {
      case "start":
        return [typeof part.messageId === "string" ? { type: "start", messageId: part.messageId } : { type: "start" }];
      case "text-delta":
        return [{ type: "text-delta", delta: String(part.delta ?? ""), id: part.id ?? null }];
      case "reasoning-delta":
        return [{ type: "reasoning-delta", delta: String(part.delta ?? ""), id: part.id ?? null }];
      case "tool-input-start":
        this._toolNames.set(part.toolCallId, part.toolName);
        return [{ type: "tool-call-start", toolCallId: part.toolCallId, tool: part.toolName }];
      case "tool-input-delta":
        return [
          { type: "tool-call-delta", toolCallId: part.toolCallId, inputDelta: part.inputTextDelta },
        ];
      case "tool-input-available":
        this._toolNames.set(part.toolCallId, part.toolName);
        return [{ type: "tool-call-end", toolCallId: part.toolCallId, input: part.input ?? null }];
      case "tool-output-available":
      case "tool-output-error": {
        const isError = part.type === "tool-output-error";
        return [
          {
            type: "tool-call-result",
            toolCallId: part.toolCallId,
            tool: this._toolNames.get(part.toolCallId) ?? "",
            content: isError ? part.errorText : part.output,
            isError,
          },
        ];
      }
      case "error":
        return [
          // The code is not on the wire; the Python decoder names it the same way.
          { type: "error", message: String(part.errorText ?? "error"), code: "stream_error", retryable: false },
        ];
      case "finish":
        this._finishReason = typeof part.finishReason === "string" ? part.finishReason : "stop";
        return [];
      default:
        // text-start/-end, reasoning-start/-end, start-step, finish-step, message-metadata and
        // data-* parts carry nothing the chunk vocabulary needs.
        return [];
    }
  }
}

/**
 * A new chunk decoder for one stream in the named dialect.
 * @param {string} name
 * @throws {InvalidArgumentError} the dialect is unknown.
 */
function newChunkDecoder(name) {
  switch (name) {
    case "native":
      return new NativeDecoder();
    case "openai":
      return new OpenAIDecoder();
    case "ai-sdk":
      return new AISDKDecoder();
    default:
      throw new InvalidArgumentError(
        "dialect",
        `must be one of ${DIALECT_NAMES.join(", ")} (got ${JSON.stringify(name)})`,
      );
  }
}

/**
 * The dialect a response speaks, from its headers (native unless the AI SDK header is there).
 * @param {{get(name: string): string | null}} headers
 */
export function detectDialect(headers) {
  return headers.get("x-vercel-ai-ui-message-stream") ? "ai-sdk" : "native";
}

// ---------------------------------------------------------------------------------------------
// Reading a stream

/** @param {unknown} value */
function isResponse(value) {
  return isObject(value) && "body" in /** @type {object} */ (value) && "headers" in /** @type {object} */ (value) && "status" in /** @type {object} */ (value);
}

/**
 * A pull source over a ReadableStream or an (async) iterable of bytes or strings.
 * @param {any} body
 */
function byteSource(body) {
  if (body && typeof body.getReader === "function") {
    const reader = body.getReader();
    return {
      next: () => reader.read(),
      cancel: async () => {
        try {
          await reader.cancel();
        } catch {
          // already errored or closed: nothing left to cancel
        }
      },
    };
  }
  const make = body?.[Symbol.asyncIterator] ?? body?.[Symbol.iterator];
  if (typeof make === "function") {
    const it = make.call(body);
    return {
      next: () => it.next(),
      cancel: async () => {
        await it.return?.();
      },
    };
  }
  throw new InvalidArgumentError(
    "body",
    `must be a ReadableStream, a Response or an iterable of bytes (got ${describe(body)})`,
  );
}

/**
 * Read the Server-Sent Events of a byte stream (no chunk decoding: any SSE stream).
 *
 * The bytes are decoded as UTF-8 in stream mode (a character split across reads is joined,
 * invalid bytes become U+FFFD) and split into events by the WHATWG rules. An incomplete event at
 * the end is dropped. Leaving the loop early cancels the body.
 *
 * @param {any} body a ReadableStream of bytes, a fetch Response, or an (async) iterable of
 *   Uint8Array or string pieces.
 * @param {{maxEventBytes?: number}} [options]
 * @returns {AsyncGenerator<import("./streamwire").ServerSentEvent, void, undefined>}
 * @throws {SSEProtocolError} an event grew past maxEventBytes.
 */
export async function* readEvents(body, { maxEventBytes } = {}) {
  const input = isResponse(body) ? body.body : body;
  const events = new SSEDecoder({ maxEventBytes });
  const text = new TextDecoder("utf-8", { ignoreBOM: true });
  const source = byteSource(input);
  let exhausted = false;
  try {
    for (;;) {
      const { done, value } = await source.next();
      let piece;
      if (done) piece = text.decode();
      else if (typeof value === "string") piece = value;
      else piece = text.decode(value, { stream: true });
      yield* events.feed(piece);
      if (done) {
        exhausted = true;
        events.close();
        return;
      }
    }
  } finally {
    if (!exhausted) await source.cancel();
  }
}

/**
 * Read a stream of Server-Sent Events as chunks.
 *
 * Events are read by {@link readEvents} and turned into chunks by the dialect. Iteration stops
 * after the terminator (`done` / `[DONE]`). Leaving the loop early cancels the body, so the
 * server sees the disconnect and stops the model.
 *
 * @param {any} body a fetch Response, its body (a ReadableStream of bytes), or an async iterable
 *   of Uint8Array or string pieces.
 * @param {{dialect?: string, maxEventBytes?: number}} [options] dialect: "native" (default, or
 *   detected from a Response's headers), "openai" or "ai-sdk".
 * @returns {AsyncGenerator<import("./streamwire").Chunk, void, undefined>}
 * @throws {TruncatedStreamError} the input ended before the terminator.
 * @throws {MalformedStreamError} an event is not valid in the dialect.
 * @throws {SSEProtocolError} an event grew past maxEventBytes.
 * @throws {InvalidArgumentError} the dialect is unknown or body is not a stream.
 */
export async function* readStream(body, { dialect, maxEventBytes } = {}) {
  let name = dialect;
  let input = body;
  if (isResponse(body)) {
    name ??= detectDialect(body.headers);
    input = body.body;
    if (!input) throw new TruncatedStreamError("the response has no body", { received: 0 });
  }
  const chunks = newChunkDecoder(name ?? "native");
  let received = 0;
  for await (const event of readEvents(input, { maxEventBytes })) {
    for (const chunk of chunks.decode(event)) {
      received++;
      yield chunk;
    }
    if (chunks.finished) return;
  }
  throw new TruncatedStreamError(undefined, { received });
}

// ---------------------------------------------------------------------------------------------
// Structured reducer

/**
 * Python's repr() of a string, as the Python reducer's messages quote names: 'a' (or "a'b").
 * @param {string} text
 */
function pyRepr(text) {
  const quote = text.includes("'") && !text.includes('"') ? '"' : "'";
  const body = text.replaceAll("\\", "\\\\").replaceAll(quote, `\\${quote}`);
  return `${quote}${body}${quote}`;
}

/**
 * Split a dotted path into object keys (strings) and array indices (numbers).
 * @param {string} path e.g. "sections.2.body"
 * @returns {(string | number)[]} e.g. ["sections", 2, "body"]
 * @throws {StructuredStreamError} the path is empty, has an empty segment, or an index with a
 *   leading zero ("01" would name the same element as "1").
 */
export function splitPath(path) {
  if (!path) throw new StructuredStreamError("the path is empty", { path });
  return path.split(".").map((segment, number) => {
    if (!segment) throw new StructuredStreamError(`segment ${number} is empty`, { path });
    // ASCII digits only: "²" is a key, as in the Python reducer.
    if (!DIGITS.test(segment)) return segment;
    if (segment.length > 1 && segment[0] === "0") {
      throw new StructuredStreamError(
        `index ${pyRepr(segment)} (segment ${number}) has a leading zero`,
        { path },
      );
    }
    return Number(segment);
  });
}

/**
 * Name the JSON type of a value for an error message: "an array", "null"...
 * @param {unknown} value
 */
export function describeJSON(value) {
  if (value === null || value === undefined) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "object") return "an object";
  if (typeof value === "string") return "a string";
  if (typeof value === "boolean") return "a boolean";
  return "a number";
}

/** @param {(string | number)[]} segments @param {number} depth */
function whereAt(segments, depth) {
  return depth === 0 ? "the root" : pyRepr(segments.slice(0, depth).join("."));
}

const MISSING = Symbol("missing");

/**
 * The new root after applying a set / append / text-delta chunk (copy-on-write along the path).
 * @param {unknown} root the current root, or MISSING for the first chunk
 * @param {import("./streamwire").StructuredDataChunk} chunk
 * @param {string} path
 */
function updateRoot(root, chunk, path) {
  const segments = splitPath(path);
  // Walk down checking every container first, so an error leaves nothing half-done.
  /** @type {any[]} */
  const containers = [];
  /** @type {any} */
  let node = root;
  segments.forEach((segment, depth) => {
    if (node === MISSING) node = typeof segment === "number" ? [] : {};
    const where = whereAt(segments, depth);
    if (typeof segment === "number") {
      if (!Array.isArray(node)) {
        throw new StructuredStreamError(
          `${where} is indexed by ${segment}: expected an array, found ${describeJSON(node)}`,
          { path },
        );
      }
      if (segment > node.length) {
        throw new StructuredStreamError(
          `index ${segment} is beyond the end of the array at ${where} (length ${node.length}; ` +
            `the next element is index ${node.length})`,
          { path },
        );
      }
      containers.push(node);
      node = segment < node.length ? node[segment] : MISSING;
    } else {
      if (!isObject(node)) {
        throw new StructuredStreamError(
          `${where} has key ${pyRepr(segment)}: expected an object, found ${describeJSON(node)}`,
          { path },
        );
      }
      containers.push(node);
      node = Object.hasOwn(node, segment) ? node[segment] : MISSING;
    }
  });
  /** @type {unknown} */
  let leaf;
  if (chunk.kind === "set") {
    leaf = chunk.value;
  } else if (chunk.kind === "append") {
    if (node === MISSING) node = [];
    else if (!Array.isArray(node)) {
      throw new StructuredStreamError(`append: expected an array, found ${describeJSON(node)}`, {
        path,
      });
    }
    leaf = [...node, ...chunk.items];
  } else if (chunk.kind === "text-delta") {
    if (node === MISSING) node = "";
    else if (typeof node !== "string") {
      throw new StructuredStreamError(
        `text-delta: expected a string, found ${describeJSON(node)}`,
        { path },
      );
    }
    leaf = node + chunk.delta;
  } else {
    throw new StructuredStreamError(`unknown kind ${pyRepr(String(chunk.kind))}`, { path });
  }
  // Rebuild the spine bottom-up: shallow copies of the containers on the path only.
  for (let depth = segments.length - 1; depth >= 0; depth--) {
    const segment = segments[depth];
    const container = containers[depth];
    if (typeof segment === "number") {
      const copy = container.slice();
      copy[segment] = leaf; // segment === length appends
      leaf = copy;
    } else {
      leaf = { ...container, [segment]: leaf };
    }
  }
  return leaf;
}

/**
 * Apply one structured-data chunk to a structured object's state. Pure: returns a new state and
 * never mutates its inputs (the new state shares untouched containers with the old one, so treat
 * `data` as read-only).
 *
 * Paths are dotted; segments of ASCII digits index arrays, other segments are object keys;
 * missing containers are created (an array before an index, an object before a key). `set`
 * replaces the value at the path, `append` extends the array there, `text-delta` appends to the
 * string there, `final` replaces the whole object and marks the stream done. An index equal to
 * the array's length addresses the next element; beyond that is an error. `dataType` is kept
 * from the last chunk that carries one.
 *
 * @param {import("./streamwire").StructuredState | null | undefined} state null for the first chunk
 * @param {import("./streamwire").StructuredDataChunk} chunk
 * @returns {import("./streamwire").StructuredState}
 * @throws {StructuredStreamError} the chunk does not fit the state: an empty path or segment, an
 *   index with a leading zero or beyond the end, a container of the wrong shape on the path,
 *   append on a non-array, text-delta on a non-string, any chunk after final, another streamId.
 *   `path` is the chunk's path; the input state stays valid.
 */
export function applyStructuredChunk(state, chunk) {
  if (!isObject(chunk) || chunk.type !== "structured-data") {
    throw new StructuredStreamError(
      `expected a structured-data chunk, found ${isObject(chunk) ? JSON.stringify(chunk.type) : describeJSON(chunk)}`,
    );
  }
  const path = chunk.path ?? "";
  if (state) {
    if (chunk.streamId !== state.streamId) {
      throw new StructuredStreamError(
        `streamId ${pyRepr(chunk.streamId)} does not match the stream being rebuilt ` +
          `(${pyRepr(state.streamId)})`,
        { path },
      );
    }
    if (state.status === "done") {
      throw new StructuredStreamError(
        `a ${pyRepr(chunk.kind)} chunk arrived after 'final' (stream ${pyRepr(state.streamId)} ` +
          "is done)",
        { path },
      );
    }
  }
  const dataType = chunk.dataType ?? state?.dataType ?? null;
  if (chunk.kind === "final") {
    return { streamId: chunk.streamId, data: chunk.data, status: "done", dataType };
  }
  const root = state ? state.data : MISSING;
  return {
    streamId: chunk.streamId,
    data: updateRoot(root, chunk, path),
    status: "streaming",
    dataType,
  };
}

/**
 * Structured objects being rebuilt, keyed by streamId.
 *
 * @example
 *   const acc = new StructuredAccumulator();
 *   acc.apply(chunk);          // the new state of chunk.streamId
 *   acc.get("draft")?.data;    // the object so far
 */
export class StructuredAccumulator {
  constructor() {
    /** @type {Map<string, import("./streamwire").StructuredState>} */
    this._states = new Map();
  }

  /**
   * Apply a chunk to the object of its streamId.
   * @param {import("./streamwire").StructuredDataChunk} chunk
   * @returns {import("./streamwire").StructuredState} the new state
   * @throws {StructuredStreamError} as applyStructuredChunk; the stored state is unchanged.
   */
  apply(chunk) {
    const state = applyStructuredChunk(this._states.get(chunk.streamId) ?? null, chunk);
    this._states.set(chunk.streamId, state);
    return state;
  }

  /** @param {string} streamId */
  get(streamId) {
    return this._states.get(streamId);
  }

  /** Every stream's state, by streamId (a plain object, safe to render). */
  toJSON() {
    return Object.fromEntries(this._states);
  }

  get size() {
    return this._states.size;
  }

  [Symbol.iterator]() {
    return this._states.entries();
  }
}

// ---------------------------------------------------------------------------------------------
// Consuming chunks: one result object, callbacks

/**
 * The result of consuming a stream so far: the text, reasoning, structured objects, tool calls,
 * progress, usage, error and finish reason.
 * @returns {import("./streamwire").StreamResult}
 */
export function emptyResult() {
  return {
    messageId: null,
    text: "",
    reasoning: "",
    structured: {},
    toolCalls: [],
    progress: null,
    usage: null,
    error: null,
    interrupt: null,
    finishReason: null,
    done: false,
  };
}

/**
 * Fold one chunk into a result (mutating it; used by consumeStream and openEventSource).
 * @param {import("./streamwire").StreamResult} result
 * @param {StructuredAccumulator} structured
 * @param {import("./streamwire").Chunk} chunk
 * @returns {import("./streamwire").StructuredState | null} the new structured state, if any
 */
function fold(result, structured, chunk) {
  switch (chunk.type) {
    case "start":
      result.messageId = chunk.messageId ?? null;
      break;
    case "text-delta":
      result.text += chunk.delta;
      break;
    case "reasoning-delta":
      result.reasoning += chunk.delta;
      break;
    case "structured-data": {
      const state = structured.apply(chunk);
      result.structured = { ...result.structured, [chunk.streamId]: state };
      return state;
    }
    case "tool-call-start":
      result.toolCalls.push({
        toolCallId: chunk.toolCallId,
        tool: chunk.tool,
        inputText: "",
        input: undefined,
        status: "streaming",
        result: undefined,
        isError: false,
      });
      break;
    case "tool-call-delta": {
      const call = result.toolCalls.find((c) => c.toolCallId === chunk.toolCallId);
      if (call) call.inputText += chunk.inputDelta;
      break;
    }
    case "tool-call-end": {
      const call = result.toolCalls.find((c) => c.toolCallId === chunk.toolCallId);
      if (call) {
        call.input = chunk.input;
        call.status = "called";
      }
      break;
    }
    case "tool-call-result": {
      let call = result.toolCalls.find((c) => c.toolCallId === chunk.toolCallId);
      if (!call) {
        call = {
          toolCallId: chunk.toolCallId,
          tool: chunk.tool,
          inputText: "",
          input: undefined,
          status: "done",
          result: undefined,
          isError: false,
        };
        result.toolCalls.push(call);
      }
      call.result = chunk.content;
      call.isError = chunk.isError ?? false;
      call.status = "done";
      break;
    }
    case "interrupt":
      result.interrupt = chunk;
      break;
    case "progress":
      result.progress = chunk;
      break;
    case "usage":
      result.usage = chunk;
      break;
    case "error":
      result.error = chunk;
      break;
    case "done":
      result.finishReason = chunk.finishReason ?? null;
      result.done = true;
      break;
    default:
      break;
  }
  return null;
}

/**
 * Consume a stream of chunks with callbacks.
 *
 * `onChunk(chunk, result)` runs first for every chunk; returning `false` stops (the stream is
 * cancelled). Then `onText(delta, text)` for text, `onStructured(state, chunk)` for
 * structured-data (reduced with a StructuredAccumulator), `onError(chunk)` for an error chunk.
 * `onDone(result)` runs exactly once, also when the stream fails or is stopped.
 *
 * @param {any} stream chunks (an async iterable), or a Response / ReadableStream to read with
 *   readStream.
 * @param {import("./streamwire").ConsumeHandlers & {dialect?: string}} [handlers]
 * @returns {Promise<import("./streamwire").StreamResult>}
 * @throws what the stream throws (TruncatedStreamError, MalformedStreamError, an AbortError,
 *   a network error) and StructuredStreamError; onDone has run first.
 */
export async function consumeStream(stream, handlers = {}) {
  const { onChunk, onText, onStructured, onError, onDone, dialect } = handlers;
  const chunks =
    typeof stream?.[Symbol.asyncIterator] === "function" && !isResponse(stream) && typeof stream.getReader !== "function"
      ? stream
      : readStream(stream, { dialect });
  const result = emptyResult();
  const structured = new StructuredAccumulator();
  try {
    for await (const chunk of chunks) {
      if (onChunk && onChunk(chunk, result) === false) break;
      const state = fold(result, structured, chunk);
      if (chunk.type === "text-delta") onText?.(chunk.delta, result.text);
      else if (state) onStructured?.(state, /** @type {any} */ (chunk));
      else if (chunk.type === "error") onError?.(chunk);
      if (chunk.type === "done") break;
    }
  } finally {
    onDone?.(result);
  }
  return result;
}

// ---------------------------------------------------------------------------------------------
// POST streams

/** @param {number} status */
const retryableStatus = (status) => status === 408 || status === 429 || status >= 500;

/**
 * The error message of a failed response: its JSON body's error message, else its status.
 * @param {Response} response
 */
async function failureMessage(response) {
  const fallback = `Request failed (${response.status})`;
  try {
    const text = await response.text();
    const body = JSON.parse(text);
    const error = body?.error;
    if (typeof error === "string" && error) return error;
    if (typeof error?.message === "string" && error.message) return error.message;
    if (typeof body?.message === "string" && body.message) return body.message;
  } catch {
    // not JSON: the status says enough
  }
  return fallback;
}

/**
 * POST a conversation and read the streamed answer as chunks.
 *
 * An HTTP failure (a status other than 2xx, a body that is not an event stream) or a failed
 * connection becomes an `error` chunk then `done`, like the Python client, so one loop handles
 * every outcome. Aborting `signal` stops the request and the stream; the server then cancels the
 * model. The abort surfaces as the AbortError fetch throws.
 *
 * @param {import("./streamwire").StreamChatOptions} options
 * @returns {AsyncGenerator<import("./streamwire").Chunk, void, undefined>}
 * @throws {InvalidArgumentError} messages is not an array.
 */
export async function* streamChat({
  endpoint = "/api/chat",
  messages,
  signal,
  headers = {},
  body = {},
  dialect,
  maxEventBytes,
  fetch: fetchImpl = globalThis.fetch,
} = /** @type {any} */ ({})) {
  if (!Array.isArray(messages)) {
    throw new InvalidArgumentError("messages", `must be an array, not ${describe(messages)}`);
  }
  let response;
  try {
    response = await fetchImpl(endpoint, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "text/event-stream", ...headers },
      body: JSON.stringify({ ...body, messages }),
      signal,
    });
  } catch (error) {
    if (signal?.aborted || /** @type {Error} */ (error)?.name === "AbortError") throw error;
    yield {
      type: "error",
      message: `Could not connect: ${/** @type {Error} */ (error)?.message ?? String(error)}`,
      code: "connection_error",
      retryable: true,
    };
    yield { type: "done", finishReason: "error" };
    return;
  }
  if (!response.ok) {
    yield {
      type: "error",
      message: await failureMessage(response),
      code: `http_${response.status}`,
      retryable: retryableStatus(response.status),
    };
    yield { type: "done", finishReason: "error" };
    return;
  }
  const contentType = response.headers.get("content-type") ?? "";
  if (!contentType.startsWith("text/event-stream")) {
    await response.body?.cancel();
    yield {
      type: "error",
      message: `Expected an event stream, got ${contentType || "no content type"}`,
      code: "bad_content_type",
      retryable: false,
    };
    yield { type: "done", finishReason: "error" };
    return;
  }
  yield* readStream(response, { dialect, maxEventBytes });
}

// ---------------------------------------------------------------------------------------------
// EventSource

const CLOSED = 2;

/**
 * Open an EventSource on a native stream and close it on the `done` event, instead of letting
 * the browser reconnect (and re-run the prompt) forever.
 *
 * A connection error before `done` closes the source and reports an error chunk (code
 * `connection_lost`), unless `maxReconnects` allows the browser to retry (useful with servers
 * that resume by Last-Event-ID).
 *
 * @param {string | URL} url
 * @param {import("./streamwire").EventSourceOptions} [options]
 * @returns {import("./streamwire").ChunkEventSource}
 */
export function openEventSource(url, options = {}) {
  const {
    onChunk,
    onText,
    onStructured,
    onError,
    onDone,
    onOpen,
    maxReconnects = 0,
    withCredentials = false,
    EventSource: EventSourceImpl = globalThis.EventSource,
  } = options;
  const source = new EventSourceImpl(String(url), { withCredentials });
  const result = emptyResult();
  const structured = new StructuredAccumulator();
  let errors = 0;
  let finished = false;
  /** @type {(value: import("./streamwire").StreamResult) => void} */
  let resolve = () => {};
  const done = new Promise((r) => {
    resolve = r;
  });

  const finish = () => {
    if (finished) return;
    finished = true;
    source.close();
    onDone?.(result);
    resolve(result);
  };

  /** @param {import("./streamwire").Chunk} chunk */
  const handle = (chunk) => {
    if (finished) return;
    if (onChunk && onChunk(chunk, result) === false) {
      finish();
      return;
    }
    let state = null;
    try {
      state = fold(result, structured, chunk);
    } catch (error) {
      fail(/** @type {Error} */ (error).message, "bad_stream");
      return;
    }
    if (chunk.type === "text-delta") onText?.(chunk.delta, result.text);
    else if (state) onStructured?.(state, /** @type {any} */ (chunk));
    else if (chunk.type === "error") onError?.(chunk);
    if (chunk.type === "done") finish();
  };

  /** @param {string} message @param {string} code */
  const fail = (message, code) => {
    const chunk = /** @type {const} */ ({ type: "error", message, code, retryable: true });
    result.error = chunk;
    onError?.(chunk);
    finish();
  };

  /** @param {MessageEvent} event */
  const receive = (event) => {
    let chunk;
    try {
      chunk = decodeChunk(event.data);
    } catch (error) {
      fail(/** @type {Error} */ (error).message, "bad_stream");
      return;
    }
    handle(chunk);
  };

  source.addEventListener("open", () => {
    onOpen?.();
  });
  source.addEventListener("message", receive);
  // The native dialect sends `done` as an event named "done".
  source.addEventListener("done", receive);
  source.addEventListener("error", () => {
    if (finished) return;
    errors++;
    if (source.readyState === CLOSED || errors > maxReconnects) {
      fail("The connection was lost before the answer was complete.", "connection_lost");
    }
  });

  return {
    source,
    done,
    result,
    close: () => finish(),
  };
}
