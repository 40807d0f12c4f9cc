"""Money is typed: ISO 4217 currencies with their own minor units, exact bounded amounts, canonical periods.

Every check raises ``MoneyError`` with one line naming the bad value; none
of them lets an amount through as a float, an infinity or a rounding.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

from pipelines.core.errors import BadInput

# ISO 4217 active codes (list one, 2025) by minor-unit exponent; funds and metals without minor units are left out.
_BY_EXPONENT = {
    0: "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF",
    3: "BHD IQD JOD KWD LYD OMR TND",
    4: "CLF UYW",
    2: (
        "AED AFN ALL AMD AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BOV BRL BSD BTN BWP BYN BZD CAD CDF "
        "CHE CHF CHW CNY COP COU CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GTQ "
        "GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD KZT LAK LBP LKR LRD LSL MAD MDL MGA MKD "
        "MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD PAB PEN PGK PHP PKR PLN QAR RON "
        "RSD RUB SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TOP TRY TTD TWD TZS "
        "UAH USD USN UYU UZS VED VES WST XCD XCG YER ZAR ZMW ZWG"
    ),
}
EXPONENTS: dict[str, int] = {code: exp for exp, codes in _BY_EXPONENT.items() for code in codes.split()}
MAX_MINOR = 10**15  # a quadrillion minor units: far above any revenue, far below I-JSON's 2**53
_AMOUNT = re.compile(r"\A-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)\Z")  # [0-9]: \d and Decimal take other scripts' digits
_MONTH = re.compile(r"\A(\d{4})-(\d{2})\Z")
_RANGE = re.compile(r"\A(\d{4}-\d{2}-\d{2})/(\d{4}-\d{2}-\d{2})\Z")


class MoneyError(BadInput):
    """An amount, currency or period is not acceptable; the message is one line naming it."""


def check_currency(code: str) -> str:
    """check_currency returns ``code`` if it is an ISO 4217 currency code (upper case), else MoneyError."""
    if code not in EXPONENTS:
        hint = f"; did you mean {code.upper()}?" if code.upper() in EXPONENTS else ""
        raise MoneyError(f"currency {code!r} is not an ISO 4217 code (e.g. EUR, USD, JPY){hint}")
    return code


def check_minor(value: int) -> int:
    """check_minor accepts a whole number of minor units in ``0 .. MAX_MINOR``."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_MINOR:
        raise MoneyError(f"revenue {value!r} minor units is not a whole number between 0 and {MAX_MINOR}")
    return value


def to_minor(amount: str, currency: str, what: str = "revenue") -> int:
    """to_minor converts a plain decimal amount in major units (``12.34``) to exact minor units of ``currency``.

    Only digits with at most one decimal point (and a leading ``-``, refused
    as below zero) are amounts: no ``1_000`` (Python's digit grouping), no
    ``1e3``, ``1,000``, ``Infinity``, ``NaN`` or spaces inside. ``what``
    names the amount in errors (``revenue``, ``fee``).
    """
    exp = EXPONENTS[check_currency(currency)]
    if not isinstance(amount, str) or not _AMOUNT.match(amount):
        raise MoneyError(f"{what} {amount!r} is not a plain decimal amount such as 1234.56")
    value = Decimal(amount)
    if value.adjusted() > 20:
        raise MoneyError(f"{what} {amount!r} is over {MAX_MINOR} minor units")
    minor = value.scaleb(exp)
    if minor != minor.to_integral_value():
        raise MoneyError(f"{what} {amount} {currency} has more than {exp} decimal place(s)")
    if not 0 <= minor <= MAX_MINOR:
        raise MoneyError(f"{what} {amount} {currency} is not between 0 and {MAX_MINOR} minor units")
    return int(minor)


def minor_amount(text: str) -> int:
    """minor_amount parses a whole number of minor units written as plain digits (``--revenue-minor``)."""
    if not isinstance(text, str) or not re.fullmatch(r"[0-9]{1,40}", text):
        raise MoneyError(f"revenue {text!r} minor units is not plain digits such as 123456")
    return check_minor(int(text))


def check_period(period: str) -> str:
    """check_period accepts ``YYYY-MM`` or an ISO 8601 date range ``YYYY-MM-DD/YYYY-MM-DD`` (start <= end)."""
    if m := _MONTH.match(period):
        if 1 <= int(m.group(2)) <= 12 and int(m.group(1)) >= 1970:
            return period
    elif m := _RANGE.match(period):
        try:
            start, end = date.fromisoformat(m.group(1)), date.fromisoformat(m.group(2))
        except ValueError:
            raise MoneyError(f"period {period!r} names a date that does not exist") from None
        if start <= end and start.year >= 1970:
            return period
    raise MoneyError(f"period {period!r} is not YYYY-MM (e.g. 2026-11) or YYYY-MM-DD/YYYY-MM-DD")
