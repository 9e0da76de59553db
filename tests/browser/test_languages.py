"""The interface in German (issue 14, docs/ui.md): chosen by the browser or the user's setting.

Real Chromium with its locale set (so its Accept-Language and navigator.language are German),
against the live app. Screenshots of the German pages at desktop and phone sizes, light and
dark, go to $TOOLGATE_SCREENSHOTS (default: a temporary directory) for looking at; each is
also checked for what longer German words would break first: no horizontal scrolling, and
every control in the top bar inside the screen.
"""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import Permission
from playwright.sync_api import expect

from approvals.models import ApprovalRequest
from assistant.models import Preference
from tests.browser.test_chat_page import conversation_for, open_conversation, send, wait_idle
from tests.browser.test_screenshots import SHOTS, SIZES, no_horizontal_scroll

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("transactional_db")]
GERMAN = "de-DE"
EMAIL = "email sam@example.com saying the meeting moved to 3 pm"


def topbar_fits(page) -> None:
    """Every control of the top bar lies inside the window and shows its whole text, and
    none lies over another (the brand left of the controls, the controls side by side)."""
    overlaps = page.evaluate("""() => {
        const items = [...document.querySelectorAll(
                '.brand, .topbar-nav a, .topbar-nav button, .topbar-nav select')]
            .filter((el) => el.offsetParent !== null)
            .map((el) => el.getBoundingClientRect()).filter((r) => r.width > 0)
            .sort((a, b) => a.left - b.left);
        return items.slice(1).filter((r, i) => r.left < items[i].right - 1).length;
    }""")
    assert overlaps == 0, f"{page.url}: controls of the top bar overlap"
    overflowing = page.evaluate("""() => [...document.querySelectorAll(
            '.topbar a, .topbar button, .topbar select')]
        .filter((el) => el.offsetParent !== null)
        .filter((el) => el.getBoundingClientRect().right > window.innerWidth + 1
                        || el.scrollWidth > el.clientWidth + 1)
        .map((el) => el.outerHTML.slice(0, 80))""")
    assert overflowing == [], page.url


@pytest.fixture
def approver(django_user_model):
    bob = django_user_model.objects.create_user("bob", "bob@example.com", "pw-bob-12345", is_staff=True)
    bob.user_permissions.add(Permission.objects.get(codename="decide", content_type__app_label="approvals"))
    return bob


def test_the_chat_is_in_german_when_the_browser_asks_for_german(new_context, user):
    page = open_conversation(new_context(user, locale=GERMAN), conversation_for(user))
    expect(page.locator("html")).to_have_attribute("lang", "de")
    expect(page.locator(".connection-text")).to_have_text("Verbunden")  # from the script catalog
    expect(page.locator("#send-button")).to_have_text("Senden")
    expect(page.locator("#composer-input")).to_have_attribute(
        "placeholder", "Nachricht… (Enter sendet, Umschalt+Enter für eine neue Zeile)")
    send(page, "what is 12*7")
    wait_idle(page)
    card = page.locator(".tool-card").last
    expect(card.locator(".tool-status")).to_have_text("Fertig")  # built live by toolcard.js
    expect(card.locator(".tool-part-label").first).to_have_text("Argumente")
    expect(page.locator("#again-button")).to_have_text("Neu erzeugen")
    expect(page.locator(".copy-message").first).to_have_text("Kopieren")
    page.reload()  # the same card rendered by the server
    expect(page.locator(".tool-card .tool-status").last).to_have_text("Fertig")
    expect(page.get_by_role("button", name="Abmelden")).to_be_visible()


def test_an_over_long_message_is_counted_in_german_with_german_numbers(new_context, user, settings):
    page = open_conversation(new_context(user, locale=GERMAN), conversation_for(user))
    limit = settings.ASSISTANT_MAX_MESSAGE_CHARS
    page.locator("#composer-input").fill("x" * (limit + 5))
    expect(page.locator("#composer-count")).to_contain_text(
        f"{limit + 5:,} / {limit:,} Zeichen: 5 zu viel.".replace(",", "."))
    expect(page.locator("#send-button")).to_be_disabled()


