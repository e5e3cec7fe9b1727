"""Web forms for return interviews. Types, lengths and choices only: every rule (independence,
times against the return, what a completed interview needs) is the services', whose errors the
views put back beside these fields (field names match the services' names). Each form feeding
an operation gives its answers as that operation's data object (`to_data()`, after
`is_valid()`); the views pass it on unchanged, as the API's serializers do theirs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from django import forms

from interviews.models import ContactMethod, ContactOutcome, Factor, FactorKind
from interviews.services import (
    FACTOR_FIELDS,
    LONG_TEXT,
    MENTION_FIELDS,
    RECORD_FIELDS,
    AddEpisodeData,
    AssignData,
    AttemptData,
    CompleteData,
    CreateData,
    FactorPicks,
    RecordData,
    SignOffData,
    UnassignData,
    factor_picks,
    mention_names,
)
from missing.models import InterviewOutcome, MissingEpisode, Role, User
from missing.web.date_input import GovukDateTimeField, GovukDateTimeWidget
from missing.web.forms import GovukFormMixin

YES_NO = [("yes", "Yes"), ("no", "No")]
_BOOL = {"yes": True, "no": False, "": None, None: None}
_BOOL_BACK = {True: "yes", False: "no", None: ""}


def _text(label: str, max_length: int = 300, *, required: str = "", **kwargs: Any) -> forms.Field:
    return forms.CharField(
        label=label,
        max_length=max_length,
        required=bool(required),
        error_messages={
            "required": required,
            "max_length": f"{label} must be {max_length} characters or fewer",
        },
        **kwargs,
    )


def _area(label: str, *, rows: int = 4, required: str = "", **kwargs: Any) -> forms.Field:
    return _text(
        label, LONG_TEXT, required=required, widget=forms.Textarea({"rows": rows}), **kwargs
    )


def _when(label: str, *, required: str = "", help_text: str = "") -> forms.Field:
    return GovukDateTimeField(
        label=label,
        required=bool(required),
        help_text=help_text,
        error_messages={"required": required},
    )


def _choice(form: forms.Form, name: str) -> forms.ChoiceField:
    """A choice field of `form` whose choices are set when the form is built."""
    return cast(forms.ChoiceField, form.fields[name])


def _yes_no(label: str) -> forms.Field:
    return forms.ChoiceField(label=label, choices=YES_NO, required=False, widget=forms.RadioSelect)


class VersionedForm(GovukFormMixin, forms.Form):
    """`version` is the interview's version when the form was opened (stale → 409)."""

    version = forms.IntegerField(
        widget=forms.HiddenInput,
        min_value=1,
        error_messages={
            "required": "This form is out of date. Reload the interview and try again.",
            "invalid": "This form is out of date. Reload the interview and try again.",
        },
    )

    def expected_version(self) -> int:
        """The version the page was read at: the operation's `expected_version` (after
        is_valid)."""
        return int(self.cleaned_data["version"])


class CompleteForm(VersionedForm):
    """ "Confirm and complete" on the check-your-answers page: only the version shown."""

    def to_data(self) -> CompleteData:
        return CompleteData()


