"""The hivekeeper test bench: real RabbitMQ, Redis and Kubernetes control plane on loopback.

Nothing here is mocked. Services are installed from Debian packages or built from Go modules when
missing, started as child processes in their own session (so teardown can kill the whole group),
awaited by polling a real connection, and stopped at the end. Tests reach them through the session
fixtures in ``tests/conftest.py``; humans through ``make services`` / ``make cluster``.
"""
