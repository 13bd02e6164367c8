"""Load config.yaml (and its includes), validate it, and report every error with its place.

Loading also reads the templates folder into a snapshot (``LoadedConfig.templates``):
what is validated is what is rendered, until the next successful load.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from channels.base import ChannelSettings
from channels.registry import SPECS, known_channels, validate_settings
from dispatcher.config.env import EnvResolver, redact
from dispatcher.config.errors import ConfigError, ConfigIssue, Location
from dispatcher.config.experiment_checks import check_campaign
from dispatcher.config.models import Config
from dispatcher.config.source import LocatedDocument, PathKey, ReadBudget, load_yaml
from dispatcher.config.templates import TemplateSnapshot
from dispatcher.segments.parse import Node, parse_segments

# Keys an included file may contribute (merged into the main document by name).
_INCLUDABLE = ("segments", "campaigns")


@dataclass
class LoadedConfig:
    config: Config
    path: Path
    base_dir: Path
    doc: LocatedDocument
    channel_settings: dict[str, ChannelSettings]
    segments: dict[str, Node]
    warnings: list[ConfigIssue] = field(default_factory=list)
    # The templates folder as it was when this config was loaded; every renderer
    # renders from it (TemplateRenderer(loaded.templates)), never from the disk.
    templates: TemplateSnapshot = field(default_factory=lambda: TemplateSnapshot(Path()))

    @property
    def templates_dir(self) -> Path:
        folder = Path(self.config.templates)
        return folder if folder.is_absolute() else self.base_dir / folder

    def database_url(self) -> str:
        """SQLite paths are relative to the config file, not to the working directory."""
        url = os.environ.get("DISPATCHER_DATABASE_URL") or self.config.database.url
        prefix = "sqlite:///"
        if url.startswith(prefix) and not url.startswith(prefix + "/") and ":memory:" not in url:
            return prefix + str(self.base_dir / url[len(prefix):])
        return url

    def campaign_channels(self, campaign: str) -> list[str]:
        return list(self.config.campaigns[campaign].channels)

    def template_folder(self, campaign: str) -> str:
        return self.config.campaigns[campaign].template or campaign


def load_config(path: str | Path) -> LoadedConfig:
    """Load and validate; raise ConfigError listing every problem at once (none of
    them echoing a value that came from the environment)."""
    doc = LocatedDocument()
    try:
        return _load(Path(path), doc)
    except ConfigError as exc:
        raise ConfigError(redact(doc.without_followups(exc.issues), doc)) from None


def _load(path: Path, doc: LocatedDocument) -> LoadedConfig:
    base_dir = path.resolve().parent
    issues: list[ConfigIssue] = []
    budget = ReadBudget()
    data = load_yaml(path, path.name, doc, issues, budget=budget)
    if data is None and not issues:
        data = {}
    if issues:
        raise ConfigError(issues)
    if not isinstance(data, dict):
        raise ConfigError([ConfigIssue(doc.locate(()), "", "the top level must be a mapping")])
    env = EnvResolver(doc.env_refs)
    env.apply(data, doc, list(doc.env_refs), issues)

    _merge_includes(data, base_dir, doc, issues, env, budget)

    def where(loc: PathKey) -> ConfigIssue:
        return ConfigIssue(doc.locate(loc), ".".join(str(p) for p in loc), "")

    config, dropped = _validate_model(data, where, issues)
    if config is None:
        raise ConfigError(issues)

    valid_channels = known_channels()
    channel_settings: dict[str, ChannelSettings] = {}
    for name, raw in config.channels.items():
        if name not in SPECS:
            base = where(("channels", name))
            issues.append(ConfigIssue(base.location, base.path,
                                      f"unknown channel '{name}' (valid: "
                                      f"{', '.join(valid_channels)})"))
            continue
        try:
            channel_settings[name] = validate_settings(name, raw)
        except ValidationError as exc:
            for err in exc.errors():
                loc = ("channels", name, *(str(p) for p in err["loc"]))
                base = where(loc)
                message = err["msg"].removeprefix("Value error, ")
                if err["type"] == "extra_forbidden":
                    message = f"unknown key '{loc[-1]}'"
                issues.append(ConfigIssue(base.location, base.path, message))
    for name in valid_channels:
        if name not in config.channels:
            # Not configured: the file transport writes what would be sent.
            channel_settings[name] = validate_settings(name, {"transport": "file"})

    segments, seg_errors = parse_segments(config.segments, valid_channels)
    for seg_err in seg_errors:
        base = where(seg_err.path)
        issues.append(ConfigIssue(base.location, base.path, seg_err.message))

    loaded = LoadedConfig(config, path, base_dir, doc, channel_settings, segments)
    templates = loaded.templates_dir
    loaded.templates = snapshot = TemplateSnapshot.read(templates)
    for problem in snapshot.problems:
        issues.append(ConfigIssue(Location(problem.path, 1, 1), "templates", problem.message))
    for name, body in dropped.items():
        # A campaign with a type error still gets its references checked, so one
        # round of fixes is enough.
        segment = body.get("segment") if isinstance(body, dict) else None
        if isinstance(segment, str) and segment not in segments:
            base = where(("campaigns", name, "segment"))
            known = ", ".join(sorted(segments)) or "none defined"
            issues.append(ConfigIssue(base.location, base.path,
                                      f"unknown segment '{segment}' (known: {known})"))
    for section, keyed in (("caps", config.caps.channels),
                           ("quiet_hours", config.quiet_hours.channels)):
        for channel in keyed:
            if channel not in SPECS:
                base = where((section, "channels", channel))
                issues.append(ConfigIssue(base.location, base.path,
                                          f"unknown channel '{channel}' (valid: "
                                          f"{', '.join(valid_channels)})"))
    for name, campaign in config.campaigns.items():
        if campaign.segment not in segments:
            base = where(("campaigns", name, "segment"))
            known = ", ".join(sorted(segments)) or "none defined"
            issues.append(ConfigIssue(base.location, base.path,
                                      f"unknown segment '{campaign.segment}' (known: {known})"))
        for index, channel in enumerate(campaign.channels):
            if channel not in SPECS:
                base = where(("campaigns", name, "channels", index))
                issues.append(ConfigIssue(base.location, base.path,
                                          f"unknown channel '{channel}' (valid: "
                                          f"{', '.join(valid_channels)})"))
        issues.extend(check_campaign(name, campaign, snapshot, where))
        folder = templates / loaded.template_folder(name)
        if not snapshot.has_folder(loaded.template_folder(name)):
            key = "template" if campaign.template else "segment"
            base = where(("campaigns", name, key) if campaign.template else ("campaigns", name))
            issues.append(ConfigIssue(base.location, base.path,
                                      f"template folder not found: {folder}"))
    if issues:
        raise ConfigError(issues)
    return loaded


def _validate_model(data: dict[str, Any], where: Callable[[PathKey], ConfigIssue],
                    issues: list[ConfigIssue]) -> tuple[Config | None, dict[str, Any]]:
    """Validate the whole file, reporting every error located.

    When some campaigns or segments are invalid, validate again without them so the
    cross-checks (unknown segment, missing templates) still run on the rest and all
    errors come out in one go. Returns the config (or None) and the dropped campaigns.
    """
    try:
        return Config.model_validate(data), {}
    except ValidationError as exc:
        salvage = {k: (dict(v) if k in ("campaigns", "segments") and isinstance(v, dict) else v)
                   for k, v in data.items()}
        dropped: dict[str, Any] = {}
        for err in exc.errors():
            # A dict key's own error (a campaign name) is located at the key.
            loc = tuple(str(p) if not isinstance(p, int) else p for p in err["loc"]
                        if p != "[key]")
            base = where(loc)
            message = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                message = f"unknown key '{loc[-1]}'"
            elif err["type"] == "missing":
                message = f"missing required key '{loc[-1]}'"
            issues.append(ConfigIssue(base.location, base.path, message))
            section = salvage.get(str(loc[0])) if loc else None
            if len(loc) >= 2 and isinstance(section, dict) and loc[1] in section:
                body = section.pop(loc[1])
                if loc[0] == "campaigns":
                    dropped[str(loc[1])] = body
            elif loc:
                salvage.pop(str(loc[0]), None)
    try:
        return Config.model_validate(salvage), dropped
    except ValidationError:
        return None, dropped


def _merge_includes(data: dict[str, Any], base_dir: Path, doc: LocatedDocument,
                    issues: list[ConfigIssue], env: EnvResolver, budget: ReadBudget) -> None:
    includes = data.get("include") or []
    if not isinstance(includes, list):
        return  # the model reports the type error
    for index, pattern in enumerate(includes):
        matches = sorted(glob.glob(str(base_dir / str(pattern))))
        if not matches:
            issues.append(ConfigIssue(doc.locate(("include", index)), f"include.{index}",
                                      f"no file matches {pattern!r}"))
        for match in matches:
            display = os.path.relpath(match, base_dir)
            sub_doc = LocatedDocument()
            included = load_yaml(Path(match), display, sub_doc, issues, budget=budget)
            if included is None:
                continue
            if not isinstance(included, dict):
                issues.append(ConfigIssue(sub_doc.locate(()), "", "must be a mapping"))
                continue
            env.apply(included, sub_doc, list(sub_doc.env_refs), issues)
            doc.substituted.extend(sub_doc.substituted)
            doc.claimed.update(sub_doc.claimed)
            for key, value in included.items():
                if key not in _INCLUDABLE or not isinstance(value, dict):
                    issues.append(ConfigIssue(sub_doc.locate((key,)), key,
                                              f"an included file may only hold "
                                              f"{' and '.join(_INCLUDABLE)} mappings"))
                    continue
                target = data.setdefault(key, {})
                if not isinstance(target, dict):
                    continue
                for name, body in value.items():
                    if name in target:
                        issues.append(ConfigIssue(sub_doc.locate((key, name)), f"{key}.{name}",
                                                  f"defined twice (also in "
                                                  f"{doc.locate((key, name))})"))
                        continue
                    target[name] = body
                    for loc_path, loc in sub_doc.locations.items():
                        if loc_path[:2] == (key, name):
                            doc.locations[loc_path] = loc
