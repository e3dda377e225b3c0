"""Real statement formats: the normaliser on UK / SEPA / continental lines, the merchant
knowledge base, trade-word cues, direction by sign, the evaluation and the corpus split."""

from __future__ import annotations

import csv
import time
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from pipelines.categories.evaluation import UNCATEGORISED, evaluate, read_labelled_csv
from pipelines.categories.merchants import is_generic, normalise_key
from pipelines.categories.model import CUE_CONFIDENCE, CategoryModel, cue_category, cue_prefixes
from pipelines.categories.reference import (
    categories,
    directed,
    keyword_cues,
    knowledge_base,
    merchant_rules,
    pattern_rules,
    primary_of,
    rule_conflicts,
)

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "bench" / "statements"

# Lines as UK, SEPA and continental banks and aggregators print them -> the merchant key.
FORMATS = [
    ("CARD PAYMENT TO TESCO STORES 2431 ON 12-03-2024", "tesco"),
    ("TESCO STORES 2431 LONDON GB", "tesco"),
    ("CONTACTLESS PAYMENT PRET A MANGER", "pret a manger"),
    ("DD BRITISH GAS", "british gas"),
    ("DIRECT DEBIT PAYMENT TO VIRGIN MEDIA REF 123456789", "virgin media"),
    ("SAINSBURYS S/MKTS LONDON", "sainsburys"),
    ("VIS SAINSBURYS S/MKT 2213", "sainsburys"),
    ("SEPA-LASTSCHRIFT TELEKOM DEUTSCHLAND GMBH RECHNUNG 123456", "telekom deutschland"),
    ("SEPA-Basislastschrift Vattenfall Europe Sales GmbH Mandatsref. 998",
     "vattenfall europe sales"),
    ("girocard REWE Markt GmbH//Koeln/DE 2024-03-12T17:22 Folgenr. 003", "rewe"),
    ("Kartenzahlung dm-drogerie markt 2024-03-14", "dm drogerie"),
    ("SEPA-Lastschrift Empfaenger: Stadtwerke Muenchen GmbH Verwendungszweck: Abschlag",
     "stadtwerke"),
    ("PAIEMENT CB 1203 PARIS MONOPRIX", "monoprix"),
    ("PAIEMENT CB 0904 PARIS 11 LA POSTE COLISSIMO", "la poste colissimo"),
    ("CB MONOPRIX 12/03", "monoprix"),
    ("PRLV SEPA ORANGE SA", "orange"),
    ("VIREMENT SEPA RECU /DE ACME SAS /MOTIF SALAIRE MARS", "acme"),
    ("BEA NR:ABC123 12.03.24/14.22 ALBERT HEIJN 1234,PAS123", "albert heijn"),
    ("SEPA Incasso algemeen doorlopend Incassant: NL12ZZZ123456780000 Naam: VATTENFALL "
     "KLANTENSERVICE N.V. Machtiging: 123 Omschrijving: x", "vattenfall klantenservice"),
    ("COMPRA TARJ. 5402XXXXXXXX1234 MERCADONA MADRID", "mercadona"),
    ("PAGAMENTO POS 12/03/2024 14:22 ESSELUNGA MILANO CARTA 1234", "esselunga"),
    ("ACME CORP DES:PAYROLL ID:XXXXX8823 INDN:JANE DOE CO ID:1234567890 PPD", "acme"),
    ("ORIG CO NAME:COMCAST CO ENTRY DESCR:CABLE SEC:PPD", "comcast"),
    ("ORIG CO NAME:CONSOLIDATED EDIS ORIG ID:1135530000 DESC DATE:031524", "consolidated edis"),
    ("RECURRING PAYMENT AUTHORIZED ON 03/10 FASTRAK CSC 877-229-8655 CA", "fastrak csc"),
    ("CARD PAYMENT TO JET2HOLIDAYS ON 05-01-2024", "jet2holidays"),
    ("ZAKUP PRZY UZYCIU KARTY BOLT.EU/O/2403091145 TALLINN", "bolt"),
    ("Dankort-koeb JYSK 2030 AARHUS C Nota 123456", "jysk"),
    ("PADDLE.NET* NORDVPN LONDON GB", "nordvpn"),
    ("DNH*GODADDY.COM 480-5058855 AZ", "godaddy"),
    ("LAWPAY *SMITH LEGAL GROUP 866-376-0950 TX", "smith legal group"),
]


