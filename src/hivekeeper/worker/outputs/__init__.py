"""Worker outputs: where results go (RabbitMQ with publisher confirms, Redis lists and the redisUploader,
memory), and the dead-letter queues."""
