"""Derive an openai-whisper checkpoint from CTranslate2 (faster-whisper) Whisper weights.

The only Whisper weights that install offline come as CTranslate2 folders (``model.bin`` +
``config.json``). openai-whisper needs a PyTorch state dict; the mapping is exact (see
``../shared/notes/ct2-whisper-format.md``), so the derived model loads with ``strict=True``.
"""

from __future__ import annotations

import base64
import gzip
import json
import re
import struct
from collections.abc import Iterator
from pathlib import Path

import numpy as np

_DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16}


class _Reader:
    def __init__(self, data: bytes):
        self.data = memoryview(data)
        self.pos = 0

    def unpack(self, fmt: str):
        values = struct.unpack_from("<" + fmt, self.data, self.pos)
        self.pos += struct.calcsize("<" + fmt)
        return values if len(values) > 1 else values[0]

    def string(self) -> str:
        length = self.unpack("H")
        raw = bytes(self.data[self.pos : self.pos + length])
        self.pos += length
        return raw.rstrip(b"\0").decode("utf-8")

    def raw(self, n: int) -> memoryview:
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk


def read_ct2_variables(model_bin: Path) -> dict[str, np.ndarray]:
    """Every variable of a CTranslate2 ``model.bin`` (binary version 6), aliases resolved."""
    reader = _Reader(model_bin.read_bytes())
    version = reader.unpack("I")
    if version != 6:
        raise ValueError(f"{model_bin}: CTranslate2 binary version {version} is not supported (expected 6)")
    spec = reader.string()
    if spec != "WhisperSpec":
        raise ValueError(f"{model_bin}: holds a {spec!r}, not Whisper weights")
    reader.unpack("I")  # spec revision
    variables: dict[str, np.ndarray] = {}
    for _ in range(reader.unpack("I")):
        name = reader.string()
        rank = reader.unpack("B")
        shape = [reader.unpack("I") for _ in range(rank)]
        dtype_id = reader.unpack("B")
        if dtype_id not in _DTYPES:
            raise ValueError(f"{model_bin}: variable {name} has unsupported dtype id {dtype_id}")
        nbytes = reader.unpack("I")
        array = np.frombuffer(reader.raw(nbytes), dtype=_DTYPES[dtype_id]).reshape(shape)
        variables[name] = array
    for _ in range(reader.unpack("I")):
        alias, target = reader.string(), reader.string()
        variables[alias] = variables[target]
    return variables


def _layer_indices(variables: dict[str, np.ndarray], stack: str) -> list[int]:
    # "encoder/layer_norm" also starts with "encoder/layer_": count only numbered layers.
    pattern = re.compile(rf"^{stack}/layer_(\d+)/")
    return sorted({int(m.group(1)) for name in variables if (m := pattern.match(name))})


def _scalar(variables: dict[str, np.ndarray], name: str) -> int:
    return int(np.asarray(variables[name]).reshape(-1)[0])