def test_the_users_setting_wins_over_the_browser_and_is_remembered(new_context, user):
    page = open_conversation(new_context(user, locale=GERMAN), conversation_for(user))
    expect(page.locator("#send-button")).to_have_text("Senden")
    page.locator("#language-select").select_option("en")  # posts and reloads at once
    expect(page.locator("#send-button")).to_have_text("Send")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator(".connection-text")).to_have_text("Connected")
    assert Preference.objects.get(user=user).language == "en"

    other = new_context(user, locale=GERMAN).new_page()  # another browser, also German
    other.goto("/settings/tokens/")
    expect(other.locator("#tokens-title")).to_have_text("API tokens")
    other.locator("#language-select").select_option("de")
    expect(other.locator("#tokens-title")).to_have_text("API-Tokens")
    english_browser = new_context(user, locale="en-US").new_page()
    english_browser.goto("/settings/tokens/")
    expect(english_browser.locator("#tokens-title")).to_have_text("API-Tokens")
    english_browser.locator("#language-select").select_option("")  # back to the browser's
    expect(english_browser.locator("#tokens-title")).to_have_text("API tokens")
    assert Preference.objects.get(user=user).language == ""


def test_the_tokens_page_in_german(new_context, user, dialogs):
    page = new_context(user, locale=GERMAN).new_page()
    page.goto("/settings/tokens/")
    expect(page).to_have_title("API-Tokens · Toolgate")
    page.get_by_label("Name").fill("Laptop")
    page.get_by_label("Nur lesen (nur GET-Anfragen)").check()
    page.get_by_role("button", name="Token erstellen").click()
    expect(page.locator("#created-title")).to_have_text("Token „Laptop“ erstellt")
    page.wait_for_load_state()  # the new page's scripts (the revoke confirmation) have run
    expect(page.get_by_label("Ihr neues Nur-lesen-Token")).to_be_visible()
    expect(page.locator(".copy-field")).to_have_text("Kopieren")
    expect(page.locator("#token-list")).to_contain_text("nur lesen")
    page.get_by_role("button", name="„Laptop“ widerrufen").click()  # the test's browser says no
    expect(page.locator("#token-list")).not_to_contain_text("widerrufen ")
    assert dialogs == [
        "confirm: „Laptop“ widerrufen? Skripte, die es verwenden, funktionieren dann nicht mehr."]


def test_the_decision_page_and_the_live_edit_in_german(new_context, user, approver):
    Preference.objects.create(user=approver, language="de")
    chat = open_conversation(new_context(user, locale=GERMAN), conversation_for(user))
    send(chat, EMAIL)
    card = chat.locator(".tool-card").last
    expect(card).to_have_attribute("data-status", "pending")
    expect(card.locator(".tool-status")).to_have_text("Wartet auf Freigabe")
    expect(card.locator(".tool-waiting")).to_have_text(
        "Wartet auf eine Freigabe-Entscheidung; noch wurde nichts ausgeführt.")
    request = ApprovalRequest.objects.get(tool_name="send_email")

    admin = new_context(approver, locale="en-US").new_page()  # the saved German wins
    admin.goto("/admin/approvals/approvalrequest/")
    expect(admin.locator("h1")).to_have_text("Freigabe-Warteschlange")
    expect(admin.locator("#toolgate-queue-live")).to_have_text(
        "Live: Neue Anfragen erscheinen, sobald sie eintreffen.")
    admin.goto(f"/admin/approvals/approvalrequest/{request.pk}/change/")
    expect(admin.locator("html")).to_have_attribute("lang", "de")
    expect(admin.get_by_role("heading", name="Entscheiden")).to_be_visible()
    expect(admin.locator("#toolgate-approve")).to_have_text("Genehmigen")
    expect(admin.locator("#toolgate-edit-diff")).to_have_text(
        "Keine Änderungen: Der Aufruf läuft wie angefragt.")
    expect(admin.locator("#user-tools")).to_contain_text("Abmelden")  # Django's own admin strings
    admin.locator("details.toolgate-raw summary").click()
    admin.locator("#edited_arguments").fill(json.dumps({**request.arguments, "to": []}))
    expect(admin.locator("#toolgate-edit-errors")).to_contain_text("muss mindestens 1 Einträge haben")
    admin.locator("#edited_arguments").fill(json.dumps({**request.arguments, "to": ["kim@example.com"]}))
    admin.get_by_role("button", name="Mit diesen Argumenten genehmigen").click()
    # (the admin capitalises its messages)
    expect(admin.locator(".messagelist")).to_contain_text(f"Send_email #{request.pk}: genehmigt.")

    wait_idle(chat)
    expect(card.locator(".tool-edited")).to_have_text("Bearbeitet von bob (Freigabe)")
    expect(card.locator(".tool-part-changes .tool-part-label")).to_have_text("Bei der Freigabe geändert")


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_screenshots_of_the_german_pages(new_context, user, approver, size, scheme):
    chat = conversation_for(user, title="Quartalsplanung und Budgetabstimmung mit der Geschäftsführung")
    page = open_conversation(new_context(user, locale=GERMAN), chat)
    send(page, EMAIL)
    expect(page.locator(".tool-card").last).to_have_attribute("data-status", "pending")
    request = ApprovalRequest.objects.get(tool_name="send_email")

    empty = conversation_for(user)
    shots = [(new_context(user, viewport=SIZES[size], locale=GERMAN), (
        ("chat", f"/c/{chat.pk}/"), ("composer", f"/c/{empty.pk}/"), ("list", "/"),
        ("tokens", "/settings/tokens/"), ("search", "/search/?q=Quartalsplanung"))),
        (new_context(approver, viewport=SIZES[size], locale=GERMAN), (
            ("decision", f"/admin/approvals/approvalrequest/{request.pk}/change/"),
            ("queue", "/admin/approvals/approvalrequest/")))]
    for context, pages in shots:
        shot = context.new_page()
        shot.emulate_media(color_scheme=scheme)
        for name, url in pages:
            shot.goto(url)
            expect(shot.locator("html")).to_have_attribute("lang", "de")
            if name == "chat":
                expect(shot.locator("#connection")).to_have_attribute("data-state", "connected")
                expect(shot.locator(".tool-card .tool-status")).to_have_text("Wartet auf Freigabe")
            if name == "composer":  # the counter's German sentence, near the limit
                expect(shot.locator("#connection")).to_have_attribute("data-state", "connected")
                shot.locator("#composer-input").fill("x" * 19_000)
                expect(shot.locator("#composer-count")).to_have_text("19.000 / 20.000 Zeichen")
            shot.screenshot(path=str(SHOTS / f"de-{name}-{size}-{scheme}.png"), full_page=name == "decision")
            no_horizontal_scroll(shot)
            if name not in ("decision", "queue"):  # Django's own admin header
                topbar_fits(shot)


