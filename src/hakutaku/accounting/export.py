"""A statement as CSV, for spreadsheets and bills: one row per line, then one per total.

The numbers are the statement's own decimal strings (the same as the API's JSON), so a
spreadsheet sums to the printed total.
"""

from __future__ import annotations

import csv
import io

from hakutaku.accounting.statements import Statement

CSV_COLUMNS = (
    "period",
    "account",
    "resource",
    "unit",
    "quantity",
    "credit",
    "billable",
    "unit_price",
    "price_resource",
    "currency",
    "charge",
)
TOTAL = "total"  # the `resource` of the rows that carry a currency's total


def statement_csv(st: Statement) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")  # RFC 4180
    writer.writerow(CSV_COLUMNS)
    for line in st.lines:
        writer.writerow(
            (
                st.period,
                line.account or "",
                line.resource,
                line.unit,
                str(line.quantity),
                str(line.credit),
                str(line.billable),
                str(line.unit_price),
                line.price_resource or "",
                line.currency or "",
                str(line.charge),
            )
        )
    for currency, amount in sorted(st.totals.items()):
        writer.writerow((st.period, "", TOTAL, "", "", "", "", "", "", currency, str(amount)))
    return out.getvalue()


def statement_filename(st: Statement) -> str:
    """statement-2025-03.csv, statement-2025-03-cms.csv, statement-2025-03-alice.csv."""
    whose = "-".join(part for part in (st.user, st.account) if part)
    return f"statement-{st.period}{'-' + whose if whose else ''}.csv"
