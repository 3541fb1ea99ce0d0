"""The part of Kafka's ``bin/kafka-topics.sh`` that librdkafka's tests call (``test_kafka_topics()``
in its test.c: create with partitions, replication factor and configs; add partitions; delete),
over the Kafka protocol with confluent-kafka's AdminClient, as the Java tool does with Kafka's.

librdkafka's tests run it as ``$KAFKA_PATH/bin/kafka-topics.sh --bootstrap-server B ...``; the
runner (``__main__``) writes that script into its work directory and points KAFKA_PATH at it, so
the tests that create or change topics this way (0045, 0052, 0077) run against kraft too instead
of failing for want of a Kafka install. Anything else it is asked is an error (exit 2), never a
silent success. It must not talk to kraft any other way than a Kafka client does.
"""

from __future__ import annotations

import argparse
import sys

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewPartitions, NewTopic

TIMEOUT_S = 30


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="kafka-topics.sh")
    p.add_argument("--bootstrap-server", required=True)
    action = p.add_mutually_exclusive_group(required=True)
    action.add_argument("--create", action="store_true")
    action.add_argument("--alter", action="store_true")
    action.add_argument("--delete", action="store_true")
    p.add_argument("--topic", required=True)
    p.add_argument("--partitions", type=int)
    p.add_argument("--replication-factor", type=int)
    p.add_argument("--config", action="append", default=[], help="k=v (create only)")
    args = p.parse_args(argv)

    admin = AdminClient({"bootstrap.servers": args.bootstrap_server})
    try:
        if args.create:
            configs = dict(c.split("=", 1) for c in args.config)
            topic = NewTopic(args.topic, args.partitions or -1, args.replication_factor or -1, config=configs)
            admin.create_topics([topic])[args.topic].result(TIMEOUT_S)
        elif args.alter:
            if args.partitions is None or args.config:
                p.error("--alter: only --partitions is supported here")
            admin.create_partitions([NewPartitions(args.topic, args.partitions)])[args.topic].result(TIMEOUT_S)
        else:
            admin.delete_topics([args.topic])[args.topic].result(TIMEOUT_S)
    except KafkaException as e:
        print(f"Error while executing topic command : {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
