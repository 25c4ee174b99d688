"""Contract suite of the bus ports: the in-memory twin and RabbitMQ behave the same."""
