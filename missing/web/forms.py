"""Web forms. They check types, lengths and required fields; every domain rule (future times,
a return before last seen, overlapping episodes, who may do what) stays in `missing.cases.services`,
whose errors the views map back onto these fields. Field names match the fields of the
operations' data objects, and a form that feeds an operation builds its data object in
`to_data()` (missing.cases.services.data_from): views pass that on and map nothing themselves."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.db import models
from django.forms.utils import ErrorDict
from django.utils import timezone

from missing.cases import nhs
from missing.cases.child_facts import (
    FACT_FIELDS,
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
from missing.models import (
    Child,
    Council,
    LegalStatus,
    ManagerRisk,
    MissingEpisode,
    NotificationKind,
    PoliceForce,
    PoliceNotification,
    RiskGrade,
    Role,
    Team,
    User,
    installation_councils,
    is_regional,
)
from missing.web.date_input import GovukDateField, GovukDateTimeField

# GOV.UK class for each widget type, and the modifier that marks a field in error.
_WIDGET_CLASSES: dict[str, tuple[str, str | None]] = {
    "text": ("govuk-input", "govuk-input--error"),
    "number": ("govuk-input", "govuk-input--error"),
    "password": ("govuk-input", "govuk-input--error"),
    "select": ("govuk-select", "govuk-select--error"),
    "textarea": ("govuk-textarea", "govuk-textarea--error"),
    "radioselect": ("govuk-radios__input", None),
    "checkbox": ("govuk-checkboxes__input", None),
}

# Widgets drawn as a group in a fieldset, whose hint and error the fieldset points to.
_GROUPED = frozenset({"radioselect", "govukdate", "govukdatetime"})
_DATE_INPUTS = frozenset({"govukdate", "govukdatetime"})

# Radio values for a yes / no / not known question, and the stored value each stands for.
YES_NO_UNKNOWN = [("yes", "Yes"), ("no", "No"), ("unknown", "Not known")]
_YES_NO_VALUES: dict[str, bool | None] = {"yes": True, "no": False, "unknown": None, "": None}


@dataclass(frozen=True)
class ErrorItem:
    """One line of the GOV.UK error summary; `href` jumps to the field (None for the form)."""

    href: str | None
    message: str


class GovukFormMixin:
    """Gives widgets the GOV.UK classes and ids for hints and errors, and builds the error
    summary. Errors added later (from a service) get the same treatment as form errors."""

    fields: dict[str, forms.Field]
    _errors: ErrorDict | None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name, field in self.fields.items():
            widget_type = _widget_type(field.widget)
            css, _ = _WIDGET_CLASSES.get(widget_type, ("", None))
            extra = field.widget.attrs.get("class", "")
            field.widget.attrs["class"] = f"{css} {extra}".strip()
            if field.help_text and widget_type not in _GROUPED:
                field.widget.attrs["aria-describedby"] = f"{self._id(name)}-hint"

    def _id(self, name: str) -> str:
        return self[name].auto_id  # type: ignore[index]

    def add_error(self, field: str | None, error: Any) -> None:
        super().add_error(field, error)  # type: ignore[misc]
        for name in self._errors or {}:
            if name not in self.fields:
                continue
            widget = self.fields[name].widget
            widget_type = _widget_type(widget)
            if widget_type in _GROUPED:
                continue  # the fieldset around the group carries the error (field.html)
            _, error_css = _WIDGET_CLASSES.get(widget_type, ("", None))
            if error_css and error_css not in widget.attrs.get("class", ""):
                widget.attrs["class"] = f"{widget.attrs.get('class', '')} {error_css}".strip()
            described = [f"{self._id(name)}-error"]
            if self.fields[name].help_text:
                described.insert(0, f"{self._id(name)}-hint")
            widget.attrs["aria-describedby"] = " ".join(described)

    def error_items(self) -> list[ErrorItem]:
        """Every error, in field order, with a link to the field it belongs to."""
        items = [ErrorItem(None, str(m)) for m in self.non_field_errors()]  # type: ignore[attr-defined]
        errors: dict[str, Any] = dict(self._errors or {})
        for name, field in self.fields.items():
            for message in errors.get(name, []):
                if field.widget.is_hidden:
                    items.append(ErrorItem(None, str(message)))
                    continue
                anchor = self._id(name)
                if _widget_type(field.widget) == "radioselect":
                    anchor += "_0"  # the first radio: GOV.UK links a group's error there
                elif _widget_type(field.widget) in _DATE_INPUTS:
                    anchor = self[name].first_box_id()  # type: ignore[index]
                items.append(ErrorItem(f"#{anchor}", str(message)))
        return items


def _widget_type(widget: forms.Widget) -> str:
    # The same name Django gives BoundField.widget_type (templates switch on that).
    return re.sub(r"widget$|input$", "", widget.__class__.__name__.lower())


def _datetime_field(label: str, *, required_message: str = "", help_text: str = "") -> forms.Field:
    return GovukDateTimeField(
        label=label,
        required=bool(required_message),
        help_text=help_text,
        error_messages={"required": required_message},
    )


def _text(label: str, max_length: int, *, required_message: str = "", **kwargs: Any) -> forms.Field:
    """A text field; required when given the GOV.UK-style message to show when it is empty."""
    return forms.CharField(
        label=label,
        max_length=max_length,
        required=bool(required_message),
        error_messages={
            "required": required_message,
            "max_length": f"{label} must be {max_length} characters or fewer",
        },
        **kwargs,
    )


def _textarea(label: str, max_length: int, **kwargs: Any) -> forms.Field:
    return _text(label, max_length, widget=forms.Textarea({"rows": 4}), **kwargs)


def _yes_no_unknown(label: str) -> forms.Field:
    return forms.ChoiceField(
        label=label, choices=YES_NO_UNKNOWN, required=False, widget=forms.RadioSelect
    )


class LoginForm(GovukFormMixin, AuthenticationForm):
    error_messages = {
        "invalid_login": "Enter a correct username and password. Both are case-sensitive.",
        "inactive": "This account is inactive.",
    }


class NotificationForm(GovukFormMixin, forms.Form):
    """A police notification as the practitioner reads it off the police message. Which fields
    a kind needs (a found notification needs the found time, and so on) is the service's rule."""

    police_force = forms.ModelChoiceField(
        label="Police force",
        queryset=PoliceForce.objects.order_by("name"),
        empty_label="Choose the force",
        error_messages={"required": "Choose the police force"},
    )
    police_reference = _text("Police reference", 60, required_message="Enter the police reference")
    # A regional installation only (decision 0066): which council's front door it is for. Blank:
    # the practitioner's own council. The service checks it whatever the channel.
    council = forms.ChoiceField(
        label="Council",
        required=False,
        choices=[],
        help_text="The council the police message is for. Leave blank for your own council.",
    )
    kind = forms.ChoiceField(
        label="What the notification says",
        choices=NotificationKind.choices,
        initial=NotificationKind.REPORTED_MISSING,
        widget=forms.RadioSelect,
        error_messages={"required": "Choose what the notification says"},
    )
    sequence = forms.IntegerField(
        label="Sequence number",
        required=False,
        min_value=1,
        max_value=10_000,
        initial=1,
        help_text="Police number repeated updates of one incident. Leave as 1 unless told otherwise.",
        error_messages={"invalid": "Sequence number must be a whole number"},
    )

    child_first_name = _text("First name", 100)
    child_last_name = _text("Last name", 100)
    # Not autocomplete="bday": the date is the child's, and the browser would offer the
    # practitioner's own (decision 0055).
    child_date_of_birth = GovukDateField(
        label="Date of birth", required=False, example="For example, 27 3 2012."
    )
    child_gender = _text("Gender", 40)
    council_child_id = _text(
        "Council child id",
        40,
        help_text="If the police message gives it. Matches the child exactly.",
    )
    nhs_number = _text(
        "NHS number",
        20,
        help_text="If the police message gives it: 10 digits, with or without spaces. Matches "
        "the child exactly, before the council child id.",
    )

    def clean_nhs_number(self) -> str:
        return clean_nhs_number(self.cleaned_data.get("nhs_number") or "")

    missing_kind = forms.ChoiceField(
        label="Missing or away",
        choices=MissingEpisode.Kind.choices,
        required=False,
        widget=forms.RadioSelect,
        help_text="If not known, the child is recorded as missing.",
    )
    last_seen_at = _datetime_field("Last seen")
    last_seen_place = _text("Where last seen", 300)
    reported_at = _datetime_field("Reported to police")
    risk_grade = forms.ModelChoiceField(
        label="Police risk grade",
        queryset=RiskGrade.objects.filter(active=True).order_by("rank"),
        required=False,
        empty_label="Choose the grade",
    )
    circumstances = _textarea("Circumstances", 5000)
    reported_by = _text("Reported by", 200)
    restricted_intelligence = _textarea(
        "Restricted police intelligence",
        5000,
        help_text="Only what police mark restricted. Once saved, only managers and heads of service "
        "can read it.",
    )

    found_at = _datetime_field("Found or returned")
    found_place = _text("Where found", 300)
    found_by = _text("Found by", 200)
    prevention_interview_done = _yes_no_unknown("Police prevention interview done")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        names = dict(
            Council.objects.filter(ons_code__in=installation_councils()).values_list(
                "ons_code", "name"
            )
        )
        self.fields["council"].choices = [  # type: ignore[attr-defined]
            ("", "My own council"),
            *((code, names.get(code, code)) for code in installation_councils()),
        ]

    @property
    def regional(self) -> bool:
        return is_regional()

    def clean_sequence(self) -> int:
        return self.cleaned_data.get("sequence") or 1

    def clean_prevention_interview_done(self) -> bool | None:
        return _YES_NO_VALUES[self.cleaned_data.get("prevention_interview_done") or ""]

    def to_data(self) -> NotificationData:
        return data_from(NotificationData, self.cleaned_data)

    def payload(self) -> dict[str, Any]:
        """The notification as entered, JSON-safe, kept as the raw payload (and hashed for
        idempotency: the same form sent twice is the same notification)."""
        return {name: _json_safe(value) for name, value in self.cleaned_data.items()}


