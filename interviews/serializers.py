"""API serializers for return interviews: strict input (`…In`, type and shape only: every rule
is the services') and output (`…Out`) kept apart, as in `missing.api.serializers`. Each input
feeding an operation gives its validated data as that operation's data object (`to_data()`),
the same object the web form's `to_data()` gives; `version`, where sent, is the operation's
`expected_version` (`expected_version()`), not part of the data."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from interviews.models import (
    ContactAttempt,
    ContactMethod,
    ContactOutcome,
    Factor,
    Independence,
    InterviewEpisode,
    InterviewFactor,
    ReturnInterview,
)
from interviews.services import (
    FACTOR_FIELDS,
    LONG_TEXT,
    MENTION_FIELDS,
    MENTION_MAX_COUNT,
    MENTION_MAX_LENGTH,
    TEXT_LIMITS,
    AddEpisodeData,
    AssignData,
    AttemptData,
    CompleteData,
    CreateData,
    RecordData,
    SignOffData,
    UnassignData,
    factor_picks,
    mention_names,
)
from missing.api.serializers import (
    ID_MAX,
    INT_MAX,
    AwareDateTimeField,
    ChildBriefOut,
    StrictBooleanField,
    StrictCharField,
    StrictChoiceField,
    StrictInputSerializer,
    StrictIntegerField,
)
from missing.models import InterviewOutcome


def _text(max_length: int, **kwargs: Any) -> StrictCharField:
    return StrictCharField(
        max_length=max_length, required=False, allow_blank=True, allow_null=True, **kwargs
    )


def _version(required: bool = True) -> StrictIntegerField:
    return StrictIntegerField(
        required=required,
        min_value=1,
        max_value=INT_MAX,
        help_text="The interview version you last read; a stale version is refused with 409.",
    )


def _id(**kwargs: Any) -> StrictIntegerField:
    return StrictIntegerField(min_value=1, max_value=ID_MAX, **kwargs)


class _VersionedIn(StrictInputSerializer):
    def expected_version(self) -> int | None:
        """The `version` sent (after is_valid), or None where it is optional and absent."""
        version = self.validated_data.get("version")
        return None if version is None else int(version)


# --------------------------------------------------------------------------------------------
# Input
# --------------------------------------------------------------------------------------------


class InterviewCreateIn(StrictInputSerializer):
    child = _id(help_text="The child's id.")
    episodes = serializers.ListField(
        child=_id(), min_length=1, max_length=50, help_text="The returned episodes to cover."
    )

    def to_data(self) -> CreateData:
        data = self.validated_data
        return CreateData(child_id=data["child"], episode_ids=tuple(data["episodes"]))


class AssignIn(_VersionedIn):
    interviewer = _id(help_text="The interviewer's user id.")
    independence_exception_reason = _text(
        LONG_TEXT,
        help_text=(
            "Only when the interviewer is not independent of the child and the child asked "
            "to talk to them: why (managers only). Reported as an exception."
        ),
    )
    planned_at = AwareDateTimeField(required=False, allow_null=True)
    planned_place = _text(300)
    version = _version(required=False)

    def to_data(self) -> AssignData:
        data = self.validated_data
        return AssignData(
            interviewer_id=data["interviewer"],
            exception_reason=data.get("independence_exception_reason") or "",
            planned_at=data.get("planned_at"),
            planned_place=data.get("planned_place") or "",
        )


class UnassignIn(_VersionedIn):
    reason = StrictCharField(max_length=LONG_TEXT)
    version = _version(required=False)

    def to_data(self) -> UnassignData:
        return UnassignData(reason=self.validated_data["reason"])


class AddEpisodeIn(_VersionedIn):
    episode = _id()
    version = _version(required=False)

    def to_data(self) -> AddEpisodeData:
        return AddEpisodeData(episode_id=self.validated_data["episode"])


class AttemptIn(StrictInputSerializer):
    at = AwareDateTimeField()
    method = StrictChoiceField(choices=ContactMethod.choices)
    outcome = StrictChoiceField(choices=ContactOutcome.choices)
    offered = StrictBooleanField(required=False, default=False)
    note = _text(LONG_TEXT)
    planned_at = AwareDateTimeField(
        required=False, allow_null=True, help_text="When the outcome is `arranged`."
    )
    planned_place = _text(300, help_text="When the outcome is `arranged`.")

    def to_data(self) -> AttemptData:
        data = self.validated_data
        return AttemptData(
            at=data["at"],
            method=data["method"],
            outcome=data["outcome"],
            offered=data["offered"],
            note=data.get("note") or "",
            planned_at=data.get("planned_at"),
            planned_place=data.get("planned_place") or "",
        )


class FactorPickIn(StrictInputSerializer):
    code = StrictCharField(max_length=60)
    note = _text(LONG_TEXT)


class RecordFieldsIn(StrictInputSerializer):
    """The record's fields. All optional: only those sent are changed."""

    outcome = StrictChoiceField(choices=InterviewOutcome.choices, required=False, allow_blank=True)
    held_at = AwareDateTimeField(required=False, allow_null=True)
    seen_alone = StrictBooleanField(required=False, allow_null=True)
    consent_to_share = StrictBooleanField(required=False, allow_null=True)
    push_factors = FactorPickIn(many=True, required=False)
    pull_factors = FactorPickIn(many=True, required=False)
    harms = FactorPickIn(many=True, required=False)
    places = serializers.ListField(
        child=StrictCharField(max_length=MENTION_MAX_LENGTH, allow_blank=True),
        max_length=MENTION_MAX_COUNT,
        required=False,
        help_text="Places the child went or stayed, as they told it (each once; blanks dropped).",
    )
    associates = serializers.ListField(
        child=StrictCharField(max_length=MENTION_MAX_LENGTH, allow_blank=True),
        max_length=MENTION_MAX_COUNT,
        required=False,
        help_text="People the child was with, as they told it (each once; blanks dropped).",
    )

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        for name, limit in TEXT_LIMITS.items():
            fields[name] = _text(limit)
        return fields

    @staticmethod
    def changes(validated: dict[str, Any]) -> dict[str, Any]:
        """Validated data in the services' shape (absent stays absent; null text is blank)."""
        out: dict[str, Any] = {}
        for name, value in validated.items():
            if name in FACTOR_FIELDS:
                out[name] = factor_picks((p["code"], p.get("note") or "") for p in value)
            elif name in MENTION_FIELDS:
                out[name] = mention_names(value)
            elif name in TEXT_LIMITS:
                out[name] = value or ""
            else:
                out[name] = value
        return out


