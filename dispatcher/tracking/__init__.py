"""Link tracking: what customers did with a message, measured honestly.

    render  -> rewrite.track_message: links to /c/<token> (token names outbox row + link),
               UTM tags on the shop's own links, an open pixel when asked for
    sender  -> store.record_links: the destinations, committed before the message is sent
    click   -> web/tracking.py: verify the token strictly, look the destination up (never
               from the request), answer 302 at once, queue the click (recorder.py)
    writer  -> recorder.py: one thread writes queued clicks and opens in batches; drained
               on shutdown, so a click that was answered is a click that is stored
    report  -> reports/funnel.py: per arm planned, sent, delivered, clicked (people and
               bots apart, bots.py), click-through rate with its interval

Modules: tokens (signed, canonical), urls (finding links, UTM tags), rewrite (per channel),
agents (user agent classes), recorder (the queue), store (tables), delivery (the
``delivered`` column per channel).
"""
