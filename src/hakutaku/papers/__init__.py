"""Papers: a user's PDFs, text per page, chunked, embedded with the platform's embedding model,
searched exactly with numpy, and asked through the chat model as the user (HaiChat).

pdf.py        text per page (pypdf); refuses what is not a PDF
chunks.py     pages → passages that never cross a page (so a citation names one page)
vectors.py    the per-user exact index: one float32 .npy file per paper
gateway.py    /v1 calls as the caller (same keys, metering and rate limits as theirs)
retrieval.py  retrieve(...) → passages with (file, page, text, score), and the ask prompt
service.py    add, list, delete, ask, translate; one user never sees another's papers
"""
