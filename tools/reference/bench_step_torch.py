#!/usr/bin/python3
"""bench_step_torch.py: the `bench step` MaMA training step in PyTorch, for the
comparisons of issue 7 (CPU; build/bench step --compare-torch runs it) and
issue 6 (GPU, --device cuda).

The same model as mama/model.cpp, built from the same run config: a DINOv2-style
ViT with registers (3-channel patch convolution, LayerScale, exact GELU), GPT-2
(eager attention with the causal and padding masks, attention/residual/embedding
dropout 0.1, gelu_new) with LoRA on c_attn and every base weight frozen, the
projection heads W_v, W_t, the local heads phi_v, phi_t (Linear-BN-ReLU-Linear-BN;
the reference's kernel-1 Conv1d is the same product), the multi-view head g, and
the four losses: CLIP in both directions (summed), NT-Xent (tau 0.5) between the
views' g outputs, partner CLIP, and SLA with hard maxima (symmetric).  AdamW
(torch.optim.AdamW, zero_grad(set_to_none=True)).  The batch is synthetic, built
like bench_step.h's (grayscale images repeated on 3 channels; captions of
sentences of 8 + (3i + m) mod 9 words closed by separator tokens), so the FLOP
count (bench_flops.h, repeated below) is the same.

Timing: wall and process-CPU time per phase (forward with the losses, backward,
optimizer step + zero_grad), median and minimum over the timed steps after a
warm-up; peak resident memory from getrusage and /proc/self/status.  The last
line "result: k=v ..." has the keys of build/bench step's, then the settings as
numbers (cuda, bf16, checkpoint, sdpa, tf32: 0 or 1) and peak_gpu_mib (0 on the
CPU).

On an NVIDIA GPU (issue 6: the same step, compared with build/bench on the same
machine), with --device cuda: model and batch on the GPU, a
torch.cuda.synchronize() before every timer read, peak GPU memory from
torch.cuda.max_memory_allocated over the timed steps.  --bf16 runs the towers and
heads under torch.autocast(bfloat16) with fp32 master weights and the loss maths
in fp32 (the engine's default mixed precision); activation checkpointing follows
the config's model.vit/text.checkpoint_every (blocks per segment, 0 = off; the
paper config checkpoints every 3 ViT blocks and every text block), with
--no-checkpoint / --checkpoint to override; attention is eager (the issue's
reference) unless --sdpa; --tf32 lets fp32 matmuls and convolutions use TF32.
For the paper configuration (any PyTorch with CUDA; --sdpa needs 2.1 or newer):
  python3 tools/reference/bench_step_torch.py --config mama/configs/paper.json \\
      --device cuda --bf16 --steps 5 --warmup 2
The same on a tiny config, built on the CPU so that the first loss can be
compared with a CPU run of the same command (fp32, no dropout in tiny.json):
  python3 tools/reference/bench_step_torch.py --config mama/configs/tiny.json \\
      --device cuda --init-on-cpu --steps 2 --warmup 1

Best setting (issue 7), 2 cores: what `bench step --compare-torch` runs (it
prints the command), e.g. on an AVX-512 CPU that OpenBLAS recognises:
  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE -u GOMP_SPINCOUNT OMP_WAIT_POLICY=PASSIVE \\
      OPENBLAS_NUM_THREADS=2 ATEN_CPU_CAPABILITY=avx512 OMP_NUM_THREADS=2 \\
      /usr/bin/python3 tools/reference/bench_step_torch.py
Where OpenBLAS does not recognise the CPU (0.3.21 on Intel Emerald Rapids picks
its SSE3 kernels: a step 5x slower) it sets OPENBLAS_CORETYPE=SkylakeX or
Haswell instead; see tools/bench_openblas.h.  ATEN_CPU_CAPABILITY=avx512 (where
the CPU has AVX-512) gives PyTorch 1.13 its AVX-512 elementwise kernels.
Default setting: /usr/bin/python3 tools/reference/bench_step_torch.py
Run from the repository root.  The CPU path runs with Debian's python3-torch
(1.13); --sdpa needs PyTorch 2.1 or newer (the scale= argument).
"""
import argparse
import contextlib
import json
import math
import os
import re
import resource
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.utils.checkpoint

