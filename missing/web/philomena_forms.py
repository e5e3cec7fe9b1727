"""The Philomena profile's web form: types and lengths only; the photo's type and size, and
every other rule, are checked by `missing.cases.philomena` (whose errors land on these fields)."""

from __future__ import annotations

from typing import Any

from django import forms

from missing.cases.philomena import (
    ASSOCIATE_LIMITS,
    ASSOCIATES_MAX,
    LIST_ITEM_MAX,
    LIST_MAX_ITEMS,
    TEXT_FIELDS,
    PhilomenaData,
)
from missing.models import PhilomenaProfile
from missing.web.date_input import GovukDateField
from missing.web.forms import GovukFormMixin, _text, _textarea


class LinesField(forms.CharField):
    """A textarea holding one entry per line, cleaned to a list of non-blank lines."""

    def __init__(self, label: str, **kwargs: Any) -> None:
        super().__init__(
            label=label,
            required=False,
            widget=forms.Textarea({"rows": 4}),
            help_text="One per line.",
            **kwargs,
        )

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, list):
            return "\n".join(value)
        return value

    def clean(self, value: Any) -> list[str]:
        text = super().clean(value) or ""
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        if len(lines) > LIST_MAX_ITEMS:
            raise forms.ValidationError(f"{self.label}: enter {LIST_MAX_ITEMS} or fewer")
        if any(len(line) > LIST_ITEM_MAX for line in lines):
            raise forms.ValidationError(
                f"{self.label}: each line must be {LIST_ITEM_MAX} characters or fewer"
            )
        return lines


_LABELS = {
    "height": "Height",
    "build": "Build",
    "hair": "Hair (colour, length, style)",
    "eyes": "Eyes",
    "skin": "Skin / complexion",
    "distinguishing_features": "Distinguishing features (scars, tattoos, piercings, glasses)",
    "usual_clothing": "Clothing usually worn",
    "medical_needs": "Medical needs",
    "medication": "Medication (name, dose, what happens without it)",
    "language_needs": "Language and communication needs",
    "other_information": "Other information for the police",
}


class PhilomenaForm(GovukFormMixin, forms.Form):
    version = forms.IntegerField(widget=forms.HiddenInput, min_value=0)
    height = _text(_LABELS["height"], TEXT_FIELDS["height"])
    build = _text(_LABELS["build"], TEXT_FIELDS["build"])
    hair = _text(_LABELS["hair"], TEXT_FIELDS["hair"])
    eyes = _text(_LABELS["eyes"], TEXT_FIELDS["eyes"])
    skin = _text(_LABELS["skin"], TEXT_FIELDS["skin"])
    distinguishing_features = _textarea(
        _LABELS["distinguishing_features"], TEXT_FIELDS["distinguishing_features"]
    )
    usual_clothing = _textarea(_LABELS["usual_clothing"], TEXT_FIELDS["usual_clothing"])
    photo = forms.FileField(
        label="Photograph (JPEG or PNG, 5 MB or smaller)",
        required=False,
        help_text="A recent photograph. Leave empty to keep the current one.",
        widget=forms.FileInput({"class": "govuk-file-upload", "accept": "image/jpeg,image/png"}),
    )
    photo_taken_on = GovukDateField(label="When the photograph was taken", required=False)
    remove_photo = forms.BooleanField(label="Remove the current photograph", required=False)
    places = LinesField("Addresses and places the child may go")
    phone_numbers = LinesField("Phone numbers")
    social_media = LinesField("Social media (platform and handle)")
    medical_needs = _textarea(_LABELS["medical_needs"], TEXT_FIELDS["medical_needs"])
    medication = _textarea(_LABELS["medication"], TEXT_FIELDS["medication"])
    language_needs = _textarea(_LABELS["language_needs"], TEXT_FIELDS["language_needs"])
    other_information = _textarea(_LABELS["other_information"], TEXT_FIELDS["other_information"])

    @classmethod
    def initial_for(cls, profile: PhilomenaProfile | None) -> dict[str, Any]:
        if profile is None:
            return {"version": 0}
        names = [*TEXT_FIELDS, "places", "phone_numbers", "social_media", "photo_taken_on"]
        return {"version": profile.version, **{name: getattr(profile, name) for name in names}}

    def to_data(self, associates: list[dict[str, Any]]) -> PhilomenaData:
        """The profile as typed, with the associates from their own formset."""
        c = self.cleaned_data
        return PhilomenaData(
            **{name: c[name] for name in TEXT_FIELDS},
            places=c["places"],
            phone_numbers=c["phone_numbers"],
            social_media=c["social_media"],
            photo_taken_on=c["photo_taken_on"],
            associates=associates,
        )


class AssociateForm(GovukFormMixin, forms.Form):
    name = _text("Name", ASSOCIATE_LIMITS["name"])
    relationship = _text("Relationship to the child", ASSOCIATE_LIMITS["relationship"])
    risk = forms.BooleanField(label="A risk to the child", required=False)
    notes = _text("Notes (where they live, vehicle)", ASSOCIATE_LIMITS["notes"])

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not data.get("name") and (data.get("relationship") or data.get("notes")):
            self.add_error("name", "Enter the associate's name, or clear the row")
        return data


AssociateFormSet = forms.formset_factory(
    AssociateForm, extra=2, max_num=ASSOCIATES_MAX, validate_max=True, absolute_max=ASSOCIATES_MAX
)


def associates_from(formset: Any) -> list[dict[str, Any]]:
    return [
        {
            "name": form.cleaned_data["name"],
            "relationship": form.cleaned_data.get("relationship", ""),
            "risk": form.cleaned_data.get("risk", False),
            "notes": form.cleaned_data.get("notes", ""),
        }
        for form in formset.forms
        if form.cleaned_data.get("name")
    ]
