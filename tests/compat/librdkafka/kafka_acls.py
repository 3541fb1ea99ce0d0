"""The part of Kafka's ``bin/kafka-acls.sh`` that librdkafka's tests call (0109, 0115, 0119: add and
remove topic ACLs for ``User:*``), over the Kafka protocol with confluent-kafka's AdminClient
(CreateAcls, DescribeAcls, DeleteAcls), as the Java tool does with Kafka's.

Options as the Java tool has them: ``--add`` / ``--remove`` / ``--list``; ``--allow-principal`` and
``--deny-principal`` (repeatable), ``--allow-host`` / ``--deny-host`` (default ``*``); ``--operation``
(repeatable, Kafka's names: Read, Write, All, Describe, ...; default All); the resource, one or more
of ``--topic``, ``--group``, ``--cluster``; ``--resource-pattern-type`` (LITERAL, PREFIXED; and for
``--list``/``--remove`` also ANY, MATCH); ``--force`` (no prompt: this never prompts);
``--bootstrap-server`` and ``--command-config`` (a properties file of client settings). Anything it
cannot do is an error (exit 2), never a silent success. It must not talk to kraft any other way than a
Kafka client does.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from confluent_kafka import KafkaException
from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ResourcePatternType,
    ResourceType,
)

TIMEOUT_S = 30
CLUSTER_NAME = "kafka-cluster"


def _operation(name: str) -> AclOperation:
    key = name.replace("-", "_").upper()
    key = {"DESCRIBECONFIGS": "DESCRIBE_CONFIGS", "ALTERCONFIGS": "ALTER_CONFIGS",
           "IDEMPOTENTWRITE": "IDEMPOTENT_WRITE", "CLUSTERACTION": "CLUSTER_ACTION"}.get(key, key)
    try:
        return AclOperation[key]
    except KeyError:
        raise argparse.ArgumentTypeError(f"unknown operation {name!r}") from None


def _pattern(name: str) -> ResourcePatternType:
    try:
        return ResourcePatternType[name.upper()]
    except KeyError:
        raise argparse.ArgumentTypeError(f"unknown resource pattern type {name!r}") from None


def _client_config(bootstrap: str, command_config: str | None) -> dict[str, str | int | float | bool]:
    conf: dict[str, str | int | float | bool] = {"bootstrap.servers": bootstrap}
    if command_config:
        for line in Path(command_config).read_text().splitlines():
            line = line.strip()
            if line and not line.startswith(("#", "!")) and "=" in line:
                k, v = line.split("=", 1)
                conf[k.strip()] = v.strip()
    return conf


def _resources(args: argparse.Namespace) -> list[tuple[ResourceType, str]]:
    out = [(ResourceType.TOPIC, t) for t in args.topic] + [(ResourceType.GROUP, g) for g in args.group]
    if args.cluster:
        out.append((ResourceType.BROKER, CLUSTER_NAME))  # confluent-kafka's name for Kafka's CLUSTER (4)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="kafka-acls.sh")
    p.add_argument("--bootstrap-server", required=True)
    p.add_argument("--command-config")
    action = p.add_mutually_exclusive_group(required=True)
    action.add_argument("--add", action="store_true")
    action.add_argument("--remove", action="store_true")
    action.add_argument("--list", action="store_true")
    p.add_argument("--allow-principal", action="append", default=[])
    p.add_argument("--deny-principal", action="append", default=[])
    p.add_argument("--allow-host", action="append", default=[])
    p.add_argument("--deny-host", action="append", default=[])
    p.add_argument("--operation", action="append", type=_operation, default=[])
    p.add_argument("--topic", action="append", default=[])
    p.add_argument("--group", action="append", default=[])
    p.add_argument("--cluster", action="store_true")
    p.add_argument("--resource-pattern-type", type=_pattern, default=None)
    p.add_argument("--force", action="store_true")
    args = p.parse_args(argv)

    resources = _resources(args)
    if args.add and not resources:
        p.error("--add needs a resource: --topic, --group or --cluster")
    pattern = args.resource_pattern_type
    if args.add and pattern not in (None, ResourcePatternType.LITERAL, ResourcePatternType.PREFIXED):
        p.error("--add: the resource pattern type must be LITERAL or PREFIXED")
    operations = args.operation or [AclOperation.ALL]
    entries = ([(pr, h, AclPermissionType.ALLOW) for pr in args.allow_principal for h in args.allow_host or ["*"]]
               + [(pr, h, AclPermissionType.DENY) for pr in args.deny_principal for h in args.deny_host or ["*"]])
    if args.add and not entries:
        p.error("--add needs --allow-principal or --deny-principal")
    admin = AdminClient(_client_config(args.bootstrap_server, args.command_config))
    try:
        if args.add:
            bindings = [AclBinding(rt, name, pattern or ResourcePatternType.LITERAL, pr, host, op, perm)
                        for rt, name in resources for pr, host, perm in entries for op in operations]
            for f in admin.create_acls(bindings, request_timeout=TIMEOUT_S).values():
                f.result(TIMEOUT_S)
        elif args.remove:
            filters = _filters(resources, entries, operations if args.operation else [AclOperation.ANY],
                               pattern or ResourcePatternType.LITERAL)
            for f in admin.delete_acls(filters, request_timeout=TIMEOUT_S).values():
                f.result(TIMEOUT_S)
        else:
            filters = _filters(resources, entries, [AclOperation.ANY], pattern or ResourcePatternType.LITERAL)
            for one in filters:
                for b in admin.describe_acls(one, request_timeout=TIMEOUT_S).result(TIMEOUT_S):
                    print(f"{b.restype.name}:{b.resource_pattern_type.name}:{b.name}\t"
                          f"(principal={b.principal}, host={b.host}, operation={b.operation.name}, "
                          f"permissionType={b.permission_type.name})")
    except KafkaException as e:
        print(f"Error while executing ACL command: {e}", file=sys.stderr)
        return 1
    return 0


def _filters(resources: list[tuple[ResourceType, str]], entries: list[tuple[str, str, AclPermissionType]],
             operations: list[AclOperation], pattern: ResourcePatternType) -> list[AclBindingFilter]:
    """The filters of ``--remove`` and ``--list``: every resource given (none: any), and the
    principals, hosts and operations given (none: any)."""
    targets: list[tuple[ResourceType, str | None]] = list(resources) or [(ResourceType.ANY, None)]
    who: list[tuple[str | None, str | None, AclPermissionType]] = list(entries) or [
        (None, None, AclPermissionType.ANY)]
    # None matches anything (librdkafka's NULL), though confluent-kafka's stubs say str
    return [AclBindingFilter(rt, name, pattern if name is not None else ResourcePatternType.ANY,  # type: ignore[arg-type]
                             pr, host, op, perm)  # type: ignore[arg-type]
            for rt, name in targets for pr, host, perm in who for op in operations]


if __name__ == "__main__":
    sys.exit(main())
