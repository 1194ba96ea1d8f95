"""Run STILTS ``votlint`` and parse its report (it always exits 0, so the text is the verdict)."""

from __future__ import annotations

import pathlib
import re
import shutil
import subprocess
from dataclasses import dataclass

STILTS = shutil.which("stilts") or "/usr/bin/stilts"

# e.g. "ERROR (l.102, c.11): cvc-id.1: ..." or "WARNING: ..." or "INFO (maxrepeat=4) suppressing ..."
_LINE = re.compile(r"^(?P<level>ERROR|WARNING|INFO)\b(?:\s*\((?P<where>[^)]*)\))?:?\s*(?P<message>.*)$")


@dataclass(frozen=True)
class Message:
    level: str
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.level} ({self.where}): {self.message}"


@dataclass(frozen=True)
class Report:
    messages: tuple[Message, ...]
    raw: str

    @property
    def errors(self) -> list[Message]:
        return [m for m in self.messages if m.level == "ERROR"]

    @property
    def warnings(self) -> list[Message]:
        return [m for m in self.messages if m.level == "WARNING"]


def votlint(path: pathlib.Path | str, *, timeout: float = 300) -> Report:
    """Validate ``path`` (schema validation on) and return every message votlint printed.

    Any output line that is not a recognised ERROR/WARNING/INFO message is reported as an ERROR,
    so a crash or an unexpected format cannot pass as a clean file.
    """
    proc = subprocess.run(
        [STILTS, "votlint", f"votable={path}", "validate=true"],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    text = proc.stdout + proc.stderr
    messages = []
    for line in text.splitlines():
        if not line.strip():
            continue
        match = _LINE.match(line.strip())
        if match is None:
            messages.append(Message("ERROR", "unparsed", line))
        else:
            messages.append(Message(match["level"], match["where"] or "", match["message"]))
    if proc.returncode != 0:
        messages.append(Message("ERROR", "exit", f"stilts exited with {proc.returncode}"))
    return Report(tuple(messages), text)
