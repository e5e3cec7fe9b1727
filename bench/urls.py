"""The project's URLs plus the intake floor: a minimal view inserting one notification row.

Used only by bench/run.py (override_settings(ROOT_URLCONF="bench.urls")); never deployed.
"""

from __future__ import annotations

import hashlib
import json

from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from config.urls import urlpatterns as project_urlpatterns


@csrf_exempt
def floor_intake(request: HttpRequest) -> HttpResponse:
    """The least a Django view can do to store a police notification: parse the body, insert
    one row with one statement. No authentication, validation or matching: a floor, not a
    design."""
    data = json.loads(request.body)
    with connection.cursor() as cursor:
        cursor.execute(
            """INSERT INTO missing_policenotification (police_force_id, police_reference, kind,
                 sequence, received_at, received_by_id, child_first_name, child_last_name,
                 child_gender, council_child_id, missing_kind, last_seen_place, circumstances,
                 reported_by, found_place, found_by, restricted_intelligence, raw_payload,
                 payload_hash, match_status)
               SELECT f.id, %s, %s, %s, %s, u.id, '', '', '', '', '', '', %s, '', '', '', '',
                      %s, %s, 'matched'
               FROM missing_policeforce f, missing_user u
               WHERE f.code = %s AND u.username = %s""",
            [
                data["police_reference"],
                data["kind"],
                data["sequence"],
                connection.ops.adapt_datetimefield_value(timezone.now()),
                data.get("circumstances", ""),
                request.body.decode(),
                hashlib.sha256(request.body).hexdigest(),
                data["police_force"],
                f"bench-police-{data['police_force']}",
            ],
        )
    return JsonResponse({"ok": True}, status=201)


urlpatterns = [
    *project_urlpatterns,
    path("bench/floor-intake/", floor_intake),
]
