"""Install a requirements file into this interpreter only if something in it is missing.

`pip install -r` on a satisfied file still spends seconds resolving; this checks each line
against the installed distributions first (with pip's own vendored `packaging`), so a second
run of the set-up does nothing. Usage: python3 scripts/python_requirements.py FILE
"""

import subprocess
import sys
from importlib import metadata

from pip._vendor.packaging.requirements import Requirement


def unsatisfied(path: str) -> list[str]:
    """The requirement lines of `path` that the installed distributions do not satisfy."""
    missing = []
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            text = line.split("#", 1)[0].strip()
            if not text:
                continue
            requirement = Requirement(text)
            if requirement.marker is not None and not requirement.marker.evaluate():
                continue
            try:
                version = metadata.version(requirement.name)
            except metadata.PackageNotFoundError:
                missing.append(text)
                continue
            if not requirement.specifier.contains(version, prereleases=True):
                missing.append(text)
    return missing


def main() -> int:
    path = sys.argv[1]
    missing = unsatisfied(path)
    if not missing:
        return 0
    print(f"setup: installing Python requirements into {sys.executable}: {' '.join(missing)}")
    command = [sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check",
               "--root-user-action=ignore", "-r", path]
    return subprocess.call(command)


if __name__ == "__main__":
    sys.exit(main())
