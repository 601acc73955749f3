"""User-facing ingestion errors, each with a code and a message in en, sv, de, it and nb."""

from __future__ import annotations

from typing import Any

from core.errors import Forbidden, KatederError, NotFound

# code -> (HTTP status, {language: template}); templates use str.format fields
MESSAGES: dict[str, tuple[int, dict[str, str]]] = {
    "empty": (
        400,
        {
            "en": "{name}: the file is empty.",
            "sv": "{name}: filen är tom.",
            "de": "{name}: Die Datei ist leer.",
            "it": "{name}: il file è vuoto.",
            "nb": "{name}: filen er tom.",
        },
    ),
    "too_large": (
        413,
        {
            "en": "{name}: the file is {size} MB; the limit is {limit} MB.",
            "sv": "{name}: filen är {size} MB; gränsen är {limit} MB.",
            "de": "{name}: Die Datei hat {size} MB; die Grenze liegt bei {limit} MB.",
            "it": "{name}: il file è di {size} MB; il limite è {limit} MB.",
            "nb": "{name}: filen er {size} MB; grensen er {limit} MB.",
        },
    ),
    "unsupported": (
        415,
        {
            "en": "{name}: this file type ({ext}) is not supported. Supported: {supported}.",
            "sv": "{name}: filtypen ({ext}) stöds inte. Stöds: {supported}.",
            "de": (
                "{name}: Dieser Dateityp ({ext}) wird nicht unterstützt. Unterstützt: {supported}."
            ),
            "it": "{name}: questo tipo di file ({ext}) non è supportato. Supportati: {supported}.",
            "nb": "{name}: denne filtypen ({ext}) støttes ikke. Støttes: {supported}.",
        },
    ),
    "legacy_office": (
        415,
        {
            "en": (
                "{name}: this is an old Office format or a password-protected Office file. Remove "
                "any password and save it as .docx or .pptx."
            ),
            "sv": (
                "{name}: detta är ett gammalt Office-format eller en lösenordsskyddad Office-fil. "
                "Ta bort lösenordet och spara som .docx eller .pptx."
            ),
            "de": (
                "{name}: Dies ist ein altes Office-Format oder eine passwortgeschützte "
                "Office-Datei. Entferne das Passwort und speichere sie als .docx oder .pptx."
            ),
            "it": (
                "{name}: è un vecchio formato Office o un file Office protetto da password. "
                "Rimuovi la password e salvalo come .docx o .pptx."
            ),
            "nb": (
                "{name}: dette er et gammelt Office-format eller en passordbeskyttet Office-fil. "
                "Fjern passordet og lagre den som .docx eller .pptx."
            ),
        },
    ),
    "mismatch": (
        415,
        {
            "en": (
                "{name}: the content does not match the extension {ext} (it looks like {actual})."
            ),
            "sv": (
                "{name}: innehållet stämmer inte med filändelsen {ext} (det ser ut som {actual})."
            ),
            "de": "{name}: Der Inhalt passt nicht zur Endung {ext} (er sieht aus wie {actual}).",
            "it": "{name}: il contenuto non corrisponde all'estensione {ext} (sembra {actual}).",
            "nb": "{name}: innholdet stemmer ikke med filendelsen {ext} (det ser ut som {actual}).",
        },
    ),
    "encrypted": (
        400,
        {
            "en": "{name}: the PDF is password-protected. Remove the password and upload it again.",
            "sv": (
                "{name}: PDF-filen är lösenordsskyddad. Ta bort lösenordet och ladda upp den igen."
            ),
            "de": (
                "{name}: Das PDF ist passwortgeschützt. Entferne das Passwort und lade es erneut "
                "hoch."
            ),
            "it": "{name}: il PDF è protetto da password. Rimuovi la password e caricalo di nuovo.",
            "nb": "{name}: PDF-en er passordbeskyttet. Fjern passordet og last den opp igjen.",
        },
    ),
    "corrupt": (
        400,
        {
            "en": "{name}: the file is damaged or incomplete and cannot be read.",
            "sv": "{name}: filen är skadad eller ofullständig och kan inte läsas.",
            "de": (
                "{name}: Die Datei ist beschädigt oder unvollständig und kann nicht gelesen werden."
            ),
            "it": "{name}: il file è danneggiato o incompleto e non può essere letto.",
            "nb": "{name}: filen er skadet eller ufullstendig og kan ikke leses.",
        },
    ),
    "no_text_layer": (
        400,
        {
            "en": (
                "{name}: the PDF has no text layer (it looks scanned). OCR is not available; "
                "upload a PDF with selectable text."
            ),
            "sv": (
                "{name}: PDF-filen saknar textlager (den ser inskannad ut). OCR finns inte; ladda "
                "upp en PDF med markerbar text."
            ),
            "de": (
                "{name}: Das PDF hat keine Textebene (es sieht gescannt aus). OCR ist nicht "
                "verfügbar; lade ein PDF mit markierbarem Text hoch."
            ),
            "it": (
                "{name}: il PDF non ha un livello di testo (sembra scansionato). L'OCR non è "
                "disponibile; carica un PDF con testo selezionabile."
            ),
            "nb": (
                "{name}: PDF-en har ikke noe tekstlag (den ser skannet ut). OCR er ikke "
                "tilgjengelig; last opp en PDF med merkbar tekst."
            ),
        },
    ),
    "no_text": (
        400,
        {
            "en": "{name}: no text could be extracted.",
            "sv": "{name}: ingen text kunde hämtas ur filen.",
            "de": "{name}: Es konnte kein Text entnommen werden.",
            "it": "{name}: non è stato possibile estrarre testo.",
            "nb": "{name}: ingen tekst kunne hentes ut.",
        },
    ),
    "too_much_text": (
        413,
        {
            "en": (
                "{name}: the document has more than {limit} characters of text; split it into "
                "smaller files (the limit is set by the administrator)."
            ),
            "sv": (
                "{name}: dokumentet har mer än {limit} tecken text; dela upp det i mindre filer "
                "(gränsen sätts av administratören)."
            ),
            "de": (
                "{name}: Das Dokument hat mehr als {limit} Zeichen Text; teile es in kleinere "
                "Dateien auf (die Grenze legt die Administration fest)."
            ),
            "it": (
                "{name}: il documento ha più di {limit} caratteri di testo; dividilo in file più "
                "piccoli (il limite è fissato dall'amministratore)."
            ),
            "nb": (
                "{name}: dokumentet har mer enn {limit} tegn tekst; del det opp i mindre filer "
                "(grensen settes av administratoren)."
            ),
        },
    ),
    "too_many_passages": (
        413,
        {
            "en": (
                "{name}: the document would make more than {limit} passages; split it into smaller "
                "files (the limit is set by the administrator)."
            ),
            "sv": (
                "{name}: dokumentet skulle ge mer än {limit} textavsnitt; dela upp det i mindre "
                "filer (gränsen sätts av administratören)."
            ),
            "de": (
                "{name}: Das Dokument ergäbe mehr als {limit} Abschnitte; teile es in kleinere "
                "Dateien auf (die Grenze legt die Administration fest)."
            ),
            "it": (
                "{name}: il documento produrrebbe più di {limit} passaggi; dividilo in file più "
                "piccoli (il limite è fissato dall'amministratore)."
            ),
            "nb": (
                "{name}: dokumentet ville gitt mer enn {limit} tekstavsnitt; del det opp i mindre "
                "filer (grensen settes av administratoren)."
            ),
        },
    ),
    "zip_bomb": (
        400,
        {
            "en": "{name}: the file unpacks to too much data ({detail}) and was rejected.",
            "sv": "{name}: filen packas upp till för mycket data ({detail}) och avvisades.",
            "de": (
                "{name}: Die Datei ergibt entpackt zu viele Daten ({detail}) und wurde abgelehnt."
            ),
            "it": "{name}: il file si espande in troppi dati ({detail}) ed è stato rifiutato.",
            "nb": "{name}: filen pakkes ut til for mye data ({detail}) og ble avvist.",
        },
    ),
    "binary_text": (
        415,
        {
            "en": "{name}: the file looks binary, not text.",
            "sv": "{name}: filen ser binär ut, inte som text.",
            "de": "{name}: Die Datei sieht binär aus, nicht wie Text.",
            "it": "{name}: il file sembra binario, non testo.",
            "nb": "{name}: filen ser binær ut, ikke som tekst.",
        },
    ),
    "name_missing": (
        400,
        {
            "en": "The file has no name.",
            "sv": "Filen saknar namn.",
            "de": "Die Datei hat keinen Namen.",
            "it": "Il file non ha un nome.",
            "nb": "Filen har ikke noe navn.",
        },
    ),
    "name_control": (
        400,
        {
            "en": "The file name contains control characters.",
            "sv": "Filnamnet innehåller styrtecken.",
            "de": "Der Dateiname enthält Steuerzeichen.",
            "it": "Il nome del file contiene caratteri di controllo.",
            "nb": "Filnavnet inneholder kontrolltegn.",
        },
    ),
    "name_path": (
        400,
        {
            "en": "The file name must not contain a path.",
            "sv": "Filnamnet får inte innehålla en sökväg.",
            "de": "Der Dateiname darf keinen Pfad enthalten.",
            "it": "Il nome del file non deve contenere un percorso.",
            "nb": "Filnavnet kan ikke inneholde en sti.",
        },
    ),
    "name_unusable": (
        400,
        {
            "en": "The file name has no usable characters.",
            "sv": "Filnamnet har inga användbara tecken.",
            "de": "Der Dateiname enthält keine verwendbaren Zeichen.",
            "it": "Il nome del file non ha caratteri utilizzabili.",
            "nb": "Filnavnet har ingen brukbare tegn.",
        },
    ),
    "no_course": (
        404,
        {
            "en": "Course {course} does not exist.",
            "sv": "Kursen {course} finns inte.",
            "de": "Der Kurs {course} existiert nicht.",
            "it": "Il corso {course} non esiste.",
            "nb": "Kurset {course} finnes ikke.",
        },
    ),
    "no_document": (
        404,
        {
            "en": "Document {document} does not exist.",
            "sv": "Dokumentet {document} finns inte.",
            "de": "Das Dokument {document} existiert nicht.",
            "it": "Il documento {document} non esiste.",
            "nb": "Dokumentet {document} finnes ikke.",
        },
    ),
    "no_job": (
        404,
        {
            "en": "Job {job} does not exist.",
            "sv": "Jobbet {job} finns inte.",
            "de": "Der Auftrag {job} existiert nicht.",
            "it": "Il lavoro {job} non esiste.",
            "nb": "Jobben {job} finnes ikke.",
        },
    ),
    "no_passage": (
        404,
        {
            "en": "Passage {passage} does not exist or is not waiting for review.",
            "sv": "Avsnittet {passage} finns inte eller väntar inte på granskning.",
            "de": "Der Abschnitt {passage} existiert nicht oder wartet nicht auf Prüfung.",
            "it": "Il passaggio {passage} non esiste o non è in attesa di revisione.",
            "nb": "Avsnittet {passage} finnes ikke eller venter ikke på gjennomgang.",
        },
    ),
    "forbidden": (
        403,
        {
            "en": "Only the course's teachers can manage its material.",
            "sv": "Bara kursens lärare kan hantera dess material.",
            "de": "Nur die Lehrkräfte des Kurses können sein Material verwalten.",
            "it": "Solo gli insegnanti del corso possono gestirne il materiale.",
            "nb": "Bare kursets lærere kan administrere materialet.",
        },
    ),
    "no_file": (
        400,
        {
            "en": "Send the file as multipart form data in the field 'file'.",
            "sv": "Skicka filen som multipart-formulärdata i fältet 'file'.",
            "de": "Sende die Datei als Multipart-Formulardaten im Feld 'file'.",
            "it": "Invia il file come dati multipart nel campo 'file'.",
            "nb": "Send filen som multipart-skjemadata i feltet 'file'.",
        },
    ),
    "cancelled": (
        409,
        {
            "en": "The upload was cancelled; nothing of it was published.",
            "sv": "Uppladdningen avbröts; inget av den publicerades.",
            "de": "Der Upload wurde abgebrochen; nichts davon wurde veröffentlicht.",
            "it": "Il caricamento è stato annullato; nulla è stato pubblicato.",
            "nb": "Opplastingen ble avbrutt; ingenting av den ble publisert.",
        },
    ),
    "interrupted": (
        500,
        {
            "en": "The ingestion job stopped before it finished; it was retried {attempts} times.",
            "sv": "Inläsningsjobbet avbröts innan det blev klart; det försöktes {attempts} gånger.",
            "de": (
                "Der Einlesejob wurde vor dem Ende abgebrochen; er wurde {attempts}-mal versucht."
            ),
            "it": (
                "Il lavoro di importazione si è interrotto prima della fine; è stato tentato "
                "{attempts} volte."
            ),
            "nb": "Innlesingsjobben stoppet før den var ferdig; den ble forsøkt {attempts} ganger.",
        },
    ),
}


