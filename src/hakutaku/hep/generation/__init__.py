"""Real jets from Pythia 8 + FastJet: process cards, generation, clustering, substructure.

    from hakutaku.hep.generation import generate, generate_chunk
    batch = generate_chunk("ttbar", 500, seed=1, mpi=False)        # a JetBatch in memory
    report = generate("qcd", 100_000, seed=1, out_dir="data", fmt="root", workers=8)

Processes (see `settings.PROCESSES`): "ttbar" (label "Tbqq") and "qcd" ("QCD") for top tagging,
anti-kT R = 0.8, 550 <= pT < 650 GeV, |eta| < 2; "zq" ("Zq") and "zg" ("Zg") for quark/gluon,
Z(-> nu nu) + jet, anti-kT R = 0.4, 500 <= pT < 550 GeV, |y| < 1.7. All at sqrt(s) = 14 TeV.

A batch (`hakutaku.hep.jets.JetBatch`) holds, per jet (float64 unless said): jet_pt, jet_eta
(pseudorapidity), jet_phi, jet_energy, jet_mass (the E-scheme sum of the constituents),
jet_sdmass (soft drop, beta = 0, z_cut = 0.1, C/A), jet_tau1..4 (N-subjettiness, beta = 1,
exclusive-kT axes), jet_nparticles (int64); per constituent, sorted by decreasing pT: part_px,
part_py, part_pz, part_energy (float64), part_pid (int32, PDG id), part_charge (float32, units
of e). Visible final-state particles only (no neutrinos); Pythia's default decays (K0S,
Lambda, ... decay). `meta` is the chunk's provenance.

Pythia and FastJet are imported only when events are made or jets clustered.
"""

from hakutaku.hep.generation.run import (
    DEFAULT_CHUNK_SIZE,
    GenerationConflict,
    RunReport,
    chunk_path,
    chunk_sizes,
    generate,
    generate_chunk,
    provenance_path,
    read_columns_npz,
    write_columns_npz,
)
from hakutaku.hep.generation.settings import (
    PROCESSES,
    JetSelection,
    ProcessCard,
    chunk_seed,
    get_card,
    pythia_settings,
)
from hakutaku.hep.generation.substructure import nsubjettiness, soft_drop_mass, substructure

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "PROCESSES",
    "GenerationConflict",
    "JetSelection",
    "ProcessCard",
    "RunReport",
    "chunk_path",
    "chunk_seed",
    "chunk_sizes",
    "generate",
    "generate_chunk",
    "get_card",
    "nsubjettiness",
    "provenance_path",
    "pythia_settings",
    "read_columns_npz",
    "soft_drop_mass",
    "substructure",
    "write_columns_npz",
]
