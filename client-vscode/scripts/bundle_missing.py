"""Print the requirements that bundled/libs lacks on some Python >= 3.10 or some platform.

pip resolves environment markers for the Python that runs it, even with --python-version:
a bundle made on Python 3.12 leaves out `exceptiongroup; python_version < "3.11"`, which
Python 3.10 needs. This walks every bundled distribution's requirements under each target
environment and prints (one a line) those not satisfied; bundle-python.sh installs them.

    python bundle_missing.py bundled/libs
"""

from __future__ import annotations

import sys
from importlib import metadata

from pip._vendor.packaging.markers import Marker
from pip._vendor.packaging.requirements import Requirement
from pip._vendor.packaging.utils import canonicalize_name
from pip._vendor.packaging.version import Version

PYTHONS = ["3.10", "3.11", "3.12", "3.13", "3.14", "3.15"]
PLATFORMS = {"linux": ("posix", "Linux"), "darwin": ("posix", "Darwin"), "win32": ("nt", "Windows")}


def environments() -> list[dict[str, str]]:
    result = []
    for python in PYTHONS:
        for sys_platform, (os_name, system) in PLATFORMS.items():
            result.append(
                {
                    "python_version": python,
                    "python_full_version": f"{python}.0",
                    "implementation_name": "cpython",
                    "platform_python_implementation": "CPython",
                    "sys_platform": sys_platform,
                    "os_name": os_name,
                    "platform_system": system,
                    "platform_machine": "x86_64",
                    "extra": "",
                }
            )
    return result


def main(libs: str) -> int:
    installed = {canonicalize_name(d.metadata["Name"]): Version(d.version) for d in metadata.distributions(path=[libs])}
    missing: dict[str, list[str]] = {}
    for dist in metadata.distributions(path=[libs]):
        for line in dist.requires or []:
            requirement = Requirement(line)
            marker: Marker | None = requirement.marker
            if marker is not None and not any(marker.evaluate(env) for env in environments()):
                continue  # only for an extra, or for no supported environment
            name = canonicalize_name(requirement.name)
            version = installed.get(name)
            if version is None:
                missing.setdefault(name, []).extend(str(spec) for spec in requirement.specifier)
            elif not requirement.specifier.contains(version, prereleases=True):
                print(f"{dist.metadata['Name']} needs {requirement}, bundled is {version}", file=sys.stderr)
                return 1
    for name, specifiers in sorted(missing.items()):
        print(name + ",".join(sorted(set(specifiers))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