class IngestError(KatederError, ValueError):
    """A clear, user-facing reason why a file cannot be ingested (``code`` keys :data:`MESSAGES`).

    Part of the one hierarchy (core/errors.py); its status comes from :data:`MESSAGES`
    (400, 413, 415, ...), so it is answered like every other :class:`KatederError`.
    """

    def __init__(self, code: str, **params: Any) -> None:
        """``IngestError("empty", name="a.pdf")``; an unknown code is taken as a literal message."""
        known = code in MESSAGES
        self.status = MESSAGES[code][0] if known else 400
        self.literal = None if known else code
        super().__init__(
            MESSAGES[code][1] if known else code, code=code if known else "error", **params
        )

    def message(self, language: str = "en") -> str:  # type: ignore[override]  # the call shape ingest's callers use
        """The message in ``language`` (falls back to English)."""
        return self.text(language)

    def to_dict(self, language: str = "en") -> dict[str, Any]:
        """JSON form stored on failed jobs and returned by the API."""
        return {"code": self.code, "message": self.message(language), "params": self.params}


def not_found(code: str, **params: Any) -> NotFound:
    """Missing material as :class:`NotFound` with the message of ``code`` (``no_course``,
    ``no_document``, ``no_job``, ``no_passage``)."""
    return NotFound(MESSAGES[code][1], code=code, **params)


def forbidden() -> Forbidden:
    """Someone who does not teach the course (or an archived course) as :class:`Forbidden`,
    with the ``forbidden`` message."""
    return Forbidden(MESSAGES["forbidden"][1])
