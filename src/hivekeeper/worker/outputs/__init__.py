"""Worker outputs: where results go (RabbitMQ with publisher confirms, or nowhere)."""