VIT_PRESETS = {
    "vit_s14_reg4": dict(width=384, depth=12, heads=6),
    "vit_b14_reg4": dict(width=768, depth=12, heads=12),
    "vit_l14_reg4": dict(width=1024, depth=24, heads=16),
    "tiny": dict(image_size=56, width=32, depth=2, heads=2),
}
GPT2_PRESETS = {
    "gpt2": dict(),
    "biomedlm": dict(vocab=28896, width=2560, layers=32, heads=20, scale_attn_by_inverse_layer_idx=True),
    "tiny": dict(vocab=96, positions=64, width=32, layers=2, heads=4, scale_attn_by_inverse_layer_idx=True),
}


def load_config(path):
    """The keys of mama/config.cpp that shape the step, with the same defaults."""
    with open(path) as f:
        j = json.load(f)
    m, t = j.get("model", {}), j.get("train", {})
    jv, jt = dict(m.get("vit", {})), dict(m.get("text", {}))
    # checkpoint_every: blocks per activation-checkpointing segment (0 = off), as nn/vit.h and nn/gpt2.h;
    # sdpa: set by main() (--sdpa), not a config key
    vit = dict(image_size=518, patch=14, in_channels=3, width=768, depth=12, heads=12, mlp_ratio=4.0, registers=4,
               layerscale_init=1.0, checkpoint_every=0, sdpa=False)
    vit.update(VIT_PRESETS[jv.pop("preset", "vit_b14_reg4")])
    vit.update(jv)
    text = dict(vocab=50257, positions=1024, width=768, layers=12, heads=12, inner=0, gelu_new=True, embd_pdrop=0.1,
                attn_pdrop=0.1, resid_pdrop=0.1, scale_attn_by_inverse_layer_idx=False, checkpoint_every=0, sdpa=False)
    text.update(GPT2_PRESETS[jt.pop("preset", "biomedlm")])
    text.update(jt)
    cfg = dict(vit=vit, text=text, embed_dim=m.get("embed_dim", 512), local_hidden=m.get("local_hidden", 2048),
               mv_hidden=m.get("mv_hidden", 0), lora_r=m.get("lora_r", 8), lora_alpha=m.get("lora_alpha", 32.0),
               lora_dropout=m.get("lora_dropout", 0.1), lora_target=m.get("lora_target", "c_attn"),
               mv_weight=m.get("mv_weight", 1.0), tau=m.get("nt_xent_temperature", 0.5),
               symmetric_local=m.get("symmetric_local", True), image_size=t.get("image_size", 518),
               max_len=t.get("max_len", 144), batch=t.get("micro_batch", 36), lr=t.get("lr", 4e-5),
               weight_decay=t.get("weight_decay", 0.1), seed=t.get("seed", 42))
    assert cfg["lora_target"] == "c_attn", "only LoRA on c_attn is modelled"
    assert m.get("image_pool_mean", True) and m.get("text_pool_mean", True), "only mean pooling is modelled"
    return cfg


def _run_segment(blocks, x, *extra):
    for b in blocks:
        x = b(x, *extra)
    return x


def run_blocks(blocks, x, every, *extra):
    """The blocks in order; with every > 0 and autograd on, as the engine's checkpoint(): segments of `every`
    blocks keep only their input, and backward re-runs the segment's forward.  use_reentrant=False because the
    text tower's input does not require grad (every base weight is frozen; only LoRA trains), for which the
    reentrant form would give the LoRA weights no gradient at all (with only a warning); it also restores the autocast state and (by
    default, preserve_rng_state) the RNG state, so the re-run draws the same dropout masks."""
    if every <= 0 or not torch.is_grad_enabled():
        return _run_segment(blocks, x, *extra)
    for i in range(0, len(blocks), every):
        x = torch.utils.checkpoint.checkpoint(_run_segment, blocks[i:i + every], x, *extra, use_reentrant=False)
    return x


# ---- image tower: DINOv2 layout ----------------------------------------------------------
class ViTBlock(nn.Module):
    def __init__(self, D, H, Fh, ls, sdpa):
        super().__init__()
        self.H, self.sdpa = H, sdpa
        self.norm1, self.norm2 = nn.LayerNorm(D, eps=1e-6), nn.LayerNorm(D, eps=1e-6)
        self.qkv, self.proj = nn.Linear(D, 3 * D), nn.Linear(D, D)
        self.fc1, self.fc2 = nn.Linear(D, Fh), nn.Linear(Fh, D)
        self.ls1, self.ls2 = nn.Parameter(torch.full((D,), ls)), nn.Parameter(torch.full((D,), ls))

    def forward(self, x):
        B, T, D = x.shape
        hd = D // self.H
        q, k, v = self.qkv(self.norm1(x)).reshape(B, T, 3, self.H, hd).permute(2, 0, 3, 1, 4)
        if self.sdpa:  # default scale 1/sqrt(hd), no mask, no dropout
            o = F.scaled_dot_product_attention(q, k, v)
        else:
            o = torch.softmax((q * hd ** -0.5) @ k.transpose(-2, -1), dim=-1) @ v
        x = x + self.ls1 * self.proj(o.transpose(1, 2).reshape(B, T, D))
        return x + self.ls2 * self.fc2(F.gelu(self.fc1(self.norm2(x))))


