"""Files only their owner can read: databases, secrets, passwords, and the folder they live in.

A campaign database holds every lead's address and what they did; the
tracking secret signs every link; the password file opens the mail
account. With the usual umask (022) new files are readable by every user
of the computer, so these are created with mode 0600 and the data folder
with 0700 instead.

SQLite creates a database's ``-wal`` and ``-shm`` files with the
permissions of the database file itself, so creating the (empty) database
file 0600 before SQLite first opens it is enough for all three; an empty
file is a valid new database to SQLite.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Union

FILE_MODE = 0o600
DIR_MODE = 0o700


def private_dir(path: Union[str, Path]) -> Path:
    """The folder, created 0700 if it does not exist yet (an existing one is left as its owner set it)."""
    path = Path(path)
    if not path.is_dir():
        path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        os.chmod(path, DIR_MODE)  # mkdir's mode is reduced by the umask; say it exactly
    return path


def create_private_file(path: Union[str, Path]) -> bool:
    """Create an empty file only its owner can read, unless it exists; True if it was created."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        return False
    os.close(fd)
    return True


def write_private_file(path: Union[str, Path], data: bytes) -> None:
    """Replace the file's contents atomically; the file is 0600 from its first byte."""
    path = Path(path)
    private_dir(path.parent)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    try:
        if hasattr(os, "fchmod"):  # not on Windows, where the folder's rights apply
            os.fchmod(fd, FILE_MODE)  # a leftover temporary file may have had wider rights
        os.write(fd, data)
    finally:
        os.close(fd)
    os.replace(temporary, path)


def prepare_sqlite_file(path: Union[str, Path]) -> None:
    """Create a new SQLite database file 0600 before SQLite does (its -wal and -shm follow it).

    An existing file is left alone, and a folder that does not exist is
    not created: SQLite then reports that as it always has.
    """
    text = str(path)
    if text in ("", ":memory:") or text.startswith("file:"):
        return
    try:
        create_private_file(path)
    except OSError:
        pass
