"""RabbitMQ: the lean AMQP client (``amqp``), the work-plane connection (``link``), the control plane on
aio-pika (``control``) and a worker's edges wired on them (``transports``)."""
