"""API serializers: input (`…In`) and output (`…Out`) kept apart.

Input serializers check type and shape only; every rule of the domain (dates in the future, a
return before last seen, who may do what) is the service's, so the form and the API refuse alike.
One that feeds an operation builds the operation's data object in `to_data()`, as the web form
does; the view passes it on.
Types are strict because police integrations must learn that they sent garbage: a number where
text is due, text where a number is due, a date-time without a time zone, or a key we do not know
is a 400 naming the field, never silently coerced or ignored.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any, TypeVar, cast

from django.core.exceptions import ObjectDoesNotExist
from django.db.models import QuerySet
from django.utils.dateparse import parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from missing.api.input_limits import YEAR_MAX, YEAR_MIN, year_in_range
from missing.cases import nhs
from missing.cases.child_facts import (
    FactsData,
    PeriodChangeData,
    PeriodData,
    PeriodRemoveData,
)
from missing.cases.merge import MergeData
from missing.cases.services import (
    CancelData,
    DecisionData,
    FlagsData,
    MatchData,
    MeetingOutcomeData,
    NotificationData,
    ReturnData,
    ReviewData,
    SignOffData,
    data_from,
)
from missing.models import RESTRICTED_FIELDS as RESTRICTED_FIELDS
from missing.models import (
    Child,
    ChildMerge,
    EpisodeEvent,
    EpisodeState,
    InterviewOutcome,
    LegalStatus,
    LegalStatusPeriod,
    ManagerRisk,
    MissingEpisode,
    NotificationKind,
    OversightDecision,
    PoliceForce,
    PoliceNotification,
    RiskGrade,
    RiskMeetingTask,
    Team,
    User,
    may_see_restricted,
    without_restricted,
)

RESTRICTED_HELP = (
    "Police intelligence marked restricted. Present only for managers and heads of service."
)

# Free text with no column limit (TextField) still has one here: nobody's circumstances run to
# a megabyte, and a client that sends one has a bug worth hearing about.
LONG_TEXT_MAX = 10_000
# PostgreSQL integer / bigint: larger values would fail in the database instead of here.
INT_MAX = 2_147_483_647
ID_MAX = 9_223_372_036_854_775_807

_SLUG_RE = re.compile(r"^[-a-zA-Z0-9_]+$")

D = TypeVar("D")


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return "null" if value is None else type(value).__name__


def _printable(key: str) -> str:
    """A key as it can be echoed back in JSON (a lone surrogate cannot be encoded as UTF-8)."""
    try:
        key.encode("utf-8")
    except UnicodeEncodeError:
        return ascii(key)
    return key


# --------------------------------------------------------------------------------------------
# Strict fields
# --------------------------------------------------------------------------------------------


class StrictCharField(serializers.CharField):
    """Text only: DRF's CharField turns 123 into "123"; this one refuses it."""

    default_error_messages = {"type": "Must be text, not {type}."}

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("type", type=_json_type(data))
        return super().to_internal_value(data)