@pytest.mark.parametrize(("raw", "key"), FORMATS)
def test_uk_and_continental_formats(raw: str, key: str) -> None:
    assert normalise_key(raw) == key


@pytest.mark.parametrize("raw", [
    "POS DEBIT 12345", "SEPA TRANSFER", "CHECK #1234", "CARD PURCHASE", "Kartenzahlung",
    "PAIEMENT PAR CARTE", "TRANSFER REF 88213", "ONLINE PAYMENT 7712", "CARD PAYMENT ON 12-03-2024",
    "SEPA-UEBERWEISUNG", "VIREMENT SEPA EMIS", "CHQ 100234", "DD", "BANCONTACT",
])
def test_lines_that_name_nothing_are_generic(raw: str) -> None:
    assert is_generic(normalise_key(raw))


def test_merchant_words_are_not_generic() -> None:
    for key in ("tesco", "pay as you go", "transfer wise", "bank of america", "cash app"):
        assert not is_generic(key), key


@pytest.mark.parametrize("text", [
    "name: a " * 1250, "a " * 5000 + ":", " /de " + "a " * 5000, "x des " * 1600,
    "naam:" + "a b " * 2500 + "x", ("ach debit " + "a" * 50 + " ") * 150,
    "PAIEMENT CB " * 800, "BEA NR:" * 1400, ",PAS1" * 2000,
])
def test_labelled_fields_stay_linear(text: str) -> None:
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        normalise_key(text)
        best = min(best, time.perf_counter() - t)
    assert best < 0.05, f"{best * 1000:.1f} ms"


# -- the knowledge base ------------------------------------------------------------------

def test_knowledge_base_is_large_valid_and_has_no_conflicting_keys() -> None:
    kb = knowledge_base()
    assert len(kb) >= 2_000
    assert len({r["country"] for r in kb}) > 10
    assert rule_conflicts() == []
    rules = merchant_rules()
    assert len(rules) >= 5_000
    assert not [r for r in rules if is_generic(str(r["merchant_key"]))]
    valid = {c["category"] for c in categories()}
    assert {r["category"] for r in rules} <= valid
    # every primary but bank fees (phrasing, not merchants: pattern rules) has merchants
    assert {primary_of(str(r["category"])) for r in rules} >= {
        c["category_primary"] for c in categories()} - {"OTHER", "BANK_FEES"}


def test_knowledge_base_spans_regions() -> None:
    keys = {str(r["merchant_key"]) for r in merchant_rules()}
    for name in ("Tesco", "Sainsbury's", "REWE", "Carrefour", "Albert Heijn", "Mercadona",
                 "Esselunga", "Starbucks", "Deutsche Bahn", "Boots", "Netflix"):
        assert normalise_key(name) in keys, name


def test_keyword_cues() -> None:
    cues = keyword_cues()
    assert len(cues) >= 300
    pharmacy = "MEDICAL_PHARMACIES_AND_SUPPLEMENTS"
    assert cue_category("stadtapotheke", cues) == pharmacy  # end of a compound word
    assert cue_category("pharmacie du centre", cues) == pharmacy
    assert cue_category("joes barber shop", cues) == "PERSONAL_CARE_HAIR_AND_BEAUTY"
    assert cue_category("acme", cues) is None
    # cues that disagree decide nothing
    hotel, pizzeria = cues.get("hotel"), cues.get("pizzeria")
    assert hotel and pizzeria and hotel != pizzeria
    assert cue_category("hotel pizzeria roma", cues) is None


