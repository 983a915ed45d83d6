// Parse a UI message stream (an SSE body) with the Vercel AI SDK's own strict reader.
//
// Usage: node aisdk_parse.mjs [FILE]   (reads stdin when FILE is absent or "-")
//
// Runs exactly what useChat's default transport runs: parseJsonEventStream with
// uiMessageChunkSchema, failing on the first chunk the schema rejects, then readUIMessageStream
// with terminateOnError. Prints one JSON line:
//   {"ok": true, "message": <the final UIMessage>, "chunks": <number of chunks read>}
//   {"ok": false, "error": "<message>", "message": <the last UIMessage or null>, "chunks": n}
// and exits with 0 when ok, 1 otherwise.

import { readFile } from 'node:fs/promises';
import { parseJsonEventStream, readUIMessageStream, uiMessageChunkSchema } from 'ai';

async function readInput(path) {
  if (path && path !== '-') {
    return readFile(path);
  }
  const parts = [];
  for await (const part of process.stdin) {
    parts.push(part);
  }
  return Buffer.concat(parts);
}

const body = await readInput(process.argv[2]);
let chunks = 0;
let last = null;

const bytes = new ReadableStream({
  start(controller) {
    controller.enqueue(new Uint8Array(body));
    controller.close();
  },
});

const uiChunks = parseJsonEventStream({ stream: bytes, schema: uiMessageChunkSchema }).pipeThrough(
  new TransformStream({
    transform(result, controller) {
      if (!result.success) {
        throw result.error;
      }
      chunks += 1;
      controller.enqueue(result.value);
    },
  }),
);

try {
  for await (const message of readUIMessageStream({ stream: uiChunks, terminateOnError: true })) {
    last = message;
  }
  process.stdout.write(JSON.stringify({ ok: true, message: last, chunks }) + '\n');
} catch (error) {
  const text = error instanceof Error ? error.message : String(error);
  process.stdout.write(JSON.stringify({ ok: false, error: text, message: last, chunks }) + '\n');
  process.exitCode = 1;
}
