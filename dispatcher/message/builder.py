"""One render path: campaign + customer + address -> the RenderedMessage they would get.

The sender, ``preview``, ``test-send``, ``validate`` (with sample customers) and the SMS
cost estimate all build messages here, so what a marketer previews or validates is what
a customer receives: the same context (customer, stats, links, mechanics, A/B arm), the
same template folder (variant, then sequence step) and the same composer per channel.

A message that cannot be built, for any reason (a Jinja error, a Python exception inside
a template on this customer's data, a render limit), comes out as a ``TemplateProblem``
naming the template (file and line when the renderer knows them): the caller decides
what that means for the message.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from channels.base import Recipient, RenderedMessage
from channels.registry import SPECS
from channels.spec import mark_test
from dispatcher.config.load import LoadedConfig
from dispatcher.experiments.render import override_subject, variant_context, variant_folder
from dispatcher.links import LinkClaims, link_urls
from dispatcher.mechanics.context import mechanics_context
from dispatcher.mechanics.promo import Promo
from dispatcher.mechanics.sequences import step_folder
from dispatcher.render.compose import compose
from dispatcher.render.context import OrderStats, build_context
from dispatcher.render.templating import TemplateProblem, TemplateRenderer
from dispatcher.tracking.rewrite import track_message


class MessageBuilder:
    def __init__(self, loaded: LoadedConfig, renderer: TemplateRenderer | None = None) -> None:
        self.loaded = loaded
        # Compiled templates are cached in the renderer: one builder per run.
        self.renderer = renderer or TemplateRenderer(loaded.templates)

    def build(self, campaign_name: str, channel: str, customer: Any, stats: OrderStats,
              address: Any, outbox_id: int | None = None, *, is_test: bool = False,
              step: str = "", promo: Promo | None = None, cart: dict[str, Any] | None = None,
              variant: str | None = None, folder: str | None = None,
              links: tuple[str, str] | None = None, sample: bool = False) -> RenderedMessage:
        """``address`` has ``address``, ``address_hash`` and ``data``. ``folder`` and
        ``links`` are for validate's samples: by default the variant's folder (then the
        step's subfolder) and the customer's own signed unsubscribe/preferences links.
        ``sample``: tracked links are signed for a stand-in row, so that ``validate``
        and ``plan`` measure a message in the length it will be sent in."""
        campaign = self.loaded.config.campaigns[campaign_name]
        shop = self.loaded.config.shop
        if links is None:
            claims = LinkClaims(customer.id, channel, address.address_hash, campaign_name)
            links = link_urls(shop.public_url, claims)
        settings = self.loaded.channel_settings.get(channel)
        context = build_context(
            customer, stats, campaign_name, campaign, shop, channel, *links,
            {"unsubscribe_mailto": getattr(settings, "unsubscribe_mailto", None),
             **mechanics_context(self.loaded, campaign_name, customer, stats, promo, cart)},
        )
        if folder is None:
            # An A/B arm's own folder (or the campaign's), then a sequence step's subfolder.
            folder = step_folder(variant_folder(self.loaded, campaign_name, variant),
                                 campaign, step)
        variant_context(self.loaded, campaign_name, variant, context)
        recipient = Recipient(customer.id, address.address, customer.name, customer.locale,
                              dict(address.data or {}))
        try:
            message = compose(channel, self.renderer, folder, campaign_name, recipient,
                              context)
            override_subject(self.renderer, self.loaded, campaign_name, variant, message,
                             context)
        except TemplateProblem:
            raise
        except Exception as exc:  # e.g. a composer's own check on this data
            raise located(exc, self.renderer.root, folder) from exc
        message.outbox_id = outbox_id
        if is_test:  # [TEST] where the recipient reads first, as the channel declares
            message = mark_test(SPECS[channel], message)
        track_message(self.loaded, message, variant, sample=sample)  # links, UTM, pixel
        return message


def located(exc: BaseException, root: Path, folder: str) -> TemplateProblem:
    """A TemplateProblem for an exception raised while composing outside a template's own
    code (the renderer already names the file and line of anything raised inside one)."""
    text = " ".join(str(exc).split())[:300]
    return TemplateProblem(str(Path(root) / folder), None,
                           f"{type(exc).__name__}: {text}" if text else type(exc).__name__)
