"""``python -m kraft.node --config FILE --node N``: what ``kraft cluster up`` starts per node."""

from __future__ import annotations

import argparse
import sys

from kraft.config import load_config
from kraft.errors import ConfigError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kraft.node")
    parser.add_argument("--config", default=None)
    parser.add_argument("--node", type=int, default=None)
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config)
        node_id = args.node
        if node_id is None:
            if len(config.nodes) != 1:
                raise ConfigError(f"{config.source}: has {len(config.nodes)} nodes; choose one with --node")
            node_id = config.node_ids[0]
        config.node(node_id)
        from kraft.node.main import run_node

        run_node(config, node_id)
    except ConfigError as e:
        print(f"error: {e.message}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
