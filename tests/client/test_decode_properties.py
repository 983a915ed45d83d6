"""Properties of the client's decoding core: split anywhere, any text, any dialect detection."""

from __future__ import annotations

import contextlib

from hypothesis import given
from hypothesis import strategies as st

from streamwire.client._decode import ChunkDecoding
from streamwire.protocol.chunks import Chunk, Done, ReasoningDelta, TextDelta, Usage
from streamwire.protocol.errors import PeerProtocolError
from tests.client.scripted import dialect_bytes, native_bytes
from tests.strategies import split_points, sse_streams

# Any Unicode the wire can carry (UTF-8 has no lone surrogates).
_text = st.text(st.characters(codec="utf-8"), max_size=12)
_chunks = st.lists(
    st.one_of(
        _text.map(lambda t: TextDelta(delta=t)),
        _text.map(lambda t: ReasoningDelta(delta=t)),
        st.builds(
            Usage,
            input_tokens=st.integers(0, 10**6),
            output_tokens=st.integers(0, 10**6),
        ),
    ),
    max_size=10,
)


def decode_split(data: bytes, cuts: list[int], dialect: str | None = None) -> list[Chunk]:
    decoding = ChunkDecoding(dialect=dialect)
    chunks: list[Chunk] = []
    previous = 0
    for cut in [*cuts, len(data)]:
        for event in decoding.feed(data[previous:cut]):
            chunks.extend(decoding.decode(event))
        previous = cut
    decoding.close()
    return chunks


@given(chunks=_chunks, data=st.data())
def test_native_chunks_split_anywhere_decode_back(chunks: list[Chunk], data: st.DataObject) -> None:
    stream = native_bytes([*chunks, Done(finish_reason="stop")])
    cuts = data.draw(split_points(len(stream)))
    assert decode_split(stream, cuts) == [*chunks, Done(finish_reason="stop")]


@given(texts=st.lists(_text.filter(bool), min_size=1, max_size=8), data=st.data())
def test_openai_text_split_anywhere_is_detected_and_decodes_back(
    texts: list[str], data: st.DataObject
) -> None:
    stream = dialect_bytes("openai", [*(TextDelta(delta=t) for t in texts), Done()])
    cuts = data.draw(split_points(len(stream)))
    chunks = decode_split(stream, cuts)
    assert "".join(c.delta for c in chunks if isinstance(c, TextDelta)) == "".join(texts)
    assert isinstance(chunks[-1], Done)


@given(stream=st.one_of(st.binary(max_size=200), sse_streams), data=st.data())
def test_any_bytes_give_chunks_or_a_peer_error(stream: bytes, data: st.DataObject) -> None:
    cuts = data.draw(split_points(len(stream)))
    # Truncated, malformed or past an SSE limit: the peer's fault, never another error.
    with contextlib.suppress(PeerProtocolError):
        decode_split(stream, cuts)
