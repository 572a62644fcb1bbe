#!/usr/bin/python3
# make_model_fixtures.py: writes tests/fixtures/{vit_tiny,gpt2_tiny}.safetensors,
# tiny random models in the exact reference key layouts (DINOv2 torch.hub names,
# HF GPT-2 names with Conv1D [in, out] weights) together with inputs and the
# outputs computed here by PyTorch, for tests/nn/test_models.cpp.
# The forwards below follow DINOv2 (vision_transformer.py) and HF GPT-2
# (modeling_gpt2.py) semantics, written out in plain torch.
# Run with Debian's Python:  /usr/bin/python3 tools/reference/make_model_fixtures.py
import json, math, struct
import torch
import torch.nn.functional as F

torch.manual_seed(0)
OUT = "tests/fixtures/"

def save_safetensors(path, tensors, meta):
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous()
        dtype = {torch.float32: "F32", torch.int32: "I32"}[t.dtype]
        data = t.numpy().tobytes()
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    header["__metadata__"] = meta
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))

def r(*shape, std=0.2):
    return torch.randn(*shape) * std

# ---------------------------------------------------------------- ViT (DINOv2)
D, depth, heads, R, p, grid = 32, 2, 2, 4, 14, 2   # built for 28x28 images
vit = {"cls_token": r(1, 1, D), "pos_embed": r(1, 1 + grid * grid, D), "register_tokens": r(1, R, D),
       "mask_token": torch.zeros(1, D),
       "patch_embed.proj.weight": r(D, 3, p, p, std=0.05), "patch_embed.proj.bias": r(D),
       "norm.weight": 1 + r(D), "norm.bias": r(D)}
for i in range(depth):
    b = f"blocks.{i}."
    vit.update({b + "norm1.weight": 1 + r(D), b + "norm1.bias": r(D),
                b + "attn.qkv.weight": r(3 * D, D), b + "attn.qkv.bias": r(3 * D),
                b + "attn.proj.weight": r(D, D), b + "attn.proj.bias": r(D),
                b + "ls1.gamma": 0.5 + r(D),
                b + "norm2.weight": 1 + r(D), b + "norm2.bias": r(D),
                b + "mlp.fc1.weight": r(4 * D, D), b + "mlp.fc1.bias": r(4 * D),
                b + "mlp.fc2.weight": r(D, 4 * D), b + "mlp.fc2.bias": r(D),
                b + "ls2.gamma": 0.5 + r(D)})

def vit_forward(x):
    B, _, H, W = x.shape
    t = F.conv2d(x, vit["patch_embed.proj.weight"], vit["patch_embed.proj.bias"], stride=p)
    gh, gw = H // p, W // p
    t = t.flatten(2).transpose(1, 2)
    t = torch.cat([vit["cls_token"].expand(B, -1, -1), t], 1)
    pos = vit["pos_embed"]
    if (gh, gw) != (grid, grid):   # interpolate_offset = 0: explicit size, bicubic, antialias
        pp = pos[:, 1:].reshape(1, grid, grid, D).permute(0, 3, 1, 2)
        pp = F.interpolate(pp, size=(gh, gw), mode="bicubic", antialias=True)
        pos = torch.cat([pos[:, :1], pp.permute(0, 2, 3, 1).reshape(1, gh * gw, D)], 1)
    t = t + pos
    t = torch.cat([t[:, :1], vit["register_tokens"].expand(B, -1, -1), t[:, 1:]], 1)
    for i in range(depth):
        b = f"blocks.{i}."
        h = F.layer_norm(t, (D,), vit[b + "norm1.weight"], vit[b + "norm1.bias"], 1e-6)
        qkv = F.linear(h, vit[b + "attn.qkv.weight"], vit[b + "attn.qkv.bias"])
        N = t.shape[1]
        q, k, v = qkv.reshape(B, N, 3, heads, D // heads).permute(2, 0, 3, 1, 4)
        a = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(D // heads), -1) @ v
        a = F.linear(a.transpose(1, 2).reshape(B, N, D), vit[b + "attn.proj.weight"], vit[b + "attn.proj.bias"])
        t = t + vit[b + "ls1.gamma"] * a
        h = F.layer_norm(t, (D,), vit[b + "norm2.weight"], vit[b + "norm2.bias"], 1e-6)
        m = F.linear(F.gelu(F.linear(h, vit[b + "mlp.fc1.weight"], vit[b + "mlp.fc1.bias"])),
                     vit[b + "mlp.fc2.weight"], vit[b + "mlp.fc2.bias"])
        t = t + vit[b + "ls2.gamma"] * m
    normed = F.layer_norm(t, (D,), vit["norm.weight"], vit["norm.bias"], 1e-6)
    return t, normed[:, 1 + R:], normed[:, 0]

fix = dict(vit)
img = torch.rand(2, 1, 28, 28).expand(2, 3, 28, 28).contiguous()   # grayscale, 3 identical channels
img_big = torch.rand(1, 3, 42, 28)                                   # 3x2 grid: position embedding resized
for name, x in [("input.native", img), ("input.resized", img_big)]:
    pre, patches, cls = vit_forward(x)
    key = name.split(".")[1]
    fix[name] = x
    fix[f"output.{key}.prenorm"] = pre
    fix[f"output.{key}.patch_tokens"] = patches
    fix[f"output.{key}.cls"] = cls
save_safetensors(OUT + "vit_tiny.safetensors", fix,
                 {"script": "tools/reference/make_model_fixtures.py", "torch": torch.__version__,
                  "config": "image 28, patch 14, width 32, depth 2, heads 2, registers 4"})

# ---------------------------------------------------------------- GPT-2 (HF layout)
V, P, D, L, Hh = 96, 64, 32, 2, 4
gpt = {"transformer.wte.weight": r(V, D), "transformer.wpe.weight": r(P, D, std=0.05),
       "transformer.ln_f.weight": 1 + r(D), "transformer.ln_f.bias": r(D)}
for i in range(L):
    b = f"transformer.h.{i}."
    gpt.update({b + "ln_1.weight": 1 + r(D), b + "ln_1.bias": r(D),
                b + "attn.c_attn.weight": r(D, 3 * D), b + "attn.c_attn.bias": r(3 * D),   # Conv1D [in, out]
                b + "attn.c_proj.weight": r(D, D), b + "attn.c_proj.bias": r(D),
                b + "ln_2.weight": 1 + r(D), b + "ln_2.bias": r(D),
                b + "mlp.c_fc.weight": r(D, 4 * D), b + "mlp.c_fc.bias": r(4 * D),
                b + "mlp.c_proj.weight": r(4 * D, D), b + "mlp.c_proj.bias": r(D)})

def gelu_new(x):
    return 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))