def clean_nhs_number(raw: str) -> str:
    """The ten digits of an NHS number typed with or without spaces ("" when blank)."""
    value = nhs.normalise(raw)
    if value:
        problem = nhs.problem(value)
        if problem:
            raise forms.ValidationError(problem)
    return value


def _json_safe(value: Any) -> Any:
    if isinstance(value, models.Model):
        return getattr(value, "code", value.pk)
    if isinstance(value, datetime):
        return timezone.localtime(value).isoformat()  # as typed: London time, with its offset
    if isinstance(value, date):
        return value.isoformat()
    return value


class MatchForm(GovukFormMixin, forms.Form):
    """Which child a held notification is about: one of the candidates, or a new child."""

    NEW_CHILD = "new"

    child = forms.ChoiceField(
        label="Which child is this?",
        widget=forms.RadioSelect,
        error_messages={
            "required": "Choose the child, or 'None of these – a new child'",
            "invalid_choice": "Choose one of the children offered, or a new child",
        },
    )

    def __init__(self, *args: Any, candidates: list[Child], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.candidates = candidates
        self.fields["child"].choices = [  # type: ignore[attr-defined]
            *((str(c.pk), c.full_name) for c in candidates),
            (self.NEW_CHILD, "None of these – a new child"),
        ]

    def child_id(self) -> int | None:
        value = self.cleaned_data["child"]
        return None if value == self.NEW_CHILD else int(value)

    def to_data(self) -> MatchData:
        return MatchData(child_id=self.child_id())


class NotificationReviewForm(GovukFormMixin, forms.Form):
    """FFD's decision on a police notification that differs from its episode's record."""

    decision = forms.ChoiceField(
        label="What should the record say?",
        widget=forms.RadioSelect,
        choices=[
            (PoliceNotification.ReviewDecision.APPLIED, "Apply the police details to the record"),
            (PoliceNotification.ReviewDecision.KEPT, "Keep the record as it is"),
        ],
        error_messages={"required": "Choose to apply the police details or keep the record"},
    )
    note = forms.CharField(
        label="Note (optional)",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=2000,
    )

    def __init__(self, *args: Any, appliable: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not appliable:
            # Nothing recorded differs (a second force's report, a cancelled episode): confirm.
            self.fields["decision"].choices = [  # type: ignore[attr-defined]
                (PoliceNotification.ReviewDecision.KEPT, "Keep the record as it is")
            ]

    def to_data(self) -> ReviewData:
        return data_from(ReviewData, self.cleaned_data)


class EpisodeActionForm(GovukFormMixin, forms.Form):
    """Base of the transition forms: `version` is the episode's version when the form was
    opened; the service refuses (409) if the episode changed since."""

    version = forms.IntegerField(
        widget=forms.HiddenInput,
        min_value=1,
        error_messages={
            "required": "This form is out of date. Reload the episode and try again.",
            "invalid": "This form is out of date. Reload the episode and try again.",
        },
    )

    def to_data(self) -> Any:
        """The operation's data object from the cleaned data (each form's own class)."""
        raise NotImplementedError


class DecisionForm(EpisodeActionForm):
    risk = forms.ChoiceField(
        label="Risk level",
        choices=ManagerRisk.choices,
        widget=forms.RadioSelect,
        error_messages={"required": "Choose the risk level"},
    )
    rationale = _textarea(
        "Rationale", 5000, required_message="Enter the rationale for the decision"
    )
    strategy_meeting = forms.BooleanField(label="Strategy meeting", required=False)
    exploitation_screening = forms.BooleanField(label="Exploitation screening", required=False)
    inform_social_worker = forms.BooleanField(label="Inform the social worker", required=False)
    inform_placement = forms.BooleanField(label="Inform the placement", required=False)
    police_liaison = forms.BooleanField(label="Police liaison", required=False)
    next_review_at = _datetime_field(
        "Next review",
        help_text="While the child is missing. Leave blank to use the police grade's review time.",
    )

    ACTION_FIELDS = (
        "strategy_meeting",
        "exploitation_screening",
        "inform_social_worker",
        "inform_placement",
        "police_liaison",
    )

    def action_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in self.ACTION_FIELDS]

    def to_data(self) -> DecisionData:
        return data_from(DecisionData, self.cleaned_data)


class ReturnForm(EpisodeActionForm):
    returned_at = _datetime_field("Returned", required_message="Enter when the child returned")
    found_place = _text("Where found", 300)
    found_by = _text("Found by", 200)
    prevention_interview_done = _yes_no_unknown("Police prevention interview done")

    def clean_prevention_interview_done(self) -> bool | None:
        return _YES_NO_VALUES[self.cleaned_data.get("prevention_interview_done") or ""]

    def to_data(self) -> ReturnData:
        return data_from(ReturnData, self.cleaned_data)


class CancelForm(EpisodeActionForm):
    reason = _textarea(
        "Why is the episode cancelled?", 2000, required_message="Enter why the episode is cancelled"
    )

    def to_data(self) -> CancelData:
        return data_from(CancelData, self.cleaned_data)


class SignOffForm(EpisodeActionForm):
    note = _textarea("Sign-off note", 2000)

    def to_data(self) -> SignOffData:
        return data_from(SignOffData, self.cleaned_data)


class ChildSearchForm(GovukFormMixin, forms.Form):
    q = forms.CharField(
        label="Last name or council child id",
        max_length=100,
        error_messages={"required": "Enter a last name or a council child id"},
    )


class EpisodeFlagsForm(EpisodeActionForm):
    """What a manager knows of the episode. The age flag is not here: it follows the child's
    date of birth."""

    sexual_exploitation = forms.BooleanField(label="Sexual exploitation", required=False)
    criminal_exploitation = forms.BooleanField(
        label="Criminal exploitation, including county lines", required=False
    )
    mental_health = forms.BooleanField(label="Mental health", required=False)

    FLAG_FIELDS = ("sexual_exploitation", "criminal_exploitation", "mental_health")

    def flag_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in self.FLAG_FIELDS]

    def to_data(self) -> FlagsData:
        return data_from(FlagsData, self.cleaned_data)


