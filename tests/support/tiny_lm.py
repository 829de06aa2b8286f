"""A tiny causal LM made on the spot (random GPT-2 + a BPE tokenizer trained here).

Nothing is downloaded. The text it writes is gibberish; tests check the OpenAI contract.
"""

from __future__ import annotations

from pathlib import Path

import torch
import transformers
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

EOS = "<|endoftext|>"
CORPUS = [
    "the top quark decays to a W boson and a b quark",
    "jets are clustered with the anti-kt algorithm and a radius of 0.4",
    "User: what is the mass of the Z boson? Assistant: about 91 GeV",
    "System: you are a helpful physics assistant",
    "the Higgs boson was discovered at the LHC in 2012",
]


def save_tiny_model(directory: Path) -> None:
    tok = Tokenizer(models.BPE())
    # Byte-level pieces decode back to the exact text, spaces included. No initial alphabet:
    # only characters seen in the corpus, so every generated token decodes to plain ASCII.
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(CORPUS, trainers.BpeTrainer(vocab_size=160, special_tokens=[EOS]))
    fast = transformers.PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=EOS)
    fast.save_pretrained(directory)
    eos_id = fast.convert_tokens_to_ids(EOS)
    config = transformers.GPT2Config(
        n_layer=2,
        n_embd=32,
        n_head=2,
        n_positions=128,
        vocab_size=len(fast),
        bos_token_id=eos_id,
        eos_token_id=eos_id,
    )
    torch.manual_seed(0)
    model = transformers.GPT2LMHeadModel(config)
    with torch.no_grad():
        # The LM head is tied to the input embeddings: a zero row gives EOS a logit of 0, below
        # the largest random logit, so greedy decoding runs to max_tokens (finish "length").
        model.transformer.wte.weight[eos_id].zero_()
    model.save_pretrained(directory)
