"""The Kafka wire protocol: request/response codec (kio schemas) and magic-v2 record batches."""
