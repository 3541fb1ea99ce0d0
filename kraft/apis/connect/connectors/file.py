"""File source (tail a file, one record per line) and file sink (append one line per record).

The source's position is the byte offset after the last line it delivered, with the file's
inode: across restarts it resumes there; when the file is rotated (the path now names another
inode) it finishes the old file first, then reads the new one from its start. That holds across
a restart too: the old file is found by its inode in the same directory (``app.log.1``), if it is
still there uncompressed. When the file shrank below the position (truncated in place) it starts
over at 0; a file truncated and written past the old position before a poll sees it cannot be
told from one that grew (as with every tailer of copytruncate). Only complete lines (ending in a
newline) are delivered; a partial last line waits for its newline.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import IO, Any, ClassVar

from ..api import SinkConnector, SinkRecord, SinkTask, SourceConnector, SourceRecord, SourceTask
from ..envelope import to_bytes
from ..fields import Field, non_empty, positive


class FileSourceTask(SourceTask):
    def start(self, config: Mapping[str, Any]) -> None:
        self.path = os.path.abspath(config["file"])
        self.topic = config["topic"]
        self.batch = config["batch_max_lines"]
        self.partition = {"file": self.path}
        self.fh: IO[bytes] | None = None
        self.inode: int | None = None
        self.position = 0
        stored = self.context.offset(self.partition)
        if stored is not None:
            self.inode, self.position = stored.get("inode"), int(stored.get("position", 0))

    def _open(self) -> bool:
        target = self.path
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return False
        if self.inode is not None and st.st_ino != self.inode:
            # Rotated while we were not reading it: finish the old file if it is still around.
            rotated = self._find_rotated(st.st_dev)
            if rotated is None:
                self.position = 0  # gone (deleted, compressed): the new file from its start
            else:
                target = rotated
        try:
            fh = open(target, "rb")  # noqa: SIM115 - held open across polls to follow rotation
        except FileNotFoundError:
            return False
        st = os.fstat(fh.fileno())  # what was opened, whatever was renamed meanwhile
        if self.inode is not None and st.st_ino != self.inode:
            self.position = 0
        if st.st_size < self.position:
            self.position = 0  # truncated in place
        self.fh = fh
        self.fh.seek(self.position)
        self.inode = st.st_ino
        return True

    def _find_rotated(self, device: int) -> str | None:
        """The file of our directory that is still the inode we were reading, if any."""
        directory = os.path.dirname(self.path)
        try:
            entries = list(os.scandir(directory))
        except OSError:
            return None
        for entry in entries:
            try:
                if entry.is_file(follow_symlinks=False) and entry.inode() == self.inode:
                    st = entry.stat(follow_symlinks=False)
                    if st.st_dev == device and st.st_size >= self.position:
                        return entry.path
            except OSError:
                continue
        return None

    def _rotated(self) -> bool:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return False
        return st.st_ino != self.inode or st.st_size < self.position

    def poll(self) -> list[SourceRecord]:
        if self.fh is None and not self._open():
            return []
        assert self.fh is not None
        records = self._read_lines()
        if not records and self._rotated():
            # Everything of the old file is delivered (we read to its end just now): move on.
            self.fh.close()
            self.fh = None
            self.inode = None
            self.position = 0
            if self._open():
                records = self._read_lines()
        return records

    def _read_lines(self) -> list[SourceRecord]:
        assert self.fh is not None
        out: list[SourceRecord] = []
        self.fh.seek(self.position)
        while len(out) < self.batch:
            line = self.fh.readline()
            if not line.endswith(b"\n"):
                break  # EOF, or a partial line still being written
            self.position += len(line)
            out.append(SourceRecord(self.partition, {"position": self.position, "inode": self.inode},
                                    self.topic, line[:-1].rstrip(b"\r").decode("utf-8", "replace")))
        return out

    def stop(self) -> None:
        if self.fh is not None:
            self.fh.close()


class FileSourceConnector(SourceConnector):
    fields: ClassVar[tuple[Field, ...]] = (
        Field("file", str, doc="path of the file to tail", check=non_empty),
        Field("topic", str, doc="topic to write the lines to", check=non_empty),
        Field("batch_max_lines", int, 1000, check=positive),
    )
    task_class = FileSourceTask

    def topics(self) -> list[str]:
        return [self.config["topic"]]


class FileSinkTask(SinkTask):
    def start(self, config: Mapping[str, Any]) -> None:
        self.fh = open(config["file"], "ab")  # noqa: SIM115 - kept open for the task's life

    def put(self, records: list[SinkRecord]) -> None:
        for r in records:
            value = r.value
            if value is None:
                continue
            if not isinstance(value, bytes):
                value = to_bytes(value) or b""
            self.fh.write(value + b"\n")

    def flush(self) -> None:
        self.fh.flush()
        os.fsync(self.fh.fileno())

    def stop(self) -> None:
        self.fh.close()


class FileSinkConnector(SinkConnector):
    fields: ClassVar[tuple[Field, ...]] = (
        Field("file", str, doc="path of the file to append to", check=non_empty),
        Field("topics", list, doc="topics to read", check=non_empty),
    )
    task_class = FileSinkTask
