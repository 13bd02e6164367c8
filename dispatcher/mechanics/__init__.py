"""Retention mechanics: what the planner and the sender call to know who a triggered
campaign is for, when a sequence's step is due, what a customer's loyalty standing is
and which promo code a message carries. A layer below both (it imports neither): the
planner asks ``audience``, the sender ``send_checks``, messages ``context``.

    triggers.py          trigger conditions (first order, abandoned cart, ...) as set-based SQL
    audience.py          segment + trigger + sequence conversion -> (customer_id, subject)
    sequences.py         when each step of a sequence is due
    offers.py            an offer's deadline in the customer's words
    loyalty.py           tiers and every-N-th-order rewards, in SQL and for templates
    loyalty_currency.py  which orders the tiers leave out (another currency)
    promo.py             personal one-time promo codes: issue, redeem, export
    send_checks.py       send-time checks: expired campaigns, codes to issue, newest carts
    checks.py            config checks of triggers and steps
    context.py           what templates get from all of the above
"""
