// Types for streamwire.js, the browser client of the streamwire protocol v1.
// The wire is camelCase JSON; every chunk is discriminated by its `type`.

export type JSONValue = null | boolean | number | string | JSONValue[] | { [key: string]: JSONValue };

export interface StartChunk { type: "start"; messageId?: string | null; sessionId?: string | null }
export interface TextDeltaChunk { type: "text-delta"; delta: string; id?: string | null }
export interface ReasoningDeltaChunk { type: "reasoning-delta"; delta: string; id?: string | null }
export type StructuredKind = "set" | "append" | "text-delta" | "final";
export interface StructuredDataChunk {
  type: "structured-data";
  streamId: string;
  kind: StructuredKind;
  /** Dotted path (all-digit segments index arrays); absent on `final`. */
  path?: string | null;
  /** `set`: the new value. */
  value?: JSONValue;
  /** `append`: the items to add. */
  items?: JSONValue[] | null;
  /** `text-delta`: the text to append. */
  delta?: string | null;
  /** `final`: the whole object. */
  data?: JSONValue;
  dataType?: string | null;
}
export interface ToolCallStartChunk { type: "tool-call-start"; toolCallId: string; tool: string }
export interface ToolCallDeltaChunk { type: "tool-call-delta"; toolCallId: string; inputDelta: string }
export interface ToolCallEndChunk { type: "tool-call-end"; toolCallId: string; input: JSONValue }
export interface ToolCallResultChunk {
  type: "tool-call-result";
  toolCallId: string;
  tool: string;
  content: JSONValue;
  isError?: boolean | null;
}
export interface InterruptChunk {
  type: "interrupt";
  requestId: string;
  resumeToken: string;
  input: { kind: "text" | "choice" | "multi-choice"; question?: string | null; options?: string[] | null };
}
export interface ProgressChunk { type: "progress"; value: number; total?: number | null; message?: string | null }
export interface UsageChunk { type: "usage"; inputTokens: number; outputTokens: number }
/** An error that is safe to show to a person. */
export interface ErrorChunk { type: "error"; message: string; code: string; retryable: boolean }
export interface DoneChunk { type: "done"; finishReason?: string | null }

export type Chunk =
  | StartChunk
  | TextDeltaChunk
  | ReasoningDeltaChunk
  | StructuredDataChunk
  | ToolCallStartChunk
  | ToolCallDeltaChunk
  | ToolCallEndChunk
  | ToolCallResultChunk
  | InterruptChunk
  | ProgressChunk
  | UsageChunk
  | ErrorChunk
  | DoneChunk;

export type ChunkType = Chunk["type"];
export type DialectName = "native" | "openai" | "ai-sdk";

export const DEFAULT_MAX_EVENT_BYTES: number;
export const CHUNK_TYPES: readonly ChunkType[];
export const DIALECT_NAMES: readonly DialectName[];

// Errors ---------------------------------------------------------------------------------------

export class StreamwireError extends Error {}
export class InvalidArgumentError extends StreamwireError {
  constructor(field: string, reason: string);
  readonly field: string;
  readonly reason: string;
}
export class PeerProtocolError extends StreamwireError {}
export class SSEProtocolError extends PeerProtocolError {
  constructor(reason: string, info: { offset: number; limit?: number | null });
  readonly reason: string;
  /** Stream offset (bytes) of the first byte beyond the limit. */
  readonly offset: number;
  readonly limit: number | null;
}
export class ChunkDecodeError extends PeerProtocolError {
  constructor(reason: string, info?: { field?: string; data?: string });
  readonly reason: string;
  /** Dotted path of the bad field ("" when the whole document is bad). */
  readonly field: string;
  readonly data: string;
}
export class MalformedStreamError extends PeerProtocolError {
  constructor(reason: string, info?: { event?: string; index?: number | null });
  readonly reason: string;
  readonly event: string;
  readonly index: number | null;
}
export class StructuredStreamError extends PeerProtocolError {
  constructor(reason: string, info?: { path?: string });
  readonly reason: string;
  readonly path: string;
}
export class TruncatedStreamError extends PeerProtocolError {
  constructor(reason?: string, info?: { received?: number });
  readonly reason: string;
  readonly received: number;
}

// SSE --------------------------------------------------------------------------------------------

export interface ServerSentEvent {
  data: string;
  /** "message" when the stream named no type. */
  event: string;
  /** The last event ID string at dispatch, or null when it is empty. */
  id: string | null;
}

export class SSEDecoder {
  constructor(options?: { maxEventBytes?: number });
  readonly maxEventBytes: number;
  /** The last event ID string, updated at dispatch. */
  lastEventId: string;
  /** The last valid reconnection time in milliseconds. */
  retry: number | null;
  feed(text: string): ServerSentEvent[];
  close(): never[];
}

