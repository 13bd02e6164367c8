"""Experiment checks: config errors at load time, and the weights-changed warning.

Changing the salt, the holdout share or the weights mid-experiment moves customers
between arms, so the arms stop being comparable: ``validate`` compares the config
with what the campaign's latest run recorded and warns.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from dispatcher.config.errors import ConfigIssue
from dispatcher.config.experiment import HOLDOUT, TREATMENT, experiment_record
from dispatcher.config.models import CampaignConfig

_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def check_campaign(name: str, campaign: CampaignConfig, templates: Any,
                   where: Callable[[tuple[str | int, ...]], ConfigIssue]) -> list[ConfigIssue]:
    """Errors in one campaign's experiment keys, each located at its key."""
    issues: list[ConfigIssue] = []

    def error(path: tuple[str | int, ...], message: str) -> None:
        base = where(("campaigns", name, *path))
        issues.append(ConfigIssue(base.location, base.path, message))

    for variant, body in campaign.variants.items():
        if variant in (HOLDOUT, TREATMENT) or not _NAME.match(variant):
            error(("variants", variant),
                  f"invalid variant name {variant!r} (letters, digits, _ and -; "
                  f"'{HOLDOUT}' and '{TREATMENT}' are reserved)")
        if body.template and not templates.has_folder(body.template):
            error(("variants", variant, "template"),
                  f"template folder not found: {templates.root / body.template}")
        if body.channels is not None and sorted(body.channels) != sorted(campaign.channels):
            error(("variants", variant, "channels"),
                  f"a variant reorders the campaign's channels {campaign.channels}; "
                  f"got {body.channels}")
    if len(campaign.variants) == 1 and campaign.holdout == 0:
        error(("variants",), "one variant and no holdout is not a test: add a variant "
                             "or a holdout share")
    return issues


def weight_change_warnings(loaded: Any, used: dict[str, dict[str, Any]]) -> list[ConfigIssue]:
    """``used``: campaign -> the experiment record of its latest run that has outbox rows."""
    warnings: list[ConfigIssue] = []
    for name, campaign in loaded.config.campaigns.items():
        before = used.get(name)
        now = experiment_record(name, campaign)
        if before is None or now is None or _same(before, now):
            continue
        if before.get("salt") != now["salt"]:
            continue  # a new salt is a new experiment: a deliberate fresh start
        loc = loaded.doc.locate(("campaigns", name, "variants")) or \
            loaded.doc.locate(("campaigns", name, "holdout"))
        warnings.append(ConfigIssue(
            loc, f"campaigns.{name}",
            f"holdout/weights changed mid-experiment (runs so far used holdout "
            f"{before.get('holdout')}, weights {before.get('weights')}; now holdout "
            f"{now['holdout']}, weights {now['weights']}): customers move between arms "
            f"and the report mixes them. Keep the old split, or set a new salt to start "
            f"a new experiment.", severity="warning"))
    return warnings


def _same(before: dict[str, Any], now: dict[str, Any]) -> bool:
    return (abs(float(before.get("holdout") or 0) - now["holdout"]) < 1e-9
            and {k: float(v) for k, v in (before.get("weights") or {}).items()}
            == {k: float(v) for k, v in now["weights"].items()})
