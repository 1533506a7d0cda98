"""Write an fp16 copy of a local sentence-transformers model (default: the bundled one) for a GPU
machine that has sentence-transformers but not our model package, and takes 64 MiB at most.

    .venv/bin/python bench/export_fp16_model.py            # -> .gpu/model, about 45 MB

The model's own files are copied as they are and only the weights are rewritten in fp16:
`SentenceTransformer.save` would write this machine's sentence-transformers config format,
which an older release over there may not read; the original files load in every release.
The Embedder widens the weights back to fp32 on a CPU.
"""

import argparse
import shutil
from pathlib import Path

from safetensors.torch import load_file, save_file

from digest.services.embedding.embedder import DEFAULT_MODEL, resolve_model_path

WEIGHTS = "model.safetensors"
ROOT = Path(__file__).resolve().parents[1]


def export_fp16(source: Path, target: Path) -> int:
    """Copy `source` to `target` with fp16 weights; returns the size written in bytes."""
    if not (source / WEIGHTS).is_file():
        raise SystemExit(f"{source} has no {WEIGHTS}: give a local model directory")
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(source, target, ignore=shutil.ignore_patterns(WEIGHTS, "README.md"))
    weights = load_file(source / WEIGHTS)
    half = {
        name: tensor.half() if tensor.is_floating_point() else tensor
        for name, tensor in weights.items()
    }
    save_file(half, target / WEIGHTS, metadata={"format": "pt"})
    return sum(path.stat().st_size for path in target.rglob("*") if path.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=DEFAULT_MODEL, help="model name or local path")
    parser.add_argument("--out", type=Path, default=ROOT / ".gpu" / "model")
    args = parser.parse_args()
    size = export_fp16(Path(resolve_model_path(args.model)), args.out)
    print(f"wrote {args.out} ({size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
