"""``dispatcher validate``: render every template of every campaign before anything is sent."""

from __future__ import annotations

from types import SimpleNamespace

from channels.base import RenderedMessage
from channels.registry import SPECS
from dispatcher.clock import utcnow
from dispatcher.config.errors import ConfigError, ConfigIssue, Location
from dispatcher.config.experiment_checks import weight_change_warnings
from dispatcher.config.load import LoadedConfig
from dispatcher.config.mechanics import validate_once_per
from dispatcher.experiments.history import experiments_used
from dispatcher.experiments.render import arms_to_render, variant_folder
from dispatcher.mechanics.checks import mechanics_issues, template_targets
from dispatcher.mechanics.loyalty_currency import validate_warnings as loyalty_currency_warnings
from dispatcher.mechanics.send_checks import SAMPLE_CART, sample_promo
from dispatcher.message.builder import MessageBuilder
from dispatcher.render.context import SAMPLE_CUSTOMERS
from dispatcher.render.templating import RenderLimitExceeded, TemplateProblem, TemplateRenderer

SAMPLE_ADDRESSES = {"email": "sample@example.com", "sms": "+380501234567",
                    "telegram": "123456789", "push": "https://push.example/sub/1"}


def validate_all(loaded: LoadedConfig,
                 campaigns: list[str] | None = None) -> list[ConfigIssue]:
    """Raise ConfigError with every template problem; return warnings.

    ``campaigns`` limits the check to those campaigns (run-once checks what it runs).
    """
    issues: list[ConfigIssue] = []
    renderer = TemplateRenderer(loaded.templates)
    for name, campaign in loaded.config.campaigns.items():
        if campaigns is not None and name not in campaigns:
            continue
        problem = validate_once_per(campaign.once_per)
        if problem:
            loc = loaded.doc.locate(("campaigns", name, "once_per"))
            issues.append(ConfigIssue(loc, f"campaigns.{name}.once_per", problem))
        step_issues = mechanics_issues(loaded, name)
        issues.extend(step_issues)
        if step_issues:
            continue
        # Every A/B arm, and for a sequence every step of every arm.
        for variant in arms_to_render(loaded, name):
            base = variant_folder(loaded, name, variant)
            for folder, channels, promo in template_targets(loaded, name, base):
                _render_samples(loaded, renderer, name, folder, channels, issues, promo,
                                variant)
    issues.extend(weight_change_warnings(loaded, experiments_used(loaded)))
    unique = list(dict.fromkeys(issues))
    errors = [i for i in unique if i.severity == "error"]
    if errors:
        raise ConfigError(unique)
    return unique


def data_warnings(loaded: LoadedConfig) -> list[ConfigIssue]:
    """Warnings about the shop's data as this config reads it (``validate`` only: each
    may scan a table, which the daemon's reloads and ``run-once`` need not pay for)."""
    return loyalty_currency_warnings(loaded)


def _render_samples(loaded: LoadedConfig, renderer: TemplateRenderer, name: str, folder: str,
                    channels: list[str], issues: list[ConfigIssue], promo: bool = False,
                    variant: str | None = None) -> None:
    builder = MessageBuilder(loaded, renderer)  # the sender's own render path
    public = loaded.config.shop.public_url
    links = (f"{public}/u/sample-token", f"{public}/preferences/sample-token")
    locales = {None} | {p.parent.name for p in renderer.all_parts(folder)
                        if p.parent != renderer.root / folder}
    timed_out: set[str] = set()  # one time-budget error per channel: each costs a second
    for channel in channels:
        address = SimpleNamespace(address=SAMPLE_ADDRESSES.get(channel, "sample"),
                                  address_hash="", data={})
        for customer, stats in SAMPLE_CUSTOMERS:
            for locale in sorted(locales, key=lambda v: v or ""):
                if channel in timed_out:
                    continue
                sample = customer.__class__(**{**customer.__dict__, "locale": locale})
                try:
                    message = builder.build(
                        name, channel, sample, stats, address, variant=variant, folder=folder,
                        links=links,
                        promo=sample_promo(loaded, name, utcnow()) if promo else None,
                        # the newest sample customer has no cart yet
                        cart=None if customer.id == "sample-new" else SAMPLE_CART,
                        sample=True)  # links as they will be sent
                    _check_sample(loaded, renderer, folder, channel, message)
                except TemplateProblem as exc:
                    if isinstance(exc, RenderLimitExceeded) and exc.kind == "time":
                        timed_out.add(channel)
                    issues.append(ConfigIssue(Location(exc.file, exc.line or 1, 1),
                                              f"campaigns.{name}",
                                              f"{channel}: {exc.message}"))


def _check_sample(loaded: LoadedConfig, renderer: TemplateRenderer, folder: str,
                  channel: str, message: RenderedMessage) -> None:
    """The channel's own check of a rendered sample (SMS segments, Telegram markup and
    length, push payload size): a problem names the template it came from."""
    spec = SPECS[channel]
    problem = spec.check(loaded.channel_settings[channel], message)
    if problem:
        where = message.data.get("template_file") or str(renderer.root / folder / spec.parts[0])
        raise TemplateProblem(str(where), None,
                              f"for sample customer {message.customer_id}: {problem}")