class CreateForm(GovukFormMixin, forms.Form):
    episodes = forms.MultipleChoiceField(
        label="Which episodes does the interview cover?",
        widget=forms.CheckboxSelectMultiple,
        help_text="If the child went missing again before an interview, one interview can cover "
        "each of those episodes. Each still counts on its own in the figures.",
        error_messages={"required": "Choose at least one episode for the interview to cover"},
    )

    def __init__(
        self, *args: Any, child_id: int, episodes: list[MissingEpisode], **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.child_id = child_id
        self.episode_rows = episodes
        _choice(self, "episodes").choices = [(str(e.pk), e.reference) for e in episodes]

    def to_data(self) -> CreateData:
        return CreateData(
            child_id=self.child_id,
            episode_ids=tuple(int(pk) for pk in self.cleaned_data["episodes"]),
        )


class InterviewerChoice(forms.ModelChoiceField):
    def label_from_instance(self, obj: User) -> str:
        name = obj.get_full_name() or obj.username
        return f"{name} ({obj.organisation.name})" if obj.organisation else name


class AssignForm(VersionedForm):
    interviewer = InterviewerChoice(
        label="Interviewer",
        queryset=User.objects.none(),
        empty_label="Choose the interviewer",
        error_messages={
            "required": "Choose the interviewer",
            "invalid_choice": "Choose an active interviewer from the list",
        },
    )
    independence_exception_reason = _area(
        "Exception to independence (managers only)",
        rows=3,
        help_text="Only if the child asked to talk to a trusted carer or worker who is not "
        "independent of them: say why. Leave blank otherwise. It is reported as an exception.",
    )
    planned_at = _when("Planned time", help_text="If a time is agreed.")
    planned_place = _text("Planned place", help_text="For example, at school, or a café in town.")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ModelChoiceField, self.fields["interviewer"]).queryset = (
            User.objects.filter(role=Role.INTERVIEWER, is_active=True)
            .select_related("organisation")
            .order_by("organisation__name", "last_name", "first_name", "username")
        )

    def to_data(self) -> AssignData:
        data = self.cleaned_data
        return AssignData(
            interviewer_id=data["interviewer"].pk,
            exception_reason=data["independence_exception_reason"],
            planned_at=data["planned_at"],
            planned_place=data["planned_place"],
        )


class UnassignForm(VersionedForm):
    reason = _area("Why is the interviewer removed?", rows=3, required="Enter why")

    def to_data(self) -> UnassignData:
        return UnassignData(reason=self.cleaned_data["reason"])


class AttemptForm(GovukFormMixin, forms.Form):
    at = _when("When", required="Enter when the attempt was made")
    method = forms.ChoiceField(
        label="How",
        choices=ContactMethod.choices,
        widget=forms.RadioSelect,
        error_messages={"required": "Choose how the child was contacted"},
    )
    outcome = forms.ChoiceField(
        label="What happened",
        choices=ContactOutcome.choices,
        widget=forms.RadioSelect,
        error_messages={"required": "Choose what happened"},
    )
    offered = forms.BooleanField(
        label="The interview was offered in this contact (for example, by letter or text)",
        required=False,
    )
    note = _area("Notes", rows=3)
    planned_at = _when("Arranged for", help_text="Only if the interview was arranged.")
    planned_place = _text("Arranged place", help_text="Only if the interview was arranged.")

    def to_data(self) -> AttemptData:
        data = self.cleaned_data
        return AttemptData(
            at=data["at"],
            method=data["method"],
            outcome=data["outcome"],
            offered=data["offered"],
            note=data["note"],
            planned_at=data["planned_at"],
            planned_place=data["planned_place"],
        )


class AddEpisodeForm(VersionedForm):
    episode = forms.ChoiceField(
        label="Which episode?",
        widget=forms.RadioSelect,
        error_messages={"required": "Choose the episode"},
    )

    def __init__(self, *args: Any, episodes: list[MissingEpisode], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _choice(self, "episode").choices = [(str(e.pk), e.reference) for e in episodes]

    def to_data(self) -> AddEpisodeData:
        return AddEpisodeData(episode_id=int(self.cleaned_data["episode"]))


class SignOffForm(VersionedForm):
    strategy_meeting = forms.BooleanField(label="Hold a strategy meeting", required=False)
    exploitation_referral = forms.BooleanField(label="Refer for exploitation", required=False)
    update_safety_plan = forms.BooleanField(label="Update the safety plan", required=False)
    no_follow_up_reason = _area(
        "If no follow-up is needed, why not?",
        rows=3,
        help_text="Needed when the record shows an exploitation flag, a disclosure or a harm.",
    )
    note = _area("Sign-off note", rows=3)

    FOLLOW_UPS = ("strategy_meeting", "exploitation_referral", "update_safety_plan")

    def follow_up_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in self.FOLLOW_UPS]

    def to_data(self) -> SignOffData:
        """The answers as the service takes them (after is_valid): the check step shows this
        object, and the confirm step submits it."""
        data = self.cleaned_data
        return SignOffData(
            strategy_meeting=data["strategy_meeting"],
            exploitation_referral=data["exploitation_referral"],
            update_safety_plan=data["update_safety_plan"],
            note=data["note"],
            no_follow_up_reason=data["no_follow_up_reason"],
        )