class NhsNumberField(StrictCharField):
    """An NHS number, with or without spaces: stored as its ten digits, check digit verified
    (missing.cases.nhs). Blank or null: not given."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault(
            "help_text",
            "The child's NHS number: 10 digits, with or without spaces (e.g. `943 476 5919`); "
            "its check digit is verified.",
        )
        super().__init__(max_length=20, required=False, allow_blank=True, allow_null=True, **kwargs)

    def to_internal_value(self, data: Any) -> str:
        value = nhs.normalise(super().to_internal_value(data))
        if value:
            problem = nhs.problem(value)
            if problem:
                raise serializers.ValidationError(problem)
        return value


class StrictChoiceField(serializers.ChoiceField):
    # Not DRF's '"{input}" is not a valid choice': a value sent in the wrong field may be a
    # child's name, and an error must not echo it back (or into a client's logs).
    default_error_messages = {
        "type": "Must be text, not {type}.",
        "invalid_choice": "This is not a valid choice: the allowed values are {allowed}.",
    }

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, str):
            self.fail("type", type=_json_type(data))
        if data == "" and self.allow_blank:
            return ""
        if data not in self.choice_strings_to_values:
            self.fail("invalid_choice", allowed=", ".join(self.choice_strings_to_values))
        return super().to_internal_value(data)


class StrictIntegerField(serializers.IntegerField):
    """A JSON whole number only: not "3", 3.0 or true."""

    default_error_messages = {"type": "Must be a whole number, not {type}."}

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("type", type=_json_type(data))
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    """JSON true or false only: not "yes", 1 or "false"."""

    default_error_messages = {"type": "Must be true or false, not {type}."}

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("type", type=_json_type(data))
        return data


class StrictDateField(serializers.DateField):
    """A YYYY-MM-DD date as text, in the years YEAR_MIN..YEAR_MAX (see missing.api.input_limits:
    outside them the date arithmetic the application does would overflow)."""

    default_error_messages = {
        "type": "Must be a date as text (YYYY-MM-DD), not {type}.",
        "range": f"Check the year: it must be between {YEAR_MIN} and {YEAR_MAX}.",
    }

    def to_internal_value(self, data: Any) -> date:
        if not isinstance(data, str):
            self.fail("type", type=_json_type(data))
        value = super().to_internal_value(data)
        if not year_in_range(value):
            self.fail("range")
        return value


class AwareDateTimeField(serializers.DateTimeField):
    """An ISO 8601 date-time with its offset. A naive time is refused rather than guessed:
    around the clock changes a guess can be an hour out, and the 72-hour clock runs on it."""

    default_error_messages = {
        "type": "Must be an ISO 8601 date-time as text, not {type}.",
        "naive": (
            "Give the time zone: an ISO 8601 date-time with an offset, "
            "e.g. 2026-06-10T13:00:00+01:00 or 2026-06-10T12:00:00Z."
        ),
        "range": f"Check the year: it must be between {YEAR_MIN} and {YEAR_MAX}.",
    }

    def to_internal_value(self, data: Any) -> datetime:
        if not isinstance(data, str):
            self.fail("type", type=_json_type(data))
        try:
            parsed = parse_datetime(data)
        except ValueError:
            parsed = None  # well-formed but impossible (30 February): the parent says invalid
        if parsed is not None and parsed.tzinfo is None:
            self.fail("naive")
        if parsed is not None and not year_in_range(parsed):
            # Before 1900 Europe/London kept local mean time (an offset in seconds, which no
            # ISO 8601 reader accepts back); near 9999 the conversion to UTC overflows.
            self.fail("range")
        return super().to_internal_value(data)


class CodeField(serializers.SlugRelatedField):
    """A reference-data row (force, grade) named by its code, with a message saying which."""

    default_error_messages = {
        "does_not_exist": "Unknown {thing} '{value}'.",
        "type": "Must be the {thing}'s code as text, not {type}.",
        "invalid": "Unknown {thing}: codes are letters, digits, '-' and '_'.",
    }

    def __init__(self, *, thing: str, **kwargs: Any) -> None:
        self.thing = thing
        super().__init__(slug_field="code", **kwargs)
        self.error_messages["null"] = self.error_messages["blank"] = f"Enter the {thing}'s code."

    def run_validation(self, data: Any = serializers.empty) -> Any:
        # DRF turns "" into null for related fields, then says "may not be null": say what's due.
        if data == "" and not self.allow_null:
            self.fail("blank")
        return super().run_validation(data)

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, str):
            self.fail("type", thing=self.thing, type=_json_type(data))
        # Never send odd text to the database (a lone surrogate would not even encode).
        if len(data) > 40 or not _SLUG_RE.match(data):
            self.fail("invalid", thing=self.thing)
        queryset = cast(QuerySet[Any], self.get_queryset())
        for known in self.context.get("loaded", ()):
            # A row this request has already read (a police system's own force, with its
            # token): the same answer as the query, without it.
            if isinstance(known, queryset.model) and known.code == data:
                return known
        try:
            return queryset.get(code=data)
        except ObjectDoesNotExist:
            self.fail("does_not_exist", thing=self.thing, value=data)


class StrictInputSerializer(serializers.Serializer):
    """Refuses keys it does not know, naming them, alongside any other field errors."""

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return super().to_internal_value(data)  # DRF's "expected a dictionary"
        unknown = {
            _printable(str(key)): ["Unknown field: not part of this request."]
            for key in data
            if key not in self.fields
        }
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as exc:
            detail = (
                exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
            )
            raise serializers.ValidationError({**unknown, **detail}) from None
        if unknown:
            raise serializers.ValidationError(unknown)
        return value

    def _data(self, cls: type[D]) -> D:
        """The data object `cls` from the validated input. Absent and null both mean "not
        given": the data object's defaults say what that is."""
        given = {key: value for key, value in self.validated_data.items() if value is not None}
        return data_from(cls, given)