class RecordIn(RecordFieldsIn, _VersionedIn):
    version = _version()
    base = RecordFieldsIn(
        required=False,
        help_text=(
            "The values of the fields you change as you last read them. With it, a save over a "
            "newer version is merged field by field; a field someone else changed too is a "
            "409 listing the differences. Without it, any difference is a 409."
        ),
    )

    def to_data(self) -> RecordData:
        data = dict(self.validated_data)
        data.pop("version")
        base = data.pop("base", None)
        return RecordData(
            changes=RecordFieldsIn.changes(data),
            base=None if base is None else RecordFieldsIn.changes(base),
        )


class VersionIn(_VersionedIn):
    """Completing: only the version read (the record completed is the one saved)."""

    version = _version()

    def to_data(self) -> CompleteData:
        return CompleteData()


class InterviewSignOffIn(_VersionedIn):
    strategy_meeting = StrictBooleanField(required=False, default=False)
    exploitation_referral = StrictBooleanField(required=False, default=False)
    update_safety_plan = StrictBooleanField(required=False, default=False)
    note = _text(LONG_TEXT)
    no_follow_up_reason = _text(
        LONG_TEXT,
        help_text=(
            "Why no follow-up is needed. Required when no follow-up is chosen and the record "
            "shows an exploitation flag, a disclosure or a harm (400 naming this field)."
        ),
    )
    version = _version(required=False)

    def to_data(self) -> SignOffData:
        data = self.validated_data
        return SignOffData(
            strategy_meeting=data["strategy_meeting"],
            exploitation_referral=data["exploitation_referral"],
            update_safety_plan=data["update_safety_plan"],
            note=data.get("note") or "",
            no_follow_up_reason=data.get("no_follow_up_reason") or "",
        )