class MeetingCompleteForm(GovukFormMixin, forms.Form):
    """Completing a strategy / risk meeting task: the outcome is required; `version` is the
    task's when the page was opened (a stale one is refused with 409)."""

    outcome = _textarea(
        "Outcome of the meeting", 5000, required_message="Enter the outcome of the meeting"
    )
    version = forms.IntegerField(
        widget=forms.HiddenInput,
        min_value=1,
        error_messages={
            "required": "This form is out of date. Reload the page and try again.",
            "invalid": "This form is out of date. Reload the page and try again.",
        },
    )

    def to_data(self) -> MeetingOutcomeData:
        return data_from(MeetingOutcomeData, self.cleaned_data)


class ChildMergeFindForm(GovukFormMixin, forms.Form):
    """Merging, step one: the other child's reference (C-123, or the number alone)."""

    other = forms.CharField(
        label="The reference of the other record",
        help_text="It is on the other child's page, for example C-123.",
        max_length=20,
        error_messages={"required": "Enter the reference of the other child's record"},
    )

    def clean_other(self) -> int:
        value = self.cleaned_data["other"].strip().upper().removeprefix("C-").strip()
        if not value.isdigit() or int(value) < 1 or len(value) > 18:
            raise forms.ValidationError("Enter a child reference like C-123")
        return int(value)