class ViT(nn.Module):
    def __init__(self, c):
        super().__init__()
        D, p = c["width"], c["patch"]
        self.c = c
        self.patch_embed = nn.Conv2d(c["in_channels"], D, p, p)
        g = c["image_size"] // p
        self.cls_token = nn.Parameter(torch.zeros(1, 1, D))
        self.pos_embed = nn.Parameter(torch.randn(1, 1 + g * g, D) * 0.02)
        self.register_tokens = nn.Parameter(torch.zeros(1, c["registers"], D))
        Fh = int(round(D * c["mlp_ratio"]))
        self.blocks = nn.ModuleList(ViTBlock(D, c["heads"], Fh, c["layerscale_init"], c["sdpa"])
                                    for _ in range(c["depth"]))
        self.norm = nn.LayerNorm(D, eps=1e-6)

    def forward(self, img):
        B = img.shape[0]
        x = self.patch_embed(img)  # [B, D, gh, gw]
        gh, gw = x.shape[2], x.shape[3]
        x = x.flatten(2).transpose(1, 2)
        pos = self.pos_embed
        g = int(math.isqrt(pos.shape[1] - 1))
        if (gh, gw) != (g, g):  # DINOv2: bicubic, antialias, explicit size
            pp = pos[:, 1:].reshape(1, g, g, -1).permute(0, 3, 1, 2)
            pp = F.interpolate(pp, size=(gh, gw), mode="bicubic", antialias=True, align_corners=False)
            pos = torch.cat([pos[:, :1], pp.permute(0, 2, 3, 1).reshape(1, gh * gw, -1)], 1)
        x = torch.cat([self.cls_token.expand(B, -1, -1), x], 1) + pos
        x = torch.cat([x[:, :1], self.register_tokens.expand(B, -1, -1), x[:, 1:]], 1)
        x = run_blocks(self.blocks, x, self.c["checkpoint_every"])
        return x, self.norm(x)[:, 1 + self.c["registers"]:]  # prenorm, normalised patch tokens


# ---- text tower: GPT-2 with LoRA on c_attn --------------------------------------------------
class Conv1D(nn.Module):  # weight [in, out] as in GPT-2 checkpoints
    def __init__(self, i, o):
        super().__init__()
        self.weight, self.bias = nn.Parameter(torch.randn(i, o) * 0.02), nn.Parameter(torch.zeros(o))

    def forward(self, x):
        return torch.addmm(self.bias, x.reshape(-1, x.shape[-1]), self.weight).reshape(*x.shape[:-1], -1)


class LoRAConv1D(Conv1D):
    def __init__(self, i, o, r, alpha, p):
        super().__init__(i, o)
        self.lora_A = nn.Parameter(torch.empty(r, i).uniform_(-1 / math.sqrt(i), 1 / math.sqrt(i)))
        self.lora_B = nn.Parameter(torch.zeros(o, r))
        self.scale, self.drop = alpha / r, nn.Dropout(p)

    def forward(self, x):
        return super().forward(x) + (self.drop(x) @ self.lora_A.t() @ self.lora_B.t()) * self.scale


