"""Print the project's optional-dependency groups as ``a,b,c`` (for ``make lock``)."""

import tomllib
from pathlib import Path

if __name__ == "__main__":
    project = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())
    print(",".join(sorted(project["project"].get("optional-dependencies", {}))))
