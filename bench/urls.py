"""The project's URLs plus the intake floor: a minimal view inserting one notification row.

Used only by bench/run.py (override_settings(ROOT_URLCONF="bench.urls")); never deployed.
"""

from __future__ import annotations

import hashlib
import hmac
import json

from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.views.decorators.csrf import csrf_exempt

from config.urls import urlpatterns as project_urlpatterns

FIELDS = {"police_force": str, "police_reference": str, "kind": str, "sequence": int}
KINDS = {"reported_missing", "risk_regraded", "update", "found"}
LIMITS = {"police_reference": 40, "circumstances": 2000}


@csrf_exempt
def floor_intake(request: HttpRequest) -> HttpResponse:
    """The same work as the intake API for an `update` notification, by hand, in the fewest
    statements a careful engineer would write (issue 15: an honest floor):

    - token authentication: one SELECT of the token by its SHA-256 with its user and force,
      unrevoked, unexpired, the user active; the token's credential hash checked against the
      user's password, role, active flag and second-factor generation (as the API does);
    - validation: JSON, the required fields and their types, the kind, lengths, own force only;
    - the incident's advisory lock (decision 0045; the same key as the application);
    - an idempotent insert: INSERT … ON CONFLICT DO NOTHING, finding the incident's episode (the
      child match for an update) in the same statement; a replay answers the stored row;
    - the episode's timeline event and the access-log change row (the application writes both);
    - the receipt a police system gets back (the fields of NotificationReceiptOut).

    Inside the request's transaction (ATOMIC_REQUESTS), like the API. No DRF, serializer, ORM
    model instances or django-fsm: what the framework costs is what the ratio shows."""
    header = request.headers.get("Authorization", "").split()
    if len(header) != 2 or header[0] != "Bearer":
        return JsonResponse({"detail": "Send 'Authorization: Bearer <token>'."}, status=401)
    digest = hashlib.sha256(header[1].encode()).hexdigest()
    moment = timezone.now()
    now = connection.ops.adapt_datetimefield_value(moment)
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT u.id, u.role, f.id, f.code, t.credential_hash, u.password,
                      u.session_generation
               FROM missing_apitoken t
               JOIN missing_user u ON u.id = t.user_id
               LEFT JOIN missing_policeforce f ON f.id = u.police_force_id
               WHERE t.key_hash = %s AND t.revoked_at IS NULL AND u.is_active
                 AND (t.expires_at IS NULL OR t.expires_at > %s)""",
            [digest, now],
        )
        found = cursor.fetchone()
        if found is None:
            return JsonResponse({"detail": "Invalid or revoked token."}, status=401)
        user_id, role, force_id, force_code, credential, password, generation = found
        if credential:
            expected = salted_hmac(
                "missing.User.get_session_auth_hash",
                f"{password}|{role}|True|{generation}",
                algorithm="sha256",
            ).hexdigest()
            if not hmac.compare_digest(credential, expected):
                return JsonResponse({"detail": "This token ended."}, status=401)
        try:
            data = json.loads(request.body)
        except ValueError:
            return JsonResponse({"detail": "Send JSON."}, status=400)
        errors = {
            name: ["This field is required."]
            for name, kind in FIELDS.items()
            if not isinstance(data.get(name), kind)
        }
        if data.get("kind") not in KINDS:
            errors.setdefault("kind", ["Not a notification kind."])
        for name, limit in LIMITS.items():
            if len(str(data.get(name, ""))) > limit:
                errors.setdefault(name, [f"Use at most {limit} characters."])
        if errors:
            return JsonResponse(errors, status=400)
        if role != "police_system" or data["police_force"] != force_code:
            return JsonResponse({"detail": "Only for its own force."}, status=403)
        reference = data["police_reference"]
        if connection.vendor == "postgresql":  # the smoke test runs on SQLite too
            cursor.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
                [f"incident:{force_id}:{reference}"],
            )
        payload = request.body.decode()
        payload_hash = hashlib.sha256(request.body).hexdigest()
        cursor.execute(
            """INSERT INTO missing_policenotification (police_force_id, police_reference, kind,
                 sequence, received_at, received_by_id, child_first_name, child_last_name,
                 child_gender, council_child_id, missing_kind, last_seen_place, circumstances,
                 reported_by, found_place, found_by, restricted_intelligence, raw_payload,
                 payload_hash, match_status, outcome_detail, differences, review_decision,
                 review_note, episode_id, child_id)
               SELECT %s, %s, %s, %s, %s, %s, '', '', '', '', '', '', %s, '', '', '', '',
                      %s, %s, 'matched', %s, '{}', '', '', e.id, e.child_id
               FROM (SELECT 1) one LEFT JOIN missing_missingepisode e
                 ON e.police_force_id = %s AND e.police_reference = %s
               ON CONFLICT DO NOTHING RETURNING id, episode_id, child_id""",
            [force_id, reference, data["kind"], data["sequence"], now, user_id,
             data.get("circumstances", ""), payload, payload_hash, "Added to the timeline.",
             force_id, reference],
        )  # fmt: skip
        row = cursor.fetchone()
        if row is None:  # a replay: the stored row answers (409 if the details differ)
            cursor.execute(
                """SELECT payload_hash FROM missing_policenotification WHERE police_force_id = %s
                   AND police_reference = %s AND kind = %s AND sequence = %s""",
                [force_id, reference, data["kind"], data["sequence"]],
            )
            same = cursor.fetchone()[0] == payload_hash
            return JsonResponse({"replay": True}, status=200 if same else 409)
        notification_id, episode_id, child_id = row
        event = """INSERT INTO missing_episodeevent (episode_id, at, actor_id, action,
                     from_state, to_state, reason)
                   SELECT e.id, %s, %s, 'police_update', e.state, e.state, %s
                   FROM missing_missingepisode e WHERE e.id = %s"""
        access = """INSERT INTO missing_accesslog (at, user_id, role, action, child_id,
                      child_ids, reference, route, client_address, rows, detail)
                    VALUES (%s, %s, %s, 'change', %s, '[]', %s, %s, %s, NULL, '{}')"""
        event_params = [now, user_id, data.get("circumstances", ""), episode_id]
        access_params = [now, user_id, role, child_id, f"E-{episode_id}", "bench-floor-intake",
                         request.META.get("REMOTE_ADDR")]  # fmt: skip
        if connection.vendor == "postgresql":  # both rows in one statement
            cursor.execute(f"WITH event AS ({event}) {access}", event_params + access_params)
        else:  # SQLite has no INSERT in WITH
            cursor.execute(event, event_params)
            cursor.execute(access, access_params)
    receipt = {
        "id": notification_id,
        "reference": f"N-{notification_id}",
        "police_force": force_code,
        "police_reference": reference,
        "kind": data["kind"],
        "sequence": data["sequence"],
        "received_at": moment.isoformat().replace("+00:00", "Z"),
        "match_status": "matched",
        "outcome_detail": "Added to the timeline.",
        "episode": episode_id,
        "episode_reference": f"E-{episode_id}",
        "child": child_id,
    }
    return JsonResponse(receipt, status=201)


urlpatterns = [
    *project_urlpatterns,
    path("bench/floor-intake/", floor_intake),
]
