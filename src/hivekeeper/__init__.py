"""hivekeeper: load-testing swarms on Kubernetes, wired through RabbitMQ and Redis."""

__version__ = "0.1.0.dev0"
