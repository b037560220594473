"""Pick the compute device: CUDA when present and allowed, the CPU otherwise."""

from __future__ import annotations


def cuda_available(runtime: str) -> bool:
    """Whether ``runtime`` ("torch" or "ctranslate2") sees a CUDA GPU."""
    if runtime == "ctranslate2":
        import ctranslate2

        return ctranslate2.get_cuda_device_count() > 0
    import torch

    return torch.cuda.is_available()


def resolve_device(device: str, runtime: str = "torch") -> str:
    """ "auto" → "cuda" when the runtime sees a GPU, else "cpu"; "cuda" without a GPU is an error."""
    if device not in ("auto", "cpu", "cuda"):
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda', not {device!r}")
    if device == "cpu":
        return "cpu"
    has_cuda = cuda_available(runtime)
    if device == "cuda" and not has_cuda:
        raise RuntimeError(f"device='cuda' was requested but {runtime} sees no CUDA GPU on this machine")
    return "cuda" if has_cuda else "cpu"


def check_device(device: str, runtime: str = "torch") -> None:
    """Fail where ``resolve_device`` would, probing the runtime only where that can happen: "auto" and
    "cpu" always resolve, so a step that only checks its settings does not import torch for them."""
    if device not in ("auto", "cpu"):
        resolve_device(device, runtime)