# --------------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------------


class FactorOut(serializers.ModelSerializer):
    class Meta:
        model = Factor
        fields = ["code", "kind", "label", "cin_code", "active"]
        read_only_fields = fields


class FactorPickOut(serializers.ModelSerializer):
    code = serializers.CharField(source="factor.code", read_only=True)
    kind = serializers.CharField(source="factor.kind", read_only=True)
    label = serializers.CharField(source="factor.label", read_only=True)  # type: ignore[assignment]  # a field named "label" (DRF takes it off the class)

    class Meta:
        model = InterviewFactor
        fields = ["code", "kind", "label", "note"]
        read_only_fields = fields


class CoveredEpisodeOut(serializers.ModelSerializer):
    """One covered episode and its own answers as the figures count them (read from the
    annotations of `interviews.figures.link_answers`, never stored flags)."""

    episode_reference = serializers.CharField(source="episode.reference", read_only=True)
    returned_at = serializers.DateTimeField(source="episode.returned_at", read_only=True)
    interview_due_at = serializers.DateTimeField(source="episode.interview_due_at", read_only=True)
    episode_state = serializers.CharField(source="episode.state", read_only=True)
    offered = serializers.BooleanField(source="answer_offered", read_only=True)
    accepted = serializers.SerializerMethodField(
        help_text="True: accepted or held; false: the child refused; null: not known yet."
    )
    held = serializers.BooleanField(source="answer_held", read_only=True)
    held_within_72h = serializers.BooleanField(
        source="answer_held_within_72h",
        read_only=True,
        help_text="Held within 72 elapsed hours of this episode's own return.",
    )

    class Meta:
        model = InterviewEpisode
        fields = [
            "episode",
            "episode_reference",
            "episode_state",
            "returned_at",
            "interview_due_at",
            "offered",
            "offered_at",
            "accepted",
            "held",
            "held_within_72h",
        ]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.BOOL)
    def get_accepted(self, link: InterviewEpisode) -> bool | None:
        if link.answer_accepted:  # type: ignore[attr-defined]
            return True
        return False if link.answer_refused else None  # type: ignore[attr-defined]


class AttemptOut(serializers.ModelSerializer):
    class Meta:
        model = ContactAttempt
        fields = ["id", "at", "method", "outcome", "offered", "note", "recorded_at", "recorded_by"]
        read_only_fields = fields


class InterviewListOut(serializers.ModelSerializer):
    child = ChildBriefOut(read_only=True)
    due_at = serializers.SerializerMethodField(
        help_text="The earliest 72-hour deadline among the episodes it covers."
    )
    interviewer_organisation: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="name", read_only=True, allow_null=True
    )
    # Blank until known: declared here because a read-only model field loses allow_blank,
    # and the schema would then promise a value from the list where "" is sent.
    independence = serializers.ChoiceField(
        choices=Independence.choices, allow_blank=True, read_only=True
    )
    outcome = serializers.ChoiceField(
        choices=InterviewOutcome.choices, allow_blank=True, read_only=True
    )

    class Meta:
        model = ReturnInterview
        fields = [
            "id",
            "reference",
            "status",
            "version",
            "child",
            "due_at",
            "interviewer",
            "interviewer_organisation",
            "independence",
            "planned_at",
            "planned_place",
            "outcome",
            "held_at",
        ]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.DATETIME)
    def get_due_at(self, obj: ReturnInterview) -> Any:
        due = getattr(obj, "due_at", None)
        if due is None:
            dues = [
                c.episode.interview_due_at for c in obj.covered.all() if c.episode.interview_due_at
            ]
            due = min(dues) if dues else None
        return serializers.DateTimeField().to_representation(due) if due else None


