#!/usr/bin/python3
"""Writes the model the speed comparisons use (docs/RESULTS.md, issue 14): TinyLlama's layer
shapes (hidden 2048, FFN 5632, 32/4 heads, 8 layers: 486.6 M parameters), random N(0, 0.02)
bf16 weights, untied lm_head, and the Mistral v0.3 sentencepiece tokenizer (vocab 32768) so that
llama.cpp's converter reads it too. Seeded: the same bytes every time.

    /usr/bin/python3 scripts/make-speed-model.py OUT_FOLDER [--layers N] [--hidden H --ffn F]

Needs Debian's python3-torch (a fixture generator, not part of the product or its build).
"""
import argparse
import json
import os
import shutil
import struct

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
TOKENIZER = os.path.join(HERE, "..", "..", "shared", "data", "tokenizers", "mistral-7b-v0.3",
                         "tokenizer.model")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--layers", type=int, default=8)
    ap.add_argument("--hidden", type=int, default=2048)
    ap.add_argument("--ffn", type=int, default=5632)
    ap.add_argument("--heads", type=int, default=32)
    ap.add_argument("--kv-heads", type=int, default=4)
    ap.add_argument("--tokenizer", default=TOKENIZER)
    a = ap.parse_args()
    vocab, hd = 32768, a.hidden // a.heads
    os.makedirs(a.out, exist_ok=False)
    cfg = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": vocab,
           "hidden_size": a.hidden, "intermediate_size": a.ffn, "num_hidden_layers": a.layers,
           "num_attention_heads": a.heads, "num_key_value_heads": a.kv_heads,
           "max_position_embeddings": 2048, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
           "tie_word_embeddings": False, "torch_dtype": "bfloat16", "hidden_act": "silu",
           "bos_token_id": 1, "eos_token_id": 2}
    with open(os.path.join(a.out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    shapes = [("model.embed_tokens.weight", (vocab, a.hidden))]
    for l in range(a.layers):
        p = f"model.layers.{l}."
        shapes += [(p + "input_layernorm.weight", (a.hidden,)),
                   (p + "post_attention_layernorm.weight", (a.hidden,)),
                   (p + "self_attn.q_proj.weight", (a.heads * hd, a.hidden)),
                   (p + "self_attn.k_proj.weight", (a.kv_heads * hd, a.hidden)),
                   (p + "self_attn.v_proj.weight", (a.kv_heads * hd, a.hidden)),
                   (p + "self_attn.o_proj.weight", (a.hidden, a.heads * hd)),
                   (p + "mlp.gate_proj.weight", (a.ffn, a.hidden)),
                   (p + "mlp.up_proj.weight", (a.ffn, a.hidden)),
                   (p + "mlp.down_proj.weight", (a.hidden, a.ffn))]
    shapes += [("model.norm.weight", (a.hidden,)), ("lm_head.weight", (vocab, a.hidden))]
    header, offset = {}, 0
    for name, shape in shapes:
        n = 2 * int(torch.tensor(shape).prod())
        header[name] = {"dtype": "BF16", "shape": list(shape), "data_offsets": [offset, offset + n]}
        offset += n
    blob = json.dumps(header).encode()
    blob += b" " * (-len(blob) % 8)
    g = torch.Generator().manual_seed(1234)
    with open(os.path.join(a.out, "model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(blob)) + blob)
        for name, shape in shapes:
            t = torch.ones(shape) if "norm" in name else torch.randn(shape, generator=g) * 0.02
            f.write(t.to(torch.bfloat16).view(torch.int16).numpy().tobytes())
    shutil.copyfile(a.tokenizer, os.path.join(a.out, "tokenizer.model"))
    with open(os.path.join(a.out, "tokenizer_config.json"), "w") as f:
        json.dump({"bos_token": "<s>", "eos_token": "</s>", "add_bos_token": True}, f)


if __name__ == "__main__":
    main()
