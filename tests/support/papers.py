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


# Two more notes for the retrieval bench (bench/chat.py): questions are asked of all three
# papers at once, so a hit needs the right paper and the right page.
TAGGER_PAGES = [
    "Jet tagging overview. Boosted top quarks decay into three collimated subjets that a "
    "single large-radius jet contains. We compare taggers on simulated samples.",
    "Particle flow network. The network treats the jet constituents as an unordered set and "
    "sums per-particle embeddings, which makes it invariant under permutations.",
    "Training. The models were trained for twenty epochs with the Adam optimiser on one "
    "million jets, with a learning rate of 0.001 and batches of 512 jets.",
    "Performance. At a signal efficiency of thirty percent the background rejection of the "
    "transformer reaches one thousand, twice that of the energy flow network.",
]
TAGGER_QUESTIONS = [
    Question("Why is the particle flow network invariant under permutations?", 2),
    Question("Which optimiser and learning rate were used in training?", 3),
    Question("What background rejection does the transformer reach?", 4),
    Question("How many subjets does a boosted top quark produce?", 1),
]
TRIGGER_PAGES = [
    "The trigger system. Collisions happen forty million times per second; the first level "
    "trigger in custom hardware keeps one hundred thousand events per second.",
    "High level trigger. A farm of thirty thousand processor cores runs a simplified "
    "reconstruction and writes about one thousand events per second to storage.",
    "Data quality. Shifters in the control room inspect histograms of every run and flag "
    "luminosity sections with detector problems as bad for physics.",
    "Computing grid. Raw data are copied to tier one centres on three continents; user "
    "analyses run at more than one hundred tier two sites.",
]
TRIGGER_QUESTIONS = [
    Question("How many events per second does the first level trigger keep?", 1),
    Question("How many processor cores does the high level trigger farm have?", 2),
    Question("Who flags luminosity sections as bad for physics?", 3),
    Question("Where are raw data copied to?", 4),
]
DOCUMENTS = {
    "top-mass-note.pdf": (NOTE_PAGES, NOTE_QUESTIONS),
    "jet-tagging-note.pdf": (TAGGER_PAGES, TAGGER_QUESTIONS),
    "trigger-note.pdf": (TRIGGER_PAGES, TRIGGER_QUESTIONS),
}
