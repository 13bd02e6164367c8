"""The templates folder read once, when the configuration is loaded.

Every renderer renders from this snapshot, never from the disk: the daemon keeps
sending what ``validate`` checked at start (or at the last good SIGHUP) while
someone edits, breaks or deletes a file; the edit takes effect with the next
successful reload.

Nothing outside the folder gets in. A file or folder whose real path leaves the
templates folder (a symlink ``templates/proc -> /proc/self``, whose ``environ`` an
``{% include %}`` would have mailed to customers) refuses the whole configuration;
names with ``..`` are never looked up; only regular files are opened (never a FIFO
or a device). Files and folders whose names start with ``.`` are left out (editor
and VCS files).
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

MAX_TEMPLATE_BYTES = 1024 * 1024  # one template file
MAX_SNAPSHOT_BYTES = 32 * 1024 * 1024  # the whole folder
MAX_SNAPSHOT_FILES = 10_000


@dataclass(frozen=True)
class SnapshotProblem:
    """Why the folder cannot be used; ``path`` is the offending file or link."""

    path: str
    message: str


@dataclass(frozen=True)
class TemplateSnapshot:
    root: Path
    files: dict[str, str] = field(default_factory=dict)  # "win_back/en/email.txt" -> source
    # Files found but not usable as templates (not UTF-8, too large, not a regular
    # file): an error only when a campaign or an include uses them.
    unusable: dict[str, str] = field(default_factory=dict)
    folders: frozenset[str] = frozenset()
    problems: tuple[SnapshotProblem, ...] = ()  # refuse the configuration

    @classmethod
    def read(cls, root: Path) -> TemplateSnapshot:
        reader = _Reader(Path(root))
        reader.walk()
        return cls(Path(root), reader.files, reader.unusable, frozenset(reader.folders),
                   tuple(reader.problems))

    def source(self, name: str) -> str | None:
        """The template's text, None when there is no such template; ValueError (with
        the reason) for a file that is there but cannot be a template."""
        key = normalize(name)
        if key is None:
            return None
        if key in self.unusable:
            raise ValueError(self.unusable[key])
        return self.files.get(key)

    def has(self, name: str) -> bool:
        key = normalize(name)
        return key is not None and (key in self.files or key in self.unusable)

    def has_folder(self, folder: str) -> bool:
        key = normalize(folder)
        return key is not None and (key == "" or key in self.folders)

    def names_under(self, folder: str) -> list[str]:
        key = normalize(folder)
        if key is None:
            return []
        prefix = f"{key}/" if key else ""
        return sorted(n for n in (*self.files, *self.unusable) if n.startswith(prefix))


def normalize(name: str) -> str | None:
    """``a//b/./c`` -> ``a/b/c``; None for a name that climbs out (``..``)."""
    parts = [p for p in name.replace("\\", "/").split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        return None
    return "/".join(parts)


class _Reader:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.real_root = os.path.realpath(root)
        self.files: dict[str, str] = {}
        self.unusable: dict[str, str] = {}
        self.folders: set[str] = set()
        self.problems: list[SnapshotProblem] = []
        self.total = 0
        self._over_total = False
        self._open_dirs: set[str] = set()  # the folders being walked: a link to one loops

    def walk(self) -> None:
        if not os.path.isdir(self.real_root):
            return  # the config reports the missing folder per campaign
        self._walk_dir(self.real_root, "")

    def _walk_dir(self, real_dir: str, relative: str) -> None:
        if real_dir in self._open_dirs:  # a link to a folder that contains it
            return
        self._open_dirs.add(real_dir)
        try:
            self._walk_entries(real_dir, relative)
        finally:
            self._open_dirs.discard(real_dir)

    def _walk_entries(self, real_dir: str, relative: str) -> None:
        try:
            entries = sorted(os.scandir(real_dir), key=lambda e: e.name)
        except OSError as exc:
            self.problems.append(SnapshotProblem(self._shown(relative),
                                                 f"cannot read folder: {exc.strerror}"))
            return
        for entry in entries:
            if self._full():
                return
            if entry.name.startswith("."):
                continue
            name = f"{relative}/{entry.name}" if relative else entry.name
            real = os.path.realpath(entry.path)
            if not self._inside(real):
                self.problems.append(SnapshotProblem(
                    self._shown(name), f"leads outside the templates folder (to {real}); "
                                       f"templates and includes must stay inside it"))
                continue
            try:
                mode = os.stat(real).st_mode
            except OSError:
                continue  # a dangling link (an editor's lock file): not a template
            if stat.S_ISDIR(mode):
                self.folders.add(name)
                self._walk_dir(real, name)
            elif stat.S_ISREG(mode):
                self._read_file(real, name)
            else:
                self.unusable[name] = "not a regular file"

    def _full(self) -> bool:
        if len(self.files) + len(self.unusable) + len(self.folders) <= MAX_SNAPSHOT_FILES:
            return False
        problem = SnapshotProblem(str(self.root),
                                  f"holds more than {MAX_SNAPSHOT_FILES} files and folders")
        if problem not in self.problems:
            self.problems.append(problem)
        return True

    def _read_file(self, real: str, name: str) -> None:
        try:
            # The path was checked to be inside; O_NOFOLLOW keeps a link swapped in since
            # from being followed, O_NONBLOCK a FIFO swapped in from blocking the read.
            fd = os.open(real, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
            with os.fdopen(fd, "rb") as fh:
                if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
                    self.unusable[name] = "not a regular file"
                    return
                data = fh.read(MAX_TEMPLATE_BYTES + 1)
        except OSError as exc:
            self.unusable[name] = f"cannot read: {exc.strerror}"
            return
        if len(data) > MAX_TEMPLATE_BYTES:
            self.unusable[name] = f"over {MAX_TEMPLATE_BYTES // 1024} KiB: too large for a template"
            return
        self.total += len(data)
        if self.total > MAX_SNAPSHOT_BYTES:
            if not self._over_total:
                self._over_total = True
                self.problems.append(SnapshotProblem(
                    str(self.root), f"holds more than {MAX_SNAPSHOT_BYTES // 1024 // 1024} "
                                    f"MiB of files; keep only templates there"))
            return
        try:
            self.files[name] = data.decode("utf-8")
        except UnicodeDecodeError:
            self.unusable[name] = "not UTF-8 text"

    def _inside(self, real: str) -> bool:
        return real == self.real_root or real.startswith(self.real_root.rstrip("/") + "/")

    def _shown(self, name: str) -> str:
        return str(self.root / name) if name else str(self.root)