def test_a_cut_off_trade_word_decides_only_what_nothing_surer_decides() -> None:
    """Card processors keep 20-25 characters of a name: ``HARRIS AND CO SOLICIT``,
    ``MAIN STREET HARDWAR``. A cut-off trade word is read as the word, but a whole word that
    only begins a longer one (Spanish ``estacion`` before ``estacionamiento``) must not
    overrule a merchant the model knows, and a generic line stays uncategorised."""
    legal, hardware = "GENERAL_SERVICES_CONSULTING_AND_LEGAL", "HOME_IMPROVEMENT_HARDWARE"
    fuel, parking = "TRANSPORTATION_GAS", "TRANSPORTATION_PARKING"
    cues = {"solicitors": legal, "hardware": hardware, "estacionamiento": parking,
            "electronics": "GENERAL_MERCHANDISE_ELECTRONICS", "pharmacy":
            "MEDICAL_PHARMACIES_AND_SUPPLEMENTS", "pharmacie": "MEDICAL_PHARMACIES_AND_SUPPLEMENTS",
            "pharmazie": "MEDICAL_PHARMACIES_AND_SUPPLEMENTS", "parkhaus": parking,
            "parking": parking, "pharmacist": "MEDICAL_OTHER_MEDICAL"}
    assert cue_prefixes(cues)["solicit"] == legal and cue_prefixes(cues)["hardwar"] == hardware
    assert "pharma" not in cue_prefixes(cues)  # pharmacy, pharmacist: two categories
    assert "hardw" not in cue_prefixes(cues)  # too short to tell
    assert cue_category("harris solicit chester", cues) is None  # not without prefixes
    assert cue_category("harris solicit chester", cues, cue_prefixes(cues)) == legal
    pairs = pd.DataFrame(
        [("repsol", fuel, 9), ("repsol estacion de servicio", fuel, 9), ("shell", fuel, 9),
         ("acme plumbing", "HOME_IMPROVEMENT_REPAIR_AND_MAINTENANCE", 9),
         *((w, c, 3) for w, c in cues.items())],
        columns=["merchant_key", "category", "users"])  # trade words train, as in reference_pairs
    model = CategoryModel.fit(pairs, cues=cues)
    got = dict(zip(["harris solicit chester", "main street hardwar gosq", "estacion repsol",
                    "electronic withdrawal"],
                   model.predict(["harris solicit chester", "main street hardwar gosq",
                                  "estacion repsol", "electronic withdrawal"]), strict=True))
    assert got["harris solicit chester"] == (legal, CUE_CONFIDENCE)
    assert got["main street hardwar gosq"] == (hardware, CUE_CONFIDENCE)
    assert got["estacion repsol"][0] == fuel and got["estacion repsol"][1] >= 0.6
    assert got["electronic withdrawal"] == (None, 0.0)  # a generic ACH line


def test_sign_turns_one_direction_categories_round() -> None:
    assert directed("TRANSFER_OUT_SAVINGS", -50.0) == "TRANSFER_IN_SAVINGS"
    assert directed("TRANSFER_IN_SAVINGS", 50.0) == "TRANSFER_OUT_SAVINGS"
    assert directed("TRANSFER_OUT_SAVINGS", 50.0) == "TRANSFER_OUT_SAVINGS"
    assert directed("GOVERNMENT_AND_NON_PROFIT_TAX_PAYMENT", -120.0) == "INCOME_TAX_REFUND"
    assert directed("FOOD_AND_DRINK_GROCERIES", -12.5) == "FOOD_AND_DRINK_GROCERIES"  # refund
    assert directed("TRANSFER_OUT_SAVINGS", None) == "TRANSFER_OUT_SAVINGS"
    assert directed(None, -3.0) is None


def test_pattern_sections() -> None:
    rules = pattern_rules()
    stages = [r["stage"] for r in rules]
    # sections in order: a salary paid by a shop is a salary; FPO J SMITH is a person only
    # when nothing else knows the name
    assert stages == sorted(stages, key=["first", "after", "fallback"].index)
    assert set(stages) == {"first", "after", "fallback"}


