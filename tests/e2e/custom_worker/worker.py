"""A custom worker: announces itself, then runs hivekeeper's runtime as the role this image was built for.

The operator gives an ``image:`` role ``HIVEKEEPER_ROLE_KIND=custom``; this image decides what that means
(here: the built-in processor, chosen by the image's own ``CUSTOM_ROLE``), the way a team would wrap the
runtime with its own setup.

``CUSTOM_STALL_AFTER_SECONDS`` (tests only; unset: no effect): that many seconds after the worker starts, its
event loop is blocked for good, the way a custom worker calling a blocking library would block it. Its
``/livez`` then fails, naming the stall, and the kubelet restarts it.
"""

import asyncio
import os
import sys
import time

from hivekeeper.worker import main as worker_main


def _stall_after(seconds: float) -> None:
    """Wrap the runtime's ``serve`` so that, ``seconds`` after it starts, a blocking call holds its event loop."""
    serve = worker_main.serve

    async def stalling(*args, **kwargs):
        asyncio.get_running_loop().call_later(seconds, time.sleep, 10**6)
        print(f"custom worker image: the event loop blocks in {seconds:g} s (CUSTOM_STALL_AFTER_SECONDS)", flush=True)
        await serve(*args, **kwargs)

    worker_main.serve = stalling


if __name__ == "__main__":
    os.environ["HIVEKEEPER_ROLE_KIND"] = os.environ.get("CUSTOM_ROLE", "processor")
    print(f"custom worker image: running as {os.environ['HIVEKEEPER_ROLE_KIND']}", flush=True)
    if stall := os.environ.get("CUSTOM_STALL_AFTER_SECONDS"):
        _stall_after(float(stall))
    sys.exit(worker_main.main())
