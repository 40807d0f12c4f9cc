"""PII: Presidio with the installed spaCy model, no network, counts and never values."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from pipelines.core.config import PIIConfig
from pipelines.stages.anonymise import Engines, anonymise_batch, build_engines, redact_texts

TEXT = (
    "Seen John Smith today; call 212-555-0147 or +1 836 448 8048, email john.smith@example.com, "
    "card 5555 5555 5555 4444 and Mastercard 2223 0000 4841 0010."
)


@pytest.fixture(scope="module")
def engines() -> Iterator[Engines]:
    real_connect = socket.socket.connect

    def no_network(self: socket.socket, address: object) -> None:
        raise AssertionError(f"network access attempted: {address}")

    socket.socket.connect = no_network  # type: ignore[method-assign]
    try:
        eng = build_engines(PIIConfig(operators={"DEFAULT": "replace", "EMAIL_ADDRESS": "mask"}), b"s" * 32)
        redact_texts([TEXT], eng)  # email and URL paths call tldextract: must stay offline
        yield eng
    finally:
        socket.socket.connect = real_connect  # type: ignore[method-assign]


def test_planted_pii_is_removed_and_counted(engines: Engines) -> None:
    [(text, counts)] = redact_texts([TEXT], engines)
    for secret in (
        "John Smith",
        "212-555-0147",
        "836 448 8048",
        "john.smith@example.com",
        "5555 5555 5555 4444",
        "2223 0000 4841 0010",
    ):
        assert secret not in text
    assert "<PERSON>" in text and "<PHONE_NUMBER>" in text and "<CREDIT_CARD>" in text
    assert "*" * len("john.smith@example.com") in text
    assert counts == {"CREDIT_CARD": 2, "EMAIL_ADDRESS": 1, "PERSON": 1, "PHONE_NUMBER": 2}


def test_clean_text_is_untouched(engines: Engines) -> None:
    clean = "Blood pressure 121/89, pulse 68, temperature 36.1 C; review in two weeks."
    assert redact_texts([clean], engines) == [(clean, {})]


def test_allow_list_and_hash_operator_are_deterministic() -> None:
    cfg = PIIConfig(entities=["EMAIL_ADDRESS"], operators={"DEFAULT": "hash"}, allow_list=["help@clinic.org"])
    eng = build_engines(cfg, b"k" * 32)
    text = "Write to help@clinic.org or to ana@example.com"
    [(a, ca)] = redact_texts([text], eng)
    [(b, _)] = redact_texts([text], build_engines(cfg, b"k" * 32))
    assert a == b and "help@clinic.org" in a and "ana@example.com" not in a and ca == {"EMAIL_ADDRESS": 1}


def test_batch_scrubs_every_text_field(engines: Engines) -> None:
    batch = [{"id": "1", "fields": {"a": "Mail ana@example.com", "b": "Call 212-555-0147", "n": 3}}]
    [out] = anonymise_batch(batch, ["a", "b"], engines)
    assert "ana@example.com" not in out["fields"]["a"] and "212-555-0147" not in out["fields"]["b"]
    assert out["fields"]["n"] == 3 and out["pii"] == {"EMAIL_ADDRESS": 1, "PHONE_NUMBER": 1}
    assert batch[0]["fields"]["a"] == "Mail ana@example.com"  # input not mutated
