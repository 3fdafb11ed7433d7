"""Where a worker pod finds its dataset files: part of the pod contract between the operator and the workers.

The operator mounts the ConfigMap a CSV_DATASET input names (``inputs.csv.configMap``) read-only at
:data:`DATASET_DIR`; the worker reads a relative ``inputs.csv.filePath`` under the directory
``HIVEKEEPER_DATASET_DIR`` names (this one by default). ``hivekeeper run`` reads it next to the manifest.
"""

from __future__ import annotations

DATASET_DIR = "/etc/hivekeeper/datasets"
DATASET_DIR_VARIABLE = "HIVEKEEPER_DATASET_DIR"
DATASET_VOLUME = "datasets"
"""The pod volume holding the mounted ConfigMap."""