class GPT2Block(nn.Module):
    def __init__(self, c, idx, r, alpha, p):
        super().__init__()
        D = c["width"]
        inner = c["inner"] or 4 * D
        self.c, self.div = c, (idx + 1.0) if c["scale_attn_by_inverse_layer_idx"] else 1.0
        self.ln_1, self.ln_2 = nn.LayerNorm(D, eps=1e-5), nn.LayerNorm(D, eps=1e-5)
        self.c_attn = LoRAConv1D(D, 3 * D, r, alpha, p) if r > 0 else Conv1D(D, 3 * D)
        self.c_proj, self.c_fc, self.mlp_c_proj = Conv1D(D, D), Conv1D(D, inner), Conv1D(inner, D)
        self.attn_drop, self.resid_drop = nn.Dropout(c["attn_pdrop"]), nn.Dropout(c["resid_pdrop"])

    def forward(self, x, masked):
        B, T, D = x.shape
        H = self.c["heads"]
        hd = D // H
        q, k, v = self.c_attn(self.ln_1(x)).reshape(B, T, 3, H, hd).permute(2, 0, 3, 1, 4)
        if self.c["sdpa"]:  # boolean attn_mask: True = may attend (the opposite of `masked`)
            o = F.scaled_dot_product_attention(q, k, v, attn_mask=~masked, scale=1.0 / (math.sqrt(hd) * self.div),
                                               dropout_p=self.attn_drop.p if self.training else 0.0)
        else:
            s = (q @ k.transpose(-2, -1)) / (math.sqrt(hd) * self.div)
            s = s.masked_fill(masked, torch.finfo(s.dtype).min)
            o = self.attn_drop(torch.softmax(s, -1)) @ v
        h = x + self.resid_drop(self.c_proj(o.transpose(1, 2).reshape(B, T, D)))
        act = F.gelu(self.c_fc(self.ln_2(h)), approximate="tanh" if self.c["gelu_new"] else "none")
        return h + self.resid_drop(self.mlp_c_proj(act))


class GPT2(nn.Module):
    def __init__(self, c, r, alpha, p):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(c["vocab"], c["width"]), nn.Embedding(c["positions"], c["width"])
        nn.init.normal_(self.wte.weight, std=0.02)
        nn.init.normal_(self.wpe.weight, std=0.02)
        self.drop = nn.Dropout(c["embd_pdrop"])
        self.c = c
        self.h = nn.ModuleList(GPT2Block(c, i, r, alpha, p) for i in range(c["layers"]))
        self.ln_f = nn.LayerNorm(c["width"], eps=1e-5)
        for n, prm in self.named_parameters():  # LoRA: every base weight frozen
            prm.requires_grad_("lora_" in n)

    def forward(self, ids, mask):
        B, T = ids.shape
        x = self.drop(self.wte(ids) + self.wpe(torch.arange(T, device=ids.device)))
        causal = torch.ones(T, T, dtype=torch.bool, device=ids.device).triu(1)
        masked = causal.view(1, 1, T, T) | (mask == 0).view(B, 1, 1, T)
        x = run_blocks(self.h, x, self.c["checkpoint_every"], masked)
        return self.ln_f(x)


# ---- heads and losses ---------------------------------------------------------------------------
def local_head(i, h, o):
    return nn.Sequential(nn.Linear(i, h), nn.BatchNorm1d(h), nn.ReLU(), nn.Linear(h, o), nn.BatchNorm1d(o, affine=False))


def mv_head(i, h, o):
    return nn.Sequential(nn.Linear(i, h, bias=False), nn.BatchNorm1d(h), nn.ReLU(), nn.Linear(h, o, bias=False),
                         nn.BatchNorm1d(o))


def ce_sym(M):
    t = torch.arange(M.shape[0], device=M.device)
    return F.cross_entropy(M, t) + F.cross_entropy(M.t(), t)


def nt_xent(a, b, tau):
    B = a.shape[0]
    z = F.normalize(torch.cat([a, b]), dim=1)
    s = (z @ z.t()) / tau
    s = s.masked_fill(torch.eye(2 * B, dtype=torch.bool, device=s.device), float("-inf"))  # 2B - 1 logits per row
    return F.cross_entropy(s, (torch.arange(2 * B, device=s.device) + B) % (2 * B))


def sla(p, s, counts, log_scale, symmetric):
    B, N, E = p.shape
    C = (p.reshape(B * N, E) @ s.t()).reshape(B, N, -1)  # [image n, patch k, sentence j]
    best_patch = C.max(dim=1).values  # [n, j]: each sentence takes its best patch
    rows_t, rows_i, o = [], [], 0
    for J in counts:
        rows_t.append(best_patch[:, o:o + J].mean(1))  # T[m, :]
        if symmetric:
            rows_i.append(C[:, :, o:o + J].max(dim=2).values.mean(1))  # I[m, :]: each patch its best sentence
        o += J
    e = log_scale.exp()
    loss = ce_sym(e * torch.stack(rows_t))
    return loss + ce_sym(e * torch.stack(rows_i)) if symmetric else loss


