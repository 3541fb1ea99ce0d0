"""The Kafka-protocol front end of a node: its server and one handler module per Kafka API."""
