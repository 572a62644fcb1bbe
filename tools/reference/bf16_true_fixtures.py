#!/usr/bin/python3
# bf16_true_fixtures.py: prints the expected values of tests/nn/test_optim.cpp's
# bf16-true cases: AdamW and SGD on bf16 tensors, as PyTorch's GPU kernels run them.
# Run with Debian's Python (python3-torch):  /usr/bin/python3 tools/reference/bf16_true_fixtures.py
#
# The reference trained on GPUs, whose kernels run every op on bf16 tensors
# in f32 (scalar arguments included) and round the stored result to bf16.
# Debian's CPU torch 1.13 differs there: it casts the scalar arguments of bf16
# ops to bf16 (its alpha = -0.1 is -0.10009765625), which moves results by an
# ulp here and there.  So each step below runs in f32 with torch and is then
# rounded to bf16 with torch's conversion (R): the GPU's semantics.  The steps
# are torch >= 2.0's AdamW (exp_avg.lerp_) and SGD, in order.
import torch

bf = torch.bfloat16
p0 = [0.5, -1.0, 2.0, 3.0e-3, -7.5, 0.0, 1.0, 100.0]
grads = [[0.1, -0.2, 0.3, 1e-4, -2.0, 0.5, 1e-3, 3.0],
         [-0.5, 0.4, 0.0, -1e-4, 1.5, -0.25, 1e-3, -3.0],
         [1.0, 1.0, -1.0, 2e-4, 0.75, 0.125, 1e-3, 0.5]]


def R(t):
    return t.to(bf).to(torch.float32)


def show(t):
    return "{" + ", ".join(repr(float(x)) + "f" for x in t) + "}"


def adamw(lr, wd, beta1=0.9, beta2=0.999, eps=1e-8):
    p = R(torch.tensor(p0))
    m = torch.zeros_like(p)
    v = torch.zeros_like(p)
    out = []
    for step, g in enumerate(grads, start=1):
        g = R(torch.tensor(g))
        p = R(p * (1 - lr * wd))                          # p.mul_(1 - lr·wd)
        m = R(torch.lerp(m, g, 1 - beta1))                # m.lerp_(g, 1 - β1)
        v = R(v * beta2)                                  # v.mul_(β2)
        v = R(torch.addcmul(v, g, g, value=1 - beta2))    #  .addcmul_(g, g, 1 - β2)
        bc1 = 1 - beta1 ** step
        bc2 = 1 - beta2 ** step
        denom = R(v.sqrt())
        denom = R(denom / (bc2 ** 0.5))
        denom = R(denom + eps)
        p = R(torch.addcdiv(p, m, denom, value=-(lr / bc1)))
        out.append(show(p))
    return out


def sgd(lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
    p = R(torch.tensor(p0))
    buf = None
    out = []
    for g in grads:
        g = R(torch.tensor(g))
        if weight_decay:
            g = R(torch.add(g, p, alpha=weight_decay))
        if momentum:
            if buf is None:
                buf = g.clone()
            else:
                buf = R(buf * momentum)
                buf = R(torch.add(buf, g, alpha=1 - dampening))
            g = R(torch.add(g, buf, alpha=momentum)) if nesterov else buf
        p = R(torch.add(p, g, alpha=-lr))
        out.append(show(p))
    return out


print("torch", torch.__version__)
print("start", show(R(torch.tensor(p0))))
print("adamw lr 1e-2 wd 0.1", adamw(1e-2, 0.1))
print("adamw lr 4e-5 wd 0.1", adamw(4e-5, 0.1))
print("sgd lr 0.1 momentum 0.9 wd 0.01", sgd(lr=0.1, momentum=0.9, weight_decay=0.01))
print("sgd lr 0.1 momentum 0.9 nesterov", sgd(lr=0.1, momentum=0.9, nesterov=True))
print("sgd lr 0.1 momentum 0.5 dampening 0.3", sgd(lr=0.1, momentum=0.5, dampening=0.3))