def gpt_forward(ids, mask):
    B, T = ids.shape
    x = gpt["transformer.wte.weight"][ids.long()] + gpt["transformer.wpe.weight"][torch.arange(T)]
    causal = torch.tril(torch.ones(T, T, dtype=torch.bool))
    neg = torch.finfo(torch.float32).min
    add_mask = (1.0 - mask[:, None, None, :].float()) * neg          # HF: extended attention mask
    for i in range(L):
        b = f"transformer.h.{i}."
        h = F.layer_norm(x, (D,), gpt[b + "ln_1.weight"], gpt[b + "ln_1.bias"], 1e-5)
        qkv = h @ gpt[b + "attn.c_attn.weight"] + gpt[b + "attn.c_attn.bias"]
        q, k, v = qkv.split(D, 2)
        sh = lambda t: t.reshape(B, T, Hh, D // Hh).transpose(1, 2)
        q, k, v = sh(q), sh(k), sh(v)
        w = q @ k.transpose(-1, -2) / math.sqrt(D // Hh) / float(i + 1)   # scale_attn_by_inverse_layer_idx
        w = torch.where(causal, w, torch.tensor(neg))
        w = torch.softmax(w + add_mask, -1)
        a = (w @ v).transpose(1, 2).reshape(B, T, D)
        x = x + a @ gpt[b + "attn.c_proj.weight"] + gpt[b + "attn.c_proj.bias"]
        h = F.layer_norm(x, (D,), gpt[b + "ln_2.weight"], gpt[b + "ln_2.bias"], 1e-5)
        x = x + gelu_new(h @ gpt[b + "mlp.c_fc.weight"] + gpt[b + "mlp.c_fc.bias"]) @ gpt[b + "mlp.c_proj.weight"] \
            + gpt[b + "mlp.c_proj.bias"]
    hidden = F.layer_norm(x, (D,), gpt["transformer.ln_f.weight"], gpt["transformer.ln_f.bias"], 1e-5)
    return hidden, hidden @ gpt["transformer.wte.weight"].t()

ids = torch.randint(0, V, (2, 10), dtype=torch.int32)
mask = torch.ones(2, 10, dtype=torch.int32)
mask[1, 6:] = 0                                                      # right padding on the second row
hidden, logits = gpt_forward(ids, mask)
fix = dict(gpt)
fix["lm_head.weight"] = gpt["transformer.wte.weight"].clone()       # tied copy, as some files store it
fix["transformer.h.0.attn.bias"] = torch.tril(torch.ones(1, 1, P, P))  # legacy buffer, must be ignored
fix.update({"input.ids": ids, "input.attention_mask": mask, "output.hidden": hidden, "output.logits": logits})
save_safetensors(OUT + "gpt2_tiny.safetensors", fix,
                 {"script": "tools/reference/make_model_fixtures.py", "torch": torch.__version__,
                  "config": "vocab 96, positions 64, width 32, layers 2, heads 4, scale_attn_by_inverse_layer_idx"})
print("wrote", OUT + "vit_tiny.safetensors", OUT + "gpt2_tiny.safetensors")