@pytest.fixture
def superuser(django_user_model):
    return django_user_model.objects.create_superuser("root", "root@example.com", "pw-root-12345")


@pytest.mark.parametrize(("path", "title", "headers", "action"), [
    ("/admin/tools/toolcall/", "Werkzeugaufruf zum Ansehen auswählen",
     ["Erstellt am", "Werkzeugname", "Benutzername", "Status", "Fehlerart", "Dauer (ms)"], None),
    ("/admin/approvals/toolpolicy/", "Werkzeug-Richtlinie zur Änderung auswählen",
     ["Werkzeugname", "Aktiviert", "Freigabe", "Ratenlimit"], "Ausgewählte Werkzeug-Richtlinien löschen"),
    ("/admin/tools/mcpserver/", "MCP-Server zur Änderung auswählen",
     ["Name", "Transport", "Befehl oder URL", "Aktiviert", "Zustand", "Anzahl Werkzeuge"],
     "In jedem Prozess neu verbinden und die Werkzeuge neu erkennen"),
])
def test_toolgates_admin_lists_are_in_german(new_context, superuser, path, title, headers, action):
    from approvals.models import ToolPolicy
    from tools.models import McpServer, ToolCall

    ToolCall.objects.create(call_id="c1", tool_name="calculator", status="succeeded", user=superuser)
    ToolPolicy.objects.create(tool_name="calculator")
    McpServer.objects.create(name="docs", command="run")
    page = new_context(superuser, locale=GERMAN).new_page()
    page.goto(path)
    expect(page.locator("html")).to_have_attribute("lang", "de")
    expect(page.locator("#content h1")).to_have_text(title)
    shown = [text.strip() for text in page.locator("#result_list thead th").all_text_contents()]
    for header in headers:
        assert header in shown, (header, shown)
    if action:
        expect(page.locator("select[name=action]")).to_contain_text(action)
    page.locator("#result_list tbody a").first.click()  # the form: field labels and fieldsets
    expect(page.locator("#content h1")).not_to_contain_text("auswählen")
    expect(page.locator("#content")).to_contain_text(headers[1])
