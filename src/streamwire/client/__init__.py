"""The Python clients: read any AI stream as typed chunks, reconnect, time out, cancel.

Async first, with sync twins on the same objects (``async for`` / ``for``, ``aclose`` /
``close``), on httpx:

* :func:`read_stream`: a streaming httpx response -> typed chunks (native, OpenAI, AI SDK);
* :func:`consume_stream` / :func:`consume_stream_sync`: drive a stream through callbacks;
* :func:`stream_chat_from_route` and :func:`collect` / :func:`collect_sync`: POST a chat and
  read it, streamed or buffered;
* :class:`EventSource`: a reconnecting SSE reader with ``Last-Event-ID``, backoff and an idle
  timeout.

See ``docs/client.md``.
"""

from streamwire.chat.buffered import BufferedResult, BufferedToolCall
from streamwire.client.chat import (
    ChatStream,
    collect,
    collect_sync,
    stream_chat_from_route,
)
from streamwire.client.consume import (
    ChunkCallback,
    DoneCallback,
    ErrorCallback,
    StructuredCallback,
    TextCallback,
    consume_stream,
    consume_stream_sync,
)
from streamwire.client.errors import (
    StreamConnectionError,
    StreamConsumedError,
    StreamErrorChunkError,
    StreamResponseError,
    StreamTimeoutError,
)
from streamwire.client.eventsource import EventSource, EventSourceChunks, ReconnectPolicy
from streamwire.client.read import ChunkStream, read_stream
from streamwire.protocol.errors import MalformedStreamError, TruncatedStreamError

__all__ = [
    "BufferedResult",
    "BufferedToolCall",
    "ChatStream",
    "ChunkCallback",
    "ChunkStream",
    "DoneCallback",
    "ErrorCallback",
    "EventSource",
    "EventSourceChunks",
    "MalformedStreamError",
    "ReconnectPolicy",
    "StreamConnectionError",
    "StreamConsumedError",
    "StreamErrorChunkError",
    "StreamResponseError",
    "StreamTimeoutError",
    "StructuredCallback",
    "TextCallback",
    "TruncatedStreamError",
    "collect",
    "collect_sync",
    "consume_stream",
    "consume_stream_sync",
    "read_stream",
    "stream_chat_from_route",
]
