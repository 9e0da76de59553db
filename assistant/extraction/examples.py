"""The schemas registered by default (``EXTRACTION_SCHEMAS``): an order and a contact.

Examples of the form a registered schema takes (any Pydantic model, typed function or JSON
Schema dict importable as ``module:attr``) and what the offline demo provider can fill
(docs/providers.md, "The demo provider and extraction").
"""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, Field


class OrderItem(BaseModel):
    product: str = Field(description="What was ordered, as written in the text.")
    quantity: int = Field(ge=1, description="How many.")


class Order(BaseModel):
    """An order: who ordered what, how many, and when it should arrive."""

    customer: str = Field(description="The customer's name.")
    items: list[OrderItem] = Field(description="Each product with its quantity.")
    delivery_date: date | None = Field(None, description="The delivery date (YYYY-MM-DD), if given.")


class Contact(BaseModel):
    """A person's contact details."""

    name: str = Field(description="The person's full name.")
    email: str | None = Field(None, description="Their email address, if given.")
    phone: str | None = Field(None, description="Their phone number, if given.")
    company: str | None = Field(None, description="Where they work, if given.")
