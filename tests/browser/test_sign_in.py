"""Sign-in as a person does it, in Chromium: a passkey enrolled and then used to sign in without a password
(WebDriver's virtual authenticator), and the sign-in and two-factor pages at desktop and phone width, under
the Content-Security-Policy with no violation."""

from __future__ import annotations

import time

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.virtual_authenticator import Protocol, Transport, VirtualAuthenticatorOptions

from audit.models import AuditEntry, Kind
from tests.browser.conftest import artifact, wait_until
from tests.factories import make_camera, make_user

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

PASSWORD = "staff-pass-1"
WIDTHS = {"desktop": (1440, 900), "phone": (390, 844)}


def page_ready(browser, url: str, selector: str) -> None:
    browser.get(url)
    wait_until(lambda: browser.find_elements(By.CSS_SELECTOR, selector), 15, message=f"{selector} on {url}")


def seen_as_a_person(browser, name: str, selector: str) -> None:
    """At each width: the element is on top and opaque, and the page does not scroll sideways; a screenshot."""
    for label, (width, height) in WIDTHS.items():
        browser.set_window_size(width, height)
        time.sleep(0.3)
        state = browser.execute_script(
            """
            const el = document.querySelector(arguments[0]);
            el.scrollIntoView({block: 'center'});
            const r = el.getBoundingClientRect();
            const top = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
            const style = getComputedStyle(el);
            return {onTop: el === top || el.contains(top), opacity: style.opacity, width: r.width,
                    sideways: document.documentElement.scrollWidth > window.innerWidth};
            """,
            selector,
        )
        assert state["onTop"] and state["opacity"] == "1" and state["width"] > 0, (name, label, state)
        assert not state["sideways"], (name, label, "the page scrolls sideways")
        path = artifact(f"sign-in-{name}-{label}.png")
        browser.save_screenshot(str(path))
        print(f"\nSCREENSHOT {name} {label}: {path}")
    browser.set_window_size(1280, 900)


def test_a_passkey_signs_in_without_a_password_and_the_pages_look_right(browser, site):
    staff = make_user("staff", password=PASSWORD, is_staff=True, is_superuser=True)
    make_camera("front")
    base = site.url.replace("127.0.0.1", "localhost")  # WebAuthn needs a secure context: https, or localhost
    browser.delete_all_cookies()
    browser.get_log("browser")
    page_ready(browser, f"{base}/accounts/login/", "#id_username")
    seen_as_a_person(browser, "login", "#password-login button[type=submit]")
    browser.find_element(By.ID, "id_username").send_keys("staff")
    browser.find_element(By.ID, "id_password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "#password-login button[type=submit]").click()
    wait_until(lambda: "/accounts/login/" not in browser.current_url, 15, message="signed in with the password")

    # Enrol a passkey on the browser's (virtual) authenticator: resident key, user verification.
    options = VirtualAuthenticatorOptions(
        protocol=Protocol.CTAP2,
        transport=Transport.INTERNAL,
        has_resident_key=True,
        has_user_verification=True,
        is_user_verified=True,
    )
    browser.add_virtual_authenticator(options)
    page_ready(browser, f"{base}/accounts/2fa/", "main h1")
    seen_as_a_person(browser, "two-factor", "main h1")
    page_ready(browser, f"{base}/accounts/2fa/webauthn/add/", "#mfa_webauthn_add")
    seen_as_a_person(browser, "add-passkey", "#mfa_webauthn_add")
    browser.find_element(By.NAME, "name").send_keys("Chromium passkey")
    passwordless = browser.find_element(By.NAME, "passwordless")
    if not passwordless.is_selected():
        passwordless.click()
    browser.find_element(By.ID, "mfa_webauthn_add").click()
    wait_until(lambda: "/webauthn/add/" not in browser.current_url, 15, message="the passkey was added")
    assert len(browser.get_credentials()) == 1
    violations = [
        entry["message"] for entry in browser.get_log("browser") if "Content Security Policy" in entry["message"]
    ]

    # Signed out, the passkey alone signs in.
    browser.delete_all_cookies()
    page_ready(browser, f"{base}/accounts/login/", "#passkey_login")
    seen_as_a_person(browser, "login-passkey", "#passkey_login")
    browser.find_element(By.ID, "passkey_login").click()
    wait_until(
        lambda: browser.execute_script("return !!(window.nvrGrid && document.readyState !== 'loading')"),
        15,
        message="the grid after signing in with the passkey",
    )
    violations += [
        entry["message"] for entry in browser.get_log("browser") if "Content Security Policy" in entry["message"]
    ]
    assert not violations, violations
    sign_ins = AuditEntry.objects.filter(kind=Kind.SIGN_IN, user_id=staff.pk).order_by("seq")
    wait_until(lambda: sign_ins.count() == 2, 10, message="both sign-ins in the audit trail (the server writes them)")
    assert list(sign_ins.values_list("detail__method", flat=True)) == ["password", "passkey"]
