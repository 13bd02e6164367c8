"""Retention mechanics on top of the core planner and sender.

    triggers.py   trigger conditions (first order, abandoned cart, ...) as set-based SQL
    audience.py   segment + trigger + sequence conversion -> (customer_id, subject)
    sequences.py  when each step of a sequence is due
    offers.py     expires_at: the deadline, in UTC and in the customer's words
    loyalty.py    tiers and every-N-th-order rewards, in SQL and for templates
    promo.py      personal one-time promo codes: issue, redeem, export
    context.py    what templates get from all of the above
"""
