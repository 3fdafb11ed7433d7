"""A custom worker: announces itself, then runs hivekeeper's runtime as the role this image was built for.

The operator gives an ``image:`` role ``HIVEKEEPER_ROLE_KIND=custom``; this image decides what that means
(here: the built-in processor, chosen by the image's own ``CUSTOM_ROLE``), the way a team would wrap the
runtime with its own setup.
"""

import os
import sys

from hivekeeper.worker.main import main

if __name__ == "__main__":
    os.environ["HIVEKEEPER_ROLE_KIND"] = os.environ.get("CUSTOM_ROLE", "processor")
    print(f"custom worker image: running as {os.environ['HIVEKEEPER_ROLE_KIND']}", flush=True)
    sys.exit(main())
