"""The checkout form: the customer, a billing address and a shipping address."""

from __future__ import annotations

from typing import Any

from django import forms

ADDRESS_FIELDS = ("line1", "line2", "city", "state", "postal_code", "country")
REQUIRED_ADDRESS_FIELDS = ("line1", "city", "postal_code", "country")


def _address_fields(prefix: str, required: bool) -> dict[str, forms.Field]:
    return {
        f"{prefix}_line1": forms.CharField(label="Address", max_length=200, required=required),
        f"{prefix}_line2": forms.CharField(
            label="Address (line 2)", max_length=200, required=False
        ),
        f"{prefix}_city": forms.CharField(label="City", max_length=100, required=required),
        f"{prefix}_state": forms.CharField(
            label="State / province", max_length=100, required=False
        ),
        f"{prefix}_postal_code": forms.CharField(
            label="Postal code", max_length=20, required=required
        ),
        f"{prefix}_country": forms.RegexField(
            label="Country (2-letter code)",
            regex=r"^[A-Za-z]{2}$",
            max_length=2,
            required=required,
            error_messages={"invalid": "Use the two-letter country code, e.g. ES or DE."},
        ),
    }


class CheckoutForm(forms.Form):
    name = forms.CharField(label="Full name", max_length=150)
    email = forms.EmailField(label="Email")
    phone = forms.CharField(label="Phone", max_length=30, required=False)

    shipping_same = forms.BooleanField(
        label="Ship to the billing address", required=False, initial=True
    )
    shipping_name = forms.CharField(label="Recipient", max_length=150, required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields.update(_address_fields("billing", required=True))
        self.fields.update(_address_fields("shipping", required=False))

    def billing_fields(self) -> list[forms.BoundField]:
        return [self[f"billing_{name}"] for name in ADDRESS_FIELDS]

    def shipping_fields(self) -> list[forms.BoundField]:
        return [self["shipping_name"], *(self[f"shipping_{name}"] for name in ADDRESS_FIELDS)]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if not data.get("shipping_same"):
            for name in REQUIRED_ADDRESS_FIELDS:
                if not data.get(f"shipping_{name}"):
                    self.add_error(f"shipping_{name}", "Required unless shipping to billing.")
        return data

    def _address(self, prefix: str, name: str, email: str, phone: str) -> dict[str, str]:
        data = self.cleaned_data
        address = {"name": name, "email": email, "phone": phone}
        address.update({key: data.get(f"{prefix}_{key}", "") for key in ADDRESS_FIELDS})
        address["country"] = address["country"].upper()
        return {key: value for key, value in address.items() if value}

    def billing_address(self) -> dict[str, str]:
        data = self.cleaned_data
        return self._address("billing", data["name"], data["email"], data.get("phone", ""))

    def shipping_address(self) -> dict[str, str]:
        data = self.cleaned_data
        if data.get("shipping_same"):
            return self.billing_address()
        return self._address(
            "shipping", data.get("shipping_name") or data["name"], "", data.get("phone", "")
        )
