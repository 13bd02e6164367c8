"""The sender's experiment hook: a variant's template folder, offer and subject."""

from __future__ import annotations

from typing import Any

from channels.base import RenderedMessage
from dispatcher.config.experiment import VariantConfig
from dispatcher.config.load import LoadedConfig
from dispatcher.render.templating import TemplateRenderer


def variant_of(loaded: LoadedConfig, campaign: str, variant: str | None) -> VariantConfig | None:
    if variant is None:
        return None
    return loaded.config.campaigns[campaign].variants.get(variant)


def variant_folder(loaded: LoadedConfig, campaign: str, variant: str | None) -> str:
    chosen = variant_of(loaded, campaign, variant)
    if chosen is not None and chosen.template:
        return chosen.template
    return loaded.template_folder(campaign)


def variant_context(loaded: LoadedConfig, campaign: str, variant: str | None,
                    context: dict[str, Any]) -> None:
    """Templates see ``variant`` (its name) and the variant's ``offer`` when it has one."""
    context["variant"] = variant
    chosen = variant_of(loaded, campaign, variant)
    if chosen is not None and chosen.offer is not None:
        context["offer"] = chosen.offer


def override_subject(renderer: TemplateRenderer, loaded: LoadedConfig, campaign: str,
                     variant: str | None, message: RenderedMessage,
                     context: dict[str, Any]) -> None:
    chosen = variant_of(loaded, campaign, variant)
    if chosen is None or chosen.subject is None or message.subject is None:
        return
    # A Jinja error in YAML names where it came from.
    subject = renderer.render_inline(chosen.subject, context,
                                     f"campaigns.{campaign}.variants.{variant}.subject")
    message.subject = " ".join(subject.split())


def arms_to_render(loaded: LoadedConfig, campaign: str) -> list[str | None]:
    """Each arm that sends something (validate renders them all); None: no experiment."""
    variants = list(loaded.config.campaigns[campaign].variants)
    return [*variants] if variants else [None]
