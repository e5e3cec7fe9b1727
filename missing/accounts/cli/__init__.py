"""Holds `manage.py changepassword`, replacing Django's own (see the command's docstring).

A separate app only because Django lets the app listed first win a command's name, and the core
must stay listed after django.contrib.auth (its admin registrations replace auth's and
django-otp's). Listed before django.contrib.auth in INSTALLED_APPS; it has no models."""