def _text(max_length: int, **kwargs: Any) -> StrictCharField:
    """Optional text: absent, null or "" all mean "not given"."""
    return StrictCharField(
        max_length=max_length, required=False, allow_blank=True, allow_null=True, **kwargs
    )


def _when(**kwargs: Any) -> AwareDateTimeField:
    return AwareDateTimeField(required=False, allow_null=True, **kwargs)


def _version() -> StrictIntegerField:
    return StrictIntegerField(
        required=False,
        min_value=1,
        max_value=INT_MAX,
        help_text="The episode version you last read; a stale version is refused with 409.",
    )


# --------------------------------------------------------------------------------------------
# Input
# --------------------------------------------------------------------------------------------


class NotificationIn(StrictInputSerializer):
    """A police notification, field for field `services.NotificationData`."""

    police_force = CodeField(
        thing="police force",
        queryset=PoliceForce.objects.all(),
        help_text="The force's code, e.g. `kent`.",
    )
    police_reference = StrictCharField(max_length=60)
    kind = StrictChoiceField(choices=NotificationKind.choices)
    sequence = StrictIntegerField(
        required=False,
        min_value=1,
        max_value=INT_MAX,
        help_text="Numbers repeated updates and regrades of one incident; 1 if omitted.",
    )
    child_first_name = _text(100)
    child_last_name = _text(100)
    child_date_of_birth = StrictDateField(required=False, allow_null=True)
    child_gender = _text(40)
    council_child_id = _text(40)
    nhs_number = NhsNumberField()
    council = _text(
        9,
        help_text=(
            "A regional installation: the ONS code of the council the notification is for "
            "(e.g. `E06000043`); omitted: the client's own council, or the council of the "
            "incident's earlier notifications. A single-council installation ignores it unless "
            "it names another council."
        ),
    )
    missing_kind = StrictChoiceField(
        choices=MissingEpisode.Kind.choices, required=False, allow_blank=True, allow_null=True
    )
    last_seen_at = _when()
    last_seen_place = _text(300)
    reported_at = _when()
    risk_grade = CodeField(
        thing="risk grade",
        queryset=RiskGrade.objects.all(),
        required=False,
        allow_null=True,
        help_text="The police risk grade's code, e.g. `high`.",
    )
    circumstances = _text(LONG_TEXT_MAX)
    reported_by = _text(200)
    found_at = _when()
    found_place = _text(300)
    found_by = _text(200)
    prevention_interview_done = StrictBooleanField(required=False, allow_null=True)
    restricted_intelligence = _text(
        LONG_TEXT_MAX,
        help_text="Police intelligence marked restricted. Returned only to managers and heads "
        "of service; stripped from the payload everyone else reads.",
    )

    def to_data(self) -> NotificationData:
        return self._data(NotificationData)


class ChildSearchIn(StrictInputSerializer):
    search = StrictCharField(
        max_length=100,
        help_text="Last name prefix (any case), or an exact council child id.",
    )


class ResolveMatchIn(StrictInputSerializer):
    child = StrictIntegerField(
        allow_null=True,
        min_value=1,
        max_value=ID_MAX,
        help_text="One of the candidates' ids, or null: none of them, create a new child.",
    )

    def to_data(self) -> MatchData:
        return MatchData(child_id=self.validated_data["child"])


class NotificationReviewIn(StrictInputSerializer):
    decision = StrictChoiceField(
        choices=PoliceNotification.ReviewDecision.choices,
        help_text="applied: the police details replace what differs on the episode; kept: the "
        "record stays as it is (the only choice when nothing recorded differs).",
    )
    note = StrictCharField(max_length=LONG_TEXT_MAX, required=False, default="", allow_blank=True)

    def to_data(self) -> ReviewData:
        return self._data(ReviewData)


class DecisionIn(StrictInputSerializer):
    risk = StrictChoiceField(choices=ManagerRisk.choices)
    rationale = StrictCharField(max_length=LONG_TEXT_MAX)
    strategy_meeting = StrictBooleanField(required=False, default=False)
    exploitation_screening = StrictBooleanField(required=False, default=False)
    inform_social_worker = StrictBooleanField(required=False, default=False)
    inform_placement = StrictBooleanField(required=False, default=False)
    police_liaison = StrictBooleanField(required=False, default=False)
    next_review_at = _when(
        help_text="While the child is missing; the police grade's review time if omitted."
    )
    version = _version()

    def to_data(self) -> DecisionData:
        return self._data(DecisionData)