class ChildMergeForm(GovukFormMixin, forms.Form):
    """Merging, step two (check your answers): the reason; `remove` is the other child's id."""

    remove = forms.IntegerField(
        widget=forms.HiddenInput,
        min_value=1,
        error_messages={
            "required": "This form is out of date. Start the merge again.",
            "invalid": "This form is out of date. Start the merge again.",
        },
    )
    reason = _textarea(
        "Why are these records the same child?",
        5000,
        required_message="Enter why the two records are the same child",
    )

    def to_data(self) -> MergeData:
        return MergeData(remove_id=self.cleaned_data["remove"], reason=self.cleaned_data["reason"])


# --------------------------------------------------------------------------------------------
# The child's facts and legal-status periods (missing.cases.child_facts)
# --------------------------------------------------------------------------------------------


def _reason_field(label: str = "Why are you making this change?") -> forms.Field:
    return _textarea(
        label,
        5000,
        required_message="Enter the reason",
        help_text="Kept in the change history, with your name and the time.",
    )


def _version_field() -> forms.Field:
    return forms.IntegerField(
        widget=forms.HiddenInput,
        min_value=1,
        error_messages={
            "required": "This form is out of date. Reload the page.",
            "invalid": "This form is out of date. Reload the page.",
        },
    )


class ChildFactsForm(GovukFormMixin, forms.Form):
    """The child's facts as the council's case system holds them, with the reason."""

    version = _version_field()
    nhs_number = _text(
        "NHS number", 20, help_text="10 digits, with or without spaces, e.g. 943 476 5919."
    )
    council_child_id = _text("Council child id", 40)
    social_worker = forms.ModelChoiceField(
        label="Social worker (a user of this system)",
        queryset=User.objects.none(),
        required=False,
        empty_label="Not a user of this system, or none",
        error_messages={"invalid_choice": "Choose a social worker from the list"},
    )
    social_worker_name = _text(
        "Social worker's name",
        200,
        help_text="Only when the social worker is not a user of this system.",
    )
    allocated_team = forms.ModelChoiceField(
        label="Allocated team",
        queryset=Team.objects.order_by("name"),
        required=False,
        empty_label="None",
        error_messages={"invalid_choice": "Choose a team from the list"},
    )
    placement = _text("Placement provider", 200, help_text="The home's or agency's name.")
    placement_area = _text(
        "Placement area", 100, help_text="The town or district only: never a full address."
    )
    responsible_council = _text("Placing / responsible council", 200)
    host_council = _text("Host council", 200, help_text="Where the child lives, if elsewhere.")
    reason = _reason_field()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Staff who may hold a caseload: not police systems or administrators.
        self.fields["social_worker"].queryset = (  # type: ignore[attr-defined]
            User.objects.filter(is_active=True)
            .exclude(role__in=[Role.POLICE_SYSTEM, Role.ADMIN])
            .order_by("last_name", "first_name", "username")
        )
        self.fields["social_worker"].label_from_instance = (  # type: ignore[attr-defined]
            lambda user: user.get_full_name() or user.username
        )

    def clean_nhs_number(self) -> str:
        return clean_nhs_number(self.cleaned_data.get("nhs_number") or "")

    def to_data(self) -> FactsData:
        """Every fact on the form: those the user left as they were do not change."""
        return FactsData(
            changes={name: self.cleaned_data[name] for name in FACT_FIELDS},
            reason=self.cleaned_data["reason"],
        )


