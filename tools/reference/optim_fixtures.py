#!/usr/bin/python3
# optim_fixtures.py: prints the expected parameter values used by
# tests/nn/test_optim.cpp, computed with PyTorch's own optimisers.
# Run with Debian's Python (python3-torch):  /usr/bin/python3 tools/reference/optim_fixtures.py
import torch

grads = [[0.1, -0.2, 0.3], [-0.5, 0.4, 0.0], [1.0, 1.0, -1.0]]

def run(make):
    p = torch.nn.Parameter(torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64))
    opt = make([p])
    out = []
    for g in grads:
        p.grad = torch.tensor(g, dtype=torch.float64)
        opt.step()
        out.append([round(float(x), 9) for x in p.detach()])
    return out

print("torch", torch.__version__)
print("adamw", run(lambda ps: torch.optim.AdamW(ps, lr=0.1, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.1)))
print("sgd_momentum", run(lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=0.01)))
print("sgd_nesterov", run(lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True)))
print("sgd_dampening", run(lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.5, dampening=0.3)))
