"""Request faults of the in-process cluster: the ``Interceptor`` in front of its nodes' real handlers.

Owns: counting requests (``requests``), keeping the offset commits a test may inspect (``commits``),
and the faults a test arms: a request answered with an error without being handled, a request never
answered, an answer lost after the handler ran, and one partition of a produce, fetch or
list_offsets request failed while the rest of it is handled. Nothing here decides an answer a
handler would give: every other request, and every other partition, gets the real handler's.
Must not: be given to a node process's server (``kraft.node.main`` never does).
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

from kraft.errors import error_for_code
from kraft.node.server import Dispatch

# Per-partition requests: api -> (request list, answer list, the rest of an error entry).
_PARTITION_APIS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "produce": ("entries", "results", {"base_offset": -1}),
    "fetch": ("partitions", "partitions", {"high_watermark": -1, "log_start_offset": -1, "batches": []}),
    "list_offsets": ("partitions", "partitions", {"offset": -1}),
}


class RequestFaults:
    """The interceptor in front of every node's handler dispatch: counts requests, keeps the offset
    commits, and fails or loses the requests a test armed. Thread-safe; runs on the cluster's loop."""

    def __init__(self) -> None:
        self.requests: Counter[str] = Counter()  # api -> requests received by any node
        self.commits: list[dict[str, Any]] = []  # every offset_commit body, in arrival order
        self._lock = threading.Lock()
        self._partition_errors: dict[tuple[str, Any, Any], list[int]] = {}  # (api, topic, partition)
        self._request_errors: dict[str, list[int]] = {}
        self._dropped: Counter[str] = Counter()
        self._lost_answers: Counter[str] = Counter()

    def fail_partition(self, api: str, topic: str, partition: int, error_code: int, times: int) -> None:
        if api not in _PARTITION_APIS:
            raise ValueError(f"per-partition failures apply to {sorted(_PARTITION_APIS)}, not {api!r}")
        with self._lock:
            self._partition_errors.setdefault((api, topic, partition), []).extend([error_code] * times)

    def fail_request(self, api: str, error_code: int, times: int) -> None:
        with self._lock:
            self._request_errors.setdefault(api, []).extend([error_code] * times)

    def drop(self, api: str, times: int) -> None:
        with self._lock:
            self._dropped[api] += times

    def lose_answers(self, api: str, times: int) -> None:
        with self._lock:
            self._lost_answers[api] = self._lost_answers[api] + times if times else 0

    async def __call__(self, api: str, body: dict[str, Any], dispatch: Dispatch) -> dict[str, Any] | None:
        self.requests[api] += 1
        with self._lock:
            if self._dropped[api] > 0:
                self._dropped[api] -= 1
                return None
            queued = self._request_errors.get(api)
            code = queued.pop(0) if queued else None
        if code is not None:
            raise error_for_code(code, f"injected {api} failure")
        if api == "offset_commit":
            self.commits.append({k: v for k, v in body.items() if not k.startswith("_")})
        answer = await self._answer(api, body, dispatch)
        with self._lock:
            if self._lost_answers[api] > 0:
                self._lost_answers[api] -= 1
                return None
        return answer

    async def _answer(self, api: str, body: dict[str, Any], dispatch: Dispatch) -> dict[str, Any]:
        """The real answer, except for the partitions armed to fail: those never reach the handler
        (a failed produce appends nothing) and get the armed error in their place."""
        if api not in _PARTITION_APIS:
            return await dispatch(api, body)
        ask, answer_key, error_fields = _PARTITION_APIS[api]
        entries = body.get(ask)
        if not isinstance(entries, list):
            return await dispatch(api, body)
        failed: dict[int, int] = {}
        with self._lock:
            for i, entry in enumerate(entries):
                if not isinstance(entry, dict):
                    continue  # the handler refuses the request
                queued = self._partition_errors.get((api, entry.get("topic"), entry.get("partition")))
                if queued:
                    failed[i] = queued.pop(0)
        if not failed:
            return await dispatch(api, body)
        rest = [e for i, e in enumerate(entries) if i not in failed]
        answer = await dispatch(api, {**body, ask: rest}) if rest else {answer_key: []}
        real = iter(answer[answer_key])
        merged = []
        for i, entry in enumerate(entries):
            if i in failed:
                err = error_for_code(failed[i], "injected")
                merged.append({"topic": entry["topic"], "partition": entry["partition"], "error_code": err.code,
                               "message": f"injected {err.name}", **error_fields})
            else:
                merged.append(next(real))
        return {**answer, answer_key: merged}


__all__ = ["RequestFaults"]