class ReturnIn(StrictInputSerializer):
    returned_at = AwareDateTimeField()
    found_place = _text(300)
    found_by = _text(200)
    prevention_interview_done = StrictBooleanField(required=False, allow_null=True)
    version = _version()

    def to_data(self) -> ReturnData:
        return self._data(ReturnData)


class CancelIn(StrictInputSerializer):
    reason = StrictCharField(max_length=LONG_TEXT_MAX)
    version = _version()

    def to_data(self) -> CancelData:
        return self._data(CancelData)


class SignOffIn(StrictInputSerializer):
    note = _text(LONG_TEXT_MAX)
    version = _version()

    def to_data(self) -> SignOffData:
        return self._data(SignOffData)


# --------------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------------


class ErrorOut(serializers.Serializer):
    """Every refusal: `detail` says what went wrong; a 400 adds one key per bad field."""

    detail = serializers.CharField()
    # Documented as open-ended: field names vary with the request.
    non_field_errors = serializers.ListField(child=serializers.CharField(), required=False)


class RestrictedFieldsMixin:
    """Drops manager-only fields from the output for anyone `may_see_restricted()` refuses.

    Deny by default: a serializer given no request in its context drops them too. The raw
    payload loses the same keys, so the intelligence cannot come back through it. The fields
    are documented as optional (they are absent for most readers)."""

    restricted_fields: tuple[str, ...] = RESTRICTED_FIELDS

    def to_representation(self, instance: Any) -> dict[str, Any]:
        data = super().to_representation(instance)  # type: ignore[misc]
        request = self.context.get("request")  # type: ignore[attr-defined]
        if not may_see_restricted(getattr(request, "user", None)):
            for name in self.restricted_fields:
                data.pop(name, None)
            if isinstance(data.get("payload"), dict):
                data["payload"] = without_restricted(data["payload"])
        return data


class NotificationReceiptOut(serializers.ModelSerializer):
    """What a police system gets back: where its notification went, not the child's details."""

    police_force: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="code", read_only=True
    )
    episode_reference = serializers.SerializerMethodField()
    # Which council the notification went to (decision 0070): on a regional installation the
    # police system may have left it out and the installation chose.
    council: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="ons_code",
        read_only=True,
        allow_null=True,
        help_text="ONS code of the council the notification is for (e.g. `E06000043`).",
    )

    class Meta:
        model = PoliceNotification
        fields = [
            "id",
            "reference",
            "police_force",
            "police_reference",
            "council",
            "kind",
            "sequence",
            "received_at",
            "match_status",
            "outcome_detail",
            "episode",
            "episode_reference",
            "child",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_episode_reference(self, obj: PoliceNotification) -> str | None:
        return f"E-{obj.episode_id}" if obj.episode_id else None


class NotificationOut(RestrictedFieldsMixin, NotificationReceiptOut):
    """The whole notification as police gave it, for case staff (restricted intelligence for
    managers and heads of service only)."""

    risk_grade: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="code", read_only=True, allow_null=True
    )
    # Blank when police did not say: a read-only model field would lose allow_blank.
    missing_kind = serializers.ChoiceField(
        choices=MissingEpisode.Kind.choices, allow_blank=True, read_only=True
    )
    restricted_intelligence = serializers.CharField(read_only=True, help_text=RESTRICTED_HELP)
    # Blank until FFD has reviewed it: a read-only model field would lose allow_blank.
    review_decision = serializers.ChoiceField(
        choices=PoliceNotification.ReviewDecision.choices, allow_blank=True, read_only=True
    )
    differences = serializers.JSONField(
        read_only=True,
        help_text="For needs_review: each episode field the police gave differently, as "
        '{"field": {"label": ..., "recorded": ..., "police": ...}}.',
    )

    class Meta(NotificationReceiptOut.Meta):
        fields = [
            *NotificationReceiptOut.Meta.fields,
            "child_first_name",
            "child_last_name",
            "child_date_of_birth",
            "child_gender",
            "council_child_id",
            "missing_kind",
            "last_seen_at",
            "last_seen_place",
            "reported_at",
            "risk_grade",
            "circumstances",
            "reported_by",
            "found_at",
            "found_place",
            "found_by",
            "prevention_interview_done",
            "restricted_intelligence",
            "differences",
            "reviewed_at",
            "reviewed_by",
            "review_decision",
            "review_note",
        ]
        read_only_fields = fields