@dataclass(frozen=True)
class FactorOption:
    factor: Factor
    input_id: str
    checked: bool
    note: forms.BoundField


@dataclass(frozen=True)
class FactorGroup:
    name: str
    legend: str
    hint: str
    field: forms.BoundField
    options: list[FactorOption]


FACTOR_HINTS = {
    "push_factors": "What pushed the child to leave. Add a note on each you pick.",
    "pull_factors": "What drew the child away. Add a note on each you pick.",
    "harms": "What happened to the child, or what they were at risk of, while missing.",
}


class RecordForm(VersionedForm):
    """The whole interview record. All optional here: a draft may be half-written; what a
    completed interview needs is checked by the service when it is completed."""

    outcome = forms.ChoiceField(
        label="Was the interview held?",
        choices=InterviewOutcome.choices,
        required=False,
        widget=forms.RadioSelect,
    )
    held_at = _when("When it was held")
    held_place = _text("Where it was held")
    present = _text(
        "Who was present",
        help_text="Names and roles, for example: the child; "
        "their foster carer for the first ten minutes.",
    )
    seen_alone = _yes_no("Was the child seen alone?")
    account_where = _area("Where they went")
    account_who_with = _area("Who they were with")
    account_travel = _area("How they travelled", rows=3)
    account_how_found = _area("How they were found or came back", rows=3)
    places = _area(
        "Places the child went or stayed, one per line",
        rows=3,
        help_text="For example: the bus station; a flat on Mill Road. "
        "These are counted across children to find places that come up again and again.",
    )
    associates = _area(
        "People the child was with, one per line",
        rows=3,
        help_text="Names or descriptions as the child gave them, for example: Dan (about 20). "
        "Counted across children for exploitation and strategy meetings.",
    )
    push_factors = forms.MultipleChoiceField(
        label="Push factors", required=False, widget=forms.CheckboxSelectMultiple
    )
    pull_factors = forms.MultipleChoiceField(
        label="Pull factors", required=False, widget=forms.CheckboxSelectMultiple
    )
    harms = forms.MultipleChoiceField(
        label="Harms or risks while missing", required=False, widget=forms.CheckboxSelectMultiple
    )
    disclosures = _area(
        "Disclosures",
        help_text="Anything the child disclosed, word for word "
        "where you can, and what you did about it.",
    )
    consent_to_share = _yes_no("Did the child consent to sharing what they said?")
    shared_with = _text(
        "Shared with", help_text="For example: social worker, police missing person coordinator."
    )
    wishes_and_feelings = _area("The child's wishes and feelings")
    safety_plan = _area("Safety plan")
    referrals = _area("Referrals and services offered", rows=3)
    not_held_reason = _area(
        "Why the interview was not held", rows=3, help_text="Only if it was not held."
    )
    carers_account = _area(
        "What parents or carers said",
        rows=3,
        help_text="If the child refused, carers can still be asked what they know.",
    )

    def __init__(
        self,
        *args: Any,
        factors: list[Factor],
        picked: dict[str, FactorPicks],
        may_decide_not_to_hold: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        if not may_decide_not_to_hold:
            # Only a manager decides not to hold one (the service refuses anyone else anyway).
            _choice(self, "outcome").choices = [
                choice
                for choice in InterviewOutcome.choices
                if choice[0] != InterviewOutcome.NOT_HELD_DECISION
            ]
        # Active factors, and any retired one this interview already picked (so it is kept).
        picked_codes = {code for picks in picked.values() for code, _ in picks}
        self.factor_lists: dict[str, list[Factor]] = {name: [] for name in FACTOR_FIELDS}
        kind_field = {kind: name for name, kind in FACTOR_FIELDS.items()}
        for factor in factors:
            if factor.active or factor.code in picked_codes:
                self.factor_lists[kind_field[factor.kind]].append(factor)
        for name, rows in self.factor_lists.items():
            _choice(self, name).choices = [(f.code, f.label) for f in rows]
            for factor in rows:
                self.fields[f"note_{factor.code}"] = _text(
                    f"Note on {factor.label.lower()}",
                    LONG_TEXT,
                    widget=forms.Textarea({"rows": 2}),
                )

    @classmethod
    def initial_from(cls, values: dict[str, Any], version: int) -> dict[str, Any]:
        initial: dict[str, Any] = {"version": version}
        for name in RECORD_FIELDS:
            value = values[name]
            if name in FACTOR_FIELDS:
                initial[name] = [code for code, _ in value]
                for code, note in value:
                    initial[f"note_{code}"] = note
            elif name in ("seen_alone", "consent_to_share"):
                initial[name] = _BOOL_BACK[value]
            elif name in MENTION_FIELDS:
                initial[name] = "\n".join(value)
            else:
                initial[name] = value
        return initial

    @classmethod
    def pairs_from(cls, values: dict[str, Any]) -> list[tuple[str, str]]:
        """The record as the form would post it (name, value), in the page's field order."""
        pairs: list[tuple[str, str]] = []
        initial = cls.initial_from(values, 1)
        for name in RECORD_FIELDS:
            value = initial[name]
            if name in FACTOR_FIELDS:
                pairs.extend((name, code) for code in value)
            elif isinstance(field := cls.base_fields[name], GovukDateTimeField):
                # The boxes, as the page posts them (held_at_day … held_at_time).
                widget = cast(GovukDateTimeWidget, field.widget)
                boxes = zip(widget.parts, widget.decompress(value), strict=True)
                pairs.extend((f"{name}_{part}", box) for part, box in boxes)
            else:
                pairs.append((name, "" if value is None else str(value)))
        for name in FACTOR_FIELDS:
            pairs.extend((f"note_{code}", note) for code, note in values[name])
        return pairs

    def changes(self) -> dict[str, Any]:
        """Every record field as the services take it."""
        data = self.cleaned_data
        out: dict[str, Any] = {}
        for name in RECORD_FIELDS:
            if name in FACTOR_FIELDS:
                out[name] = factor_picks(
                    (code, data.get(f"note_{code}") or "") for code in data.get(name, [])
                )
            elif name in ("seen_alone", "consent_to_share"):
                out[name] = _BOOL[data.get(name) or ""]
            elif name in MENTION_FIELDS:
                out[name] = mention_names((data.get(name) or "").splitlines())
            else:
                out[name] = data.get(name)
                if out[name] is None and name not in ("held_at",):
                    out[name] = ""
        return out

    def to_data(self, *, base: RecordForm | None = None, overwrite: bool = False) -> RecordData:
        """Every record field as the service takes it. `base`: the same form as it was when
        this edit started (the tablet's autosave sends it), valid, for a merge over someone
        else's newer save; `overwrite`: the person saw the differences and keeps theirs."""
        return RecordData(
            changes=self.changes(),
            base=None if base is None else base.changes(),
            overwrite=overwrite,
        )

    def factor_groups(self) -> list[FactorGroup]:
        groups = []
        for name, rows in self.factor_lists.items():
            bound = self[name]
            chosen = {str(v) for v in (bound.value() or [])}
            options = [
                FactorOption(
                    factor=f,
                    input_id=bound.auto_id if i == 0 else f"{bound.auto_id}-{f.code}",
                    checked=f.code in chosen,
                    note=self[f"note_{f.code}"],
                )
                for i, f in enumerate(rows)
            ]
            groups.append(
                FactorGroup(
                    name=name,
                    legend=str(self.fields[name].label),
                    hint=FACTOR_HINTS[name],
                    field=bound,
                    options=options,
                )
            )
        return groups

    def kinds(self) -> list[str]:
        return [FactorKind(FACTOR_FIELDS[name]).label for name in self.factor_lists]
