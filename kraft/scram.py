"""SCRAM credentials (KIP-554): which alterations Kafka accepts, and what DescribeUserScramCredentials
answers from the stored ones.

Owns: the mechanisms (Kafka's numbers and names), the iteration bounds, the checks of an
AlterUserScramCredentials request that need no state (``check_alterations``), and the description
of stored credentials (``describe``). Stored credentials are the metadata group's records
(``kraft.state.metadata``, ``SCRAM_CREDENTIALS``): user -> {mechanism name: [iterations, salt,
salted password]}, as the client computed them (the password itself never reaches a node).
Must not: touch storage or a wire shape, or authenticate anyone: kraft has no SASL listener, so
credentials are stored and described, never used to log a client in.

Errors per user, as Kafka's: an empty user name UNACCEPTABLE_CREDENTIAL, a user and mechanism named
twice in one request (across deletions and upsertions) DUPLICATE_RESOURCE, an unknown mechanism
UNSUPPORTED_SASL_MECHANISM, iterations outside 4096..16384 UNACCEPTABLE_CREDENTIAL; a deletion of a
credential the user does not have RESOURCE_NOT_FOUND (the metadata group's check: it needs the
state). A user with any error changes nothing; the other users of the request still do.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kraft import errors

MECHANISMS: Mapping[int, str] = {1: "SCRAM-SHA-256", 2: "SCRAM-SHA-512"}  # Kafka's ScramMechanism numbers
MECHANISM_CODES: Mapping[str, int] = {name: code for code, name in MECHANISMS.items()}
ITERATIONS_MIN = 4096  # Kafka's ScramMechanism.minIterations
ITERATIONS_MAX = 16384  # Kafka's ScramMechanism.maxIterations


@dataclass(frozen=True, slots=True)
class Deletion:
    user: str
    mechanism: int


@dataclass(frozen=True, slots=True)
class Upsertion:
    user: str
    mechanism: int
    iterations: int
    salt: bytes
    salted_password: bytes


@dataclass(frozen=True, slots=True)
class Checked:
    """A request split: the users refused before reaching the metadata group (with why), and the
    alterations of the others, as the ``alter_scram_credentials`` command carries them."""

    refused: dict[str, errors.KraftError]
    deletions: list[list[Any]]  # [user, mechanism name]
    upsertions: list[list[Any]]  # [user, mechanism name, iterations, salt, salted password]


def _problem(user: str, mechanism: int, iterations: int | None) -> errors.KraftError | None:
    if not user:
        return errors.UnacceptableCredential("the user name must not be empty")
    if mechanism not in MECHANISMS:
        return errors.UnsupportedSaslMechanism(f"unknown SCRAM mechanism {mechanism} (1 SCRAM-SHA-256, "
                                               "2 SCRAM-SHA-512)")
    if iterations is not None and iterations < ITERATIONS_MIN:
        return errors.UnacceptableCredential(f"too few iterations: {iterations} (at least {ITERATIONS_MIN})")
    if iterations is not None and iterations > ITERATIONS_MAX:
        return errors.UnacceptableCredential(f"too many iterations: {iterations} (at most {ITERATIONS_MAX})")
    return None


def users_of(deletions: Sequence[Deletion], upsertions: Sequence[Upsertion]) -> list[str]:
    """The users a request alters, each once, in the order they first appear."""
    return list(dict.fromkeys([*(d.user for d in deletions), *(u.user for u in upsertions)]))


def check_alterations(deletions: Sequence[Deletion], upsertions: Sequence[Upsertion]) -> Checked:
    """Every check that needs no stored credential, user by user (see the module docstring)."""
    refused: dict[str, errors.KraftError] = {}
    seen: dict[tuple[str, int], int] = {}
    alterations: list[Deletion | Upsertion] = [*deletions, *upsertions]
    for a in alterations:
        seen[(a.user, a.mechanism)] = seen.get((a.user, a.mechanism), 0) + 1
    for (user, mechanism), count in seen.items():
        if count > 1 and user not in refused:
            refused[user] = errors.DuplicateResource(
                f"user {user!r}: {MECHANISMS.get(mechanism, mechanism)} is altered twice in one request")
    for a in alterations:
        if a.user not in refused:
            problem = _problem(a.user, a.mechanism, a.iterations if isinstance(a, Upsertion) else None)
            if problem is not None:
                refused[a.user] = problem
    return Checked(
        refused,
        [[d.user, MECHANISMS[d.mechanism]] for d in deletions if d.user not in refused],
        [[u.user, MECHANISMS[u.mechanism], u.iterations, u.salt, u.salted_password]
         for u in upsertions if u.user not in refused])


@dataclass(frozen=True, slots=True)
class UserCredentials:
    """What DescribeUserScramCredentials says of one user: its mechanisms and iterations (never the
    salt or salted password), or why not."""

    user: str
    error: errors.KraftError | None
    credentials: tuple[tuple[int, int], ...]  # (mechanism number, iterations), by mechanism


def describe(stored: Mapping[str, Mapping[str, Sequence[Any]]], users: Sequence[str] | None) -> list[UserCredentials]:
    """Every user with credentials (``users`` None or empty), or the users asked for: one named twice
    is DUPLICATE_RESOURCE, one without credentials RESOURCE_NOT_FOUND."""
    if not users:
        users, repeated = sorted(stored), set()
    else:
        repeated = {u for u in users if users.count(u) > 1}
    out = []
    for user in dict.fromkeys(users):
        creds = stored.get(user)
        if user in repeated:
            out.append(UserCredentials(user, errors.DuplicateResource(
                f"user {user!r} is described twice in one request"), ()))
        elif not creds:
            out.append(UserCredentials(user, errors.ResourceNotFound(
                f"user {user!r} has no SCRAM credentials"), ()))
        else:
            infos = sorted((MECHANISM_CODES[m], int(row[0])) for m, row in creds.items() if m in MECHANISM_CODES)
            out.append(UserCredentials(user, None, tuple(infos)))
    return out
