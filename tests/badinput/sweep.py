#!/usr/bin/python3
"""Bad-input sweep: builds hostile-but-ordinary inputs from the fixture models, runs the release
`hqq` on each under a timeout and a memory limit, and sorts the outcomes:

  named-error   exit 2 with a one-line message (no backtrace, no raw library exception text)
  ok            exit 0 where success is the right answer (e.g. --threads 100000 is capped)
  crash         killed by a signal (segfault, SIGFPE, abort, out-of-memory kill)
  accepted-bad  exit 0 where an error was expected
  timeout       still running at the time limit (unbounded work)
  unclear       any other exit (1, or 2 with a backtrace / raw exception text), or a source changed

Exit status 0 only when there is no crash, accepted-bad, timeout or unclear case. Needs only the
Python standard library (no torch), so it runs wherever the product's tests run.
Usage: sweep.py --hqq build/release/bin/hqq --fixtures tests/fixtures [--jobs 2] [--timeout 20]
"""
import argparse
import concurrent.futures
import hashlib
import json
import os
import resource
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time

BAD_TEXT = ("Exception raised from", "json.exception", "terminate called", "what():",
            "Traceback", "0.000000 to 1797")


# ---------------------------------------------------------------- safetensors helpers
def read_st(path):
    with open(path, "rb") as f:
        b = f.read()
    (n,) = struct.unpack("<Q", b[:8])
    header = json.loads(b[8:8 + n])
    return header, b[8 + n:]


def write_st(path, header, data):
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + data)


def write_raw_st(path, header_bytes, data=b""):
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(header_bytes)) + header_bytes + data)


def tensor_bytes(header, data, name):
    b, e = header[name]["data_offsets"]
    return data[b:e]