class Mama(nn.Module):
    def __init__(self, c):
        super().__init__()
        v, t, E = c["vit"], c["text"], c["embed_dim"]
        self.c = c
        self.image = ViT(v)
        self.text = GPT2(t, c["lora_r"], c["lora_alpha"], c["lora_dropout"])
        self.image_proj, self.text_proj = nn.Linear(v["width"], E), nn.Linear(t["width"], E)
        self.image_local = local_head(v["width"], c["local_hidden"], E)
        self.text_local = local_head(t["width"], c["local_hidden"], E)
        self.mv_head = mv_head(v["width"], c["mv_hidden"] or v["width"], E)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))
        self.local_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))
        self.image.norm.requires_grad_(False)  # frozen with mean pooling (reference section 4.4)

    def forward(self, images, partner, ids, mask, sep):
        # Towers and heads first (under the caller's autocast with --bf16), then the losses.  The modules run
        # in the order of the reference, so dropout draws and BatchNorm updates are the same as there.
        c = self.c
        prenorm, patches = self.image(images)
        v_pool = prenorm.mean(1)
        v_emb = self.image_proj(v_pool)
        Z = self.text(ids, mask)
        u_emb = self.text_proj(Z.mean(1))
        pprenorm, _ = self.image(partner)
        pv_pool = pprenorm.mean(1)
        pv_emb = self.image_proj(pv_pool)
        g_p, g_v = self.mv_head(pv_pool), self.mv_head(v_pool)
        B, N, Dv = patches.shape
        p_loc = self.image_local(patches.reshape(B * N, Dv)).reshape(B, N, -1)
        s_loc, counts = [], []
        for m in range(B):  # phi_t per caption: BatchNorm over that caption's sentences
            rows = (ids[m] == sep).nonzero().flatten()
            s_loc.append(self.text_local(Z[m, rows]))
            counts.append(int(rows.numel()))
        # The loss maths in fp32, as the engine's mixed precision (fp32 reductions and losses): autocast off
        # here, else the similarity matmuls would run in bf16 again.  .float() is a no-op in fp32 runs.
        with torch.autocast(device_type=images.device.type, enabled=False):
            v, u = F.normalize(v_emb.float(), dim=-1), F.normalize(u_emb.float(), dim=-1)
            pv = F.normalize(pv_emb.float(), dim=-1)
            scale = self.logit_scale.exp()
            clip = ce_sym(scale * v @ u.t())
            partner_clip = ce_sym(scale * pv @ u.t())
            mv = nt_xent(g_p.float(), g_v.float(), c["tau"]) * c["mv_weight"]
            p = F.normalize(p_loc.float(), dim=-1)
            sents = torch.cat([F.normalize(s.float(), dim=-1) for s in s_loc])
            local = sla(p, sents, counts, self.local_scale, c["symmetric_local"])
            return clip + mv + partner_clip + local


def synthetic_batch(c, gen):
    B, S, T, V = c["batch"], c["image_size"], c["max_len"], c["text"]["vocab"]
    gray = lambda: torch.randn(B, 1, S, S, generator=gen).expand(B, 3, S, S).contiguous()
    images, partner = gray(), gray()
    pad, sep, bos, eos = V - 1, V - 2, V - 3, V - 4
    ids = torch.full((B, T), pad, dtype=torch.long)
    mask = torch.zeros(B, T, dtype=torch.long)
    total = 0
    for m in range(B):
        n = max(T - 4 * (m % 4), min(T, 4))
        row, seps = [bos], 0
        while len(row) < n - 1:
            words = 8 + (3 * seps + m) % 9
            for _ in range(words):
                if len(row) >= n - 2:
                    break
                row.append(int(torch.randint(0, V - 8, (1,), generator=gen)))
            row.append(sep)
            seps += 1
        if len(row) < n:
            row.append(eos)
        ids[m, :len(row)] = torch.tensor(row)
        mask[m, :len(row)] = 1
        total += seps
    return images, partner, ids, mask, sep, total


