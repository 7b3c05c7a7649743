"""Whether this interpreter's environment holds exactly the versions that
requirements.txt pins, for tests/interop_python.rs, which installs them
when it does not.

Prints one JSON line: {"installed": {NAME: VERSION, ...}, "problems": [...]}
with every pinned name (normalized as PyPI does) and, for each pin not met,
what is wrong. Reads the installed distributions' metadata only: no network,
no pip (which a broken venv may lack).
"""

import json
import re
from importlib import metadata
from pathlib import Path

REQUIREMENTS = Path(__file__).with_name("requirements.txt")


def normalize(name):
    """PEP 503 names: what PyPI, pip and the reports compare."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pins():
    """`name -> version` for each `name==version` line of requirements.txt."""
    pinned = {}
    for line in REQUIREMENTS.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        name, sep, version = line.partition("==")
        if not sep:
            raise SystemExit(f"requirements.txt: {line!r} is not pinned with ==")
        pinned[normalize(name)] = version.strip()
    return pinned


def main():
    # Iterated rather than looked up by name: importlib.metadata normalizes
    # names differently across Python versions.
    installed = {
        normalize(dist.metadata["Name"]): dist.version
        for dist in metadata.distributions()
        if dist.metadata["Name"]
    }
    found = {}
    problems = []
    for name, version in pins().items():
        have = installed.get(name)
        if have is None:
            problems.append(f"{name} is not installed")
        elif have != version:
            problems.append(f"{name} {have} is installed, {version} is pinned")
        else:
            found[name] = have
    print(json.dumps({"installed": found, "problems": problems}))


if __name__ == "__main__":
    main()
