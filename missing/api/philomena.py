"""The Philomena profile through the API: GET/PUT /api/children/{id}/philomena/ and the
photograph at /api/children/{id}/philomena/photo/ (GET the image, PUT a new one as
multipart). Case staff read and write; an interviewer assigned to the child reads; the rules
are `missing.cases.philomena`'s. Every answer that shows the profile writes an access-log row."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import Http404, HttpResponse
from django.urls import reverse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from missing.accounts.permissions import CanReadCases
from missing.api.parsers import BoundedJSONParser
from missing.api.serializers import StrictDateField
from missing.api.views import READ_ERRORS, WRITE_ERRORS, JsonApi
from missing.audit import access_log as audit
from missing.cases import philomena
from missing.cases.philomena import (
    ASSOCIATE_LIMITS,
    ASSOCIATES_MAX,
    LIST_ITEM_MAX,
    LIST_MAX_ITEMS,
    TEXT_FIELDS,
    PhilomenaData,
)
from missing.cases.services import data_from
from missing.models import Child, PhilomenaProfile
from missing.web.shared import StaffApiRequest


class AssociateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=ASSOCIATE_LIMITS["name"])
    relationship = serializers.CharField(
        max_length=ASSOCIATE_LIMITS["relationship"], allow_blank=True, required=False, default=""
    )
    risk = serializers.BooleanField(
        required=False, default=False, help_text="True when this person is a risk to the child."
    )
    notes = serializers.CharField(
        max_length=ASSOCIATE_LIMITS["notes"], allow_blank=True, required=False, default=""
    )


def _lines(help_text: str) -> serializers.ListField:
    return serializers.ListField(
        child=serializers.CharField(max_length=LIST_ITEM_MAX, allow_blank=True),
        max_length=LIST_MAX_ITEMS,
        required=False,
        default=list,
        help_text=help_text,
    )


class PhilomenaIn(serializers.Serializer):
    """A whole profile: PUT replaces every field, and a field left out is cleared."""

    version = serializers.IntegerField(
        min_value=0,
        required=False,
        allow_null=True,
        help_text="The version you read (0 when there was no profile): a stale one is a 409. "
        "Leave out to overwrite whatever is there.",
    )
    height = serializers.CharField(max_length=TEXT_FIELDS["height"], allow_blank=True, default="")
    build = serializers.CharField(max_length=TEXT_FIELDS["build"], allow_blank=True, default="")
    hair = serializers.CharField(max_length=TEXT_FIELDS["hair"], allow_blank=True, default="")
    eyes = serializers.CharField(max_length=TEXT_FIELDS["eyes"], allow_blank=True, default="")
    skin = serializers.CharField(max_length=TEXT_FIELDS["skin"], allow_blank=True, default="")
    distinguishing_features = serializers.CharField(
        max_length=TEXT_FIELDS["distinguishing_features"], allow_blank=True, default=""
    )
    usual_clothing = serializers.CharField(
        max_length=TEXT_FIELDS["usual_clothing"], allow_blank=True, default=""
    )
    associates = serializers.ListField(
        child=AssociateSerializer(), max_length=ASSOCIATES_MAX, required=False, default=list
    )
    places = _lines("Addresses and places the child may go, one each.")
    phone_numbers = _lines("Phone numbers, one each.")
    social_media = _lines("Social media platform and handle, one each.")
    medical_needs = serializers.CharField(
        max_length=TEXT_FIELDS["medical_needs"], allow_blank=True, default=""
    )
    medication = serializers.CharField(
        max_length=TEXT_FIELDS["medication"], allow_blank=True, default=""
    )
    language_needs = serializers.CharField(
        max_length=TEXT_FIELDS["language_needs"], allow_blank=True, default=""
    )
    other_information = serializers.CharField(
        max_length=TEXT_FIELDS["other_information"], allow_blank=True, default=""
    )
    photo_taken_on = StrictDateField(required=False, allow_null=True, default=None)

    def to_data(self) -> PhilomenaData:
        return data_from(PhilomenaData, self.validated_data)


class PhotoIn(serializers.Serializer):
    photo = serializers.FileField(help_text="JPEG or PNG, 5 MB or smaller.")
    taken_on = StrictDateField(required=False, allow_null=True, default=None)


class PhotoOut(serializers.Serializer):
    present = serializers.BooleanField()
    url = serializers.CharField(allow_null=True)
    content_type = serializers.CharField(allow_blank=True)
    taken_on = serializers.DateField(allow_null=True)
    updated_at = serializers.DateTimeField(allow_null=True)


class HistoryEpisodeOut(serializers.Serializer):
    episode = serializers.IntegerField()
    reference = serializers.CharField()
    kind = serializers.CharField(help_text="M (missing) or A (away from placement)")
    last_seen_at = serializers.DateTimeField()
    returned_at = serializers.DateTimeField(allow_null=True)
    found_place = serializers.CharField(allow_blank=True)


class MissingHistoryOut(serializers.Serializer):
    since = serializers.DateTimeField()
    count_12_months = serializers.IntegerField()
    away_12_months = serializers.IntegerField()
    total = serializers.IntegerField()
    recent = HistoryEpisodeOut(many=True)


class PhilomenaOut(serializers.Serializer):
    child = serializers.IntegerField()
    child_reference = serializers.CharField()
    exists = serializers.BooleanField(help_text="False until someone first saves a profile.")
    reference = serializers.CharField(allow_null=True)
    version = serializers.IntegerField()
    height = serializers.CharField(allow_blank=True)
    build = serializers.CharField(allow_blank=True)
    hair = serializers.CharField(allow_blank=True)
    eyes = serializers.CharField(allow_blank=True)
    skin = serializers.CharField(allow_blank=True)
    distinguishing_features = serializers.CharField(allow_blank=True)
    usual_clothing = serializers.CharField(allow_blank=True)
    associates = AssociateSerializer(many=True)
    places = serializers.ListField(child=serializers.CharField())
    phone_numbers = serializers.ListField(child=serializers.CharField())
    social_media = serializers.ListField(child=serializers.CharField())
    medical_needs = serializers.CharField(allow_blank=True)
    medication = serializers.CharField(allow_blank=True)
    language_needs = serializers.CharField(allow_blank=True)
    other_information = serializers.CharField(allow_blank=True)
    photo = PhotoOut()
    last_reviewed_at = serializers.DateTimeField(allow_null=True)
    last_reviewed_by = serializers.IntegerField(allow_null=True)
    last_reviewed_by_name = serializers.CharField(allow_blank=True)
    missing_history = MissingHistoryOut(help_text="Computed from the child's episodes.")


def _out(child: Child, profile: PhilomenaProfile | None, now: datetime) -> dict[str, Any]:
    history = philomena.missing_history(child_id=child.pk, now=now)
    blank = PhilomenaProfile(child=child, version=0)
    p = profile or blank
    reviewer = p.last_reviewed_by if profile else None
    return {
        "child": child.pk,
        "child_reference": child.reference,
        "exists": profile is not None,
        "reference": profile.reference if profile else None,
        "version": p.version,
        **{name: getattr(p, name) for name in TEXT_FIELDS},
        "associates": p.associates,
        "places": p.places,
        "phone_numbers": p.phone_numbers,
        "social_media": p.social_media,
        "photo": {
            "present": bool(p.photo),
            "url": reverse("api-child-philomena-photo", args=[child.pk]) if p.photo else None,
            "content_type": p.photo_content_type,
            "taken_on": p.photo_taken_on,
            "updated_at": p.photo_updated_at,
        },
        "last_reviewed_at": p.last_reviewed_at if profile else None,
        "last_reviewed_by": reviewer.pk if reviewer else None,
        "last_reviewed_by_name": (reviewer.get_full_name() or reviewer.username)
        if reviewer
        else "",
        "missing_history": {
            "since": history.since,
            "count_12_months": history.count_12_months,
            "away_12_months": history.away_12_months,
            "total": history.total,
            "recent": [
                {
                    "episode": e.pk,
                    "reference": e.reference,
                    "kind": e.kind,
                    "last_seen_at": e.last_seen_at,
                    "returned_at": e.returned_at,
                    "found_place": e.found_place,
                }
                for e in history.recent
            ],
        },
    }


def _respond(request: StaffApiRequest, child_id: int, now: datetime) -> Response:
    child, profile = philomena.child_with_profile(request.user, child_id)
    audit.record_view(
        request, child_id=child.pk, reference=profile.reference if profile else child.reference
    )
    return Response(PhilomenaOut(_out(child, profile, now)).data)


class PhilomenaApi(JsonApi):
    # Interviewers reach the endpoint; `philomena.readable_children` decides which children,
    # and `philomena.may_edit` who writes (403 for an interviewer's PUT).
    permission_classes = [CanReadCases]

    @extend_schema(
        operation_id="children_philomena_retrieve",
        summary="The child's Philomena profile, with the missing history computed from episodes",
        description="A child without a profile yet answers 200 with `exists: false` and blanks.",
        responses={200: PhilomenaOut, **READ_ERRORS},
    )
    def get(self, request: StaffApiRequest, pk: int) -> Response:
        return _respond(request, pk, timezone.now())

    @extend_schema(
        operation_id="children_philomena_update",
        summary="Create or replace the child's Philomena profile (not the photograph)",
        description=(
            "FFD, managers, heads of service and the child's social worker. Replaces every "
            "field (one left out is cleared) and records who and when. The photograph has its "
            "own endpoint. 409 when `version` is not the current one."
        ),
        request=PhilomenaIn,
        responses={200: PhilomenaOut, **WRITE_ERRORS},
    )
    def put(self, request: StaffApiRequest, pk: int) -> Response:
        serializer = PhilomenaIn(data=request.data)
        serializer.is_valid(raise_exception=True)
        now = timezone.now()
        philomena.philomena_save(
            serializer.to_data(),
            actor=request.user,
            child_id=pk,
            version=serializer.validated_data.get("version"),
            now=now,
        )
        return _respond(request, pk, now)


class PhilomenaPhotoApi(APIView):
    permission_classes = [CanReadCases]
    # The photograph comes as multipart (its parts cannot nest); anything JSON goes through the
    # bounded parser like every other endpoint (missing.api.parsers).
    parser_classes = [MultiPartParser, BoundedJSONParser]

    @extend_schema(
        operation_id="children_philomena_photo_retrieve",
        summary="The Philomena photograph (JPEG or PNG); 404 when there is none",
        responses={
            (200, "image/jpeg"): OpenApiResponse(OpenApiTypes.BINARY),
            (200, "image/png"): OpenApiResponse(OpenApiTypes.BINARY),
            **READ_ERRORS,
        },
    )
    def get(self, request: StaffApiRequest, pk: int) -> HttpResponse:
        child, profile = philomena.child_with_profile(request.user, pk)
        content = philomena.read_photo(profile) if profile is not None else None
        if profile is None or content is None:
            raise Http404("No photograph")
        audit.record_view(request, child_id=child.pk, reference=f"{profile.reference} photograph")
        response = HttpResponse(content, content_type=profile.photo_content_type)
        response["Cache-Control"] = "private, no-store"
        response["X-Content-Type-Options"] = "nosniff"
        return response

    @extend_schema(
        operation_id="children_philomena_photo_update",
        summary="Replace the Philomena photograph (multipart: `photo`, optional `taken_on`)",
        description="The type is read from the file's first bytes: JPEG or PNG only, 5 MB or "
        "smaller; 400 names the `photo` field otherwise.",
        request={"multipart/form-data": PhotoIn},
        responses={200: PhilomenaOut, **WRITE_ERRORS},
    )
    def put(self, request: StaffApiRequest, pk: int) -> Response:
        serializer = PhotoIn(data=request.data)
        serializer.is_valid(raise_exception=True)
        now = timezone.now()
        philomena.philomena_set_photo(
            actor=request.user,
            child_id=pk,
            photo=serializer.validated_data["photo"],
            taken_on=serializer.validated_data.get("taken_on"),
            now=now,
        )
        return _respond(request, pk, now)
