"""Worker inputs: where items come from (SCHEDULER clock, RabbitMQ queue, Redis datasets, memory queues)."""
