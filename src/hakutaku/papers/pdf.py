"""The text of a PDF, page by page (pypdf, BSD-licensed)."""

from __future__ import annotations

import io
import logging

from hakutaku.errors import PlatformError

PDF_MAGIC = b"%PDF-"

# pypdf logs every recoverable oddity of real-world PDFs; the text is what matters here.
logging.getLogger("pypdf").setLevel(logging.ERROR)


def check_pdf(data: bytes, name: str) -> None:
    """Refuse, with a clear message, bytes that are not a PDF file."""
    if not data.lstrip()[:1024].startswith(PDF_MAGIC) and PDF_MAGIC not in data[:1024]:
        raise PlatformError(
            f"{name!r} is not a PDF file (it does not start with %PDF-). Papers takes PDF files "
            "only; convert the document to PDF first.",
            param="file",
            code="not_a_pdf",
            status=415,
        )


def page_texts(data: bytes, name: str) -> list[str]:
    """The extracted text of each page (page 1 first); a PDF pypdf cannot read is refused."""
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    check_pdf(data, name)
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise PlatformError(
                f"{name!r} is encrypted; upload a copy without a password.",
                param="file",
                code="encrypted_pdf",
            )
        return [page.extract_text() or "" for page in reader.pages]
    except (PyPdfError, ValueError, KeyError, TypeError) as exc:  # malformed PDFs vary
        raise PlatformError(
            f"{name!r} could not be read as a PDF ({exc}); is the file complete?",
            param="file",
            code="unreadable_pdf",
        ) from None
