"""The worker's TCP client (``client``: pooled connections on asyncio streams; ``reading``: how each behaviour
reads a reply) and its in-memory twin (``memory``)."""