def test_a_one_character_key_is_no_rule() -> None:
    """E.ON (ON read as Ontario) and E*TRADE both give the key ``e``: it names neither, and
    must not hide E.ON's other spellings behind a conflict."""
    rules = {r["merchant_key"]: r["category"] for r in merchant_rules()}
    assert not [k for k in rules if len(k) < 2]
    assert rules[normalise_key("E.ON ENERGIE DEUTSCHLAND")] == \
        "RENT_AND_UTILITIES_GAS_AND_ELECTRICITY"
    assert rules[normalise_key("ETRADE")] == \
        "TRANSFER_OUT_INVESTMENT_AND_RETIREMENT_FUNDS"


# Lines a "first" pattern recognises (a payment kind) whose merchant's rule knows better or
# worse: the pattern overrules the rule only when they disagree on the primary category.
FIRST_PATTERN_LINES = [
    # the servicer's rule is a student-loan payment; LOAN PMT alone would say personal loan
    ("MOHELA DES:LOAN PMT ID:XXXXX4410 WEB", 212.0, "LOAN_PAYMENTS_STUDENT_LOAN_PAYMENT"),
    # a supermarket paying a salary: income, whatever the shop's rule says
    ("TESCO STORES LTD DES:PAYROLL ID:XXXXX0042 INDN:A PATEL PPD", -1840.0, "INCOME_SALARY"),
    # "Praxis" is a Dutch DIY chain; Dr. med. is a doctor
    ("Kartenzahlung PRAXIS DR. MED. WEBER 11.04.2024", 45.0, "MEDICAL_PRIMARY_CARE"),
    ("SSA TREAS 310 XXSUPP SEC 050124", -943.0, "INCOME_LONG_TERM_DISABILITY"),
]


@pytest.mark.parametrize(("line", "amount", "category"), FIRST_PATTERN_LINES)
def test_a_first_pattern_yields_to_a_rule_of_its_primary(line: str, amount: float,
                                                           category: str) -> None:
    from pipelines.categories.local import LocalCategoriser

    [got] = LocalCategoriser.seeded(None).decide([line], None, [amount])
    assert got.category == category, got


# -- model -------------------------------------------------------------------------------

def test_model_abstains_on_generic_keys_and_follows_cues() -> None:
    import pandas as pd

    pairs = pd.DataFrame({"merchant_key": ["tesco", "starbucks", "shell"],
                          "category": ["FOOD_AND_DRINK_GROCERIES", "FOOD_AND_DRINK_COFFEE",
                                       "TRANSPORTATION_GAS"], "users": [5, 5, 5]})
    m = CategoryModel.fit(pairs, cues={"apotheke": "MEDICAL_PHARMACIES_AND_SUPPLEMENTS"})
    got = m.predict(["pos debit", "", "sepa transfer", "rats apotheke", "tesco metro"])
    assert got[:3] == [(None, 0.0)] * 3
    assert got[3][0] == "MEDICAL_PHARMACIES_AND_SUPPLEMENTS"
    assert got[4][0] == "FOOD_AND_DRINK_GROCERIES"
    again = CategoryModel.from_json(m.to_json())
    assert again.predict(["rats apotheke"]) == [got[3]]


# -- evaluation --------------------------------------------------------------------------

def test_evaluate_scores_should_abstain_lines_apart() -> None:
    y_true = ["FOOD_AND_DRINK_COFFEE", "FOOD_AND_DRINK_GROCERIES", UNCATEGORISED, UNCATEGORISED,
              "TRANSPORTATION_GAS"]
    y_pred = ["FOOD_AND_DRINK_COFFEE", "FOOD_AND_DRINK_RESTAURANT", None,
              "FOOD_AND_DRINK_COFFEE", None]
    r = evaluate(y_true, y_pred)
    assert r["n"] == 3
    assert r["accuracy"] == pytest.approx(1 / 3)
    assert r["coverage"] == pytest.approx(2 / 3)
    assert r["primary_accuracy"] == pytest.approx(2 / 3)  # restaurant is still food and drink
    assert r["should_abstain"] == 2 and r["abstention"] == 0.5
    assert evaluate(["FOOD_AND_DRINK_COFFEE"], [None])["abstention"] is None


