from django.apps import AppConfig
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class MissingConfig(AppConfig):
    name = "missing"
    verbose_name = "Missing episodes"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in

        from missing.accounts.account_changes import note_sign_in_notices
        from missing.accounts.security import stamp_sign_in

        # Every process (web, worker, beat, manage.py) loads the apps: none of them may start
        # with the second factor relaxed outside a DEBUG demo (issue 6, item 10).
        if settings.SECOND_FACTOR_RELAXED and not settings.DEBUG:
            raise ImproperlyConfigured(
                "SECOND_FACTOR_RELAXED is only for the local demo (DEBUG on). Unset it."
            )
        user_logged_in.connect(stamp_sign_in, dispatch_uid="missing.stamp_sign_in")
        # Changes to the account decided since the last sign-in: the banner after sign-in.
        user_logged_in.connect(note_sign_in_notices, dispatch_uid="missing.account_notices")