class NotificationDetailOut(NotificationOut):
    payload = serializers.JSONField(source="raw_payload", read_only=True)

    class Meta(NotificationOut.Meta):
        fields = [*NotificationOut.Meta.fields, "payload"]
        read_only_fields = fields


class ChildBriefOut(serializers.ModelSerializer):
    class Meta:
        model = Child
        fields = ["id", "reference", "council_child_id", "first_name", "last_name", "date_of_birth"]
        read_only_fields = fields


_STATUS_TODAY = (
    "In force today (Europe/London), from the child's legal-status periods "
    "(/api/children/{id}/legal-status/)."
)


class ChildOut(ChildBriefOut):
    """The child's facts. The legal status is computed from the periods in force today
    (`Child.objects.with_legal_status`), never stored on the child."""

    looked_after = serializers.BooleanField(read_only=True, help_text=_STATUS_TODAY)
    child_protection_plan = serializers.BooleanField(read_only=True, help_text=_STATUS_TODAY)
    child_in_need = serializers.BooleanField(read_only=True, help_text=_STATUS_TODAY)
    nhs_number = serializers.CharField(
        source="nhs_number_formatted",
        read_only=True,
        allow_null=True,
        help_text='The NHS number as "943 476 5919"; null when not known.',
    )

    class Meta(ChildBriefOut.Meta):
        fields = [
            *ChildBriefOut.Meta.fields,
            "version",
            "gender",
            "nhs_number",
            "looked_after",
            "child_protection_plan",
            "child_in_need",
            "social_worker",
            "social_worker_name",
            "allocated_team",
            "placement",
            "placement_area",
            "responsible_council",
            "host_council",
        ]
        read_only_fields = fields


class LegalStatusPeriodOut(serializers.ModelSerializer):
    status_label = serializers.CharField(source="get_status_display", read_only=True)

    class Meta:
        model = LegalStatusPeriod
        fields = [
            "id",
            "reference",
            "version",
            "status",
            "status_label",
            "start_date",
            "end_date",
            "source",
            "source_key",
            "reason",
            "recorded_by",
            "recorded_at",
        ]
        read_only_fields = fields


class ObjectIdField(StrictIntegerField):
    """A row of `queryset` by its id (null: none), with a message naming what was not found."""

    default_error_messages = {"does_not_exist": "There is no {thing} {value}."}

    def __init__(self, *, queryset: Any, thing: str, **kwargs: Any) -> None:
        self.queryset, self.thing = queryset, thing
        # No min/max validators: they would run on the row this returns, not on the id.
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> Any:
        pk = super().to_internal_value(data)
        found = self.queryset.filter(pk=pk).first() if 1 <= pk <= ID_MAX else None
        if found is None:
            self.fail("does_not_exist", thing=self.thing, value=pk)
        return found


def _reason() -> StrictCharField:
    return StrictCharField(max_length=5000, help_text="Why: required, kept in the change history.")


def _child_version() -> StrictIntegerField:
    return StrictIntegerField(
        required=False,
        min_value=1,
        max_value=INT_MAX,
        help_text="The child's version you last read; a stale version is refused with 409.",
    )


class ChildFactsIn(StrictInputSerializer):
    """The facts to change (only those sent change), with the reason."""

    nhs_number = NhsNumberField()
    council_child_id = _text(40)
    social_worker = ObjectIdField(
        queryset=User.objects.filter(is_active=True),
        thing="user",
        required=False,
        allow_null=True,
        help_text="The social worker's user id when they use the system (then leave "
        "social_worker_name blank); null for none.",
    )
    social_worker_name = _text(200, help_text="The social worker's name when not a user.")
    allocated_team = ObjectIdField(
        queryset=Team.objects.all(), thing="team", required=False, allow_null=True
    )
    placement = _text(200, help_text="The placement provider's name.")
    placement_area = _text(
        100, help_text="The placement's area (a town or district): never a full address."
    )
    responsible_council = _text(200, help_text="The placing / responsible council.")
    host_council = _text(200)
    reason = _reason()
    version = _child_version()

    # Text facts a null clears, as "" does (the social worker and the team: null is none).
    TEXT_FACTS = (
        "nhs_number",
        "council_child_id",
        "social_worker_name",
        "placement",
        "placement_area",
        "responsible_council",
        "host_council",
    )

    def to_data(self) -> FactsData:
        """The facts sent (only those change), null and "" both clearing a text fact."""
        changes = dict(self.validated_data)
        reason = changes.pop("reason")
        changes.pop("version", None)
        for name in self.TEXT_FACTS:
            if name in changes and changes[name] is None:
                changes[name] = ""
        return FactsData(changes=changes, reason=reason)