def test_read_labelled_csv_with_merchant_and_marker(tmp_path: Path) -> None:
    p = tmp_path / "l.csv"
    p.write_text("description,amount,category,merchant\nSTARBUCKS 1,4.5,FOOD_AND_DRINK_COFFEE,"
                 "starbucks\nPOS DEBIT 1,3,UNCATEGORISED,generic-pos\n")
    df = read_labelled_csv(p)
    assert list(df.columns) == ["description", "amount", "category", "merchant"]
    assert df["category"].tolist() == ["FOOD_AND_DRINK_COFFEE", UNCATEGORISED]
    p.write_text("description,amount,category,merchant\nSTARBUCKS 1,4.5,FOOD_AND_DRINK_COFFEE\n")
    with pytest.raises(ValueError, match="line 2: expected 4 fields"):
        read_labelled_csv(p)
    p.write_text("description,amount,category,shop\nX,1,FOOD_AND_DRINK_COFFEE,x\n")
    with pytest.raises(ValueError, match="line 1: header"):
        read_labelled_csv(p)


# -- the corpus --------------------------------------------------------------------------

def _corpus(part: str) -> list[dict[str, str]]:
    from pipelines.categories.reference import CHECK_SET

    with open(CHECK_SET if part == "dev" else CORPUS / "test.csv", newline="",
              encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_corpus_is_split_by_merchant_and_covers_the_taxonomy() -> None:
    dev, test = _corpus("dev"), _corpus("test")
    assert len(dev) + len(test) >= 1_500
    assert len(test) >= 500
    named = {r["merchant"] for r in dev if not r["merchant"].startswith("generic")}
    assert not named & {r["merchant"] for r in test}
    assert not {r["description"] for r in dev} & {r["description"] for r in test}
    both = dev + test
    primaries = {primary_of(r["category"]) for r in both if r["category"] != UNCATEGORISED}
    assert primaries == {c["category_primary"] for c in categories()}
    detailed = {r["category"] for r in both} - {UNCATEGORISED}
    assert len(detailed) >= 0.9 * len(categories())
    assert sum(r["category"] == UNCATEGORISED for r in test) >= 30
    from pipelines.categories.reference import CHECK_SET

    read_labelled_csv(CHECK_SET)  # what categorise-eval reads
    read_labelled_csv(CORPUS / "test.csv")


def test_corpus_lines_are_in_many_formats() -> None:
    text = " ".join(r["description"].upper() for r in _corpus("dev") + _corpus("test"))
    for marker in ("SQ *", "TST*", "PAYPAL *", "AMZN MKTP", "CHECKCARD", "PURCHASE AUTHORIZED ON",
                   "POS DEBIT", "DES:", "ID:", "DIRECT DEBIT", "STANDING ORDER", "FASTER PAYMENT",
                   "LASTSCHRIFT", "GIROCARD", "VIREMENT", "PAIEMENT CB", "PRLV", "BEA", "GEA",
                   "BIZUM", "XXXX"):
        assert marker in text, marker
    amounts = Counter(float(r["amount"]) < 0 for r in _corpus("dev") + _corpus("test"))
    assert amounts[True] > 100 and amounts[False] > 1000  # the partner's sign: money in < 0


# -- the engine and the plain-Python layers agree ----------------------------------------

def _engine(spark, lines: list[tuple[str, float]], model) -> dict[int, dict]:
    """The engine's decision per line index: seed rules, pattern rules, ``model``."""
    from pipelines.categories.categorise import categorise
    from pipelines.categories.merchants import normalise
    from pipelines.categories.reference import PATTERN_SCHEMA

    rows = spark.createDataFrame(
        [("u", i, normalise(d).key, d, float(a)) for i, (d, a) in enumerate(lines)],
        "user_id string, row_id int, merchant_key string, description string, amount double")
    rules = spark.createDataFrame(merchant_rules(), "merchant_key string, category string, "
                                  "source string, version int, votes int")
    overrides = spark.createDataFrame([], "user_id string, merchant_key string, category string")
    out = categorise(rows, overrides, rules, model,
                     patterns=spark.createDataFrame(pattern_rules(), PATTERN_SCHEMA))
    return {r["row_id"]: r.asDict() for r in out.collect()}


@pytest.mark.integration
def test_engine_and_local_layers_agree_on_the_dev_corpus(spark) -> None:
    """``finlake categorise-eval`` (the engine: Spark joins, RLIKE, the model batches) and
    :class:`LocalCategoriser` (what the bench and the training report use) decide alike."""
    from pipelines.categories.local import LocalCategoriser
    from pipelines.categories.reference import CHECK_SET
    from pipelines.categories.training import reference_model

    df = read_labelled_csv(CHECK_SET)
    model = reference_model()
    local = LocalCategoriser.seeded(model).decide(
        df["description"].tolist(), None, df["amount"].tolist())
    got = _engine(spark, list(zip(df["description"], df["amount"], strict=True)), model)
    differ = [(df["description"][i], d.category, got[i]["category"])
              for i, d in enumerate(local)
              if (d.category, d.source) != (got[i]["category"], got[i]["category_source"])]
    assert not differ, differ[:10]
    assert Counter(d.source for d in local)["model"] > 0


@pytest.mark.integration
def test_engine_lets_a_first_pattern_yield_to_a_rule_of_its_primary(spark) -> None:
    got = _engine(spark, [(d, a) for d, a, _ in FIRST_PATTERN_LINES], None)
    assert [got[i]["category"] for i in range(len(FIRST_PATTERN_LINES))] == \
        [c for _, _, c in FIRST_PATTERN_LINES]


@pytest.mark.integration
def test_the_engines_primary_of_a_code_is_primary_of(spark) -> None:
    from pyspark.sql import functions as F

    from pipelines.categories.categorise import _primary

    codes = [c["category"] for c in categories()] + [
        c["category_primary"] for c in categories()] + [
        "MY_OWN_CATEGORY", "TRANSFER_INTO_SAVINGS", "FOOD_AND_DRINKS", "", None]
    df = spark.createDataFrame([(c,) for c in codes], "code string")
    got = [r[0] for r in df.select(_primary(F.col("code"))).collect()]
    assert got == [None if c is None else primary_of(c) for c in codes]


@pytest.mark.integration
def test_a_rule_key_longer_than_the_prefix_limit_still_matches_itself(spark) -> None:
    """The engine tries a key's first eight word-prefixes; a longer key (a crowd rule from a
    long SEPA purpose line) must still find its own exact rule, as the local layers do."""
    from pipelines.categories.categorise import MAX_PREFIX_WORDS, key_rule_matches
    from pipelines.categories.local import LocalCategoriser

    long_key = " ".join(f"w{i}" for i in range(MAX_PREFIX_WORDS + 3))
    rules = [{"merchant_key": long_key, "category": "GENERAL_SERVICES_EDUCATION",
              "source": "crowd", "version": 1, "votes": 3}]
    keys = spark.createDataFrame([(long_key,), (long_key + " extra",)], "merchant_key string")
    got = {r["merchant_key"]: r["_r_category"] for r in key_rule_matches(
        keys, spark.createDataFrame(rules, "merchant_key string, category string, "
                                    "source string, version int, votes int")).collect()}
    assert got == {long_key: "GENERAL_SERVICES_EDUCATION"}
    local = LocalCategoriser(rules, [])
    assert local.rule(long_key) == ("GENERAL_SERVICES_EDUCATION", "crowd")
    assert local.rule(long_key + " extra") is None  # a prefix past the limit: as the engine
