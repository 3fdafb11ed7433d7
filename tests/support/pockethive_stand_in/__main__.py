"""The stand-in as a container's process: read the environment, start, run until SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal

from pockethive_stand_in.worker import PocketHiveWorker


async def main() -> None:
    worker = PocketHiveWorker(os.environ, delta_interval=5.0)
    await worker.start()
    print(f"pockethive stand-in started: {worker.control_queue}", flush=True)
    stopping = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stopping.set)
    await stopping.wait()
    await worker.stop()


if __name__ == "__main__":
    asyncio.run(main())
