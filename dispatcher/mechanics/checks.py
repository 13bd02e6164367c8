"""``dispatcher validate`` checks for the mechanics, located in config.yaml."""

from __future__ import annotations

from channels.registry import SPECS, known_channels
from dispatcher.config.errors import ConfigIssue
from dispatcher.config.load import LoadedConfig
from dispatcher.mechanics.sequences import step_channels, step_folder


def template_targets(loaded: LoadedConfig, campaign: str, base_folder: str | None = None
                     ) -> list[tuple[str, list[str], bool]]:
    """(template folder, channels, gets a promo code) to render: one per step for a
    sequence. ``base_folder``: an A/B variant's own folder instead of the campaign's."""
    config = loaded.config.campaigns[campaign]
    folder = base_folder or loaded.template_folder(campaign)
    has_promo = config.promo is not None
    if not config.steps:
        return [(folder, list(config.channels), has_promo)]
    return [(step_folder(folder, config, s.name), step_channels(config, s.name),
             has_promo and s.promo) for s in config.steps]


def mechanics_issues(loaded: LoadedConfig, campaign: str) -> list[ConfigIssue]:
    config = loaded.config.campaigns[campaign]
    issues = []

    def issue(path: tuple[str | int, ...], message: str) -> None:
        issues.append(ConfigIssue(loaded.doc.locate(("campaigns", campaign, *path)),
                                  ".".join(map(str, ("campaigns", campaign, *path))), message))

    needs_tiers = config.once_per == "tier" or (
        config.trigger is not None and config.trigger.kind == "tier_reached")
    if needs_tiers and not loaded.config.loyalty.tiers:
        issue(("once_per",) if config.once_per == "tier" else ("trigger",),
              "needs loyalty.tiers in the config")
    for index, step in enumerate(config.steps):
        for position, channel in enumerate(step.channels or []):
            if channel not in SPECS:
                issue(("steps", index, "channels", position),
                      f"unknown channel '{channel}' (valid: {', '.join(known_channels())})")
        folder = step_folder(loaded.template_folder(campaign), config, step.name)
        if not loaded.templates.has_folder(folder):
            issue(("steps", index), f"template folder not found: {loaded.templates_dir / folder}")
    return issues
