"""One message built exactly as it will be sent (variant, promo, mechanics, tracked links),
shared by the planner's estimates, the sender, preview and ``validate``.
"""
