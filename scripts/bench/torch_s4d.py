"""PyTorch reference for the side-by-side benchmarks: the same S4D classifier, from the same formulas
(ZOH kernel K = 2 Re sum_n C' exp(dtA l), FFT convolution of length 2L, D skip, GELU, Linear(H->2H)+GLU,
residual, post LayerNorm, mean pool, decoder), trained with AdamW. Run with /usr/bin/python3 (Debian's
python3-torch).

usage: torch_s4d.py train-step --d-model 128 --layers 4 --d-state 64 --length 784 --batch 16 --threads 2
prints one JSON line with the median step time in seconds."""
import argparse
import json
import math
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class S4DKernel(nn.Module):
    def __init__(self, H, N, dt_min=1e-3, dt_max=1e-1):
        super().__init__()
        self.log_dt = nn.Parameter(torch.rand(H) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min))
        self.C = nn.Parameter(torch.view_as_real(torch.randn(H, N // 2, dtype=torch.cfloat)))
        self.log_A_real = nn.Parameter(torch.log(0.5 * torch.ones(H, N // 2)))
        self.A_imag = nn.Parameter(math.pi * torch.arange(N // 2).float().repeat(H, 1))

    def forward(self, L):
        dt = torch.exp(self.log_dt)
        C = torch.view_as_complex(self.C)
        A = -torch.exp(self.log_A_real) + 1j * self.A_imag
        dtA = A * dt.unsqueeze(-1)
        K = dtA.unsqueeze(-1) * torch.arange(L, device=A.device)
        C = C * (torch.exp(dtA) - 1.0) / A
        return 2 * torch.einsum('hn,hnl->hl', C, torch.exp(K)).real


class S4D(nn.Module):
    def __init__(self, H, N, dropout):
        super().__init__()
        self.kernel = S4DKernel(H, N)
        self.D = nn.Parameter(torch.randn(H))
        self.dropout = nn.Dropout1d(dropout) if dropout > 0 else nn.Identity()
        self.output_linear = nn.Sequential(nn.Conv1d(H, 2 * H, 1), nn.GLU(dim=-2))

    def forward(self, u, active=None):  # u: (B, H, L)
        L = u.size(-1)
        if active is None:
            k = self.kernel(L)
            n = 2 * L
            y = torch.fft.irfft(torch.fft.rfft(u, n=n) * torch.fft.rfft(k, n=n), n=n)[..., :L]
            y = y + u * self.D.unsqueeze(-1)
        else:
            # Pruned operators bypassed as the S4oP code does: only the active channels go through the SSM.
            y = u.clone()
            ua = u.index_select(1, active)
            k = self.kernel(L).index_select(0, active)
            n = 2 * L
            ya = torch.fft.irfft(torch.fft.rfft(ua, n=n) * torch.fft.rfft(k, n=n), n=n)[..., :L]
            y[:, active] = ya + ua * self.D[active].unsqueeze(-1)
        y = self.dropout(F.gelu(y))
        return self.output_linear(y)


class Model(nn.Module):
    def __init__(self, d_input, d_output, H, N, n_layers, dropout=0.1):
        super().__init__()
        self.encoder = nn.Linear(d_input, H)
        self.s4_layers = nn.ModuleList([S4D(H, N, dropout) for _ in range(n_layers)])
        self.norms = nn.ModuleList([nn.LayerNorm(H) for _ in range(n_layers)])
        self.dropouts = nn.ModuleList([nn.Dropout1d(dropout) if dropout > 0 else nn.Identity() for _ in range(n_layers)])
        self.decoder = nn.Linear(H, d_output)

    def forward(self, x, actives=None):
        x = self.encoder(x).transpose(-1, -2)
        for i, (layer, norm, drop) in enumerate(zip(self.s4_layers, self.norms, self.dropouts)):
            z = layer(x, None if actives is None else actives[i])
            x = drop(z) + x
            x = norm(x.transpose(-1, -2)).transpose(-1, -2)
        return self.decoder(x.mean(dim=-1))


def train_step_bench(a):
    torch.manual_seed(0)
    model = Model(1, 10, a.d_model, a.d_state, a.layers)
    ssm = [p for n, p in model.named_parameters() if '.kernel.' in n or n.endswith('.D')]
    other = [p for n, p in model.named_parameters() if not ('.kernel.' in n or n.endswith('.D'))]
    opt = torch.optim.AdamW([{'params': other, 'lr': 4e-3, 'weight_decay': 0.01},
                             {'params': ssm, 'lr': 1e-3, 'weight_decay': 0.0}])
    x = torch.rand(a.batch, a.length, 1)
    y = torch.randint(0, 10, (a.batch,))

    def step():
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()

    for _ in range(a.warmup):
        step()
    times = []
    for _ in range(a.repeats):
        t = time.perf_counter()
        step()
        times.append(time.perf_counter() - t)
    kt = []
    k = model.s4_layers[0].kernel
    for _ in range(a.repeats):
        t = time.perf_counter()
        K = k(a.length)
        K.sum().backward()
        kt.append(time.perf_counter() - t)
    return {'torch_s': statistics.median(times), 'torch_step_times_s': times,
            'torch_kernel_fwd_bwd_s': statistics.median(kt), 'torch_version': torch.__version__,
            'threads': torch.get_num_threads()}


def inference_bench(a):
    torch.manual_seed(0)
    model = Model(1, 10, a.d_model, a.d_state, a.layers, dropout=0.0).eval()
    H = a.d_model
    out = {}
    for rate in [int(r) for r in a.rates.split(',')]:
        actives = None
        if rate > 0:
            g = torch.Generator().manual_seed(rate)
            keep = max(1, round(H * (1 - rate / 100)))
            actives = [torch.sort(torch.randperm(H, generator=g)[:keep]).values for _ in range(a.layers)]
        x = torch.rand(1, a.length, 1)
        with torch.no_grad():
            for _ in range(a.warmup):
                model(x, actives)
            times = []
            for _ in range(a.repeats):
                t = time.perf_counter()
                model(x, actives)
                times.append(time.perf_counter() - t)
        out[str(rate)] = statistics.median(times) * 1000
    return {'torch_ms': out, 'torch_version': torch.__version__, 'threads': torch.get_num_threads()}


def main():
    p = argparse.ArgumentParser()
    p.add_argument('mode', choices=['train-step', 'inference'])
    p.add_argument('--d-model', type=int, default=128)
    p.add_argument('--layers', type=int, default=4)
    p.add_argument('--d-state', type=int, default=64)
    p.add_argument('--length', type=int, default=784)
    p.add_argument('--batch', type=int, default=16)
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--warmup', type=int, default=2)
    p.add_argument('--repeats', type=int, default=7)
    p.add_argument('--rates', default='0,30,50,70,90')
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    print(json.dumps(train_step_bench(a) if a.mode == 'train-step' else inference_bench(a)))


if __name__ == '__main__':
    main()