def set_tensor_values(path, name, fill):
    """Overwrites tensor `name` (F32/BF16/F16) of a safetensors file with fill(i) values."""
    header, data = read_st(path)
    e = header[name]
    b, end = e["data_offsets"]
    dt = e["dtype"]
    size = {"F32": 4, "BF16": 2, "F16": 2}[dt]
    out = bytearray(data)
    for i in range((end - b) // size):
        v = fill(i)
        if dt == "F32":
            out[b + 4 * i:b + 4 * i + 4] = struct.pack("<f", v)
        elif dt == "BF16":
            out[b + 2 * i:b + 2 * i + 2] = struct.pack("<f", v)[2:]
        else:
            out[b + 2 * i:b + 2 * i + 2] = struct.pack("<e", v)
    write_st(path, header, bytes(out))


def single_file(model_dir):
    return os.path.join(model_dir, "model.safetensors")


def hash_tree(path):
    h = {}
    for root, _, files in os.walk(path):
        for f in files:
            p = os.path.join(root, f)
            with open(p, "rb") as fh:
                h[os.path.relpath(p, path)] = hashlib.sha256(fh.read()).hexdigest()
    return h


# ---------------------------------------------------------------- the cases
class Case:
    def __init__(self, name, args, expect="error", guard=None, stdin=None):
        self.name, self.args, self.expect, self.guard, self.stdin = name, args, expect, guard, stdin


def build_cases(fx, work, hqq):
    cases = []
    chat = os.path.join(fx, "models", "llama_chat_tok1000")
    gqa = os.path.join(fx, "models", "llama_gqa_fp32")
    text = os.path.join(work, "train.txt")
    with open(text, "w") as f:
        f.write(("In the beginning God created the heaven and the earth. " * 40 + "\n") * 20)

    def copy(src, name):
        d = os.path.join(work, name)
        shutil.copytree(src, d)
        return d

    def out(name):
        return os.path.join(work, "out-" + name)

    # -- config.json edits: info and quantize on each
    def edited(name, edit, base=chat):
        d = copy(base, "cfg-" + name)
        with open(os.path.join(d, "config.json")) as f:
            j = json.load(f)
        edit(j)
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump(j, f)
        return d

    def setk(k, v):
        return lambda j: j.__setitem__(k, v)

    config_edits = {
        "hidden-2^32": setk("hidden_size", 2**32), "hidden-0": setk("hidden_size", 0),
        "hidden-neg": setk("hidden_size", -64), "hidden-str": setk("hidden_size", "64"),
        "hidden-float": setk("hidden_size", 64.5), "hidden-2^63": setk("hidden_size", 2**63 - 1),
        "hidden-128": setk("hidden_size", 128), "layers-1e9": setk("num_hidden_layers", 10**9),
        "layers-3": setk("num_hidden_layers", 3), "layers-0": setk("num_hidden_layers", 0),
        "layers-2^40": setk("num_hidden_layers", 2**40), "heads-0": setk("num_attention_heads", 0),
        "heads-3": setk("num_attention_heads", 3), "heads-2^31": setk("num_attention_heads", 2**31),
        "heads-8": setk("num_attention_heads", 8), "kv-3": setk("num_key_value_heads", 3),
        "kv-1e9": setk("num_key_value_heads", 10**9), "headdim-3": setk("head_dim", 3),
        "headdim-2^30": setk("head_dim", 2**30), "headdim-32": setk("head_dim", 32),
        "ffn-4096": setk("intermediate_size", 4096), "ffn-2^40": setk("intermediate_size", 2**40),
        "vocab-1200": setk("vocab_size", 1200), "vocab-500": setk("vocab_size", 500),
        "vocab-2^40": setk("vocab_size", 2**40), "eps-neg": setk("rms_norm_eps", -1e-5),
        "eps-0": setk("rms_norm_eps", 0), "eps-str": setk("rms_norm_eps", "small"),
        "eps-2": setk("rms_norm_eps", 2.0), "theta-0": setk("rope_theta", 0),
        "theta-neg": setk("rope_theta", -10000), "theta-tiny": setk("rope_theta", 1e-300),
        "maxpos-0": setk("max_position_embeddings", 0),
        "maxpos-2^40": setk("max_position_embeddings", 2**40),
        "rope-str": setk("rope_scaling", "linear"),
        "rope-yarn": setk("rope_scaling", {"type": "yarn", "factor": 2}),
        "rope-factor0": setk("rope_scaling", {"type": "linear", "factor": 0}),
        "rope-llama3-bad": setk("rope_scaling", {"rope_type": "llama3", "factor": 8,
                                                 "low_freq_factor": 4, "high_freq_factor": 1}),
        "rope-type-num": setk("rope_scaling", {"type": 3}),
        "type-num": setk("model_type", 7), "type-gpt2": setk("model_type", "gpt2"),
        "type-null": setk("model_type", None), "act-gelu": setk("hidden_act", "gelu"),
        "tie-str": setk("tie_word_embeddings", "yes"), "dtype-num": setk("torch_dtype", 16),
        "partial-rotary": setk("partial_rotary_factor", 0.5),
    }
    for name, edit in config_edits.items():
        d = edited(name, edit)
        cases.append(Case("config/%s/info" % name, ["info", d]))
        cases.append(Case("config/%s/quantize" % name, ["-q", "quantize", d, "-o", out(name)],
                          guard=d))

    # -- config.json as a file: malformed, deep, wrong kind
    def config_text(name, data, mode="w"):
        d = copy(chat, "json-" + name)
        with open(os.path.join(d, "config.json"), mode) as f:
            f.write(data)
        return d

    json_files = {
        "deep-array": "[" * 200000 + "]" * 200000,
        "deep-object": '{"a":' * 100000 + "1" + "}" * 100000,
        "deep-unclosed": "[" * 500000,
        "empty": "", "truncated": '{"hidden_size": 64, "model_', "array": "[1, 2, 3]",
        "nan": '{"hidden_size": NaN}', "garbage": "\x00\x01\x02\xff", "string": '"llama"',
        "bom": "\ufeff{}", "huge-number": '{"hidden_size": 1e999}',
    }
    for name, data in json_files.items():
        d = config_text(name, data)
        cases.append(Case("json/%s/info" % name, ["info", d]))
    d = copy(chat, "json-dir")
    os.remove(os.path.join(d, "config.json"))
    os.mkdir(os.path.join(d, "config.json"))
    cases.append(Case("json/config-is-folder/info", ["info", d]))

    # -- safetensors hostility
    def st_case(name, mutate, base=chat, cmds=("info", "generate")):
        d = copy(base, "st-" + name)
        mutate(d)
        for c in cmds:
            if c == "info":
                cases.append(Case("st/%s/info" % name, ["info", d]))
            elif c == "generate":
                cases.append(Case("st/%s/generate" % name, ["-q", "generate", d, "-p", "hi", "-n", "2"]))
            elif c == "quantize":
                cases.append(Case("st/%s/quantize" % name,
                                  ["-q", "quantize", d, "-o", out("st-" + name)], guard=d))

    def truncate(d):
        p = single_file(d)
        os.truncate(p, os.path.getsize(p) // 2)

    def header_len_huge(d):
        p = single_file(d)
        with open(p, "r+b") as f:
            f.write(struct.pack("<Q", 2**62))

    def header_len_beyond(d):
        p = single_file(d)
        with open(p, "r+b") as f:
            f.write(struct.pack("<Q", os.path.getsize(p)))

    def header_not_json(d):
        write_raw_st(single_file(d), b"this is not json")

    def header_deep(d):
        write_raw_st(single_file(d), b"[" * 300000 + b"]" * 300000)

    def header_edit(fn):
        def m(d):
            h, data = read_st(single_file(d))
            fn(h)
            write_st(single_file(d), h, data)
        return m

    def overlap(h):
        h["model.norm.weight"]["data_offsets"] = [0, h["model.norm.weight"]["data_offsets"][1]
                                                  - h["model.norm.weight"]["data_offsets"][0]]

    def bad_dtype(h):
        h["model.norm.weight"]["dtype"] = "F8_E4M3"

    def bad_shape(h):
        h["model.norm.weight"]["shape"] = [65]

    def huge_shape(h):
        h["model.norm.weight"]["shape"] = [2**40, 2**40]

    def neg_shape(h):
        h["model.norm.weight"]["shape"] = [-64]

    def drop_tensor(h):
        del h["model.layers.1.mlp.down_proj.weight"]

    def zero_file(d):
        open(single_file(d), "w").close()

    def nan_weights(d):
        set_tensor_values(single_file(d), "model.layers.0.self_attn.q_proj.weight",
                          lambda i: float("nan"))

    def huge_weights(d):
        set_tensor_values(single_file(d), "model.layers.0.mlp.up_proj.weight",
                          lambda i: 3e38 if i % 2 else -3e38)

    def inf_weights(d):
        set_tensor_values(single_file(d), "model.layers.1.self_attn.o_proj.weight",
                          lambda i: float("inf"))

    def embed_rows(h):
        # Embeddings that do not match vocab_size: one row short (bytes re-pointed consistently
        # is hard; shrink the shape and the byte range of the last tensor instead).
        pass

    st_case("truncated", truncate)
    st_case("header-len-2^62", header_len_huge)
    st_case("header-len-beyond", header_len_beyond)
    st_case("header-not-json", header_not_json)
    st_case("header-deep", header_deep)
    st_case("overlap", header_edit(overlap))
    st_case("dtype-f8", header_edit(bad_dtype))
    st_case("shape-mismatch", header_edit(bad_shape))
    st_case("shape-huge", header_edit(huge_shape))
    st_case("shape-negative", header_edit(neg_shape))
    st_case("missing-tensor", header_edit(drop_tensor))
    st_case("zero-length", zero_file)
    st_case("nan-weights", nan_weights, cmds=("quantize",))
    st_case("huge-weights", huge_weights, cmds=("quantize",))
    st_case("inf-weights", inf_weights, cmds=("quantize",))

    # Embeddings of 999 rows (vocab_size 1000): rewrite the file with the shorter tensor.
    d = copy(chat, "st-embed-rows")
    h, data = read_st(single_file(d))
    newh, parts, off = {}, [], 0
    for k, v in h.items():
        if k == "__metadata__":
            newh[k] = v
            continue
        b = tensor_bytes(h, data, k)
        if k == "model.embed_tokens.weight":
            row = len(b) // v["shape"][0]
            b = b[:row * (v["shape"][0] - 1)]
            v = dict(v, shape=[v["shape"][0] - 1, v["shape"][1]])
        newh[k] = dict(v, data_offsets=[off, off + len(b)])
        parts.append(b)
        off += len(b)
    write_st(single_file(d), newh, b"".join(parts))
    cases.append(Case("st/embed-999-rows/info", ["info", d]))
    cases.append(Case("st/embed-999-rows/quantize", ["-q", "quantize", d, "-o", out("emb")],
                      guard=d))

    # Sharded: a tensor in both shards; an index naming a missing or escaping shard.
    d = copy(gqa, "shard-dup")
    s1, s2 = (os.path.join(d, "model-0000%d-of-00002.safetensors" % i) for i in (1, 2))
    h1, d1 = read_st(s1)
    h2, d2 = read_st(s2)
    emb = tensor_bytes(h1, d1, "model.embed_tokens.weight")
    h2["model.embed_tokens.weight"] = dict(h1["model.embed_tokens.weight"],
                                           data_offsets=[len(d2), len(d2) + len(emb)])
    write_st(s2, h2, d2 + emb)
    cases.append(Case("shard/duplicate/info", ["info", d]))
    cases.append(Case("shard/duplicate/quantize", ["-q", "quantize", d, "-o", out("dup")], guard=d))
    for name, target in (("missing", "model-00009-of-00009.safetensors"),
                         ("escape", "../model.safetensors"), ("empty", "")):
        d = copy(gqa, "shard-" + name)
        ip = os.path.join(d, "model.safetensors.index.json")
        with open(ip) as f:
            j = json.load(f)
        j["weight_map"]["model.norm.weight"] = target
        with open(ip, "w") as f:
            json.dump(j, f)
        cases.append(Case("shard/index-%s/info" % name, ["info", d]))
    d = copy(gqa, "shard-index-deep")
    with open(os.path.join(d, "model.safetensors.index.json"), "w") as f:
        f.write('{"weight_map":' * 100000 + "{}" + "}" * 100000)
    cases.append(Case("shard/index-deep/info", ["info", d]))

    # -- a quantized model (made by hqq itself) for export and adapter cases
    q = os.path.join(work, "q")
    r = subprocess.run([hqq, "-q", "quantize", chat, "-o", q, "--preset", "4bit-g64"],
                       capture_output=True, timeout=120)
    if r.returncode != 0:
        sys.exit("cannot make the quantized fixture: " + r.stderr.decode())

    def q_copy(name, fn):
        d = copy(q, "q-" + name)
        fn(d)
        return d

    def nan_scale(d):
        p = single_file(d)
        h, _ = read_st(p)
        name = "model.layers.0.self_attn.q_proj.scale"
        set_tensor_values(p, name, lambda i: float("nan"))

    def inf_zero(d):
        set_tensor_values(single_file(d), "model.layers.1.mlp.up_proj.zero", lambda i: float("inf"))

    for name, fn in (("nan-scale", nan_scale), ("inf-zero", inf_zero)):
        d = q_copy(name, fn)
        cases.append(Case("quantized/%s/generate" % name, ["-q", "generate", d, "-p", "hi", "-n", "2"]))
        cases.append(Case("quantized/%s/export" % name,
                          ["-q", "export-dequantized", d, "-o", out("exp-" + name)], guard=d))

    # -- adapters
    def adapter(name, cfg=None, tensors=None, nan=False):
        d = os.path.join(work, "ad-" + name)
        os.makedirs(d)
        c = {"peft_type": "LORA", "r": 2, "lora_alpha": 4, "target_modules": ["q_proj"]}
        if cfg:
            c.update(cfg)
        with open(os.path.join(d, "adapter_config.json"), "w") as f:
            json.dump(c, f)
        p = "base_model.model.model.layers.0.self_attn.q_proj."
        a = [0.01] * 128
        b = [0.02] * 128
        if nan:
            b[3] = float("nan")
        t = tensors or {p + "lora_A.weight": ([2, 64], a), p + "lora_B.weight": ([64, 2], b)}
        header, data = {}, b""
        for k, (shape, vals) in t.items():
            raw = struct.pack("<%df" % len(vals), *vals)
            header[k] = {"dtype": "F32", "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
            data += raw
        write_st(os.path.join(d, "adapter_model.safetensors"), header, data)
        return d

    p = "base_model.model.model.layers.0.self_attn.q_proj."
    adapters = {
        "nan": adapter("nan", nan=True),
        "r-str": adapter("r-str", {"r": "2"}),
        "r-0": adapter("r-0", {"r": 0}),
        "alpha-str": adapter("alpha-str", {"lora_alpha": "four"}),
        "rank-pattern-str": adapter("rank-pattern-str", {"rank_pattern": {"q_proj": "eight"}}),
        "alpha-pattern-str": adapter("alpha-pattern-str", {"alpha_pattern": {"q_proj": [1]}}),
        "peft-ia3": adapter("peft-ia3", {"peft_type": "IA3"}),
        "dropout-str": adapter("dropout-str", {"lora_dropout": "none"}),
        "dora": adapter("dora", {"use_dora": True}),
        "shape": adapter("shape", tensors={p + "lora_A.weight": ([2, 63], [0.0] * 126),
                                           p + "lora_B.weight": ([64, 2], [0.0] * 128)}),
        "no-b": adapter("no-b", tensors={p + "lora_A.weight": ([2, 64], [0.0] * 128)}),
        "missing": os.path.join(work, "no-such-adapter"),
        "file": text,
    }
    for name, d in adapters.items():
        cases.append(Case("adapter/%s/generate" % name,
                          ["-q", "--adapter", d, "generate", chat, "-p", "hi", "-n", "2"]))
        cases.append(Case("adapter/%s/export" % name,
                          ["-q", "export-dequantized", q, "-o", out("merge-" + name),
                           "--merge-adapter", d], guard=q))

    # -- outputs over sources (must be refused, sources unchanged)
    src = copy(chat, "src")
    rel = os.path.relpath(src)
    link = os.path.join(work, "src-link")
    os.symlink(src, link)
    for name, o in (("same", src), ("slash", src + "/"), ("relative", rel), ("parent", work),
                    ("inside", os.path.join(src, "sub")), ("symlink", link),
                    ("dotdot", os.path.join(src, "..", "src"))):
        cases.append(Case("output/quantize-%s" % name,
                          ["-q", "quantize", src, "-o", o, "--overwrite"], guard=src))
    qsrc = copy(q, "qsrc")
    for name, o in (("same", qsrc), ("parent", work), ("inside", os.path.join(qsrc, "x"))):
        cases.append(Case("output/export-%s" % name,
                          ["-q", "export-dequantized", qsrc, "-o", o, "--overwrite"], guard=qsrc))
        cases.append(Case("output/finetune-%s" % name,
                          ["-q", "finetune", qsrc, "--data", text, "-o", o, "--overwrite",
                           "--steps", "1", "--batch", "1", "--seq-len", "16"], guard=qsrc))
    cases.append(Case("output/unwritable", ["-q", "quantize", chat, "-o", "/proc/hqq-x"]))
    cases.append(Case("output/parent-missing", ["-q", "quantize", chat, "-o",
                                                os.path.join(work, "no", "such", "dir")]))
    cases.append(Case("output/is-a-file", ["-q", "quantize", chat, "-o", text, "--overwrite"],
                      guard=text))

    # -- options
    ft = ["-q", "finetune", chat, "--data", text, "-o", out("ft"), "--batch", "1", "--seq-len", "16"]
    opts = {
        "threads-100000": (["--threads", "100000", "-q", "generate", chat, "-p", "hi", "-n", "2"], "ok"),
        "threads-neg": (["--threads", "-3", "info", chat], "error"),
        "ctx-0": (["ppl", chat, "--text", text, "--ctx", "0"], "error"),
        "batch-0": (["ppl", chat, "--text", text, "--batch", "0"], "error"),
        "ctx-huge": (["ppl", chat, "--text", text, "--ctx", "100000"], "error"),
        "dtype-fp16": (["--dtype", "fp16", "-q", "generate", chat, "-p", "hi", "-n", "2"], "error"),
        "iters-1e9": (["-q", "quantize", chat, "-o", out("it"), "--iters", "1000000000"], "error"),
        "bits-5": (["-q", "quantize", chat, "-o", out("b5"), "--bits", "5"], "error"),
        "group-7": (["-q", "quantize", chat, "-o", out("g7"), "--group-size", "7"], "error"),
        "lr-1e30": (ft + ["--steps", "5", "--lr", "1e30", "--warmup", "0", "--clip", "0"], "error"),
        "lr-nan": (ft + ["--steps", "2", "--lr", "nan"], "error"),
        "steps-0": (ft + ["--steps", "0"], "error"),
        "seq-len-0": (ft + ["--steps", "1", "--seq-len", "0"], "error"),
        "seq-len-huge": (ft + ["--steps", "1", "--seq-len", "60000"], "error"),
        "text-is-folder": (["ppl", chat, "--text", work], "error"),
        "model-is-file": (["info", text], "error"),
        "model-missing": (["info", os.path.join(work, "nothing-here")], "error"),
        # quantized embeddings / lm_head: widths, one tied matrix with two formats, a group
        # larger than the hidden size (64), a plan value out of range
        "embed-bits-3": (["-q", "quantize", chat, "-o", out("e3"), "--embed-bits", "3"], "error"),
        "embed-head-conflict": (["-q", "quantize", chat, "-o", out("eh"), "--embed-bits", "4",
                                 "--lm-head-bits", "8"], "error"),
        "lm-head-group": (["-q", "quantize", gqa, "-o", out("lh"), "--lm-head-bits", "8"], "error"),
        "plan-embed-bits": (["-q", "quantize", chat, "-o", out("pe"), "--plan",
                             config_text("plan-embed", '{"embed_bits": 5}') + "/config.json"],
                            "error"),
        "plan-deep": (["-q", "quantize", chat, "-o", out("plan"), "--plan",
                       config_text("plan", "[" * 100000 + "]" * 100000) + "/config.json"], "error"),
    }
    for name, (args, expect) in opts.items():
        cases.append(Case("option/%s" % name, args, expect=expect))

    # -- training data
    def data_file(name, content, mode="w"):
        p = os.path.join(work, name)
        with open(p, mode) as f:
            f.write(content)
        return p

    big_line = data_file("big.jsonl", '{"text": "' + ("word " * (8 * 1024 * 1024 // 5)) + '"}\n')
    datas = {
        "bad-line": (data_file("bad.jsonl", '{"text": "a"}\n{"text": \n'), "error"),
        "deep-line": (data_file("deep.jsonl", "[" * 200000 + "]" * 200000 + "\n"), "error"),
        "no-text-key": (data_file("nokey.jsonl", '{"body": "a"}\n'), "error"),
        "empty": (data_file("empty.txt", ""), "error"),
        "folder": (work + "/", "error"),
        "chat-bad": (data_file("chat.jsonl", '{"messages": "hi"}\n'), "error"),
        "missing": (os.path.join(work, "nope.txt"), "error"),
        "big-single-line": (big_line, "ok"),
    }
    for name, (path, expect) in datas.items():
        cases.append(Case("data/%s" % name,
                          ["-q", "finetune", chat, "--data", path, "-o", out("d-" + name),
                           "--steps", "1", "--batch", "1", "--seq-len", "16"], expect=expect))
    return cases


# ---------------------------------------------------------------- running
def limit(mem_mb):
    def f():
        b = mem_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (b, b))
        os.setsid()
    return f


def run_case(hqq, case, timeout, mem_mb):
    before = hash_tree(case.guard) if case.guard and os.path.isdir(case.guard) else None
    before_file = None
    if case.guard and os.path.isfile(case.guard):
        with open(case.guard, "rb") as f:
            before_file = hashlib.sha256(f.read()).hexdigest()
    t0 = time.time()
    p = subprocess.Popen([hqq] + case.args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, preexec_fn=limit(mem_mb))
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.communicate()
        return "timeout", "", time.time() - t0
    secs = time.time() - t0
    err = err.decode(errors="replace")
    changed = False
    if before is not None:
        changed = hash_tree(case.guard) != before
    if before_file is not None:
        with open(case.guard, "rb") as f:
            changed = hashlib.sha256(f.read()).hexdigest() != before_file
    if changed:
        return "unclear", "SOURCE CHANGED " + err[-300:], secs
    if p.returncode < 0:
        return "crash", "signal %d %s" % (-p.returncode, err[-300:]), secs
    clean = not any(t in err for t in BAD_TEXT)
    if case.expect == "ok":
        return ("ok" if p.returncode == 0 else "unclear"), err[-300:], secs
    if p.returncode == 0:
        return "accepted-bad", err[-300:], secs
    if p.returncode == 2 and clean and err.strip():
        return "named-error", err.strip().splitlines()[-1][:200], secs
    return "unclear", "exit %d %s" % (p.returncode, err[-300:]), secs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--hqq", required=True)
    ap.add_argument("--fixtures", required=True)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=30)
    ap.add_argument("--mem-mb", type=int, default=6144)
    ap.add_argument("--verbose", action="store_true")
    a = ap.parse_args()
    hqq = os.path.abspath(a.hqq)
    fixtures = os.path.abspath(a.fixtures)
    work = tempfile.mkdtemp(prefix="hqq-badinput-")
    try:
        os.chdir(work)  # relative output paths resolve here
        cases = build_cases(fixtures, work, hqq)
        counts, failures = {}, []
        t0 = time.time()
        with concurrent.futures.ThreadPoolExecutor(a.jobs) as pool:
            futures = {pool.submit(run_case, hqq, c, a.timeout, a.mem_mb): c for c in cases}
            for fut in concurrent.futures.as_completed(futures):
                c = futures[fut]
                kind, msg, secs = fut.result()
                counts[kind] = counts.get(kind, 0) + 1
                if kind not in ("named-error", "ok"):
                    failures.append((c.name, kind, msg))
                if a.verbose or kind not in ("named-error", "ok"):
                    print("%-13s %5.1fs %s: %s" % (kind, secs, c.name, msg.replace("\n", " | ")),
                          flush=True)
        print("bad-input sweep: %d cases in %.0f s" % (len(cases), time.time() - t0))
        for k in ("named-error", "ok", "crash", "accepted-bad", "timeout", "unclear"):
            print("  %-13s %d" % (k, counts.get(k, 0)))
        for name, kind, msg in sorted(failures):
            print("FAIL %s [%s]: %s" % (name, kind, msg.replace("\n", " | ")))
        return 1 if failures else 0
    finally:
        os.chdir("/")
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
