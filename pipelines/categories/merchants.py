"""Merchant normalisation: raw statement description -> stable merchant key + display name.

One pure-Python implementation (:func:`normalise`) serves the Python side (rule keys, tests)
and Spark (:func:`merchant_columns`: once per distinct (description, merchant) pair, through
``mapInArrow``, joined back to the rows).

How a description becomes a key (regexes in :data:`STRIP_PATTERNS`, compiled once):

1. Fold to lower-case ASCII (accents dropped), apostrophes removed (``PEET'S`` -> ``peets``).
2. ``lead``: strip leading transaction-type noise and payment-facilitator / wallet prefixes,
   repeatedly (``CHECKCARD 0423 SQ *BLUE BOTTLE`` -> ``blue bottle``).
3. ``platform``: app-store billing (``APPLE.COM/BILL``) is the platform's key.
4. ``BRAND*REF``: what follows the first ``*`` is an order / sub-merchant reference, so the
   brand before it is kept (``NETFLIX*7X2K``, ``DOORDASH*CHIPOTLE``); except when the part
   before the star abbreviates the word after it (``DK*DRAFTKINGS``, ``DD *DOORDASH``) and
   for multi-product brands, which keep the product (``UBER *EATS``; ``UBER *TRIP`` -> uber).
5. ``stop``: URLs, ``.COM``-style suffixes, ``/`` and ``#ids`` become a stop marker, and so
   are tokens with a digit (store numbers, phones, dates, times, card numbers, alnum codes),
   all-letter codes without vowels, ``to`` and ``from``. The name ends at the first one
   (``STARBUCKS STORE 04521 SAN FRANCISCO CA`` -> ``starbucks``).
6. Words: :data:`NOISE_WORDS` are dropped; then a trailing US state / country code, a
   trailing city (:data:`CITIES`), store-location words after the first word and trailing
   store words; adjacent single letters are joined (``H & M`` -> ``hm``, ``AT&T`` -> ``att``).
7. :data:`ALIASES`: a few well-known abbreviations map to one key (``AMZN`` -> ``amazon``).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator

    import pyarrow as pa
    from pyspark.sql import DataFrame


@dataclass(frozen=True)
class Merchant:
    key: str
    display_name: str


_TLD = r"(?:com|net|org|us|io|co|info)"
# (stage, what it strips, pattern). Every pattern is linear: no nested ambiguous quantifiers,
# and no pattern can restart inside a word it already scanned.
STRIP_PATTERNS: tuple[tuple[str, str, str], ...] = (
    ("lead", "UK, SEPA and continental transaction types (CARD PAYMENT TO, DD, Lastschrift, "
     "girocard, PAIEMENT CB, PRLV, BEA NR:.., COMPRA TARJ., PAGAMENTO POS), with the card mask, "
     "date, time and terminal that follow them",
     r"(?:(?:card|contactless|debit card|visa debit|mobile) payment(?: to)?|bill payment(?: to)?"
     r"|direct debit(?: payment)?(?: to)?|standing order(?: to)?|faster payment(?:s)?(?: to)?"
     r"|(?:dd|ddr|vis|fpo|fpi|bgc)(?= [a-z])"
     r"|(?:sepa[ -])?(?:basis|erst|folge|firmen)?lastschrift(?: einzug)?|sepa[ -]?ueberweisung"
     r"|ueberweisung|dauerauftrag|gutschrift(?: ueberw\.?)?|kartenzahlung(?: girocard)?"
     r"|girocard|ec[ -]karte|maestro|v ?pay|kartenzahlung/-abrechnung"
     r"|paiement(?: par)? (?:cb|carte)|achat cb|facture carte(?: du)?|carte|cb|prlv(?: sepa)?"
     r"|prelevement(?: sepa)?|vir(?:ement)?(?: sepa| inst(?:antane)?)*(?: (?:recu|emis))?"
     r"|(?:bea|gea|ideal|sepa overboeking|overboeking|betaalautomaat)(?: nr:? ?[a-z0-9]+)?"
     r"|sepa incasso(?: algemeen)?(?: doorlopend| eenmalig)?"
     r"|compra(?: tarj(?:eta)?\.?)?(?: en)?|pago(?: con)?(?: tarjeta)?|recibo|transferencia"
     r"|pagamento(?: pos| carta| bancomat)?|addebito(?: sepa)?(?: dd| sdd| diretto)?|bonifico"
     r"|(?:paiement )?bancontact|betaling|kortkjop|kortkop|korttransaktion|varer|dankort[ -]koeb"
     r"|platnosc karta|zakup(?: przy uzyciu karty)?|vd[pc]|sepa dd|d/d"
     r"|pos [0-9.,]+ [a-z]{2,3} k\d|polecenie zaplaty|\*?\d{4} [0-9.]+ [a-z]{3} [0-9.,]+"
     r")\b[ :/.,-]*(?:(?:x*[0-9][0-9/.:x*-]*|[0-9*x]{4,}|[a-z]?\d+|t\d\d:\d\d\S*) +)*-?"),
    ("lead", "transaction types and wallets, with the card / date / number that follows them",
     r"(?:pos (?:debit|purchase|pur|withdrawal)|pos|debit card (?:purchase|pur)|debit purchase"
     r"|dbt crd|check ?card(?: purchase)?|(?:recurring )?(?:purchase|payment) authorized on"
     r"|purchase|recurring (?:payment|debit|charge)|ach (?:debit|credit|pmt|payment)"
     r"|online (?:payment|pmt|purchase)"
     r"|preauthorized (?:debit|payment)|visa(?: purchase| debit)?|card purchase|refund|return"
     r"|aplpay|apple ?pay|google ?pay|gpay|samsung ?pay)\b[ :]*(?:x*[0-9/.-]+ +)?-?"),
    ("lead", "a date first (APR 23, 04/23/24)", r"(?:jan|feb|mar|apr|may|jun|jul|aug|sept?|oct"
     r"|nov|dec)[a-z]*\.? ?\d{1,2}(?:, ?\d{4})? +|\d{1,2}/\d{1,2}(?:/\d{2,4})? +"),
    ("lead", "payment facilitators and wallets: the merchant follows the star",
     r"(?:sq|sqc|tst|toast|sp|paypal|pp|usa|in|fs|iz|pwp|clv|sumup|payu|zettle|ccv|mollie"
     r"|stripe|paddle(?:\.net)?|lawpay|2co|dnh) ?\* *"
     r"|google ?\* *(?![a-z]{1,2}\b)"),  # GOOGLE *FI is a product: see PRODUCT_PLATFORMS
    ("platform", "app-store billing, no product in it; the group name is the key",
     r"(?P<apple>(?:apple|itunes)\.com/)"),
    ("stop", "URLs and hosts with sub-domains (HELP.UBER.COM, AMZN.COM/BILL, G.CO/HELPPAY#)",
     r"(?<![a-z0-9.-])(?:https?\S*|[a-z0-9-]+\.[a-z0-9.-]*?/\S*"
     r"|(?!www\.)[a-z0-9-]+(?:\.[a-z0-9-]+)+\." + _TLD + r"\b)"),
    ("stop", ".COM-style suffix: the name ends there (NETFLIX.COM LOS GATOS CA)",
     r"\." + _TLD + r"\b"),
    ("stop", "a slash or a #id ends a name (CVS/PHARMACY, TRADER JOE'S #552)",
     r"/|#\s?[a-z0-9]*"),
    ("stop", "the Dutch card number tail (ALBERT HEIJN 1234,PAS123)", r",\s?pas\s?\d+"),
)


# A labelled field naming the counterparty wins over the rest of the line: SEPA exports
# (``Naam: VATTENFALL NV Machtiging: ..``, ``Empfaenger: ..``), ACH (``ORIG CO NAME:COMCAST CO
# ENTRY DESCR:..``, ``ACME CORP DES:PAYROLL ID:..``) and French ``/DE ACME SAS /MOTIF ..``.
# The value ends at the next ``label:`` or `` /``.
_FIELD = re.compile(
    r"(?:^|\s)(?:naam|name|orig co name|company name|empfaenger|empfanger|auftraggeber"
    r"|beguenstigter|zahlungsempfaenger|zahlungspflichtiger|creditor|payee|beneficiary"
    r"|ordenante|beneficiario|nom|de la part de)\s?: ?(?P<v>[^:/]+?)"
    r"(?=\s+[a-z]+(?: [a-z]+)?\s?:|\s/|$)"
    r"|(?:^|\s)/(?:de|frm|from|fr|nom)\s+(?P<v2>[^/]+?)\s*(?=/|$)"
    r"|/name/(?P<v4>[^/]+)"
    r"|^(?:ach (?:debit|credit) )?(?P<v3>[a-z0-9&' .,-]+?) (?:des|entry descr):")


def _compile(stage: str) -> re.Pattern[str]:
    alts = "|".join(f"(?:{p})" for s, _, p in STRIP_PATTERNS if s == stage)
    return re.compile(f"^(?:{alts})+" if stage == "lead" else alts)


_LEAD, _PLATFORM, _STOP = _compile("lead"), _compile("platform"), _compile("stop")
_HOST_FIRST = re.compile(r"^([a-z][a-z0-9-]+)\.[a-z]{2,3}/\S*")  # BOLT.EU/O/24..: bolt
_JOINED = re.compile(r"(?<![a-z0-9])[a-z0-9]+(?:[&-][a-z0-9]+)+")
_PUNCT = re.compile(r"[^a-z0-9| ]+")
_TRAIL_DIGITS = re.compile(r"(?!x+\d)([a-z]{3,})\d+")  # WAYFAIR4, AMERICAN AIR0012345678
_GLUED = re.compile(r"([a-z]{5,})\d+[a-z]{3,}")  # TRADERJOES552SANFRANCISCO: the name first
_DIGIT_INSIDE = re.compile(r"[a-z]{2,}\d[a-z]{4,}")  # JET2HOLIDAYS: a name, not a reference
_LEADING_NUMBER = re.compile(r"\d{1,3}|\d+[a-z]{3,}")  # 24 HOUR FITNESS, 7ELEVEN
_GIBBERISH = re.compile(r"^[^aeiou]+$|[^aeiouy]{5}")  # an all-letter reference code


def _set(words: str) -> frozenset[str]:
    return frozenset(words.split())


# Dropped wherever they occur: corporate suffixes, payment / reference words.
NOISE_WORDS = _set(
    "inc llc ltd corp co plc gmbh and www usa us ach pos dda pur purchase debit recurring online"
    " payment payments pmt pmts pymt paymt autopay billpay preauthorized ecom web ref conf id"
    " ppd ccd card acct trace auth txn mktp mktplace marketplace subscr subscription"
    " membership monthly svc svcs intl help on")
# Legal-entity suffixes: the name ends at one that follows it (TELEKOM DEUTSCHLAND GMBH
# RECHNUNG 12 -> telekom deutschland; ORANGE SA -> orange). ``co`` and ``kg`` of GMBH & CO KG.
LEGAL_SUFFIXES = _set(
    "gmbh mbh ag kg kgaa ohg ug ev eg ek sa sas sasu sarl eurl sca snc srl srls spa sapa sl slu"
    " sll bv nv vof cv ab oy oyj asa as aps se spzoo sp zoo sro ltd limited plc llp lp llc inc"
    " corp incorporated")
# Words after which a statement line carries references, not the name (Rechnung, Mandat...).
REFERENCE_WORDS = _set(
    "rechnung rechnungsnr mandat mandatsref mandatsreferenz kundennr kundennummer kdnr"
    " vertrag vertragsnr verwendungszweck glaeubiger glaubiger glaeubigerid folgenr verfalld"
    " referenz ref reference referentie kenmerk betalingskenmerk omschrijving machtiging"
    " iban bic facture echeance motif numero contrat fattura rif causale riferimento"
    " factura referencia concepto mandato cuota ordinante beneficiario terminal carta karte carte"
    " tarjeta kaart")
_ENDS_NAME = LEGAL_SUFFIXES | REFERENCE_WORDS
# Dropped from the end: store / unit words and refund suffixes (STARBUCKS STORE 123)...
TRAILING_WORDS = _set("store stores outlet factory whse credit fee fees unit no nbr ste suite of"
                      " on markt filiale fil supermarkt supermarche superstore megastore")
# ...and, when a number followed them, month / weekday names (APR 23, MON 2AM).
DATE_WORDS = _set("jan feb mar apr may jun jul aug sep sept oct nov dec mon tue tues wed thu"
                  " thur thurs fri sat sun")
# Store-location words, dropped after the first word (``EQUINOX MIDTOWN`` -> equinox).
LOCALITY_WORDS = _set("downtown midtown uptown airport north south east west central market"
                      " mall plaza center centre village harbor valley")
STREET_WORDS = _set("st ave blvd rd sq")  # MAIN ST, UNION SQ: dropped with the word before
_PLACES = LOCALITY_WORDS | STREET_WORDS
PLACE_SUFFIXES = ("gate", "field", "side", "crest", "ridge", "view", "dale")  # EASTGATE...
# Brands selling several products under one descriptor: the word after the star is kept.
PRODUCT_PLATFORMS = _set("uber lyft microsoft google")
GENERIC_PRODUCTS = _set("trip ride rides pending bill payment help")
REGION_CODES = _set(
    "al ak az ar ca co ct de dc fl ga hi id il in ia ks ky la me md ma mi mn ms mo mt ne nv nh"
    " nj nm ny nc nd oh ok or pa pr ri sc sd tn tx ut vt va wa wv wi wy"  # US states
    " usa can gbr aus nld deu fra irl mex jpn lux se gb uk nl de fr ie au lu"  # countries
    " es esp ita be bel aut ch che pt prt dk dnk nor fin pl pol cz cze")
CITY_REGION_CODES = _set("it at no fi")  # also words: dropped only after a city (MILANO IT)
_CITY_NAMES = (
    "new york,los angeles,chicago,houston,phoenix,philadelphia,san antonio,san diego,dallas,"
    "san jose,austin,jacksonville,fort worth,columbus,charlotte,san francisco,indianapolis,"
    "seattle,denver,washington,boston,el paso,nashville,detroit,oklahoma city,portland,las vegas,"
    "memphis,louisville,baltimore,milwaukee,albuquerque,tucson,fresno,sacramento,kansas city,mesa,"
    "atlanta,omaha,colorado springs,raleigh,miami,long beach,virginia beach,oakland,minneapolis,"
    "tulsa,tampa,arlington,new orleans,wichita,cleveland,bakersfield,aurora,anaheim,honolulu,"
    "santa ana,riverside,corpus christi,lexington,pittsburgh,anchorage,stockton,cincinnati,"
    "st paul,saint paul,toledo,newark,greensboro,plano,henderson,lincoln,buffalo,jersey city,"
    "chula vista,orlando,st louis,saint louis,durham,madison,irvine,scottsdale,reno,boise,"
    "richmond,spokane,des moines,salt lake city,brooklyn,queens,bronx,manhattan,staten island,"
    "berkeley,palo alto,mountain view,cupertino,menlo park,redwood city,san mateo,santa clara,"
    "sunnyvale,pasadena,burbank,santa monica,cambridge,redmond,bellevue,hoboken,ann arbor,boulder,"
    "providence,hartford,san carlos,los gatos,concord,"
    # UK, Ireland and continental Europe, as statements spell them (folded, also in English)
    "london,manchester,birmingham,leeds,glasgow,edinburgh,liverpool,bristol,sheffield,cardiff,"
    "belfast,newcastle,nottingham,leicester,southampton,brighton,oxford,reading,coventry,york,"
    "aberdeen,dublin,cork,galway,limerick,berlin,hamburg,muenchen,munchen,munich,koeln,koln,"
    "cologne,frankfurt,frankfurt am main,stuttgart,duesseldorf,dusseldorf,dortmund,essen,leipzig,"
    "bremen,dresden,hannover,nuernberg,nurnberg,bonn,mannheim,karlsruhe,wien,vienna,graz,linz,"
    "salzburg,zuerich,zurich,geneve,geneva,basel,bern,paris,marseille,lyon,toulouse,nice,nantes,"
    "strasbourg,montpellier,bordeaux,lille,rennes,reims,grenoble,bruxelles,brussel,brussels,"
    "antwerpen,anvers,gent,liege,luxembourg,amsterdam,rotterdam,den haag,s gravenhage,utrecht,"
    "eindhoven,groningen,tilburg,almere,breda,nijmegen,haarlem,arnhem,leiden,madrid,barcelona,"
    "valencia,sevilla,zaragoza,malaga,bilbao,palma,alicante,lisboa,lisbon,porto,roma,rome,milano,"
    "milan,napoli,torino,palermo,genova,bologna,firenze,florence,venezia,verona,bari,stockholm,"
    "goteborg,gothenburg,malmo,oslo,bergen,kobenhavn,copenhagen,aarhus,helsinki,espoo,warszawa,"
    "warsaw,krakow,wroclaw,poznan,gdansk,lodz,praha,prague,brno,budapest,athina,athens,"
    "brest,saint etienne,st etienne,boulogne,boulogne billancourt,boulogne bil,roissy,le havre,"
    "toulon,angers,dijon,nimes,aix en provence,clermont ferrand,tours,amiens,limoges,metz,"
    "besancon,perpignan,orleans,rouen,caen,mulhouse,nancy,argenteuil,montreuil,saint denis,"
    "versailles,neuilly,annecy,avignon,la rochelle,cannes,antibes,colmar,poitiers,calais,"
    "dunkerque,lorient,quimper,vannes,chambery,troyes,chartres,levallois,issy,courbevoie,"
    "nanterre,creteil,vincennes,villeurbanne,marne la vallee,massy,cergy,evry,bayonne,biarritz")
# Major US cities, also as banks print them: truncated to a 13-character field.
CITIES = frozenset(tuple(c.split()) for n in _CITY_NAMES.split(",") for c in (n, n[:13]))
_CITY_ENDS = frozenset(c[-1] for c in CITIES)
# Well-known abbreviations / spellings of one merchant. A first word (or two) found here
# names the merchant on its own; the rest is store detail (``WHOLEFDS MKT 10234``).
ALIASES = {"amzn": "amazon", "amazon com": "amazon", "exxonmobil": "exxon", "exxon mobil": "exxon",
           "msft": "microsoft", "wal mart": "walmart", "wm supercenter": "walmart",
           "wholefds": "whole foods"}


# Words that name no merchant: a key made only of them (and numbers) is a generic line
# ("POS DEBIT 12345", "SEPA TRANSFER", "CHECK 1234"), which the model leaves uncategorised.
GENERIC_WORDS = NOISE_WORDS | TRAILING_WORDS | REFERENCE_WORDS | LEGAL_SUFFIXES | _set(
    "transfer transfers xfer trf tfr sepa cheque check chq deposit withdrawal wdl atm cash"
    " bank banking account giro standing order direct faster fps bacs bgc dd so fpi fpo vis"
    " contactless electronic transaction transactie transaccion operation operazione mobile"
    " internet"
    " kartenzahlung karte zahlung ueberweisung uberweisung lastschrift gutschrift dauerauftrag"
    " paiement par carte cb virement prelevement prlv vir sepa recu emis inst remise achat"
    " bancontact maestro girocard vpay visa mastercard debit credit"
    " overboeking betaling incasso pinbetaling betaalautomaat geldautomaat bea gea"
    " transferencia compra pago tarjeta recibo adeudo abono domiciliacion"
    " bonifico pagamento addebito accredito prelievo giroconto pos carta"
    " thank thanks you your the a of to from for in at by with and mr mrs ms"
    " debitkarte kreditkarte karta platnosc patnosc scheck nr external internal trtp iban bic"
    " ideal remi eref terminal assegno assegni scheck cheque"
    " polecenie zaplaty przelew")


# One-word rule keys that must match only themselves: articles and prepositions that start
# names (LES RESTAURANTS DU COEUR), region codes (CA DMV) and cities (LONDON MARRIOTT).
EXACT_ONLY_WORDS = _set(
    "le la les de du des di da del della der die das den het een el los las il lo gli un une"
    " uno una st saint san santa new old big my our best first city national royal")


def prefix_ok(rule_key: str) -> bool:
    """May a rule with this key also match longer keys that start with it (``shell`` ->
    ``shell oil``, ``bp`` -> ``bp mountain road``)? Not a one-word key that is an article,
    region code, city or generic word: ``ca`` (C&A) must not catch ``ca dmv``."""
    if " " in rule_key:
        return True
    return not (rule_key in EXACT_ONLY_WORDS or rule_key in REGION_CODES
                or rule_key in CITY_REGION_CODES or rule_key in GENERIC_WORDS
                or (rule_key,) in CITIES or len(rule_key) < 2)


def exact_only_keys() -> list[str]:
    """The one-word keys :func:`prefix_ok` refuses as prefixes (for the engine's join)."""
    words = EXACT_ONLY_WORDS | REGION_CODES | CITY_REGION_CODES | GENERIC_WORDS
    return sorted(words | {c[0] for c in CITIES if len(c) == 1})


def is_generic(key: str) -> bool:
    """Does ``key`` hold no word that could name a merchant?"""
    return all(w in GENERIC_WORDS or w.isdigit() or len(w) == 1 for w in key.split())


def _fold(text: str) -> str:
    if not text.isascii():
        text = unicodedata.normalize("NFKD", text.replace("\u2019", "'"))
        text = text.encode("ascii", "ignore").decode()
    text = text.lower()
    return text.replace("'", "").replace("`", "") if "'" in text or "`" in text else text


def fold_words(text: str) -> str:
    """Lower-case ASCII words of ``text`` (accents dropped, punctuation to spaces)."""
    return " ".join(_PUNCT.sub(" ", _fold(text)).split())


def _join(m: re.Match[str]) -> str:
    """``t-mobile`` / ``at&t`` / ``7-eleven`` -> one word; ``dollar-general`` -> two."""
    parts = re.split(r"[&-]", m.group())
    short = min(map(len, parts)) == 1 or ("&" in m.group() and max(map(len, parts)) <= 3)
    return ("" if short else " ").join(parts)


def _abbreviates(short: str, word: str) -> bool:
    """Is ``short`` drawn from ``word``'s consonant skeleton (HLU / HULU, DK / DRAFTKINGS)?"""
    if not 2 <= len(short) < len(word) or short[0] != word[0] or not word.isalpha():
        return False
    it = iter(word[0] + "".join(c for c in word[1:-1] if c not in "aeiou") + word[-1])
    return all(ch in it for ch in short)


def _star(text: str, star: int) -> str:
    head, tail = text[:star].split(), text[star + 1:].split()
    if len(head) == 1 and tail:
        if _abbreviates(head[0], tail[0]):
            return tail[0]
        brand = ALIASES.get(head[0], head[0])
        if brand in PRODUCT_PLATFORMS:
            product = tail[0]
            ok = product.isalpha() and product not in GENERIC_PRODUCTS and product != brand
            return f"{brand} {product}" if ok else brand
    if len(head) > 1 and len(head[-1]) == 1:  # EBAY O*12-345: a one-letter order prefix
        head.pop()
    return " ".join(head) if head else " ".join(tail)


def _words(text: str) -> tuple[list[str], bool]:
    """Tokens up to the first stop marker (and whether there was one): noise words dropped,
    repeats dropped, single letters joined (``H M`` -> ``hm``)."""
    out: list[str] = []
    toks = text.split()
    single = False
    for i, tok in enumerate(toks):
        if not tok.isalpha() and _DIGIT_INSIDE.fullmatch(tok) and not _GIBBERISH.search(
                tok.replace("sch", "s")):
            pass  # treated as a word below
        elif not tok.isalpha():  # a stop marker, or a token with digits
            m = _TRAIL_DIGITS.fullmatch(tok) or _GLUED.fullmatch(tok)
            if m and not (out and _GIBBERISH.search(m.group(1).replace("sch", "s"))):
                out.append(m.group(1))
            elif not out:  # nothing yet: skip ids, keep a number that starts the name
                nxt = toks[i + 1] if i + 1 < len(toks) else ""
                if _LEADING_NUMBER.fullmatch(tok) and tok.lstrip("0123456789")[:3] not in \
                        DATE_WORDS and (not tok.isdigit() or not nxt or nxt.isalpha()):
                    out.append(tok)
                continue
            return out, True
        if not out:
            if tok not in NOISE_WORDS:
                out.append(tok)
                single = len(tok) == 1
        elif len(tok) == 1 and (single or tok == "s"):  # A T T; TRADER JOE S (possessive)
            if out[-1][-1] != "s" or single:  # not SAINSBURYS S/MKTS
                out[-1] += tok
        elif tok in ("to", "from") or tok in _ENDS_NAME or len(tok) > 3 and _GIBBERISH.search(
                tok.replace("sch", "s")):
            return out, True
        elif tok not in NOISE_WORDS and tok != out[-1]:
            out.append(tok)
            single = len(tok) == 1
    return out, False


def _tidy(out: list[str], cut: bool) -> list[str]:
    """Drop a leading "the", places, and trailing store / date words."""
    if len(out) < 2:
        return out
    if out[0] == "the":
        del out[0]
    # A region code ends the description, or follows a city (not SONIC DRIVE IN #12).
    if len(out) > 1 and (out[-1] in REGION_CODES and (not cut or out[-2] in _CITY_ENDS)
                         or out[-1] in CITY_REGION_CODES and out[-2] in _CITY_ENDS):
        out.pop()
    if len(out) > 1 and out[-1] in _CITY_ENDS:
        for n in (3, 2, 1):
            if len(out) > n and tuple(out[-n:]) in CITIES:
                del out[-n:]
                break
    n = len(out)
    if n > 1:
        out = [w for i, w in enumerate(out) if i == 0 or not (
            w in _PLACES or i + 1 < n and out[i + 1] in STREET_WORDS
            or len(w) > 6 and w.endswith(PLACE_SUFFIXES))]
    while len(out) > 1 and (out[-1] in TRAILING_WORDS or out[-1] in LEGAL_SUFFIXES
                            or cut and out[-1] in DATE_WORDS):
        out.pop()
    return out


# French card lines print the town before the merchant (PAIEMENT CB 2103 BORDEAUX PHCIE DU
# CENTRE, CB 0203 PARIS 11 LA POSTE): after these leads a known city (and district) goes.
_CITY_FIRST_LEADS = ("paiement", "cb", "carte", "achat cb", "facture carte")


def _drop_leading_city(s: str) -> str:
    words = s.split()
    for n in (3, 2, 1):
        if len(words) > n and tuple(words[:n]) in CITIES:
            rest = words[n:]
            if rest[0].isdigit() and len(rest[0]) <= 2 and len(rest) > 1:
                rest = rest[1:]  # an arrondissement
            if rest[0][:1].isalpha():
                return " ".join(rest)
    return s


def normalise_key(text: str | None) -> str:
    """The merchant key of a description or a clean merchant name (``""`` when none)."""
    if not text:
        return ""
    s = _fold(text).lstrip()
    if ":" in s or " /" in s:
        m = _FIELD.search(s)
        value = m and (m.group("v") or m.group("v2") or m.group("v3") or m.group("v4") or "")
        if value and value.strip(" .,:/-"):
            s = value
    m = _LEAD.match(s)
    if m:
        if m.group().startswith(_CITY_FIRST_LEADS):
            s = _drop_leading_city(s[m.end():])
        else:
            s = s[m.end():]
    m = _PLATFORM.match(s)
    if m:
        return m.lastgroup or ""
    star = s.find("*")
    if star >= 0:
        s = _star(s, star)
    if "." in s or "/" in s or "#" in s or "," in s:
        s = _STOP.sub(" | ", _HOST_FIRST.sub(r"\1 | ", s, count=1))
    if "+" in s:
        s = s.replace("+", " plus ")
    if "&" in s or "-" in s:
        s = _JOINED.sub(_join, s)
    words = _tidy(*_words(_PUNCT.sub(" ", s)))
    if not words:  # only noise ("ONLINE PAYMENT"): keep its words rather than nothing
        return " ".join(w for w in _PUNCT.sub(" ", _fold(text)).split() if w.isalpha())
    return ALIASES.get(" ".join(words[:2])) or ALIASES.get(words[0]) or " ".join(words)


def normalise(description: str | None, merchant_name: str | None = None) -> Merchant:
    """Key and display name; from ``merchant_name`` when the partner gave a usable one."""
    if merchant_name and not merchant_name.isspace():
        key = normalise_key(merchant_name)
        if key:
            return Merchant(key, " ".join(merchant_name.split()))
    key = normalise_key(description)
    return Merchant(key, key.title())


def merchant_columns(df: DataFrame, description_col: str = "description",
                     merchant_col: str | None = "merchant") -> DataFrame:
    """``df`` with string columns ``merchant_key`` and ``merchant_display`` (replaced in place
    when present, else appended), as :func:`normalise` gives them. ``merchant_col`` may be
    None or absent.

    Each distinct (description, merchant) pair is normalised once (:func:`merchant_pairs`)
    and joined back, null-safe: a day holds far fewer pairs than rows. The other columns
    never leave the engine, so their values and types are untouched.
    """
    name_col = merchant_col if merchant_col in df.columns else None
    on = [description_col, *([name_col] if name_col else [])]
    from pipelines.categories.distinct import attach

    pairs = merchant_pairs(df.select(*on).distinct(), description_col, name_col)
    return attach(df, pairs, on)


def merchant_pairs(pairs: DataFrame, description_col: str = "description",
                   merchant_col: str | None = "merchant") -> DataFrame:
    """``pairs`` plus ``merchant_key`` and ``merchant_display`` by :func:`normalise`, one call
    per row through ``mapInArrow`` (meant for a frame of distinct pairs, not a day's rows)."""
    import pyarrow as pa
    from pyspark.sql.types import StringType, StructField, StructType

    names = [c for c in pairs.columns if c not in ("merchant_key", "merchant_display")]
    fields = [pairs.schema[c] for c in names] + [
        StructField(n, StringType(), True) for n in ("merchant_key", "merchant_display")]
    name_col = merchant_col if merchant_col in names else None

    def apply(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            descs = batch.column(description_col).to_pylist()
            given = batch.column(name_col).to_pylist() if name_col else [None] * len(descs)
            out = [normalise(d, n) for d, n in zip(descs, given, strict=True)]
            yield pa.RecordBatch.from_arrays(
                [batch.column(n) for n in names]
                + [pa.array([m.key for m in out], pa.string()),
                   pa.array([m.display_name for m in out], pa.string())],
                names=[*names, "merchant_key", "merchant_display"])

    return pairs.select(*names).mapInArrow(apply, StructType(fields))