def _split_qkv(weight: np.ndarray, bias: np.ndarray, parts: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    d = weight.shape[0] // parts
    for i in range(parts):
        yield weight[i * d : (i + 1) * d], bias[i * d : (i + 1) * d]


def _attention(variables: dict[str, np.ndarray], src: str, dst: str, fused_kv_only: bool) -> dict[str, np.ndarray]:
    """Map one CT2 attention block onto openai-whisper's query/key/value/out linears."""
    out: dict[str, np.ndarray] = {}
    if fused_kv_only:  # cross attention: linear_0 = query, linear_1 = key|value, linear_2 = out
        out[f"{dst}.query.weight"] = variables[f"{src}/linear_0/weight"]
        out[f"{dst}.query.bias"] = variables[f"{src}/linear_0/bias"]
        (kw, kb), (vw, vb) = _split_qkv(variables[f"{src}/linear_1/weight"], variables[f"{src}/linear_1/bias"], 2)
        proj = f"{src}/linear_2"
    else:  # self attention: linear_0 = query|key|value, linear_1 = out
        (qw, qb), (kw, kb), (vw, vb) = _split_qkv(
            variables[f"{src}/linear_0/weight"], variables[f"{src}/linear_0/bias"], 3
        )
        out[f"{dst}.query.weight"], out[f"{dst}.query.bias"] = qw, qb
        proj = f"{src}/linear_1"
    if np.any(kb != 0):
        raise ValueError(f"{src}: non-zero key bias cannot be represented in openai-whisper")
    out[f"{dst}.key.weight"] = kw
    out[f"{dst}.value.weight"], out[f"{dst}.value.bias"] = vw, vb
    out[f"{dst}.out.weight"] = variables[f"{proj}/weight"]
    out[f"{dst}.out.bias"] = variables[f"{proj}/bias"]
    return out


def _block(variables: dict[str, np.ndarray], src: str, dst: str, cross: bool) -> dict[str, np.ndarray]:
    out = _attention(variables, f"{src}/self_attention", f"{dst}.attn", fused_kv_only=False)
    out[f"{dst}.attn_ln.weight"] = variables[f"{src}/self_attention/layer_norm/gamma"]
    out[f"{dst}.attn_ln.bias"] = variables[f"{src}/self_attention/layer_norm/beta"]
    if cross:
        out |= _attention(variables, f"{src}/attention", f"{dst}.cross_attn", fused_kv_only=True)
        out[f"{dst}.cross_attn_ln.weight"] = variables[f"{src}/attention/layer_norm/gamma"]
        out[f"{dst}.cross_attn_ln.bias"] = variables[f"{src}/attention/layer_norm/beta"]
    for i, j in ((0, 0), (1, 2)):
        out[f"{dst}.mlp.{j}.weight"] = variables[f"{src}/ffn/linear_{i}/weight"]
        out[f"{dst}.mlp.{j}.bias"] = variables[f"{src}/ffn/linear_{i}/bias"]
    out[f"{dst}.mlp_ln.weight"] = variables[f"{src}/ffn/layer_norm/gamma"]
    out[f"{dst}.mlp_ln.bias"] = variables[f"{src}/ffn/layer_norm/beta"]
    return out


def ct2_to_openai_whisper(model_dir: Path) -> dict:
    """An openai-whisper checkpoint dict (``dims``, ``model_state_dict``, ``alignment_heads``)."""
    import torch

    variables = read_ct2_variables(model_dir / "model.bin")
    enc_layers = _layer_indices(variables, "encoder")
    dec_layers = _layer_indices(variables, "decoder")
    state: dict[str, np.ndarray] = {}
    for name in ("conv1", "conv2"):
        state[f"encoder.{name}.weight"] = variables[f"encoder/{name}/weight"]
        state[f"encoder.{name}.bias"] = variables[f"encoder/{name}/bias"]
    state["encoder.positional_embedding"] = variables["encoder/position_encodings/encodings"]
    for i in enc_layers:
        state |= _block(variables, f"encoder/layer_{i}", f"encoder.blocks.{i}", cross=False)
    state["encoder.ln_post.weight"] = variables["encoder/layer_norm/gamma"]
    state["encoder.ln_post.bias"] = variables["encoder/layer_norm/beta"]
    state["decoder.token_embedding.weight"] = variables["decoder/embeddings/weight"]
    state["decoder.positional_embedding"] = variables["decoder/position_encodings/encodings"]
    for i in dec_layers:
        state |= _block(variables, f"decoder/layer_{i}", f"decoder.blocks.{i}", cross=True)
    state["decoder.ln.weight"] = variables["decoder/layer_norm/gamma"]
    state["decoder.ln.bias"] = variables["decoder/layer_norm/beta"]

    conv1 = variables["encoder/conv1/weight"]
    n_audio_state, n_mels = conv1.shape[0], conv1.shape[1]
    n_vocab, n_text_state = variables["decoder/embeddings/weight"].shape
    dims = {
        "n_mels": int(n_mels),
        "n_audio_ctx": int(variables["encoder/position_encodings/encodings"].shape[0]),
        "n_audio_state": int(n_audio_state),
        "n_audio_head": _scalar(variables, "encoder/num_heads"),
        "n_audio_layer": len(enc_layers),
        "n_vocab": int(n_vocab),
        "n_text_ctx": int(variables["decoder/position_encodings/encodings"].shape[0]),
        "n_text_state": int(n_text_state),
        "n_text_head": _scalar(variables, "decoder/num_heads"),
        "n_text_layer": len(dec_layers),
    }
    config = json.loads((model_dir / "config.json").read_text())
    mask = np.zeros((dims["n_text_layer"], dims["n_text_head"]), dtype=bool)
    for layer, head in config.get("alignment_heads", []):
        mask[layer, head] = True
    return {
        "dims": dims,
        "model_state_dict": {k: torch.from_numpy(np.array(v, dtype=np.float32)) for k, v in state.items()},
        # openai-whisper's own encoding of the heads used for word timestamps
        "alignment_heads": base64.b85encode(gzip.compress(mask.tobytes())).decode("ascii"),
    }
