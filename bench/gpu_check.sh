#!/usr/bin/env bash
# GPU check of the pure embedding and ranking core, run from the repo root on a CUDA machine that
# has torch and sentence-transformers but neither Django nor our model package nor network:
#
#   PYTHONUNBUFFERED=1 bash bench/gpu_check.sh 2>&1 | tee $OUT/gpu.log
#
# It reads .gpu/ (git-ignored), prepared on the development machine as bench/README.md says:
# .gpu/model (fp16 model), .gpu/data/arxiv (recorded pages), .gpu/site/defusedxml.
# Every step runs even if one before failed: one device call should bring back all it can.
set -uo pipefail

export PYTHONPATH=".:.gpu/site${PYTHONPATH:+:$PYTHONPATH}" HF_HUB_OFFLINE=1
PYTHON=${PYTHON:-python3}
EMBED_N=${EMBED_N:-50000}

nvidia-smi -L
timeout 150 "$PYTHON" - <<'EOF' || echo "CHECKS FAILED (exit $?)"
import time
from pathlib import Path

import numpy as np
import sentence_transformers
import tokenizers
import torch
import transformers

from bench.embed import recorded_texts, repeated
from digest.services.embedding.embedder import Embedder, resolve_device
from bench.rank import make_case, WEIGHTS
from digest.services.ranking.personal import rank_for_readers

print(
    f"torch {torch.__version__}, sentence-transformers {sentence_transformers.__version__}, "
    f"transformers {transformers.__version__}, tokenizers {tokenizers.__version__}"
)
assert resolve_device("auto") == "cuda", resolve_device("auto")
print("resolve_device('auto') -> cuda: ok")

texts = recorded_texts(Path(".gpu/data"))
gpu = Embedder(model_name=".gpu/model", device="cuda", batch_size=256)
cpu = Embedder(model_name=".gpu/model", device="cpu", batch_size=64)
dtype = next(gpu._model.parameters()).dtype
assert dtype == torch.float16, dtype
on_gpu, on_cpu = gpu.encode(texts[:96]), cpu.encode(texts[:96])
cosine = (on_gpu * on_cpu).sum(axis=1)
print(f"fp16 on CUDA vs fp32 on CPU, 96 abstracts: min cosine {cosine.min():.6f}")
assert on_gpu.dtype == np.float32 and cosine.min() > 0.999

# Where the time goes, if the pipeline falls short: its two halves measured apart.
many = repeated(texts, 20_000)
started = time.perf_counter()
gpu._tokenizer.encode_batch_fast(many)
encode_batch_rate = len(many) / (time.perf_counter() - started)
started = time.perf_counter()
batches = list(gpu._batches(many))  # already in pinned memory
tokenize_rate = len(many) / (time.perf_counter() - started)
with torch.inference_mode():
    for batch in batches[:4]:
        gpu._forward(batch)
    torch.cuda.synchronize()
    started = time.perf_counter()
    for batch in batches:
        gpu._forward(batch)
    torch.cuda.synchronize()
forward_rate = len(many) / (time.perf_counter() - started)
print(f"Rust encode_batch_fast alone, all cores:          {encode_batch_rate:,.0f} texts/s")
print(f"tokenise + pad alone (background threads' work):  {tokenize_rate:,.0f} texts/s")
print(f"forward alone on pre-tokenised pinned batches:    {forward_rate:,.0f} texts/s")
for batch_size in (128, 256, 512, 1024):
    embedder = Embedder(model_name=".gpu/model", device="cuda", batch_size=batch_size)
    embedder.encode(many[:2048])
    started = time.perf_counter()
    embedder.encode(many)
    rate = len(many) / (time.perf_counter() - started)
    print(f"Embedder.encode, batch size {batch_size}: {rate:,.0f} texts/s")

case = {**make_case(5000, 500), "k": 10, "weights": WEIGHTS, "chunk_size": 1024}
on_gpu = rank_for_readers(**case, device="cuda")
on_cpu = rank_for_readers(**case, device="cpu")
agree = (on_gpu.indices == on_cpu.indices).float().mean().item()
print(f"rank_for_readers CUDA vs CPU: {agree:.4%} of picks identical")
assert agree > 0.999
EOF

timeout 200 "$PYTHON" bench/embed.py --device cuda --model .gpu/model --data-dir .gpu/data \
    --n "$EMBED_N" --batch-size 256 --repeats 3 || echo "EMBED BENCH FAILED (exit $?)"
timeout 90 "$PYTHON" bench/rank.py --device cuda --sizes 10000 100000 1000000 ||
    echo "RANK BENCH FAILED (exit $?)"
timeout 60 "$PYTHON" bench/rank.py --device cuda --sizes 1000000 --chunk-size 32768 ||
    echo "RANK BENCH (large chunks) FAILED (exit $?)"