class InterviewDetailOut(InterviewListOut):
    covered = CoveredEpisodeOut(many=True, read_only=True)
    attempts = AttemptOut(many=True, read_only=True)
    factors = FactorPickOut(many=True, read_only=True)
    places = serializers.ListField(
        source="named_places",
        child=serializers.CharField(),
        read_only=True,
        help_text="Places the child went or stayed, in the order recorded.",
    )
    associates = serializers.ListField(
        source="named_associates",
        child=serializers.CharField(),
        read_only=True,
        help_text="People the child was with, in the order recorded.",
    )

    class Meta(InterviewListOut.Meta):
        fields = [
            *InterviewListOut.Meta.fields,
            "covered",
            "assigned_at",
            "independence_exception_reason",
            "held_place",
            "present",
            "seen_alone",
            "account_where",
            "account_who_with",
            "account_travel",
            "account_how_found",
            "places",
            "associates",
            "factors",
            "disclosures",
            "consent_to_share",
            "shared_with",
            "wishes_and_feelings",
            "safety_plan",
            "referrals",
            "not_held_reason",
            "carers_account",
            "attempts",
            "completed_at",
            "signed_off_at",
            "signed_off_by",
            "follow_up_strategy_meeting",
            "follow_up_exploitation_referral",
            "follow_up_update_safety_plan",
            "sign_off_note",
            "no_follow_up_reason",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class RecordSavedOut(serializers.Serializer):
    version = serializers.IntegerField(help_text="Send it with the next change.")
    merged = serializers.BooleanField(
        help_text="Saved over someone else's newer version without a clash (theirs kept)."
    )
    changed = serializers.ListField(child=serializers.CharField())


class DifferenceOut(serializers.Serializer):
    field = serializers.CharField()
    label = serializers.CharField()  # type: ignore[assignment]  # a field named "label" (DRF takes it off the class)
    yours = serializers.CharField()
    theirs = serializers.CharField()


class StaleEditOut(serializers.Serializer):
    detail = serializers.CharField()
    current_version = serializers.IntegerField(
        required=False, help_text="Sent when the conflict is a stale version: the version now."
    )
    differences = DifferenceOut(many=True, required=False)


class FigureOut(serializers.Serializer):
    section = serializers.CharField()
    key = serializers.CharField()
    label = serializers.CharField()  # type: ignore[assignment]  # a field named "label" (DRF takes it off the class)
    value = serializers.IntegerField()
    counts = serializers.ChoiceField(
        choices=["episodes", "children"], help_text="What the number counts."
    )
    share_of = serializers.CharField(
        allow_null=True, help_text="The key of the figure this one is shown as a share of."
    )
    percent = serializers.IntegerField(
        allow_null=True,
        help_text="The share as a whole percentage, as the page shows it (null: no share, or "
        "nothing to share).",
    )


class FiguresFiltersOut(serializers.Serializer):
    team = serializers.IntegerField(allow_null=True)
    age_band = serializers.CharField(allow_null=True)
    legal_status = serializers.CharField(allow_null=True)
    provider = serializers.IntegerField(allow_null=True)


class TrendMonthOut(serializers.Serializer):
    month = serializers.DateField(help_text="The month's first day (London).")
    returns = serializers.IntegerField()
    held_within_72h = serializers.IntegerField()
    episodes = serializers.IntegerField()
    reviewed_within_target = serializers.IntegerField()


class FactorCountOut(serializers.Serializer):
    kind = serializers.CharField()
    code = serializers.CharField()
    label = serializers.CharField()  # type: ignore[assignment]  # a field named "label" (DRF takes it off the class)
    interviews = serializers.IntegerField()
    children = serializers.IntegerField()


class NameCountOut(serializers.Serializer):
    name = serializers.CharField()
    children = serializers.IntegerField()
    mentions = serializers.IntegerField()


class PatternsOut(serializers.Serializer):
    factors = serializers.DictField(child=FactorCountOut(many=True))
    hotspots = NameCountOut(many=True)
    associates = NameCountOut(many=True)


class FiguresOut(serializers.Serializer):
    period_start = serializers.DateField()
    period_end = serializers.DateField()
    filters = FiguresFiltersOut()
    figures = FigureOut(many=True)
    median_hours_to_interview = serializers.FloatField(allow_null=True)
    timed = serializers.IntegerField(help_text="Held interviews the median is over.")
    trend = TrendMonthOut(many=True)
    patterns = PatternsOut()