export function utf8Length(text: string): number;

// Chunks and streams -----------------------------------------------------------------------------

export function decodeChunk(text: string): Chunk;
export function detectDialect(headers: { get(name: string): string | null }): DialectName;

/** A fetch Response, a ReadableStream of bytes, or an (async) iterable of bytes or strings. */
export type ByteSource =
  | Response
  | ReadableStream<Uint8Array>
  | AsyncIterable<Uint8Array | string>
  | Iterable<Uint8Array | string>;

export function readEvents(
  body: ByteSource,
  options?: { maxEventBytes?: number },
): AsyncGenerator<ServerSentEvent, void, undefined>;

export function readStream(
  body: ByteSource,
  options?: { dialect?: DialectName; maxEventBytes?: number },
): AsyncGenerator<Chunk, void, undefined>;

// Structured -----------------------------------------------------------------------------------

export interface StructuredState {
  streamId: string;
  /** The object so far. Read-only: it shares containers with earlier states. */
  data: JSONValue;
  status: "streaming" | "done";
  dataType: string | null;
}

export function applyStructuredChunk(
  state: StructuredState | null | undefined,
  chunk: StructuredDataChunk,
): StructuredState;
export function splitPath(path: string): (string | number)[];
export function describeJSON(value: unknown): string;

export class StructuredAccumulator implements Iterable<[string, StructuredState]> {
  apply(chunk: StructuredDataChunk): StructuredState;
  get(streamId: string): StructuredState | undefined;
  toJSON(): Record<string, StructuredState>;
  readonly size: number;
  [Symbol.iterator](): IterableIterator<[string, StructuredState]>;
}

// Consuming --------------------------------------------------------------------------------------

export interface ToolCallState {
  toolCallId: string;
  tool: string;
  /** The input JSON text received so far. */
  inputText: string;
  /** The parsed input, once `tool-call-end` arrived. */
  input: JSONValue | undefined;
  status: "streaming" | "called" | "done";
  result: JSONValue | undefined;
  isError: boolean;
}

export interface StreamResult {
  messageId: string | null;
  text: string;
  reasoning: string;
  structured: Record<string, StructuredState>;
  toolCalls: ToolCallState[];
  progress: ProgressChunk | null;
  usage: UsageChunk | null;
  error: ErrorChunk | null;
  interrupt: InterruptChunk | null;
  finishReason: string | null;
  /** Whether the `done` chunk arrived. */
  done: boolean;
}

export function emptyResult(): StreamResult;

export interface ConsumeHandlers {
  /** Runs first for every chunk; return false to stop (the stream is cancelled). */
  onChunk?: (chunk: Chunk, result: StreamResult) => boolean | void;
  onText?: (delta: string, text: string) => void;
  onStructured?: (state: StructuredState, chunk: StructuredDataChunk) => void;
  onError?: (chunk: ErrorChunk) => void;
  /** Runs exactly once, also when the stream fails or is stopped. */
  onDone?: (result: StreamResult) => void;
}

export function consumeStream(
  stream: AsyncIterable<Chunk> | Response | ReadableStream<Uint8Array>,
  handlers?: ConsumeHandlers & { dialect?: DialectName },
): Promise<StreamResult>;

export interface ChatMessage {
  role: "system" | "user" | "assistant" | "tool";
  content: string | { type: string; text?: string; [key: string]: unknown }[];
  [key: string]: unknown;
}

export interface StreamChatOptions {
  /** Default "/api/chat". */
  endpoint?: string | URL;
  messages: ChatMessage[];
  signal?: AbortSignal;
  headers?: Record<string, string>;
  /** Extra fields of the JSON body (sessionId, metadata...). */
  body?: Record<string, unknown>;
  dialect?: DialectName;
  maxEventBytes?: number;
  fetch?: typeof fetch;
}

export function streamChat(options: StreamChatOptions): AsyncGenerator<Chunk, void, undefined>;

// EventSource ------------------------------------------------------------------------------------

export interface EventSourceOptions extends ConsumeHandlers {
  onOpen?: () => void;
  /** Connection errors the browser may retry before the source is closed (default 0). */
  maxReconnects?: number;
  withCredentials?: boolean;
  EventSource?: typeof EventSource;
}

export interface ChunkEventSource {
  source: EventSource;
  /** Resolves with the result once `done` arrived, the connection was lost or close() ran. */
  done: Promise<StreamResult>;
  result: StreamResult;
  close(): void;
}

export function openEventSource(url: string | URL, options?: EventSourceOptions): ChunkEventSource;
