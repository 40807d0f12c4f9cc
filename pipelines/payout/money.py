"""Money is typed: ISO 4217 currencies with their own minor units, exact bounded amounts, canonical periods.

Every check raises ``MoneyError`` with one line naming the bad value; none
of them lets an amount through as a float, an infinity or a rounding.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal, InvalidOperation

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
_MONTH = re.compile(r"\A(\d{4})-(\d{2})\Z")
_RANGE = re.compile(r"\A(\d{4}-\d{2}-\d{2})/(\d{4}-\d{2}-\d{2})\Z")


class MoneyError(ValueError):
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


def to_minor(amount: str, currency: str) -> int:
    """to_minor converts a decimal amount in major units to exact minor units of ``currency``."""
    exp = EXPONENTS[check_currency(currency)]
    try:
        value = Decimal(amount.strip())
    except (InvalidOperation, AttributeError):
        raise MoneyError(f"revenue {amount!r} is not a decimal number") from None
    if not value.is_finite():
        raise MoneyError(f"revenue {amount!r} is not a finite number")
    if value.adjusted() > 20:
        raise MoneyError(f"revenue {amount!r} is over {MAX_MINOR} minor units")
    minor = value.scaleb(exp)
    if minor != minor.to_integral_value():
        raise MoneyError(f"revenue {amount} {currency} has more than {exp} decimal place(s)")
    return check_minor(int(minor))


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
