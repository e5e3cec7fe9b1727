"""Bearer-token authentication for police systems and staff scripts. Tokens are stored hashed."""

from __future__ import annotations

import hashlib
import hmac
from datetime import timedelta
from typing import Any

from django.utils import timezone
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from missing.audit import access_log as audit
from missing.cases.prebuilt import Prebuilt
from missing.models import ApiToken

LAST_USED_RESOLUTION = timedelta(minutes=1)

# The token with its user and the user's force, compiled once (issue 15: every request of a
# police feed pays this read; the ORM compiling it cost more than the database running it).
_TOKEN = Prebuilt(
    lambda key_hash: (
        ApiToken.objects.select_related("user", "user__police_force")
        .filter(key_hash=key_hash, revoked_at__isnull=True)
        .order_by("pk")[:1]
    ),
    key_hash=str,
)


class ApiTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[Any, ApiToken] | None:
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].decode(errors="replace") != self.keyword:
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Send 'Authorization: Bearer <token>'.")
        digest = hashlib.sha256(header[1]).hexdigest()
        token = _TOKEN.first(key_hash=digest)
        if token is None or not token.user.is_active:
            raise exceptions.AuthenticationFailed("Invalid or revoked token.")
        now = timezone.now()
        if token.expires_at is not None and now >= token.expires_at:
            raise exceptions.AuthenticationFailed("This token has expired. Make a new one.")
        if token.credential_hash and not credentials_unchanged(token):
            raise exceptions.AuthenticationFailed(
                "This token ended when the account's password, second factor or role changed."
            )
        if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
            # At most one write a minute per token: a busy police feed must not write per request.
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        # The change history names the user (the middleware saw an anonymous request).
        audit.bind_user(token.user)
        return (token.user, token)

    def authenticate_header(self, request: Request) -> str:
        return self.keyword


def credentials_unchanged(token: ApiToken) -> bool:
    """The user's password, role, active flag and second-factor generation are as they were when
    the token was made (the hash sessions use; a SECRET_KEY in SECRET_KEY_FALLBACKS still
    matches, so rotating the key does not stop police feeds)."""
    user = token.user
    hashes = [user.get_session_auth_hash(), *user.get_session_auth_fallback_hash()]
    return any(hmac.compare_digest(token.credential_hash, value) for value in hashes)
