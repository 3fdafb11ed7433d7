"""Worker outputs beyond the RabbitMQ sink: Redis lists (``outputs.type: REDIS``) and the redisUploader."""
