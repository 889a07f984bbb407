#!/usr/bin/env python3
"""Drives the local stack's page in headless Chromium, as a new user would: a customer's
conversation with Lisa (greeting, FAQ answer with link, authentication, handover), the agent
desk's reply and close, the satisfaction survey, goodbye, the records panel, a phone call leaving a callback request,
a clock jump of 8 days that removes the bot messages while the service data stays, sales
marking the callback done, and a user who shows WhatsApp only a username (no number): Lisa
answers by user id, and the page shows the stored identifiers masked only.

Usage: local_stack.py BASE_URL [--screenshot PATH]. Run by scripts/test against a
`servicekanal dev` it started; exits non-zero on the first thing a user would not see.
"""
import argparse
import sys
import tempfile

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1500,1250",
        f"--user-data-dir={tempfile.mkdtemp(prefix='servicekanal-chromium-')}",
    ):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


class Page:
    def __init__(self, driver, base):
        self.driver = driver
        self.base = base
        self.wait = WebDriverWait(driver, 15)

    def open(self):
        self.driver.get(self.base + "/")
        self.wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#persona option")) > 1)

    def choose_persona(self, label_part):
        select = Select(self.driver.find_element(By.ID, "persona"))
        for option in select.options:
            if label_part in option.text:
                select.select_by_visible_text(option.text)
                return
        raise AssertionError(f"no persona {label_part!r}")

    def chat_text(self):
        return self.driver.find_element(By.ID, "chat").text

    def wait_chat(self, text):
        try:
            self.wait.until(lambda d: text in self.chat_text())
        except Exception:
            raise AssertionError(f"the chat never showed {text!r}; it shows:\n{self.chat_text()}")

    def say(self, text, expect):
        box = self.driver.find_element(By.ID, "composer")
        box.send_keys(text)
        self.driver.find_element(By.ID, "send").click()
        self.wait_chat(expect)

    def tap(self, button_id, expect):
        buttons = self.driver.find_elements(By.CSS_SELECTOR, f'.reply-button[data-id="{button_id}"]')
        assert buttons, f"no button {button_id!r} in the chat"
        buttons[-1].click()
        self.wait_chat(expect)

    def identity(self):
        """The line under the persona selector: its text and how replies are addressed."""
        return self.driver.execute_script(
            "const e = document.getElementById('identity');"
            "return [e.innerText, e.dataset.reachedBy ?? ''];"
        )

    def wait_identity(self, check, what):
        try:
            self.wait.until(lambda d: check(self.identity()[0]))
        except Exception:
            raise AssertionError(f"the identity line never showed {what}; it shows: {self.identity()[0]!r}")
        return self.identity()

    def business_bubbles(self):
        return len(self.driver.find_elements(By.CSS_SELECTOR, "#chat .bubble.business"))

    def records(self):
        # Read in one go: the panel re-renders every two seconds.
        rows = self.driver.execute_script(
            "return [...document.querySelectorAll('#records tbody tr')]"
            ".map(r => [r.dataset.kind, r.dataset.class]);"
        )
        return [tuple(r) for r in rows]

    def statistics(self):
        """Rows per table in the statistics panel."""
        tables = self.driver.execute_script(
            "return [...document.querySelectorAll('#stats .stats-table')]"
            ".map(t => [t.dataset.table, Number(t.dataset.rows), t.innerText]);"
        )
        return {name: (rows, text) for name, rows, text in tables}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("base")
    parser.add_argument("--screenshot")
    args = parser.parse_args()
    driver = browser()
    try:
        page = Page(driver, args.base.rstrip("/"))
        page.open()
        page.choose_persona("K1002003")
        hint = driver.find_element(By.ID, "login-hint").text
        assert "Sommer2026!" in hint, hint

        # Greeting by name, then "customer or prospect?" as reply buttons.
        page.say("Hallo", "Hallo Erika Mustermann! Ich bin Lisa")
        # Her contact is stored with number and user id (masked); replies go to the number.
        line, reached_by = page.wait_identity(lambda t: "replies to: number" in t, "replies to the number")
        assert "number +49…01" in line and "user ID DE.…01" in line, line
        assert reached_by == "phone", reached_by
        for raw in ("4915112345601", "DE.1349120865530201", "Erika", "Mustermann"):
            assert raw not in line, (raw, line)
        page.tap("kind-customer", "Wie kann ich dir helfen?")
        # FAQ answer with a link button, then "did that help?".
        page.say("Wie aktiviere ich meine neue SIM-Karte?", "Konnte ich dir damit helfen?")
        links = driver.find_elements(By.CSS_SELECTOR, "a.link-button")
        assert any("sim-aktivieren" in (a.get_attribute("href") or "") for a in links), "no link"
        page.tap("helpful-yes", "Das freut mich!")
        # Authentication and handover.
        page.say("Ich möchte mit einem Mitarbeiter sprechen", "Kundennummer")
        page.say("K1002003", "Kundenkennwort")
        page.say("Sommer2026!", "ich habe dich an meine Kolleginnen und Kollegen übergeben")

        # The agent desk: the handover arrives with its summary; the agent replies.
        page.wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "#desk-inbox li.conversation")))
        driver.find_element(By.CSS_SELECTOR, "#desk-inbox li.conversation").click()
        page.wait.until(lambda d: "K1002003" in d.find_element(By.ID, "desk-inbox").text)
        thread = driver.find_element(By.ID, "desk-thread").text
        assert "[password removed]" in thread and "Sommer2026!" not in thread, thread
        driver.find_element(By.ID, "desk-text").send_keys("Hallo Frau Mustermann, wie kann ich helfen?")
        driver.find_element(By.ID, "desk-reply").click()
        page.wait_chat("Hallo Frau Mustermann, wie kann ich helfen?")
        driver.find_element(By.ID, "desk-close").click()
        page.wait.until(lambda d: "closed" in d.find_element(By.ID, "desk-inbox").text)

        # The closed conversation brings the survey: a list, reply buttons, a comment.
        page.wait_chat("Wie zufrieden warst du mit unserem Service?")
        driver.find_elements(By.CSS_SELECTOR, ".list-button")[-1].click()
        driver.find_elements(By.CSS_SELECTOR, '.list-row[data-id="survey-score-5"]')[-1].click()
        page.wait_chat("Wurde dein Anliegen gelöst?")
        page.tap("survey-solved-yes", "Möchtest du uns noch etwas sagen?")
        page.say("Alles super, danke", "Vielen Dank für dein Feedback!")

        # After the close Lisa is back; goodbye ends the new conversation.
        page.say("Danke, tschüss!", "Danke für deine Nachricht und bis bald!")

        # Records with their classes and deadlines.
        page.wait.until(lambda d: ("message", "bot-7d") in page.records())
        records = page.records()
        assert ("contact", "service-13m") in records, records
        assert ("message", "service-13m") in records, "the agent's reply is service data"
        assert ("survey-answer", "survey-13m") in records, records
        # A phone call to the voice assistant leaves a callback request for sales.
        driver.find_element(By.ID, "call-button").click()
        page.wait.until(lambda d: "Vielen Dank" in d.find_element(By.ID, "call-answer").text)
        page.wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#callbacks tr[data-reference]"))
        page.wait.until(lambda d: ("callback-request", "callback-3m") in page.records())
        if args.screenshot:
            driver.save_screenshot(args.screenshot)

        # Eight days later: the bot messages are gone, the service data remains.
        driver.find_element(By.CSS_SELECTOR, '[data-advance="8d"]').click()
        page.wait.until(lambda d: ("message", "bot-7d") not in page.records())
        records = page.records()
        assert ("contact", "service-13m") in records, records
        assert ("message", "service-13m") in records, records
        assert all(c != "bot-7d" for _, c in records), records
        assert ("callback-request", "callback-3m") in records, "callbacks keep 3 months"
        assert ("survey-answer", "survey-13m") in records, "survey answers keep 13 months"

        # Sales calls back: done deletes the request at once.
        driver.find_element(By.CSS_SELECTOR, "#callbacks .callback-done").click()
        page.wait.until(lambda d: ("callback-request", "callback-3m") not in page.records())
        assert not driver.find_elements(By.CSS_SELECTOR, "#callbacks tr[data-reference]")
        records = page.records()

        # The statistics panel: the conversation, the survey answer, the callback done and
        # the deletions, without anything personal.
        page.wait.until(lambda d: page.statistics().get("callbacks", (0, ""))[0] >= 1)
        stats = page.statistics()
        for table in ("message_events", "conversations", "survey_responses", "deletions"):
            assert stats[table][0] >= 1, (table, stats[table])
        assert "completed" in stats["callbacks"][1], stats["callbacks"]
        shown = " ".join(text for _, text in stats.values())
        for personal in ("4917612345678", "Erika", "Mustermann", "K1002003", "Sommer2026"):
            assert personal not in shown, personal

        # A user who shows WhatsApp only a username: no number, a business-scoped user id.
        page.choose_persona("Nur Nutzername")
        assert driver.find_element(By.ID, "call-caller").get_attribute("value") == "", \
            "no number to prefill the call with"
        assert not driver.find_element(By.ID, "login-hint").is_displayed()
        page.wait_identity(lambda t: "none yet" in t, "'none yet' before her first message")
        page.wait.until(lambda d: page.business_bubbles() == 0)
        page.say("Hallo, wie aktiviere ich meine SIM?", "Hallo Lena Krause! Ich bin Lisa")
        assert page.business_bubbles() >= 1, "Lisa's reply reached the phone by its user id"
        line, reached_by = page.wait_identity(lambda t: "replies to: user ID" in t, "replies to the user ID")
        assert "user ID DE.…42" in line, line
        assert "username l***" in line, line
        assert reached_by == "user-id", reached_by
        assert "number" not in line and "+" not in line, f"she has no number: {line}"
        for raw in ("DE.7715320988410042", "7715320988410042", "Lena Krause", "Lena", "Krause", "lena.k"):
            assert raw not in line, (raw, line)
        shown = " ".join(text for _, text in page.statistics().values())
        for personal in ("7715320988410042", "Lena", "Krause", "lena.k"):
            assert personal not in shown, personal

        print(f"local stack e2e: ok ({len(records)} records left after 8 days; statistics rows "
              + ", ".join(f"{name} {rows}" for name, (rows, _) in stats.items()) + ")")
    finally:
        driver.quit()


if __name__ == "__main__":
    try:
        main()
    except AssertionError as e:
        print(f"local stack e2e FAILED: {e}", file=sys.stderr)
        sys.exit(1)
