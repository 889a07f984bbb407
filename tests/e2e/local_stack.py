#!/usr/bin/env python3
"""Drives the local stack's page in headless Chromium, as a new user would: a customer's
conversation with Lisa (greeting, FAQ answer with link, authentication, handover), the agent
desk's reply and close, the satisfaction survey, goodbye, the records panel, a phone call leaving a callback request,
a clock jump of 8 days that removes the bot messages while the service data stays, sales
marking the callback done, and a user who shows WhatsApp only a username (no number): Lisa
answers by user id, and the page shows the stored identifiers masked only. Then a prospect
whose message lies between two topics gets a clarifying question with both as reply buttons,
and a customer who types one concern in three quick messages gets one answer to all three.
Last, Lisa review: a customer's message Lisa cannot place, with her name and number in it,
appears in the review panel scrubbed of both; labelled with a topic it goes, and so does a
second one discarded.

Usage: local_stack.py BASE_URL [--screenshot PATH]. Run by scripts/test against a
`servicekanal dev` it started; exits non-zero on the first thing a user would not see.
"""
import argparse
import sys
import tempfile
import time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.support.ui import Select, WebDriverWait

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


def click(driver, selector, attempts=10):
    """Clicks the element `selector` names; the page rebuilds its lists every 2 s, so an element
    found a moment ago may be replaced before the click: find it again."""
    for attempt in range(attempts):
        try:
            WebDriverWait(driver, 15).until(
                EC.element_to_be_clickable((By.CSS_SELECTOR, selector))
            ).click()
            return
        except StaleElementReferenceException:
            if attempt == attempts - 1:
                raise
            time.sleep(0.2)


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

    def bubbles(self):
        """The chat as [(who, text, [reply button ids])], oldest first, read in one go (the
        chat re-renders on every refresh); who is "user" or "business"."""
        rows = self.driver.execute_script(
            "return [...document.querySelectorAll('#chat .bubble')].map(b => ["
            "b.classList.contains('user') ? 'user' : 'business',"
            "b.firstChild && b.firstChild.nodeType === Node.TEXT_NODE ? b.firstChild.textContent : b.innerText,"
            "[...b.querySelectorAll('.reply-button')].map(x => [x.dataset.id, x.innerText])]);"
        )
        return [(who, text, [tuple(button) for button in buttons]) for who, text, buttons in rows]

    def wait_bubbles(self, check, what):
        """Waits until check(bubbles) holds; returns the bubbles it held for."""
        seen = []

        def holds(_):
            seen[:] = self.bubbles()
            return check(seen)

        try:
            self.wait.until(holds)
        except Exception:
            shown = "\n".join(f"  {who}: {text}" for who, text, _ in seen)
            raise AssertionError(f"the chat never showed {what}; it shows:\n{shown}")
        return list(seen)

    def fresh_chat(self, persona):
        """Chooses a persona that has not written yet and waits for its empty chat."""
        self.choose_persona(persona)
        self.wait_bubbles(lambda b: not b, f"an empty chat for {persona!r}")

    def type_ahead(self, texts):
        """Sends texts one after another as fast as a user types them, without waiting for
        any reply in between; returns the seconds it took from the first to the last send."""
        box = self.driver.find_element(By.ID, "composer")
        send = self.driver.find_element(By.ID, "send")
        started = time.monotonic()
        for text in texts:
            assert box.is_enabled() and send.is_enabled(), \
                f"the composer takes no message while one is being sent (before {text!r})"
            box.send_keys(text)
            send.click()
            # Taken by the page: the box is empty again for the next one.
            self.wait.until(lambda d: box.get_attribute("value") == "")
        return time.monotonic() - started

    def review(self):
        """The review panel as {id: (text, meta line, chosen topic)}, read in one go."""
        rows = self.driver.execute_script(
            "return [...document.querySelectorAll('#review .review-item')].map(r => [r.dataset.id,"
            "r.querySelector('.review-text').textContent, r.querySelector('.review-meta').textContent,"
            "r.querySelector('.review-topic').value]);"
        )
        return {item: (text, meta, topic) for item, text, meta, topic in rows}

    def wait_review(self, check, what):
        """Waits until check(review) holds; returns the review it held for."""
        seen = {}

        def holds(_):
            seen.clear()
            seen.update(self.review())
            return check(seen)

        try:
            self.wait.until(holds)
        except Exception:
            shown = "\n".join(f"  {item}: {text} [{meta}]" for item, (text, meta, _) in seen.items())
            notice = self.driver.find_element(By.ID, "review-notice").text
            raise AssertionError(f"the review panel never showed {what}; it shows:\n{shown}\n{notice}")
        return dict(seen)

    def review_button(self, item, title):
        """The button titled `title` of review item `item`."""
        return self.driver.find_element(
            By.XPATH, f'//li[@class="review-item"][@data-id="{item}"]//button[normalize-space()="{title}"]')

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
        click(driver, "#desk-inbox li.conversation")
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
        click(driver, "#callbacks .callback-done")
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

        # A prospect's message between two topics: Lisa asks which one, with both as reply
        # buttons; the tapped one is the concern.
        page.fresh_chat("Interessentin")
        page.say("Hallo", "Hallo Paula Neumann! Ich bin Lisa")
        page.tap("kind-prospect", "Schön, dass du dich für uns interessierst!")
        before = len(page.bubbles())
        page.say("tarif und handy", "Ich möchte sichergehen")
        asked = [b for b in page.bubbles()[before:] if b[0] == "business"]
        assert len(asked) == 1, f"one question, nothing else: {asked}"
        _, question, buttons = asked[0]
        # The likelier topic comes first, whichever that is.
        assert question in (
            f"Ich möchte sichergehen, dass ich dich richtig verstehe: Geht es um {a} oder um {b}?"
            for a, b in (("Smartphones & Geräte", "Tarife"), ("Tarife", "Smartphones & Geräte"))
        ), question
        assert sorted(buttons) == [("topic-devices", "Smartphones & Geräte"),
                                   ("topic-tariffs", "Tarife")], buttons
        before = len(page.bubbles())
        page.tap("topic-tariffs", "Unsere aktuellen Tarife")
        answer = page.wait_bubbles(
            lambda b: any("Konnte ich dir damit helfen?" in t for w, t, _ in b[before:] if w == "business"),
            "the tariffs answer and 'did that help?'")[before:]
        assert answer[0][:2] == ("user", "Tarife"), answer
        replies = [t for w, t, _ in answer if w == "business"]
        assert "Unsere aktuellen Tarife" in replies[0], replies
        assert replies[-1] == "Konnte ich dir damit helfen?", replies

        # A customer types one concern in three quick messages: Lisa waits for the burst to
        # end (2 s after the newest) and answers all three at once, not each.
        page.fresh_chat("K2004005")
        page.say("Hallo", "Ich bin Lisa")
        page.tap("kind-customer", "Wie kann ich dir helfen?")
        burst = ["hallo nochmal", "ich hab ne frage", "zu meiner rechnung"]
        before = len(page.bubbles())
        took = page.type_ahead(burst)
        assert took < 1.5, f"typing the burst took {took:.1f} s, longer than the burst window allows"
        page.wait_bubbles(lambda b: [t for w, t, _ in b[before:] if w == "user"] == burst,
                          "the three messages on the phone, in order")
        page.wait_bubbles(
            lambda b: any("Bitte schick mir deine Kundennummer" in t for w, t, _ in b[before:] if w == "business"),
            "one answer to the three messages")
        # The next message queues behind anything still owed to the three (one contact's
        # messages are handled in order), so once Lisa has answered it every reply to the
        # burst is on the phone.
        page.say("K2004005", "Kundenkennwort")
        answered = page.wait_bubbles(lambda b: b[-1][0] == "business" and "Kundenkennwort" in b[-1][1],
                                     "the ask for the password last")[before:]
        shown = "\n".join(f"  {w}: {t}" for w, t, _ in answered)
        assert [(w, t) for w, t, _ in answered[:3]] == [("user", t) for t in burst], \
            f"Lisa answered before the third message:\n{shown}"
        number = next(i for i, (w, t, _) in enumerate(answered) if (w, t) == ("user", "K2004005"))
        to_burst = [t for w, t, _ in answered[3:number] if w == "business"]
        assert len(to_burst) == 2 and to_burst == [
            "Dafür brauchst du meine Kolleginnen und Kollegen. Vorher muss ich kurz prüfen, "
            "dass du es wirklich bist.",
            "Bitte schick mir deine Kundennummer (sie steht oben auf deiner Rechnung).",
        ], f"one answer (two bot bubbles) to the three messages, got {len(to_burst)}:\n{shown}"

        # Lisa review: a customer writes something Lisa cannot place, with her name and number
        # in it. It waits in the review panel without either, preselected with Lisa's guess;
        # labelled "unknown" it goes (an anonymous example stays), and so does a second one
        # that is discarded.
        page.fresh_chat("K3006007")
        page.say("Hallo", "Hallo Lena Beispiel! Ich bin Lisa")
        page.tap("kind-customer", "Wie kann ich dir helfen?")
        before = set(page.review())
        page.say("Hallo, hier ist Lena Beispiel, meine Nummer ist 0170 7654321. Wie wird das Wetter morgen?",
                 "Das habe ich leider nicht verstanden")
        review = page.wait_review(lambda r: set(r) - before, "the weather message")
        new = [item for item in review if item not in before]
        assert len(new) == 1, f"one item for one message: {[review[i] for i in new]}"
        weather = new[0]
        text, meta, chosen = review[weather]
        assert "Wetter" in text, text
        for personal in ("Lena", "Beispiel", "0170", "7654321"):
            assert personal not in text, (personal, text)
        assert meta.startswith(f"Lisa: {chosen} (") and " %) · Lisa war unsicher · " in meta, (chosen, meta)
        Select(page.driver.find_element(
            By.CSS_SELECTOR, f'#review .review-item[data-id="{weather}"] .review-topic')).select_by_value("unknown")
        page.review_button(weather, "Übernehmen").click()
        page.wait_review(lambda r: weather not in r, "the weather message gone after Übernehmen")
        assert not driver.find_element(By.ID, "review-notice").is_displayed(), \
            driver.find_element(By.ID, "review-notice").text

        before = set(page.review())
        page.say("Welche Farbe hat der Himmel über Paris?", "Ich verstehe dich leider immer noch nicht")
        review = page.wait_review(lambda r: any("Himmel" in text for text, _, _ in r.values()), "the sky message")
        sky = next(item for item, (text, _, _) in review.items() if "Himmel" in text)
        assert sky not in before, sky
        page.review_button(sky, "Verwerfen").click()
        page.wait_review(lambda r: sky not in r, "the sky message gone after Verwerfen")
        assert not driver.find_element(By.ID, "review-notice").is_displayed(), \
            driver.find_element(By.ID, "review-notice").text

        print(f"local stack e2e: ok ({len(records)} records left after 8 days; statistics rows "
              + ", ".join(f"{name} {rows}" for name, (rows, _) in stats.items())
              + f"; a clarifying question; a burst of 3 typed in {took:.1f} s answered once; "
              "a review item labelled, one discarded)")
    finally:
        driver.quit()


if __name__ == "__main__":
    try:
        main()
    except AssertionError as e:
        print(f"local stack e2e FAILED: {e}", file=sys.stderr)
        sys.exit(1)
