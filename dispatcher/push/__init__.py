"""Web push: subscriptions, the signed subscribe tokens, the payload a push service
carries.
"""
