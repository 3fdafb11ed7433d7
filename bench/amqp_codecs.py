"""AMQP frames without I/O: pamqp next to our ``hivekeeper.worker.transports.rabbit.amqp.codec``, encoding
one publish (method, content header and body frames) and decoding one delivery (deliver, content header and
body frames).

    .venv/bin/python bench/amqp_codecs.py [--size 600] [--repeat 10000]

Part of ``bench/amqp_clients.py`` (decision 0003), which prints these next to the clients; alone it prints
µs of CPU per frame set. The same properties as the worker's publishes: ``application/json``, persistent.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from pamqp import commands, frame  # noqa: E402
from pamqp.body import ContentBody  # noqa: E402
from pamqp.header import ContentHeader  # noqa: E402

from hivekeeper.worker.transports.rabbit.amqp import codec  # noqa: E402

CONTENT_TYPE = "application/json"  # what the worker sends: every client in the comparison sends the same


def codec_alone(size: int, repeat: int) -> dict[tuple[str, str], tuple[float, float]]:
    """``(CPU seconds, wall seconds)`` to encode one publish and decode one delivery ``repeat`` times, with
    pamqp and with our codec, keyed by (``"pamqp alone"`` or ``"codec alone"``, ``"publish"`` or ``"consume"``)."""
    body, channel, frame_max = b"x" * size, 1, 131072
    properties = commands.Basic.Properties(content_type=CONTENT_TYPE, delivery_mode=2)

    def pamqp_encode() -> bytes:
        return b"".join(
            (
                frame.marshal(commands.Basic.Publish(exchange="", routing_key="q", mandatory=True), channel),
                frame.marshal(ContentHeader(0, len(body), properties), channel),
                frame.marshal(ContentBody(body), channel),
            )
        )

    delivery = b"".join(
        (
            frame.marshal(
                commands.Basic.Deliver(consumer_tag="ctag-1", delivery_tag=123456, exchange="", routing_key="q"),
                channel,
            ),
            frame.marshal(ContentHeader(0, len(body), properties), channel),
            frame.marshal(ContentBody(body), channel),
        )
    )

    def pamqp_decode() -> bytes:
        offset, received = 0, b""
        for _ in range(3):
            used, _, value = frame.unmarshal(delivery[offset:])
            offset += used
            if isinstance(value, ContentBody):
                received = value.value
        return received

    def codec_encode() -> bytes:
        return codec.publish(channel, "", "q", body, frame_max)

    def codec_decode() -> bytes:
        # What AmqpConnection.data_received and Channel.on_method/on_header/on_body do for one delivery.
        offset, received = 0, b""
        while (parsed := codec.split_frame(delivery, offset)) is not None:
            kind, _, payload, offset = parsed
            if kind == codec.FRAME_METHOD and codec.method_id(payload) == codec.BASIC_DELIVER:
                codec.deliver(payload)
            elif kind == codec.FRAME_HEADER:
                codec.body_size(payload)
            elif kind == codec.FRAME_BODY:
                received = bytes(payload)
        return received

    assert pamqp_decode() == codec_decode() == body
    assert codec_encode() == pamqp_encode()  # byte for byte the same frames
    spent: dict[tuple[str, str], tuple[float, float]] = {}
    for name, encode, decode in (("pamqp", pamqp_encode, pamqp_decode), ("codec", codec_encode, codec_decode)):
        for phase, work in (("publish", encode), ("consume", decode)):
            gc.collect()
            wall, cpu = time.perf_counter(), time.process_time()
            for _ in range(repeat):
                work()
            spent[(f"{name} alone", phase)] = (time.process_time() - cpu, time.perf_counter() - wall)
    return spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=600, help="body bytes")
    parser.add_argument("--repeat", type=int, default=10000)
    args = parser.parse_args()
    for (name, phase), (cpu, _) in codec_alone(args.size, args.repeat).items():
        action = "encode one publish" if phase == "publish" else "decode one delivery"
        print(f"{name:12s} {action:20s} {cpu / args.repeat * 1e6:6.2f} µs CPU")


if __name__ == "__main__":
    main()