class LegalStatusPeriodIn(StrictInputSerializer):
    status = StrictChoiceField(choices=LegalStatus.choices)
    start_date = StrictDateField()
    end_date = StrictDateField(
        required=False,
        allow_null=True,
        help_text="The day the status ceased (not in force on it); null or absent: still in force.",
    )
    reason = _reason()
    version = _child_version()

    def to_data(self) -> PeriodData:
        return self._data(PeriodData)


class LegalStatusPeriodChangeIn(StrictInputSerializer):
    """End or correct a period: only the fields sent change (`end_date: null` reopens it)."""

    status = StrictChoiceField(choices=LegalStatus.choices, required=False)
    start_date = StrictDateField(required=False)
    end_date = StrictDateField(required=False, allow_null=True)
    reason = _reason()
    version = StrictIntegerField(
        required=False,
        min_value=1,
        max_value=INT_MAX,
        help_text="The period's version you last read; a stale version is refused with 409.",
    )

    def to_data(self) -> PeriodChangeData:
        """Only what was sent changes. Not `_data`: here a null `end_date` is a value (reopen
        the period), not "not given"; `status` and `start_date` cannot be null."""
        return data_from(PeriodChangeData, self.validated_data)


class LegalStatusPeriodRemoveIn(StrictInputSerializer):
    reason = _reason()
    version = StrictIntegerField(required=False, min_value=1, max_value=INT_MAX)

    def to_data(self) -> PeriodRemoveData:
        return self._data(PeriodRemoveData)


class EpisodeBriefOut(serializers.ModelSerializer):
    """An episode row: enough for a list, with the joins `with_related()` declares."""

    # Named missing_kind, not kind: the API has a notification `kind` with other values.
    missing_kind = serializers.ChoiceField(
        source="kind", choices=MissingEpisode.Kind.choices, read_only=True
    )
    state_label = serializers.CharField(source="get_state_display", read_only=True)
    police_force: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="code", read_only=True
    )
    police_grade: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="code", read_only=True
    )
    police_grade_label = serializers.CharField(source="police_grade.label", read_only=True)
    # Plain text in the schema: as an enum it would clash by name with the decision's `risk`
    # (same choices), which drf-spectacular warns about without an ENUM_NAME_OVERRIDES entry.
    manager_risk = serializers.CharField(
        read_only=True,
        help_text="The latest manager decision's risk: high, medium or low; blank until reviewed.",
    )

    class Meta:
        model = MissingEpisode
        fields = [
            "id",
            "reference",
            "state",
            "state_label",
            "version",
            "missing_kind",
            "police_force",
            "police_reference",
            "police_grade",
            "police_grade_label",
            "last_seen_at",
            "reported_at",
            "returned_at",
            "manager_risk",
            "first_reviewed_at",
            "review_due_at",
            "interview_due_at",
        ]
        read_only_fields = fields


class EpisodeListOut(EpisodeBriefOut):
    child = ChildBriefOut(read_only=True)

    class Meta(EpisodeBriefOut.Meta):
        fields = [*EpisodeBriefOut.Meta.fields, "child"]
        read_only_fields = fields


class EpisodeDetailOut(RestrictedFieldsMixin, EpisodeListOut):
    restricted_intelligence = serializers.CharField(read_only=True, help_text=RESTRICTED_HELP)
    available_transitions = serializers.ListField(
        child=serializers.CharField(),
        read_only=True,
        help_text=(
            "What this user may do to the episode now: record_return (POST …/return/), "
            "review (POST …/decisions/), sign_off (POST …/sign-off/), cancel (POST …/cancel/)."
        ),
    )
    # Blank until the interview is held or recorded as not held (see NotificationOut).
    interview_outcome = serializers.ChoiceField(
        choices=InterviewOutcome.choices, allow_blank=True, read_only=True
    )

    class Meta(EpisodeListOut.Meta):
        fields = [
            *EpisodeListOut.Meta.fields,
            "last_seen_place",
            "notified_at",
            "circumstances",
            "reported_by",
            "restricted_intelligence",
            "found_place",
            "found_by",
            "prevention_interview_done",
            "looked_after",
            "child_protection_plan",
            "child_in_need",
            "placement",
            "responsible_council",
            "host_council",
            "flag_sexual_exploitation",
            "flag_criminal_exploitation",
            "flag_mental_health",
            "flag_aged_13_or_under",
            "interview_arranged_at",
            "interview_held_at",
            "interview_outcome",
            "signed_off_at",
            "signed_off_by",
            "cancelled_reason",
            "created_at",
            "updated_at",
            "available_transitions",
        ]
        read_only_fields = fields


