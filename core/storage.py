"""Study storage that is a local directory or a URI (``s3://``, ``gs://``, ``file://``)."""

from __future__ import annotations

import tempfile
from pathlib import Path


def is_uri(path: str) -> bool:
    return "://" in path


def resolve(path: str) -> str:
    """A local path made absolute (``~`` expanded); a URI as it is."""
    return path if is_uri(path) else str(Path(path).expanduser().resolve())


def unwritable(path: str) -> str | None:
    """Why a study cannot be written at local ``path`` (None when it can): the nearest
    existing ancestor must be a directory that takes new files. Leaves nothing behind."""
    if is_uri(path):
        return None
    here = Path(path)
    existing = next(p for p in (here, *here.parents) if p.exists())
    if not existing.is_dir():
        return f"{existing} is a file, not a directory"
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as err:
        return f"cannot write in {existing}: {err.strerror or err}"
    return None


def _fs(uri: str):
    import pyarrow.fs

    return pyarrow.fs.FileSystem.from_uri(uri)


def exists(path: str) -> bool:
    """Whether a file or directory exists at a local path or URI."""
    if not is_uri(path):
        return Path(path).exists()
    import pyarrow.fs

    fs, inner = _fs(path)
    return fs.get_file_info(inner).type != pyarrow.fs.FileType.NotFound


def read_text(path: str) -> str:
    """A small text file from a local path or URI; FileNotFoundError when it is absent."""
    if not is_uri(path):
        return Path(path).read_text()
    if not exists(path):
        raise FileNotFoundError(path)
    fs, inner = _fs(path)
    with fs.open_input_stream(inner) as stream:
        return stream.read().decode()


def write_text(path: str, text: str) -> None:
    """Write a small text file, creating its directory, at a local path or URI."""
    if not is_uri(path):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(text)
        return
    fs, inner = _fs(path)
    fs.create_dir(inner.rsplit("/", 1)[0])
    with fs.open_output_stream(inner) as out:
        out.write(text.encode())
