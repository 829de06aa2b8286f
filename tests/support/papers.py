"""Multi-page PDFs made on the spot (reportlab), whose answers sit on known pages."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path


def write_pdf(path: Path, pages: list[str]) -> Path:
    """A PDF with one page per text (wrapped lines of 11 pt Helvetica)."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen.canvas import Canvas

    canvas = Canvas(str(path), pagesize=A4)
    _, height = A4
    for text in pages:
        y = height - 72
        for paragraph in text.split("\n"):
            for line in textwrap.wrap(paragraph, 90) or [""]:
                canvas.setFont("Helvetica", 11)
                canvas.drawString(60, y, line)
                y -= 15
        canvas.showPage()
    canvas.save()
    return path


@dataclass(frozen=True)
class Question:
    text: str
    page: int  # where the answer is (1-based)


# A short analysis note: each page is about one thing, so each question has one right page.
NOTE_PAGES = [
    "Introduction. This note describes a measurement performed with proton-proton collisions "
    "recorded by the detector during the second run of the accelerator. We summarise the "
    "event selection, the calibration of the calorimeters and the statistical treatment.",
    "Detector and calibration. The silicon tracker has four layers of pixel sensors and the "
    "electromagnetic calorimeter is made of lead tungstate crystals. The jet energy scale was "
    "calibrated with photon plus jet events to a precision of one percent.",
    "Results. The measured mass of the top quark is 172.5 GeV with a total uncertainty of "
    "0.7 GeV, obtained from a template fit to the invariant mass of three jets in "
    "lepton plus jets events.",
    "Conclusions and outlook. Future runs with higher luminosity will reduce the statistical "
    "uncertainty; the collaboration thanks the accelerator teams and the computing centres.",
]
NOTE_QUESTIONS = [
    Question("What is the measured mass of the top quark?", 3),
    Question("How many layers of pixel sensors does the silicon tracker have?", 2),
    Question("What material is the electromagnetic calorimeter made of?", 2),
    Question("Which collisions were recorded for this measurement?", 1),
    Question("How will future runs with higher luminosity help?", 4),
]