class ChildDetailOut(ChildOut):
    episodes = EpisodeBriefOut(many=True, read_only=True)
    legal_status_periods = LegalStatusPeriodOut(many=True, read_only=True)

    class Meta(ChildOut.Meta):
        fields = [*ChildOut.Meta.fields, "legal_status_periods", "episodes"]
        read_only_fields = fields


class DecisionOut(serializers.ModelSerializer):
    decided_by_name = serializers.SerializerMethodField()

    class Meta:
        model = OversightDecision
        fields = [
            "id",
            "episode",
            "decided_by",
            "decided_by_name",
            "decided_at",
            "risk",
            "rationale",
            "strategy_meeting",
            "exploitation_screening",
            "inform_social_worker",
            "inform_placement",
            "police_liaison",
            "next_review_at",
        ]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.STR)
    def get_decided_by_name(self, obj: OversightDecision) -> str:
        return obj.decided_by.get_full_name() or obj.decided_by.username


class DecisionCreatedOut(DecisionOut):
    episode_version = serializers.IntegerField(
        source="episode.version",
        read_only=True,
        help_text="The episode's version after this decision: send it with the next change.",
    )

    class Meta(DecisionOut.Meta):
        fields = [*DecisionOut.Meta.fields, "episode_version"]
        read_only_fields = fields


class EventOut(serializers.ModelSerializer):
    actor_name = serializers.SerializerMethodField()

    class Meta:
        model = EpisodeEvent
        fields = ["id", "at", "actor", "actor_name", "action", "from_state", "to_state", "reason"]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.STR)
    def get_actor_name(self, obj: EpisodeEvent) -> str:
        if obj.actor is None:
            return "System"
        return obj.actor.get_full_name() or obj.actor.username


class BoardRowOut(serializers.Serializer):
    episode = serializers.IntegerField(source="episode.pk")
    episode_reference = serializers.CharField(source="episode.reference")
    state = serializers.ChoiceField(source="episode.state", choices=EpisodeState.choices)
    child = serializers.IntegerField(source="episode.child_id")
    child_name = serializers.CharField(source="episode.child.full_name")
    police_grade = serializers.CharField(source="episode.police_grade.code")
    police_grade_label = serializers.CharField(source="episode.police_grade.label")
    stage = serializers.CharField()
    stage_label = serializers.CharField()
    clock = serializers.CharField(
        help_text="review, interview, sign_off (interview done: no clock, a sign-off) or none."
    )
    due_at = serializers.DateTimeField(allow_null=True)
    rag = serializers.CharField(help_text="red (overdue), amber, green, or grey (no clock).")
    seconds_left = serializers.SerializerMethodField(
        help_text="Negative once overdue; null when no clock runs."
    )

    @extend_schema_field(serializers.IntegerField(allow_null=True))
    def get_seconds_left(self, row: Any) -> int | None:
        return None if row.left is None else int(row.left.total_seconds())


class StageCountOut(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()  # type: ignore[assignment]  # a field named "label" (DRF takes it off the class)
    count = serializers.IntegerField()


class BoardOut(serializers.Serializer):
    generated_at = serializers.DateTimeField()
    rows = BoardRowOut(many=True)
    stages = StageCountOut(many=True)
    overdue_count = serializers.IntegerField()
    awaiting_match_count = serializers.IntegerField(
        help_text="Notifications waiting for a practitioner to confirm the child."
    )
    risk_meeting_count = serializers.IntegerField(
        help_text="Open strategy / risk meeting tasks (GET /api/risk-meetings/ lists them)."
    )


class RiskGradeOut(serializers.ModelSerializer):
    review_within_seconds = serializers.SerializerMethodField()

    class Meta:
        model = RiskGrade
        fields = ["code", "label", "rank", "review_within_seconds", "active"]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.INT)
    def get_review_within_seconds(self, obj: RiskGrade) -> int:
        return int(obj.review_within.total_seconds())


