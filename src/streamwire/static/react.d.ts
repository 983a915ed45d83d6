// Types for react.js, the optional useChat-style hook on top of streamwire.js.
import type {
  Chunk,
  ErrorChunk,
  ProgressChunk,
  StructuredAccumulator,
  StructuredState,
  ToolCallState,
  UsageChunk,
} from "./streamwire";

export interface ChatUIMessage {
  id: string;
  role: "user" | "assistant" | "system" | "tool";
  content: string;
  reasoning?: string;
  structured?: Record<string, StructuredState>;
  toolCalls?: ToolCallState[];
  progress?: ProgressChunk | null;
  usage?: UsageChunk | null;
  error?: ErrorChunk | null;
  finishReason?: string | null;
  /** The person pressed Stop before the answer was complete. */
  stopped?: boolean;
}

export interface UseChatOptions {
  endpoint?: string;
  initialMessages?: ChatUIMessage[];
  headers?: Record<string, string>;
  body?: Record<string, unknown>;
  fetch?: typeof fetch;
  onFinish?: (message: ChatUIMessage) => void;
}

export interface UseChatResult {
  /** Finished messages. */
  messages: ChatUIMessage[];
  /** The assistant message being streamed, or null. */
  current: ChatUIMessage | null;
  status: "ready" | "submitted" | "streaming" | "error";
  error: ErrorChunk | null;
  send(text: string): Promise<void>;
  stop(): void;
  /** Drop the last answer and ask again. */
  retry(): Promise<void>;
  setMessages(update: ChatUIMessage[] | ((previous: ChatUIMessage[]) => ChatUIMessage[])): void;
}

export interface ReactLike {
  useState: <T>(initial: T) => [T, (update: T | ((previous: T) => T)) => void];
  useRef: <T>(initial: T) => { current: T };
  useCallback: <F extends (...args: never[]) => unknown>(fn: F, deps: unknown[]) => F;
  useEffect: (effect: () => void | (() => void), deps?: unknown[]) => void;
}

export function createUseChat(React: ReactLike): (options?: UseChatOptions) => UseChatResult;
export function applyChunkToMessage(
  message: ChatUIMessage,
  chunk: Chunk,
  structured: StructuredAccumulator,
): ChatUIMessage;