class _LegalStatusPeriodFields(GovukFormMixin, forms.Form):
    """A period's fields: added (LegalStatusPeriodForm), or ended / corrected
    (LegalStatusPeriodChangeForm, then `status` and `start_date` are prefilled)."""

    version = _version_field()
    status = forms.ChoiceField(
        label="Legal status",
        choices=LegalStatus.choices,
        widget=forms.RadioSelect,
        error_messages={"required": "Choose the legal status"},
    )
    start_date = GovukDateField(
        label="Start date", error_messages={"required": "Enter the start date"}
    )
    end_date = GovukDateField(
        label="End date",
        required=False,
        help_text="The day it ceased. Leave blank while it is still in force.",
    )
    reason = _reason_field()


class LegalStatusPeriodForm(_LegalStatusPeriodFields):
    """Add a period (`version` is the child's)."""

    def to_data(self) -> PeriodData:
        return data_from(PeriodData, self.cleaned_data)


class LegalStatusPeriodChangeForm(_LegalStatusPeriodFields):
    """End or correct a period (`version` is the period's). Every field is sent: a blank end
    date reopens the period."""

    def to_data(self) -> PeriodChangeData:
        return data_from(PeriodChangeData, self.cleaned_data)


class LegalStatusPeriodRemoveForm(GovukFormMixin, forms.Form):
    version = _version_field()
    reason = _reason_field("Why was this period recorded in error?")

    def to_data(self) -> PeriodRemoveData:
        return data_from(PeriodRemoveData, self.cleaned_data)
