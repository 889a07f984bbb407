//! The corpus for `scrubs_the_corpus_exactly`: everyday messages and the exact text the
//! scrubber must turn each into.

/// Each case: the text, the known names, the exact scrubbed text.
pub(super) const CORPUS: &[(&str, &[&str], &str)] = &[
    // Negatives: everyday numbers, products and words stay.
    (
        "mein Tarif hat 20 GB für 29,99 Euro",
        &[],
        "mein Tarif hat 20 GB für 29,99 Euro",
    ),
    ("seit 2019 Kunde", &[], "seit 2019 Kunde"),
    ("Vertrag läuft 24 Monate", &[], "Vertrag läuft 24 Monate"),
    ("5G geht nicht", &[], "5G geht nicht"),
    ("ich hab iPhone 15", &[], "ich hab iPhone 15"),
    ("Ich bin Kunde seit 2019.", &[], "Ich bin Kunde seit 2019."),
    (
        "ich bin sauer, seit 3 Tagen kein Netz",
        &[],
        "ich bin sauer, seit 3 Tagen kein Netz",
    ),
    (
        "ich habe 1500 Euro bezahlt und 10000 Minuten",
        &[],
        "ich habe 1500 Euro bezahlt und 10000 Minuten",
    ),
    (
        "Kann ich 2026 kündigen? Tarif für 39,95€/Monat",
        &[],
        "Kann ich 2026 kündigen? Tarif für 39,95€/Monat",
    ),
    (
        "FRITZ!Box 7590 blinkt, Router um 12:30 neu gestartet",
        &[],
        "FRITZ!Box 7590 blinkt, Router um 12:30 neu gestartet",
    ),
    (
        "Speicherplatz 64 GB, 100 Mbit/s, 24/7 erreichbar",
        &[],
        "Speicherplatz 64 GB, 100 Mbit/s, 24/7 erreichbar",
    ),
    (
        "Galaxy S24 Ultra mit 5G-Ausbau 2025, von 1998 bis 2004",
        &[],
        "Galaxy S24 Ultra mit 5G-Ausbau 2025, von 1998 bis 2004",
    ),
    (
        "Hallo Lisa, danke Lisa! Ein LG Handy, 2 SIM Karten",
        &[],
        "Hallo Lisa, danke Lisa! Ein LG Handy, 2 SIM Karten",
    ),
    (
        "Gruß aus Hamburg und danke für die Hilfe",
        &[],
        "Gruß aus Hamburg und danke für die Hilfe",
    ),
    (
        "Router ist 192.168.178.1, siehe https://www.telekom.de/hilfe",
        &[],
        "Router ist 192.168.178.1, siehe https://www.telekom.de/hilfe",
    ),
    (
        "am Montag 3 mal angerufen, zum Glück 2 Tage später",
        &[],
        "am Montag 3 mal angerufen, zum Glück 2 Tage später",
    ),
    ("mein Passwort ist falsch", &[], "mein Passwort ist falsch"),
    // Phone numbers in every spelling.
    (
        "Meine Nummer ist +49 170 1234567",
        &[],
        "Meine Nummer ist <telefon>",
    ),
    ("ruf mich an: 0170/1234567", &[], "ruf mich an: <telefon>"),
    (
        "0170-123 45 67 ist meine Nummer",
        &[],
        "<telefon> ist meine Nummer",
    ),
    (
        "0049 170 1234567 oder (0170) 1234567",
        &[],
        "<telefon> oder <telefon>",
    ),
    ("01701234567, +4915112345678", &[], "<telefon>, <telefon>"),
    ("0 1 7 0 1 2 3 4 5 6 7", &[], "<telefon>"),
    ("+49 (0) 30 12345678", &[], "<telefon>"),
    (
        "mobil: 0172 - 123 456 7, Tel 12 34 56",
        &[],
        "mobil: <telefon>, Tel <telefon>",
    ),
    (
        "alte Nummer 0170 1234567 20 GB Tarif",
        &[],
        "alte Nummer <telefon> 20 GB Tarif",
    ),
    ("seit 2019 0170 1234567", &[], "seit 2019 <telefon>"),
    // E-mail and IBAN.
    (
        "meine Mail ist max.mustermann@example.de",
        &[],
        "meine Mail ist <email>",
    ),
    (
        "schreib an max at example dot de oder max(at)gmx.de",
        &[],
        "schreib an <email> oder <email>",
    ),
    (
        "IBAN DE89 3704 0044 0532 0130 00, BIC COBADEFFXXX",
        &[],
        "IBAN <iban>, BIC COBADEFFXXX",
    ),
    ("iban: de89370400440532013000", &[], "iban: <iban>"),
    // Customer, contract and order numbers.
    ("Kundennummer 1234567", &[], "Kundennummer <kundennummer>"),
    (
        "meine Kundennummer ist K1002003",
        &[],
        "meine Kundennummer ist <kundennummer>",
    ),
    ("K1002003 bitte prüfen", &[], "<kundennummer> bitte prüfen"),
    (
        "Bestellnummer 12345-678 kam nicht an",
        &[],
        "Bestellnummer <kundennummer> kam nicht an",
    ),
    (
        "Auftrag A-000123 storniert",
        &[],
        "Auftrag <kundennummer> storniert",
    ),
    (
        "Meine Kundennr.: 12 345 67, Vertragsnummer: 1234 5678 90",
        &[],
        "Meine Kundennr.: <kundennummer>, Vertragsnummer: <kundennummer>",
    ),
    (
        "Ticketnummer INC0012345, Bestellung #123456",
        &[],
        "Ticketnummer <kundennummer>, Bestellung #<kundennummer>",
    ),
    // Dates.
    ("geboren am 12.03.1985", &[], "geboren am <datum>"),
    (
        "Geburtsdatum 12.3.85, also 1985-03-12",
        &[],
        "Geburtsdatum <datum>, also <datum>",
    ),
    ("am 12. März 1985 geboren", &[], "am <datum> geboren"),
    (
        "mein Geburtstag ist der 12.3.",
        &[],
        "mein Geburtstag ist der <datum>",
    ),
    ("Ich bin 1985 geboren", &[], "Ich bin <datum> geboren"),
    (
        "Internet geht seit 12.03.2024 nicht, Rechnung vom 01.02.2024 über 49,99 €",
        &[],
        "Internet geht seit <datum> nicht, Rechnung vom <datum> über 49,99 €",
    ),
    // Addresses.
    (
        "ich wohne in der Musterstraße 12, 12345 Berlin",
        &[],
        "ich wohne in der <adresse>, <adresse>",
    ),
    ("hauptstr. 5a", &[], "<adresse>"),
    (
        "Am Ring 3 ist die Leitung tot",
        &[],
        "<adresse> ist die Leitung tot",
    ),
    (
        "Meine Adresse: Berliner Straße 12, 10115 Berlin",
        &[],
        "Meine Adresse: <adresse>, <adresse>",
    ),
    (
        "An der Kirche 5a, 01067 Dresden",
        &[],
        "<adresse>, <adresse>",
    ),
    (
        "PLZ 80331, ich wohne in 80331 München",
        &[],
        "PLZ <adresse>, ich wohne in <adresse>",
    ),
    // Known names: case, umlauts spelled out or dropped, parts on their own.
    (
        "hier ist müller, hallo",
        &["Jürgen Müller"],
        "hier ist <name>, hallo",
    ),
    (
        "mueller hier, hab ein problem",
        &["Jürgen Müller"],
        "<name> hier, hab ein problem",
    ),
    ("MULLER JUERGEN", &["Jürgen Müller"], "<name>"),
    (
        "jurgen müllers vertrag",
        &["Jürgen Müller"],
        "<name> vertrag",
    ),
    (
        "Hallo Herr Schroeder",
        &["Hans-Peter Schröder"],
        "Hallo Herr <name>",
    ),
    ("hans-peter hier", &["Hans-Peter Schröder"], "<name> hier"),
    (
        "Ihr Vertrag, Frau Yildiz?",
        &["Özlem Yıldız"],
        "Ihr Vertrag, Frau <name>?",
    ),
    (
        "Max von der Heide",
        &["Max von der Heide (Arbeit)"],
        "<name> von der <name>",
    ),
    // Names introduced in the text.
    (
        "Hallo, ich bin Max Mustermann und mein Internet geht nicht.",
        &[],
        "Hallo, ich bin <name> und mein Internet geht nicht.",
    ),
    (
        "hallo ich bin max und habe ein problem",
        &[],
        "hallo ich bin <name> und habe ein problem",
    ),
    (
        "Hallo, mein Name ist Anna Schmidt",
        &[],
        "Hallo, mein Name ist <name>",
    ),
    ("ich heiße peter", &[], "ich heiße <name>"),
    ("Hallo hier ist Sabine", &[], "Hallo hier ist <name>"),
    (
        "Hallo, hier ist Frau Özdemir",
        &[],
        "Hallo, hier ist Frau <name>",
    ),
    ("Ich bin die Anna", &[], "Ich bin die <name>"),
    (
        "meine Tochter heißt Lena",
        &[],
        "meine Tochter heißt <name>",
    ),
    ("Gruß Klaus", &[], "Gruß <name>"),
    ("Danke! LG Petra 😊", &[], "Danke! LG <name> 😊"),
    ("lg max", &[], "lg <name>"),
    ("Viele Grüße, Hans Meier", &[], "Viele Grüße, <name>"),
    (
        "Mit freundlichen Grüßen\nMax Mustermann",
        &[],
        "Mit freundlichen Grüßen\n<name>",
    ),
    (
        "Danke für die Hilfe. Viele Grüße Familie Schneider",
        &[],
        "Danke für die Hilfe. Viele Grüße Familie <name>",
    ),
    ("Ich bin Max. Gruß Max", &[], "Ich bin <name>. Gruß <name>"),
    // Passwords and PINs.
    (
        "mein Passwort ist Sommer2026!",
        &[],
        "mein Passwort ist <geheim>",
    ),
    ("pin ab12cd34", &[], "pin <geheim>"),
    ("meine PIN ist 1234.", &[], "meine PIN ist <geheim>."),
    ("Meine PIN lautet 2019", &[], "Meine PIN lautet <geheim>"),
    (
        "P@ssw0rd und Sommer-2026 und abc-123",
        &[],
        "<geheim> und <geheim> und <geheim>",
    ),
    ("Kennwort: Hamburg", &[], "Kennwort: <geheim>"),
    (
        "meine Nummer endet auf 4567",
        &[],
        "meine Nummer endet auf <geheim>",
    ),
    (
        "Habe 1985 den ersten Vertrag gemacht",
        &[],
        "Habe <geheim> den ersten Vertrag gemacht",
    ),
    (
        "@max_mustermann auf Instagram",
        &[],
        "<geheim> auf Instagram",
    ),
    // Found by probing and by the generated messages (regressions).
    ("Servus, Sepp hier", &[], "Servus, <name> hier"),
    (
        "Hallo Lisa, Max hier. Mein Router spinnt",
        &[],
        "Hallo Lisa, <name> hier. Mein Router spinnt",
    ),
    (
        "das Netz hier ist schlecht",
        &[],
        "das Netz hier ist schlecht",
    ),
    ("Hi, ich bin's, Paul", &[], "Hi, ich bin's, <name>"),
    ("Grüße von Anna", &[], "Grüße von <name>"),
    ("Grüße von der Ostsee", &[], "Grüße von der Ostsee"),
    ("alles gut lg max", &[], "alles gut lg <name>"),
    (
        "ich habe einen LG Fernseher",
        &[],
        "ich habe einen LG Fernseher",
    ),
    (
        "Meine Frau Sabine hat den Vertrag",
        &[],
        "Meine Frau <name> hat den Vertrag",
    ),
    ("IBAN DE89-3704-0044-0532-0130-00", &[], "IBAN <iban>"),
    (
        "mail: max.mustermann [at] gmail [dot] com",
        &[],
        "mail: <email>",
    ),
    (
        "Tel.: +49-170-1234567, Festnetz 030 / 12 34 56 78",
        &[],
        "Tel.: <telefon>, Festnetz <telefon>",
    ),
    ("0170 1234567 0171 7654321", &[], "<telefon> <telefon>"),
    (
        "Meine Nummer: 0049 158 5486005. 5G geht nicht.",
        &[],
        "Meine Nummer: <telefon>. 5G geht nicht.",
    ),
    (
        "Meine Rechnungsnummer ist RE-2024-001234",
        &[],
        "Meine Rechnungsnummer ist <kundennummer>",
    ),
    (
        "PIN 79092  Kundennummer 8692209",
        &[],
        "PIN <geheim>  Kundennummer <kundennummer>",
    ),
    (
        "PIN 6011 seit 2019 Kunde",
        &[],
        "PIN <geheim> seit 2019 Kunde",
    ),
    (
        "Passwort: Hund123, Code 482913",
        &[],
        "Passwort: <geheim>, Code <geheim>",
    ),
    (
        "Mein Geburtsdatum: 1. Mai 1990",
        &[],
        "Mein Geburtsdatum: <datum>",
    ),
    (
        "Lieferadresse: Bahnhofstr. 17b, 04109 Leipzig",
        &[],
        "Lieferadresse: <adresse>, <adresse>",
    ),
    ("Straße des 17. Juni 135", &[], "<adresse>"),
    // Several items in one message.
    (
        "Ich bin Max Mustermann, geb. 12.03.1985, wohnhaft Musterstraße 12, 12345 Berlin, Tel. 0170 1234567",
        &[],
        "Ich bin <name>, geb. <datum>, wohnhaft <adresse>, <adresse>, Tel. <telefon>",
    ),
    (
        "kunde seit 2015, Kundennummer 1234567, Tel 0170 1234567, PIN 4711",
        &[],
        "kunde seit 2015, Kundennummer <kundennummer>, Tel <telefon>, PIN <geheim>",
    ),
    (
        "hallo, juergen mueller hier. mail juergen.mueller@web.de, IBAN DE89370400440532013000. lg jürgen",
        &["Jürgen Müller"],
        "hallo, <name> hier. mail <email>, IBAN <iban>. lg <name>",
    ),
];
