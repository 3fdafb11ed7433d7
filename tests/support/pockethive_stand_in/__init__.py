"""A stand-in for a PocketHive worker image (``worker.py``), runnable in a test's process or, built with this
directory's Dockerfile, as a container image (``python -m pockethive_stand_in``)."""
