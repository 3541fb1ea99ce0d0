"""Consumer groups: membership, generations and partition assignment (computed by the coordinator)."""
