"""Expose a Piper model's phoneme durations as an extra ONNX output, editing the protobuf bytes directly.

Piper's own patch (``piper.patch_voice_with_alignment``) needs the 33 MB ``onnx`` package and takes
about two seconds per load to parse and re-serialise a 63 MB model; every voice job loads the model
afresh in its forked process. Only the graph's node list is read here (the weights are skipped by
length), which takes milliseconds. Wire format: https://protobuf.dev/programming-guides/encoding/
"""
from __future__ import annotations

from typing import Iterator

# Field numbers in onnx.proto: ModelProto.graph, GraphProto.node/output, NodeProto.output/op_type,
# ValueInfoProto.name.
_MODEL_GRAPH, _GRAPH_NODE, _GRAPH_OUTPUT, _NODE_OUTPUT, _NODE_OP_TYPE, _VALUE_INFO_NAME = 7, 1, 12, 2, 4, 1
_VARINT, _FIXED64, _BYTES, _FIXED32 = 0, 1, 2, 5


def _varint(buf: memoryview, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = buf[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, at
        shift += 7


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _fields(buf: memoryview, start: int, end: int) -> Iterator[tuple[int, int, int, int]]:
    """(field number, where its key starts, where its payload starts, where it ends) of each field."""
    at = start
    while at < end:
        key_at = at
        key, at = _varint(buf, at)
        number, wire = key >> 3, key & 7
        if wire == _VARINT:
            _, stop = _varint(buf, at)
        elif wire == _FIXED64:
            stop = at + 8
        elif wire == _FIXED32:
            stop = at + 4
        elif wire == _BYTES:
            length, at = _varint(buf, at)
            stop = at + length
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        yield number, key_at, at, stop
        at = stop


def _bytes_key(number: int, length: int) -> bytes:
    return _encode_varint(number << 3 | _BYTES) + _encode_varint(length)


def with_output_of(model: bytes, op_type: str) -> bytes:
    """The model with the output of its one ``op_type`` node (Piper's durations: "Ceil") added as a graph output."""
    buf = memoryview(model)
    graph = next(((key_at, start, stop) for number, key_at, start, stop in _fields(buf, 0, len(buf))
                  if number == _MODEL_GRAPH), None)
    if graph is None:
        raise ValueError("not an ONNX model: no graph")
    key_at, start, stop = graph
    names, outputs = [], set()
    for number, _, item_start, item_stop in _fields(buf, start, stop):
        if number == _GRAPH_NODE:
            node = {n: [] for n in (_NODE_OUTPUT, _NODE_OP_TYPE)}
            for field, _, value_start, value_stop in _fields(buf, item_start, item_stop):
                if field in node:
                    node[field].append(bytes(buf[value_start:value_stop]))
            if node[_NODE_OP_TYPE] == [op_type.encode()]:
                names.extend(node[_NODE_OUTPUT])
        elif number == _GRAPH_OUTPUT:
            outputs.update(bytes(buf[value_start:value_stop]) for field, _, value_start, value_stop
                           in _fields(buf, item_start, item_stop) if field == _VALUE_INFO_NAME)
    if len(names) != 1:
        raise ValueError(f"expected one {op_type} node output, found {len(names)}")
    if names[0] in outputs:
        return model  # patched already (piper's own tool writes the same output)
    value_info = _bytes_key(_VALUE_INFO_NAME, len(names[0])) + names[0]
    output = _bytes_key(_GRAPH_OUTPUT, len(value_info)) + value_info
    graph_key = _bytes_key(_MODEL_GRAPH, stop - start + len(output))
    return b"".join((buf[:key_at], graph_key, buf[start:stop], output, buf[stop:]))  # one copy of the weights
