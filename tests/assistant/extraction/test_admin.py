"""The extractions in the admin: listed, readable, never added or changed."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync

from assistant.extraction.examples import Contact
from assistant.extraction.models import Extraction
from assistant.extraction.service import ExtractionInvalid, aextract

pytestmark = pytest.mark.django_db(transaction=True)
URL = "/admin/extraction/extraction/"


@pytest.fixture
def failed(admin_user):
    with pytest.raises(ExtractionInvalid) as caught:
        async_to_sync(aextract)(Contact,
                                "nothing here", profile="demo", user=admin_user)
    return caught.value.extraction


def test_the_list_and_the_record_show_who_what_and_the_last_output(admin_client, failed):
    listing = admin_client.get(URL)
    assert listing.status_code == 200 and b"contact" in listing.content and b"invalid" in listing.content
    page = admin_client.get(f"{URL}{failed.pk}/change/")
    assert page.status_code == 200
    body = page.content.decode()
    assert "{&quot;email&quot;: null, &quot;phone&quot;: null, &quot;company&quot;: null}" in body
    assert failed.schema_hash in body and "admin" in body


def test_extractions_cannot_be_added_changed_or_deleted_through_the_admin(admin_client, failed):
    assert admin_client.get(URL + "add/").status_code == 403
    response = admin_client.post(f"{URL}{failed.pk}/change/", {"status": "succeeded"})
    assert response.status_code == 403
    assert admin_client.post(f"{URL}{failed.pk}/delete/", {"post": "yes"}).status_code == 403
    assert Extraction.objects.get(pk=failed.pk).status == "invalid"
