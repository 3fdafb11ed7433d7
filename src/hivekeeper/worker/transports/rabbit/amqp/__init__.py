"""A lean AMQP 0-9-1 client for the work plane (publish with confirms, consume, ack)."""
