"""Accounts: staff and roles (permissions), sign-in, the second factor, session time-out,
API tokens and their authentication, and the security limits (lock-out, rate limits)."""