class PoliceForceOut(serializers.ModelSerializer):
    class Meta:
        model = PoliceForce
        fields = ["code", "name"]
        read_only_fields = fields


# --------------------------------------------------------------------------------------------
# Repeat-missing rules: flags and strategy / risk meeting tasks
# --------------------------------------------------------------------------------------------


class EpisodeFlagsIn(StrictInputSerializer):
    """Every flag a manager sets, each given: the episode's flags become exactly these."""

    sexual_exploitation = StrictBooleanField()
    criminal_exploitation = StrictBooleanField()
    mental_health = StrictBooleanField()
    version = _version()

    def to_data(self) -> FlagsData:
        return self._data(FlagsData)


class RiskMeetingCompleteIn(StrictInputSerializer):
    outcome = StrictCharField(max_length=LONG_TEXT_MAX)
    version = StrictIntegerField(
        required=False,
        min_value=1,
        max_value=INT_MAX,
        help_text="The task version you last read; a stale version is refused with 409.",
    )

    def to_data(self) -> MeetingOutcomeData:
        return self._data(MeetingOutcomeData)


class RiskMeetingTaskOut(serializers.ModelSerializer):
    """A "strategy / risk meeting needed" task. The reason names references and numbers only."""

    reference = serializers.CharField(read_only=True)
    child: serializers.PrimaryKeyRelatedField[Any] = serializers.PrimaryKeyRelatedField(
        read_only=True
    )
    child_reference = serializers.CharField(source="child.reference", read_only=True)
    episode: serializers.PrimaryKeyRelatedField[Any] = serializers.PrimaryKeyRelatedField(
        read_only=True
    )
    episode_reference = serializers.CharField(source="episode.reference", read_only=True)
    rule: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="code", read_only=True
    )
    rule_label = serializers.CharField(source="rule.label", read_only=True)
    completed_by: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="username", read_only=True
    )

    class Meta:
        model = RiskMeetingTask
        fields = [
            "id",
            "reference",
            "child",
            "child_reference",
            "episode",
            "episode_reference",
            "rule",
            "rule_label",
            "reason",
            "raised_at",
            "status",
            "completed_at",
            "completed_by",
            "outcome",
            "version",
        ]
        read_only_fields = fields


def schema_restricted_fields_optional(
    result: dict[str, Any], generator: Any, request: Any, public: bool
) -> dict[str, Any]:
    """drf-spectacular post-processing hook: manager-only fields are absent for most readers,
    so no response schema may list them as required (settings.SPECTACULAR_SETTINGS)."""
    for schema in result.get("components", {}).get("schemas", {}).values():
        required = schema.get("required")
        if required:
            kept = [name for name in required if name not in RESTRICTED_FIELDS]
            if kept:
                schema["required"] = kept
            else:
                del schema["required"]
    return result


# --------------------------------------------------------------------------------------------
# Merging two child records created in error (missing.cases.merge)
# --------------------------------------------------------------------------------------------


class ChildMergeIn(StrictInputSerializer):
    remove = StrictIntegerField(
        min_value=1,
        max_value=ID_MAX,
        help_text="The id of the child record created in error: it is merged into this one "
        "and deleted.",
    )
    reason = StrictCharField(max_length=5000, help_text="Why the two records are the same child.")

    def to_data(self) -> MergeData:
        return MergeData(
            remove_id=self.validated_data["remove"], reason=self.validated_data["reason"]
        )


class ChildMergeRecordOut(serializers.ModelSerializer):
    """The durable record of a merge: references and counts, never a name."""

    reference = serializers.CharField(read_only=True)
    merged_by: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="username", read_only=True
    )
    moved = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        read_only=True,
        help_text="Record type -> the references moved onto the kept child.",
    )
    counts = serializers.DictField(child=serializers.IntegerField(), read_only=True)
    filled_fields = serializers.ListField(child=serializers.CharField(), read_only=True)
    closed_duplicate_tasks = serializers.ListField(child=serializers.CharField(), read_only=True)

    class Meta:
        model = ChildMerge
        fields = [
            "id",
            "reference",
            "kept_child",
            "removed_child_id",
            "removed_reference",
            "merged_by",
            "merged_at",
            "reason",
            "moved",
            "counts",
            "filled_fields",
            "closed_duplicate_tasks",
        ]
        read_only_fields = fields


class ChildMergeOut(serializers.Serializer):
    child = ChildDetailOut(read_only=True)
    merge = ChildMergeRecordOut(read_only=True)
