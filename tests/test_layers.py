"""The import layers: each package imports only from the layers below it.

Read bottom-up, the list is the pipeline: channel adapters and a few shared modules;
the store; segments and config; rendering; experiments, tracking, policy and the
outbox; the mechanics; one message as it will be sent; planning, importing, demo data
and reports; sending; web push subscriptions; the HTTP app, the daemon and the CLI.
Every import counts, also one inside a function or under TYPE_CHECKING: a lazy import
still ties the two modules together.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Lowest first. A name is a package under dispatcher/ ("store"), a top-level module
# of dispatcher ("dispatcher.clock"), or the top-level ``channels`` package.
LAYERS: list[tuple[str, ...]] = [
    ("channels",),
    ("dispatcher.clock", "dispatcher.money", "dispatcher.signing", "dispatcher.logs",
     "dispatcher.i18n", "dispatcher.links"),
    ("store",),
    ("segments",),
    ("config",),
    ("dispatcher.app",),
    ("render",),
    ("experiments",),
    ("tracking",),
    ("policy",),
    ("outbox",),
    ("mechanics",),
    ("message",),
    ("importer", "plan", "demo", "reports"),
    ("send",),
    ("push",),
    ("web",),
    ("daemon",),
    ("cli",),
]
# Modules of one layer may import each other only within these groups.
SHARED = {LAYERS[1]}


def unit_of(module: str) -> str | None:
    """The layer unit a dotted module name belongs to (None: not ours)."""
    parts = module.split(".")
    if parts[0] == "channels":
        return "channels"
    if parts[0] != "dispatcher" or len(parts) == 1:
        return None
    if (ROOT / "dispatcher" / parts[1]).is_dir():
        return parts[1]
    return f"dispatcher.{parts[1]}"


def layer_of(unit: str) -> int:
    for index, names in enumerate(LAYERS):
        if unit in names:
            return index
    raise AssertionError(f"{unit} is in no layer: add it to LAYERS in {__file__}")


def imports(path: Path, package: str) -> list[str]:
    """Every module ``path`` (in ``package``) imports, as absolute names, wherever the
    import statement is."""
    found: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            found.append(base)
            # ``from dispatcher import clock`` imports the module dispatcher.clock
            found += [f"{base}.{alias.name}" for alias in node.names
                      if (ROOT / Path(*base.split("."), alias.name)).with_suffix(".py").exists()
                      or (ROOT / Path(*base.split("."), alias.name)).is_dir()]
    return found


def sources() -> list[Path]:
    files = sorted((ROOT / "dispatcher").rglob("*.py")) + sorted((ROOT / "channels").rglob("*.py"))
    return [f for f in files if "migrations" not in f.parts]


def test_every_import_goes_down_the_layers() -> None:
    wrong: list[str] = []
    for path in sources():
        parts = path.relative_to(ROOT).with_suffix("").parts
        if parts == ("dispatcher", "__init__"):
            continue
        unit = unit_of(".".join(parts))
        assert unit is not None
        own = layer_of(unit)
        for target in imports(path, ".".join(parts[:-1])):
            other = unit_of(target)
            if other is None or other == unit:
                continue
            theirs = layer_of(other)
            if theirs < own or (theirs == own and LAYERS[own] in SHARED):
                continue
            wrong.append(f"{path.relative_to(ROOT)} ({unit}) imports {target} ({other})")
    assert not wrong, "imports that go up or sideways:\n" + "\n".join(wrong)


def test_the_check_sees_an_upward_import(tmp_path: Path) -> None:
    # The walker finds imports in functions, under TYPE_CHECKING and relative ones.
    sample = tmp_path / "probe.py"
    sample.write_text("from typing import TYPE_CHECKING\n"
                      "if TYPE_CHECKING:\n    from ..plan import planner\n"
                      "def f():\n    from dispatcher.send import sender\n")
    found = imports(sample, "dispatcher.store")
    assert "dispatcher.plan.planner" in found and "dispatcher.send.sender" in found
    assert layer_of(unit_of("dispatcher.plan.planner") or "") > layer_of("store")