def flop_model(c, sentences):
    """bench_flops.h's count (see the comment there), for the late-loss step."""
    gf = lambda M, N, K: 2.0 * M * N * K
    v, t, B, E = c["vit"], c["text"], c["batch"], c["embed_dim"]
    g = c["image_size"] // v["patch"]
    N, D = g * g, v["width"]
    T, H, Fh = 1 + v["registers"] + N, v["heads"], int(round(D * v["mlp_ratio"]))
    rows = B * T
    fwd = bwd = 0.0
    patch = gf(B * N, D, v["in_channels"] * v["patch"] ** 2)
    blocks = v["depth"] * (gf(rows, 3 * D, D) + gf(rows, D, D) + gf(rows, Fh, D) + gf(rows, D, Fh) +
                           B * H * (gf(T, T, D // H) + gf(T, D // H, T)))
    fwd += 2 * (patch + blocks)
    bwd += 2 * (patch + 2 * blocks)
    Tt, Dt, Ht, L, r = c["max_len"], t["width"], t["heads"], t["layers"], c["lora_r"]
    inner, rt = t["inner"] or 4 * Dt, B * c["max_len"]
    c_attn = gf(rt, 3 * Dt, Dt)
    rest = gf(rt, Dt, Dt) + gf(rt, inner, Dt) + gf(rt, Dt, inner)
    qk = B * Ht * (gf(Tt, Tt, Dt // Ht) + gf(Tt, Dt // Ht, Tt))
    la, lb = gf(rt, r, Dt), gf(rt, 3 * Dt, r)
    fwd += L * (c_attn + rest + qk + la + lb)
    if r > 0:
        bwd += L * (rest + 2 * qk) + (L - 1) * c_attn + L * 2 * (la + lb) - la
    ti = 2.0 if r > 0 else 1.0
    Hl, Hm = c["local_hidden"], c["mv_hidden"] or D
    fwd += 2 * gf(B, E, D) + gf(B, E, Dt)
    bwd += 4 * gf(B, E, D) + ti * gf(B, E, Dt)
    g_phiv = 2 * (gf(B, Hm, D) + gf(B, E, Hm)) + gf(B * N, Hl, D) + gf(B * N, E, Hl)
    fwd += g_phiv + gf(sentences, Hl, Dt) + gf(sentences, E, Hl)
    bwd += 2 * g_phiv + ti * gf(sentences, Hl, Dt) + 2 * gf(sentences, E, Hl)
    nt, sl = gf(2 * B, 2 * B, E), gf(B * N, sentences, E)
    picked = B * sentences + (B * B * N if c["symmetric_local"] else 0)
    fwd += 2 * gf(B, B, E) + nt + sl
    bwd += 4 * gf(B, B, E) + 2 * nt + 4.0 * E * picked
    return fwd, bwd


def vm_hwm_mib():
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return float(line.split()[1]) / 1024
    except OSError:
        pass
    return -1.0


def torch_version():
    """(major, minor) of torch.__version__ ("2.11.0+cu130" -> (2, 11))."""
    m = re.match(r"(\d+)\.(\d+)", torch.__version__)
    return (int(m.group(1)), int(m.group(2))) if m else (0, 0)


def set_tf32(on):
    """TF32 for fp32 matmuls and convolutions, on or off (off: fp32 really is fp32, as the engine's fp32 path;
    cuDNN would otherwise allow TF32 convolutions by default).  PyTorch 2.9 replaced the allow_tf32 flags with
    fp32_precision and warns about (or refuses) mixing the two, so only one of them is used.  (By version, not
    hasattr: before 2.9 the matmul object raises AssertionError, not AttributeError, for an unknown name.)"""
    if torch_version() >= (2, 9):
        torch.backends.cuda.matmul.fp32_precision = "tf32" if on else "ieee"
        torch.backends.cudnn.conv.fp32_precision = "tf32" if on else "ieee"
    else:
        torch.backends.cuda.matmul.allow_tf32 = on
        torch.backends.cudnn.allow_tf32 = on


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", default="mama/configs/bench-cpu.json")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: leave the default)")
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    ap.add_argument("--bf16", action="store_true",
                    help="towers and heads under bf16 autocast (fp32 master weights, losses in fp32)")
    ck = ap.add_mutually_exclusive_group()
    ck.add_argument("--checkpoint", dest="checkpoint", action="store_true",
                    help="activation checkpointing even where the config's checkpoint_every is 0 (1 block per "
                         "segment there); by default the config's values are used")
    ck.add_argument("--no-checkpoint", dest="checkpoint", action="store_false",
                    help="no activation checkpointing, whatever the config says")
    ap.set_defaults(checkpoint=None)
    ap.add_argument("--sdpa", action="store_true",
                    help="attention by F.scaled_dot_product_attention (PyTorch >= 2.1) instead of eager softmax(QK^T)V")
    ap.add_argument("--tf32", action="store_true", help="allow TF32 for fp32 matmuls and convolutions (cuda)")
    ap.add_argument("--init-on-cpu", action="store_true",
                    help="cuda: build the model on the CPU and move it (the same initial weights as a CPU run; slow "
                         "for the 2.7B text tower) instead of building it on the GPU")
    a = ap.parse_args()
    if a.steps < 1 or a.warmup < 0:
        ap.error("--steps must be >= 1 and --warmup >= 0")
    if a.device == "cuda" and not torch.cuda.is_available():
        ap.error(f"--device cuda: no CUDA device is available to PyTorch {torch.__version__} "
                 f"(torch.version.cuda = {torch.version.cuda})")
    if a.sdpa and (not hasattr(F, "scaled_dot_product_attention") or torch_version() < (2, 1)):
        ap.error(f"--sdpa needs PyTorch 2.1 or newer (F.scaled_dot_product_attention with scale=); "
                 f"this is {torch.__version__}")
    return a


def main():
    a = parse_args()
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    cuda = a.device == "cuda"
    dev = torch.device(a.device)
    c = load_config(a.config)
    for tower, n in ((c["vit"], "depth"), (c["text"], "layers")):
        if a.checkpoint is False:
            tower["checkpoint_every"] = 0
        elif a.checkpoint and tower["checkpoint_every"] <= 0:
            tower["checkpoint_every"] = 1
        tower["sdpa"] = a.sdpa
    checkpointing = c["vit"]["checkpoint_every"] > 0 or c["text"]["checkpoint_every"] > 0
    if cuda:
        set_tf32(a.tf32)
    torch.manual_seed(c["seed"])
    t_build = time.perf_counter()
    # On the GPU the model is built there directly (torch.device as a context manager, PyTorch 2.0+): filling
    # the 2.7B-parameter text tower on the CPU and copying it over would take far longer than the benchmark.
    on_device = cuda and not a.init_on_cpu and hasattr(torch.device, "__enter__")
    with (dev if on_device else contextlib.nullcontext()):
        model = Mama(c)
    model.to(dev)
    model.train()
    if cuda:
        torch.cuda.synchronize()
    t_build = time.perf_counter() - t_build
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=c["lr"],
                            weight_decay=c["weight_decay"])
    images, partner, ids, mask, sep, sentences = synthetic_batch(c, torch.Generator().manual_seed(c["seed"] + 7))
    images, partner, ids, mask = (t.to(dev) for t in (images, partner, ids, mask))
    fwd_f, bwd_f = flop_model(c, sentences)
    B = c["batch"]
    n_all = sum(p.numel() for p in model.parameters())
    n_train = sum(p.numel() for p in model.parameters() if p.requires_grad)
    print(f"bench step (PyTorch {torch.__version__}): {a.config}; {B} samples ({2 * B} images) of {c['image_size']} px, "
          f"{c['max_len']} text tokens, {sentences} sentences; {torch.get_num_threads()} threads; {a.steps} timed steps "
          f"after {a.warmup} warm-up")
    env = " ".join(f"{k}={os.environ.get(k, '(unset)')}" for k in
                   ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OMP_WAIT_POLICY", "OPENBLAS_CORETYPE",
                    "ATEN_CPU_CAPABILITY"))
    print(f"model: {n_all} parameters, {n_train} trainable; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"environment: {env}")
    if cuda:
        print(f"device: cuda, {torch.cuda.get_device_name()} (CUDA {torch.version.cuda}); model built "
              f"{'on the GPU' if on_device else 'on the CPU and moved'} in {t_build:.1f} s")
    else:
        print("device: cpu")
    ck_text = (f"on (blocks per segment: vit {c['vit']['checkpoint_every']}, text {c['text']['checkpoint_every']})"
               if checkpointing else "off")
    print(f"settings: bf16 autocast {'on' if a.bf16 else 'off'}; activation checkpointing {ck_text}; attention "
          f"{'sdpa' if a.sdpa else 'eager'}; tf32 {'on' if a.tf32 and cuda else 'off'}")
    print(f"FLOP model (as bench_flops.h): forward {fwd_f * 1e-9:.1f}, backward {bwd_f * 1e-9:.1f}, "
          f"step {(fwd_f + bwd_f) * 1e-9:.1f} GFLOP")
    # CUDA runs asynchronously: without a synchronize before each timer read, a phase would be charged with
    # the previous phase's queued kernels (or finish "instantly").
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    # Autocast only around the forward (towers, heads; the losses switch it off inside); backward runs the
    # recorded ops in their forward dtypes, as PyTorch recommends.
    amp = (lambda: torch.autocast(device_type=a.device, dtype=torch.bfloat16)) if a.bf16 else contextlib.nullcontext
    ph = {k: ([], []) for k in ("forward", "backward", "optimizer", "step")}
    first = last = 0.0
    try:
        for i in range(a.warmup + a.steps):
            if cuda and i == a.warmup:  # peak memory of the timed steps (the warm-up's allocations are cached)
                sync()
                torch.cuda.reset_peak_memory_stats()
            sync()
            w0, c0 = time.perf_counter(), time.process_time()
            with amp():
                loss = model(images, partner, ids, mask, sep)
            sync()
            w1, c1 = time.perf_counter(), time.process_time()
            loss.backward()
            sync()
            w2, c2 = time.perf_counter(), time.process_time()
            opt.step()
            opt.zero_grad(set_to_none=True)
            sync()
            w3, c3 = time.perf_counter(), time.process_time()
            last = float(loss.detach())
            first = last if i == 0 else first
            if i < a.warmup:
                continue
            for k, (ws, cs) in (("forward", (w1 - w0, c1 - c0)), ("backward", (w2 - w1, c2 - c1)),
                                ("optimizer", (w3 - w2, c3 - c2)), ("step", (w3 - w0, c3 - c0))):
                ph[k][0].append(ws)
                ph[k][1].append(cs)
    except RuntimeError as e:  # torch.cuda.OutOfMemoryError is a RuntimeError; say what to try
        if cuda and "out of memory" in str(e):
            raise SystemExit(f"bench_step_torch.py: CUDA out of memory ({torch.cuda.max_memory_allocated() / 2**20:.0f} "
                             f"MiB peak allocated). HINT: --bf16, activation checkpointing (the config's "
                             f"checkpoint_every or --checkpoint), --sdpa, or a smaller train.micro_batch.\n{e}")
        raise
    med = lambda x: sorted(x)[len(x) // 2]  # the upper median, as bench_step.h
    rss, hwm = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, vm_hwm_mib()
    gpu_peak = torch.cuda.max_memory_allocated() / 2**20 if cuda else 0.0
    t_med, c_med = med(ph["step"][0]), med(ph["step"][1])
    print(f"loss {first:.4f} at the first step, {last:.4f} at the last")
    print(f"  {'phase':<10} {'median ms':>10} {'min ms':>10} {'cpu ms':>10}")
    for k, (ws, cs) in ph.items():
        print(f"  {k:<10} {1e3 * med(ws):10.1f} {1e3 * min(ws):10.1f} {1e3 * med(cs):10.1f}")
    print(f"throughput: {B / t_med:.2f} samples/s ({2 * B / t_med:.2f} images/s)")
    print(f"GFLOP/s: {(fwd_f + bwd_f) / t_med * 1e-9:.1f} (wall median); "
          f"{(fwd_f + bwd_f) / c_med * 1e-9:.1f} per CPU-second")
    print(f"peak resident memory: {rss:.1f} MiB (ru_maxrss), {hwm:.1f} MiB (VmHWM)")
    if cuda:
        print(f"peak GPU memory (timed steps): {gpu_peak:.1f} MiB allocated (torch.cuda.max_memory_allocated), "
              f"{torch.cuda.max_memory_reserved() / 2**20:.1f} MiB reserved by the caching allocator")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    # settings as numbers, because tools/bench_step.h's parser reads key=number
    print(f"result: step_ms={1e3 * t_med:.1f} step_min_ms={1e3 * min(ph['step'][0]):.1f} "
          f"forward_ms={1e3 * med(ph['forward'][0]):.1f} backward_ms={1e3 * med(ph['backward'][0]):.1f} "
          f"optimizer_ms={1e3 * med(ph['optimizer'][0]):.1f} cpu_ms={1e3 * c_med:.1f} "
          f"gflop={(fwd_f + bwd_f) * 1e-9:.2f} peak_rss_mib={rss:.1f} threads={torch.get_num_threads()} "
          f"cuda={int(cuda)} bf16={int(a.bf16)} checkpoint={int(checkpointing)} sdpa={int(a.sdpa)} "
          f"tf32={int(a.tf32 and cuda)} peak_gpu_mib={gpu_peak:.1f}")


if __name__ == "__main__":
    main()
